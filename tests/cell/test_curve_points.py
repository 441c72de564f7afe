"""The training curve: points fall on multiples of eval.curve_every whatever train.log_every is, and
every place that shows the curve says the N it was scored at (not the final scores' N)."""

from __future__ import annotations

import json
from pathlib import Path

from rich.console import Console

from bench.cell.evaluate import curve_due
from bench.grid import load_grid
from bench.launch.local import run_local
from bench.reporting import stability
from bench.storage import files as store


def test_curve_due_is_every_multiple_and_the_last_step() -> None:
    due = [s for s in range(1, 1601) if curve_due(s, 375, 1600)]
    assert due == [375, 750, 1125, 1500, 1600]  # was 400, 750, 1150, 1500 with log_every 50
    assert not any(curve_due(s, 0, 100) for s in range(101))


def test_a_cell_curve_lands_on_its_steps_and_records_its_n(write_grid, tmp_path: Path) -> None:
    # log_every 4 and curve_every 3 disagree: points at 3, 6, 9 and the last step, 10.
    train = {"steps": 10, "batch_size": 16, "log_every": 4, "checkpoint_every": 0}
    ev = {"n_samples": 60, "metrics": ["fd"], "curve_every": 3, "curve_n_samples": 40, "batch_size": 60}
    grid = write_grid(models=["mlp_vae"], train=train, eval=ev)
    out = tmp_path / "out"
    run_local(load_grid(str(grid)), out, Console(file=open("/dev/null", "w")), in_process=True)  # noqa: SIM115
    (cell,) = [p for p in out.iterdir() if p.is_dir()]
    rows = [json.loads(line) for line in (cell / "curve.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [3, 6, 9, 10]
    result = store.read_result(cell)
    curve = result["protocol"]["curve"]
    assert (curve["n_generated"], curve["n_real"], curve["every"]) == (40, 40, 3)
    assert result["protocol"]["n_generated"] == 60  # the final scores' N is another one
    assert set(curve["fingerprints"]) == {"fd_digits"}
    assert curve["fingerprints"]["fd_digits"] != result["protocol"]["fingerprints"]["fd_digits"]
    assert "40 generated vs 40 real" in curve["description"]
    summary = stability.cell_stability(cell, result).curves["fd_digits"]
    assert summary.label == "fd_digits (N = 40 vs 40 real)"
    assert result["metrics"]["curve_fd_digits_final"] == rows[-1]["fd_digits"]
