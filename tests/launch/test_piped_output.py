"""`bench run` piped to a file (SLURM, CI, `| tee`) prints a line per cell start and end, with its state,
headline score and time, and the grid's progress with an ETA: rich draws no bars there."""

from __future__ import annotations

import re
import subprocess
import sys


def test_piped_run_prints_cell_lines_and_grid_eta(write_grid, tmp_path) -> None:
    grid = write_grid(models=["mlp_vae"], seeds=[0, 1])
    res = subprocess.run(
        [sys.executable, "-m", "bench", "run", "--grid", str(grid), "--out", str(tmp_path / "out")],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert res.returncode == 0, res.stdout + res.stderr
    lines = res.stdout.splitlines()
    starts = [line for line in lines if line.startswith("start  mlp_vae_digits_z4_s")]
    ends = [
        line
        for line in lines
        if re.match(r"^done   mlp_vae_digits_z4_s\d_\w+ fd_digits [\d.]+ in \d+s$", line)
    ]
    assert len(starts) == 2 and len(ends) == 2, res.stdout
    assert any(re.match(r"^grid tiny: 1/2 cells, \d+:\d\d elapsed, ETA \d+:\d\d$", line) for line in lines)
    assert any(re.match(r"^grid tiny: 2/2 cells, \d+:\d\d elapsed$", line) for line in lines)
