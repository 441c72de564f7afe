"""The commands a user types, end to end, through the real `bench` entry point (cells in subprocesses)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path


def bench(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "bench", *args], capture_output=True, text=True, timeout=600)


def test_run_status_leaderboard(write_grid, tmp_path: Path) -> None:
    out = tmp_path / "results"
    grid = write_grid(seeds=[0, 1])
    dry = bench("run", "--grid", str(grid), "--out", str(out), "--dry-run")
    assert dry.returncode == 0 and "4 cells" in dry.stdout and not out.exists()

    first = bench("run", "--grid", str(grid), "--out", str(out))
    assert first.returncode == 0, first.stderr
    assert "ran 4 cell(s), skipped 0" in first.stdout
    assert (out / "leaderboard.md").is_file() and (out / "leaderboard.csv").is_file()

    status = bench("status", "--out", str(out))
    assert status.returncode == 0 and "4 done" in status.stdout

    lb = json.loads(bench("leaderboard", "--out", str(out), "--format", "json").stdout)
    assert {(r["model"], r["counts"]["done"]) for r in lb["rows"]} == {
        ("mlp_vae", 2),
        ("dcgan[d_width=8,g_width=8]", 2),
    }
    assert all(r["metrics"]["fd_digits"]["n"] == 2 for r in lb["rows"])

    again = bench("run", "--grid", str(grid), "--out", str(out))
    assert "ran 0 cell(s), skipped 4" in again.stdout
