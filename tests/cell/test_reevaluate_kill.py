"""A re-evaluation killed at any point hides nothing: every finished cell keeps a readable result.json
(the old one until its replacement is complete), the cells not yet re-evaluated are untouched, and a
re-run completes each re-evaluation once (issue 22). The kills are raised in-process at each point,
which leaves the files as a SIGKILL would: every write is a temp file renamed into place."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from bench import fs
from tests.cell.test_reevaluate import bench


class Killed(BaseException):
    """Stands for SIGKILL: nothing after it runs, not even `except Exception` handlers."""


def _visible(out: Path) -> dict[str, int]:
    """n_generated of each cell's result.json, as the leaderboard reads them."""
    from bench.reporting.leaderboard import collect

    return {r["cell_id"]: r["protocol"]["n_generated"] for r in collect(out) if r["status"] == "done"}


def _kill_at(monkeypatch: pytest.MonkeyPatch, point: str) -> None:
    import bench.cell.run as cell_run

    real_run, real_write = cell_run.run_cell, fs.atomic_write_json
    calls = []

    def run_cell(*a, **k):
        calls.append(1)
        if point == "before-any-cell" or (point == "between-cells" and len(calls) == 2):
            raise Killed
        return real_run(*a, **k)

    def write(path: Path, obj) -> None:
        replacing = point == "result-replaced" and path.name == "result.json" and obj.get("status") == "done"
        if replacing and any(path.parent.glob("result.eval-*.json")):  # old one archived, new not yet in
            raise Killed
        real_write(path, obj)

    monkeypatch.setattr(cell_run, "run_cell", run_cell)
    monkeypatch.setattr(fs, "atomic_write_json", write)


@pytest.mark.parametrize("point", ["before-any-cell", "result-replaced", "between-cells"])
def test_a_killed_reevaluation_keeps_every_result_visible(write_grid, tmp_path, monkeypatch, point) -> None:
    grid = write_grid(models=["mlp_vae"], seeds=[0, 1], train={"steps": 8, "batch_size": 16, "log_every": 4})
    trained = tmp_path.parent / f"reeval-trained-{tmp_path.parent.name}"
    if not trained.exists():  # trained once for the three kill points (same session temp folder)
        assert bench(monkeypatch, "run", "--grid", str(grid), "--out", str(trained), "--in-process") == 0
    out = tmp_path / "out"
    shutil.copytree(trained, out, symlinks=True)
    before = _visible(out)
    assert sorted(before.values()) == [120, 120]

    again = ["run", "--grid", str(grid), "--out", str(out), "--in-process", "--set", "eval.n_samples=100"]
    with monkeypatch.context() as m:
        _kill_at(m, point)
        with pytest.raises(Killed):
            bench(m, *again)

    visible = _visible(out)
    assert visible.keys() == before.keys()  # nothing hidden
    # Killed between the cells, the first is re-evaluated; otherwise none is, nor half-way.
    assert sorted(visible.values()) == ([100, 120] if point == "between-cells" else [120, 120])
    for cell in (p for p in out.iterdir() if (p / "config.json").exists()):
        assert json.loads((cell / "result.json").read_text())["status"] == "done"
        if visible[cell.name] == 120 and point != "result-replaced":  # not re-evaluated yet: untouched
            assert not list(cell.glob("result.eval-*.json"))
    assert bench(monkeypatch, "status", "--out", str(out)) == 0

    assert bench(monkeypatch, *again) == 0
    assert sorted(_visible(out).values()) == [100, 100]
    for cell in (p for p in out.iterdir() if (p / "config.json").exists()):
        result = json.loads((cell / "result.json").read_text())
        assert [e["protocol"]["n_generated"] for e in result["previous_evaluations"]] == [120]
        assert not (cell / "reevaluate.json").exists()
