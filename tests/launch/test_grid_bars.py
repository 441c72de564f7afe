"""The grid's bars in a terminal: each running cell's phase, step and recent losses, and the grid's
cells done and ETA, never `0/?` while data and extractors load."""

from __future__ import annotations

import re
from pathlib import Path

from rich.console import Console
from rich.progress import Progress

from bench.grid import load_grid
from bench.launch.local import GridLog, bar_columns, run_local
from bench.train.progress_log import parse_progress_line, progress_line


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def _render(bars: Progress) -> str:
    console = Console(record=True, force_terminal=True, width=160)
    console.print(bars.make_tasks_table(bars.tasks))
    return console.export_text()


def test_bars_show_phase_step_losses_and_the_grid_eta_before_any_cell_ends() -> None:
    console = Console(record=True, force_terminal=True, width=160)
    bars = Progress(*bar_columns(), console=console, auto_refresh=False)
    grid_bar = bars.add_task("grid tiny", total=2)
    clock = Clock()
    log = GridLog(console, "tiny", 2, 0, bars, grid_bar, clock=clock)
    log.start("cell_a")
    text = _render(bars)
    assert "cell_a loading data" in text and "0/2 cells" in text
    assert "?" not in text and "ETA" not in text  # nothing is known yet, so nothing is guessed
    report = log.progress("cell_a")
    report("extractor", 0, 0)
    assert "cell_a training the extractor" in _render(bars)
    clock.t += 10
    report("train", 8, 24)
    report("train", 8, 24, {"loss": 1.5, "d/loss": 0.25})
    text = _render(bars)
    assert "cell_a training" in text and "step 8/24" in text and "loss 1.5, d/loss 0.25" in text
    # 10 s for a third of one cell's training: 2 - 1/3 cells left at 30 s a cell.
    assert "ETA 0:50" in text
    report("eval", 0, 1)
    assert "cell_a evaluating" in _render(bars)
    clock.t += 20
    log.stop("cell_a")
    log.end("cell_a", "done", None)
    text = _render(bars)
    assert "cell_a" not in text and "1/2 cells" in text and "ETA 0:30" in text


def test_progress_lines_carry_losses_and_old_lines_still_parse() -> None:
    line = progress_line("train", 120, 500, {"loss": 0.12345, "g/d_layer1_grad_norm": 3.0})
    assert line == "@progress train 120 500 loss=0.1235 g/d_layer1_grad_norm=3"
    assert parse_progress_line("[rank0]: " + line) == (
        "train", 120, 500, {"loss": 0.1235, "g/d_layer1_grad_norm": 3.0}
    )  # fmt: skip
    assert parse_progress_line("@progress eval 0 1") == ("eval", 0, 1, {})
    assert parse_progress_line("@progress train x") is None  # shown as text, not a crash
    assert parse_progress_line("an ordinary log line") is None


def test_a_real_cell_reports_each_phase_to_the_terminal_bars(write_grid, tmp_path: Path, monkeypatch) -> None:
    console = Console(record=True, force_terminal=True, width=200)
    # No metrics: the phases are what is tested, not the scores (a cold domain classifier takes minutes).
    grid = write_grid(models=["mlp_vae"], eval={"metrics": []})
    # The phases the cell reported, in order (a phase that lasts less than a refresh may never be drawn,
    # so the order is read from the callback; what was drawn is checked below).
    reported: list[str] = []
    wrapped = GridLog.progress

    def spy(self: GridLog, cid: str):
        report = wrapped(self, cid)

        def recording(phase: str, *args, **kwargs) -> None:
            reported.append(phase)
            report(phase, *args, **kwargs)

        return recording

    monkeypatch.setattr(GridLog, "progress", spy)
    run_local(load_grid(str(grid)), tmp_path / "out", console, in_process=True)
    text = console.export_text()
    assert list(dict.fromkeys(reported)) == ["data", "extractor", "train", "eval"], reported
    phase = r"mlp_vae_digits_z4_s0_\w+ (loading data|training the extractor|training|evaluating)"
    seen = set(re.findall(phase, text))
    assert {"training", "evaluating"} <= seen, seen
    assert re.search(r"step 24/24 .*loss [\d.]+, recon [\d.]+, kl [\d.]+", text)
    assert "0/?" not in text and "1/1 cells" in text
