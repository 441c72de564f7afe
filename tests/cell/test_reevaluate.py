"""Evaluation settings are not part of a cell's identity: changing them on a finished grid evaluates the
trained cells again from their final checkpoints (no training step is taken), keeps the earlier scores,
and folders named by an older id scheme are found again."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from bench.cli import main


def bench(monkeypatch: pytest.MonkeyPatch, *args: str) -> int:
    monkeypatch.setattr(sys, "argv", ["bench", *args])
    try:
        main()
    except SystemExit as exit:
        return int(exit.code or 0)
    return 0


def test_new_eval_settings_reevaluate_without_training(write_grid, tmp_path: Path, monkeypatch) -> None:
    grid = write_grid(models=["mlp_vae"])
    out = tmp_path / "out"
    assert bench(monkeypatch, "run", "--grid", str(grid), "--out", str(out), "--in-process") == 0
    (cell,) = [p for p in out.iterdir() if (p / "config.json").exists()]
    rows_before = (cell / "metrics.jsonl").read_text()
    first = json.loads((cell / "result.json").read_text())
    assert first["protocol"]["n_generated"] == 120

    code = bench(
        monkeypatch,
        "run",
        "--grid",
        str(grid),
        "--out",
        str(out),
        "--in-process",
        "--set",
        "eval.n_samples=100",
    )
    assert code == 0
    assert [p.name for p in out.iterdir() if (p / "config.json").exists()] == [cell.name]  # same cell id
    assert (cell / "metrics.jsonl").read_text() == rows_before  # not one training step more
    second = json.loads((cell / "result.json").read_text())
    assert second["status"] == "done"
    assert second["protocol"]["n_generated"] == 100
    assert second["train"] == first["train"]  # the record of the run that trained
    assert second["cost"]["train_seconds"] == first["cost"]["train_seconds"]
    (earlier,) = second["previous_evaluations"]
    assert earlier["protocol"]["n_generated"] == 120 and earlier["metrics"] == first["metrics"]
    assert (cell / "result.eval-1.json").exists()
    assert "resuming from step 24" in (cell / "cell.log").read_text()

    # Unchanged settings: nothing runs again.
    assert (
        bench(monkeypatch, "run", "--grid", str(grid), "--out", str(out), "--set", "eval.n_samples=100") == 0
    )
    assert json.loads((cell / "result.json").read_text()) == second


def test_a_folder_under_an_older_id_is_found_again(write_grid, tmp_path: Path, monkeypatch, capsys) -> None:
    grid = write_grid(models=["mlp_vae"])
    out = tmp_path / "out"
    assert bench(monkeypatch, "run", "--grid", str(grid), "--out", str(out), "--in-process") == 0
    (cell,) = [p for p in out.iterdir() if (p / "config.json").exists()]
    result = (cell / "result.json").read_text()
    # An older version named the folder by another hash and wrote no default for arguments added since.
    config = json.loads((cell / "config.json").read_text())
    config["model_args"].pop("ema", None)
    (cell / "config.json").write_text(json.dumps(config))
    old = cell.rename(out / "mlp_vae_digits_z4_s0_0ldh45h0")
    capsys.readouterr()
    assert bench(monkeypatch, "run", "--grid", str(grid), "--out", str(out)) == 0
    assert not old.exists() and (cell / "result.json").read_text() == result
    assert f"renamed to {cell.name}" in capsys.readouterr().out
