"""Cost across attempts (issue 22): a cell killed mid-training and resumed reports the time of both
attempts in its result's train and device seconds, and lists each attempt."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import yaml

from tests.conftest import TINY_GRID


def test_a_killed_and_resumed_cell_counts_both_attempts(tmp_path: Path, monkeypatch) -> None:
    grid = tmp_path / "grid.yaml"
    train = {**TINY_GRID["train"], "steps": 150, "log_every": 8, "checkpoint_every": 8}
    grid.write_text(yaml.safe_dump({**TINY_GRID, "models": ["mlp_vae"], "train": train}))
    out = tmp_path / "out"
    env = {**os.environ, "BENCH_LOCK_HEARTBEAT_SECONDS": "0.2", "PYTHONPATH": os.getcwd()}
    cmd = [sys.executable, "-m", "bench", "run", "--grid", str(grid), "--out", str(out), "--in-process"]
    proc = subprocess.Popen(
        cmd, env=env, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        deadline = time.time() + 300
        while not list(out.glob("*/checkpoint.pt")) and time.time() < deadline and proc.poll() is None:
            time.sleep(0.1)
        (lock,) = out.glob("*/running.json")
        started = json.loads(lock.read_text())["started_unix"]
        time.sleep(2.0)
        assert proc.poll() is None, "the cell ended before it could be killed; give it more steps"
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    killed_after = time.time() - started
    cell = lock.parent
    assert not (cell / "result.json").exists()

    monkeypatch.setenv("BENCH_LOCK_HEARTBEAT_SECONDS", "0.2")
    from tests.e2e.test_bad_inputs_2 import bench

    assert bench(monkeypatch, ["run", "--grid", str(grid), "--out", str(out), "--in-process"]) == 0
    result = json.loads((cell / "result.json").read_text())
    cost = result["cost"]
    first, last = cost["attempts"]
    assert (
        first["ended"] == "died" and killed_after - 3 <= first["wall_seconds"] <= killed_after + 0.1
    )  # heartbeats late under load
    assert last["ended"] == "result" and result["train"]["resumed_from"] > 0
    assert cost["earlier_attempts_seconds"] == first["wall_seconds"]
    assert cost["device_seconds"] >= first["wall_seconds"] + last["wall_seconds"] - 1e-6
    assert cost["train_seconds"] >= first["wall_seconds"] + result["train"]["seconds"] - 1e-6
    assert not (cell / "attempts.json").exists()  # counted once: the next result starts afresh
