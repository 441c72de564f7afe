"""A cell stopped by SIGUSR1 mid-training (as SLURM does before a time limit) and run again ends with
exactly the weights, losses and metrics of a cell never stopped."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import torch
from rich.console import Console

from bench import fs
from bench.grid import load_grid
from bench.launch.cells import materialize
from bench.launch.local import run_local
from bench.storage import files as store
from bench.train.preempt import PREEMPTED_EXIT

QUIET = Console(file=open(os.devnull, "w"))  # noqa: SIM115

# checkpoint_every 0: the only mid-run checkpoint is the one the signal causes; log_every 8 puts the
# stop between two flushes, so the pending loss rows must be written with it.
# threads 1: the child and this process must reduce floats in the same order to agree bit for bit.
TRAIN = {"steps": 60, "batch_size": 16, "log_every": 8, "checkpoint_every": 0, "threads": 1}


def _stop_with_usr1_at(cell: Path, step: int) -> subprocess.CompletedProcess:
    """Run the cell in a child process and send it SIGUSR1 once it reports `step` steps done."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench", "cell", str(cell), "--progress-lines"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.startswith("@progress train") and int(line.split()[2]) >= step:
            proc.send_signal(signal.SIGUSR1)
            break
    proc.stdout.read()
    return subprocess.CompletedProcess(proc.args, proc.wait())


def test_a_cell_stopped_by_usr1_resumes_bitwise_identical(write_grid, tmp_path: Path) -> None:
    grid = load_grid(str(write_grid(models=[{"dcgan": {"g_width": 8, "d_width": 8}}], train=TRAIN)))
    straight = run_local(grid, tmp_path / "straight", QUIET, in_process=True)
    assert list(straight.states.values()) == ["done"]

    (cell,) = materialize(grid, tmp_path / "stopped")
    stopped = _stop_with_usr1_at(cell, 10)
    assert stopped.returncode == PREEMPTED_EXIT
    assert not (cell / store.RESULT).exists(), "a stopped cell must not look finished"
    lock = fs.read_json(cell / store.LOCK)
    at = lock["stopped_at_step"]
    assert 10 <= at < TRAIN["steps"], at
    assert torch.load(cell / store.CHECKPOINT, weights_only=True)["step"] == at
    rows = [json.loads(r)["step"] for r in (cell / store.METRICS).read_text().splitlines()]
    assert rows == list(range(at)), "the losses up to the stop must be on disk with the checkpoint"

    resumed = run_local(grid, tmp_path / "stopped", QUIET, in_process=True)
    assert resumed.states == straight.states
    a, b = tmp_path / "straight" / cell.name, cell
    assert store.read_result(b)["train"]["resumed_from"] == at
    wa = torch.load(a / store.CHECKPOINT, weights_only=True)
    wb = torch.load(b / store.CHECKPOINT, weights_only=True)
    for net in wa["nets"]:
        for k in wa["nets"][net]:
            assert torch.equal(wa["nets"][net][k], wb["nets"][net][k]), f"{net}.{k}"
    for phase in wa["optimizers"]:
        for i, s in wa["optimizers"][phase]["state"].items():
            for k, v in s.items():
                assert torch.equal(v, wb["optimizers"][phase]["state"][i][k]), f"{phase}.{i}.{k}"
    assert (a / store.METRICS).read_text() == (b / store.METRICS).read_text()
    ra, rb = store.read_result(a)["metrics"], store.read_result(b)["metrics"]
    timing = {k: 0 for k in ra if k.endswith("_seconds")}
    assert ra | timing == rb | timing
