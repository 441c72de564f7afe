"""benchmarks/gpu_suite.sh in its CPU smoke mode: every step's Python runs at tiny sizes with no CUDA,
so that the first run on a GPU machine (minutes of lease, no network) fails on nothing but the GPU."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
STEPS = [
    "preflight", "dcgan64", "dcgan64_packed", "dcgan64_paths", "inception", "fd_kid_device",
    "eval_throughput", "seeds_stacked", "cells_per_hour",
]  # fmt: skip


@pytest.mark.skipif(sys.platform != "linux", reason="the suite is a bash script for the GPU machine")
def test_every_step_of_the_gpu_suite_runs_on_the_cpu(tmp_path: Path) -> None:
    out = tmp_path / "out"
    env = {
        **os.environ,
        "PYTHON": sys.executable,
        "BENCH_GPU_SMOKE": "1",
        "BENCH_GPU_SMOKE_PATHS": "eager",  # torch.compile's path: tests/train/test_fast_paths.py
        "BENCH_GPU_SMOKE_SCALE": "10",  # limits that catch hangs, not a busy CPU
        "CUDA_VISIBLE_DEVICES": "",
        "PYTHONPATH": str(ROOT),
    }
    done = subprocess.run(
        ["bash", str(ROOT / "benchmarks" / "gpu_suite.sh"), str(out)],
        env=env,
        capture_output=True,
        text=True,
        timeout=3600,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    exits = {}
    for name in STEPS:
        log = (out / f"{name}.log").read_text()
        m = re.search(rf"^== {name}: exit (\d+) after", log, re.M)
        assert m, f"{name}: no exit line\n{log[-2000:]}"
        exits[name] = (int(m.group(1)), log[-1500:])
    assert {k: v[0] for k, v in exits.items()} == dict.fromkeys(STEPS, 0), {
        k: v[1] for k, v in exits.items() if v[0]
    }
    assert "no CUDA: smoke mode on the CPU" in (out / "preflight.log").read_text()
    assert "cells/hour" in (out / "cells_per_hour.log").read_text()


def test_the_suite_fits_its_lease() -> None:
    """The GPU limits add up to at most 8 minutes."""
    text = (ROOT / "benchmarks" / "gpu_suite.sh").read_text()
    limits = [int(x) for x in re.findall(r"^step \S+ (\d+) ", text, re.M)]
    assert len(limits) == len(STEPS) and sum(limits) <= 480
