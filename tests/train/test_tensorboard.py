"""TensorBoard event files of a cell, read back with TensorBoard's own reader."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from bench.train import tensorboard as tb
from bench.train.steplog import StepLog


def _events(cell: Path) -> EventAccumulator:
    acc = EventAccumulator(str(cell / "tb"), size_guidance={"scalars": 0, "images": 0})
    acc.Reload()
    return acc


def _train(log: StepLog, steps: range, every: int) -> None:
    for step in steps:
        log.add("d", {"loss": torch.tensor(1.0 + step)})
        log.add("g", {"loss": torch.tensor(2.0 * step), "d_layer1_grad_norm": torch.tensor(0.5)})
        log.end_step(step)
        if (step + 1) % every == 0:
            log.flush()


def test_every_flushed_scalar_lands_in_the_cells_event_files(tmp_path: Path) -> None:
    cell = tmp_path / "cell"
    cell.mkdir()
    log = StepLog(cell / "metrics.jsonl", sinks=[tb.TensorBoardSink(cell, purge_step=0)])
    _train(log, range(12), every=4)
    tb.log_curve_point(
        cell, 8, {"fd_digits": 12.5, "kid_digits_std": 0.1, "note": "text"}, torch.zeros(4, 1, 8, 8)
    )
    tb.close(cell)
    acc = _events(cell)
    tags = acc.Tags()
    assert {"train/d/loss", "train/g/loss", "train/g/d_layer1_grad_norm"} <= set(tags["scalars"])
    d_loss = acc.Scalars("train/d/loss")
    assert [e.step for e in d_loss] == list(range(12))  # one point per step, the same rows as metrics.jsonl
    assert [e.value for e in d_loss] == [1.0 + s for s in range(12)]
    assert [(e.step, e.value) for e in acc.Scalars("eval/fd_digits")] == [(8, 12.5)]
    assert "eval/note" not in tags["scalars"]
    (image,) = acc.Images("samples")
    assert image.step == 8 and image.width > 8


def test_nothing_is_written_between_flushes(tmp_path: Path) -> None:
    cell = tmp_path / "cell"
    cell.mkdir()
    seen: list[int] = []
    log = StepLog(None, sinks=[lambda rows: seen.append(len(rows))])
    _train(log, range(10), every=5)
    assert seen == [5, 5]  # called once per flush with that flush's rows, never per step


def test_a_resumed_cell_hides_what_the_stopped_attempt_logged_after_its_checkpoint(
    tmp_path: Path,
) -> None:
    cell = tmp_path / "cell"
    cell.mkdir()
    first = StepLog(None, sinks=[tb.TensorBoardSink(cell, purge_step=0)])
    _train(first, range(10), every=2)  # logged up to step 9, checkpoint at 6
    tb.close(cell)
    again = StepLog(None, sinks=[tb.TensorBoardSink(cell, purge_step=6)])
    _train(again, range(6, 12), every=2)
    tb.close(cell)
    steps = [e.step for e in _events(cell).Scalars("train/d/loss")]
    assert steps == list(range(12))  # no step twice


def test_a_labelled_sample_grid_is_drawn_with_its_label_column(tmp_path: Path) -> None:
    from bench.models.base import SampleGrid

    cell = tmp_path / "cell"
    cell.mkdir()
    grid = SampleGrid(torch.zeros(6, 1, 28, 28), nrow=3, row_labels=("input", "output"))
    tb.log_curve_point(cell, 4, {"fd_digits": 1.0}, grid)
    tb.close(cell)
    (image,) = _events(cell).Images("samples")
    assert (image.width, image.height) == (4 * (84 + 2) + 2, 2 * (84 + 2) + 2)  # label tile + 3 per row


def test_a_cell_with_a_curve_writes_its_curve_metrics_and_a_sample_grid_per_point(
    write_grid, tmp_path: Path
) -> None:
    from rich.console import Console

    from bench.grid import load_grid
    from bench.launch.local import run_local

    train = {"steps": 16, "batch_size": 16, "log_every": 4, "checkpoint_every": 8}
    ev = {"n_samples": 60, "metrics": ["fd"], "curve_every": 8, "curve_n_samples": 40, "batch_size": 60}
    grid = write_grid(models=[{"dcgan": {"g_width": 8, "d_width": 8}}], train=train, eval=ev)
    out = tmp_path / "out"
    run_local(load_grid(str(grid)), out, Console(file=open("/dev/null", "w")), in_process=True)  # noqa: SIM115
    (cell,) = [p for p in out.iterdir() if p.is_dir()]
    acc = _events(cell)
    curve = [json.loads(line) for line in (cell / "curve.jsonl").read_text().splitlines()]
    assert [(e.step, e.value) for e in acc.Scalars("eval/fd_digits")] == [
        (row["step"], pytest.approx(row["fd_digits"])) for row in curve
    ]
    assert [e.step for e in acc.Scalars("train/g/d_layer1_grad_norm")] == list(range(16))
    assert [i.step for i in acc.Images("samples")] == [8, 16]
