"""Two `bench run`s on one --out at once: every cell is trained exactly once, by one of them, and ends
with the metrics a single run gives (the per-cell lock, bench.storage.cell_lock)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from bench.storage import files as store

STEPS = 24


def _metrics(r: dict) -> dict:
    return {k: v for k, v in r["metrics"].items() if not k.endswith("_seconds")}


def test_two_runs_on_one_out_finish_every_cell_exactly_once(write_grid, tmp_path: Path) -> None:
    grid = write_grid(
        models=["mlp_vae"],
        seeds=[0, 1, 2],
        train={"steps": STEPS, "batch_size": 16, "log_every": 8, "checkpoint_every": 8},
    )
    # The reference run alone, with the same thread count as the concurrent ones (float sums over
    # threads round differently).
    single = tmp_path / "single"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    run = [sys.executable, "-m", "bench", "run", "--grid", str(grid), "--out"]
    subprocess.run([*run, str(single)], check=True, capture_output=True, env=env, timeout=900)

    out = tmp_path / "shared"
    cmd = [*run, str(out)]
    procs = [
        subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        for _ in range(2)
    ]
    outputs = [p.communicate(timeout=900) for p in procs]
    for p, (stdout, stderr) in zip(procs, outputs, strict=True):
        assert p.returncode in (0, 4), stdout + stderr  # 4: a cell was still being run by the other
        assert "Traceback" not in stderr, stderr

    cells = sorted(p.parent for p in out.glob(f"*/{store.CONFIG}"))
    assert len(cells) == 3
    for cell in cells:
        rows = [json.loads(line)["step"] for line in (cell / store.METRICS).read_text().splitlines()]
        assert rows == list(range(STEPS)), cell.name
        starts = [
            line for line in (cell / store.LOG).read_text().splitlines() if f"cell {cell.name}:" in line
        ]
        assert len(starts) == 1, f"{cell.name} was started {len(starts)} times"
        assert not (cell / store.LOCK).exists() and not list(cell.glob("result.failed-*"))
        r, ref = store.read_result(cell), store.read_result(single / cell.name)
        assert r["status"] == "done" and r["train"]["resumed_from"] == 0
        assert (cell / store.METRICS).read_text() == (single / cell.name / store.METRICS).read_text()
        assert _metrics(r) == _metrics(ref)
