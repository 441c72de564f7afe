"""Several cells per SLURM array task (`slurm.cells_per_task`): the script the launcher renders, and on a
real cluster one task running K cells at once, one of them failing, preempted and requeued, nothing lost.

The end-to-end test needs a cluster that answers `sinfo` (slurm/dev-cluster-start.sh) and is skipped
elsewhere. Its task asks for PACKED one-CPU cells at once, so it needs a node that advertises that many
CPUs (dev-cluster-start.sh advertises at least 4, also on a 2-core machine); on a smaller cluster it
fails at once, saying so, instead of waiting for a task that can never start.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from bench import fs
from bench.errors import BenchError
from bench.grid import load_grid
from bench.launch import slurm
from bench.storage import files as store
from tests.launch import test_slurm
from tests.launch.test_slurm import _wait, bench, needs_cluster

PACKED = 4  # cells in the one task of the end-to-end test, one CPU each


def test_k_cells_per_task_make_ceil_n_over_k_tasks_that_run_the_packed_runner(write_grid, tmp_path) -> None:
    grid = load_grid(str(write_grid(seeds=[0, 1, 2], models=["mlp_vae"])))
    cfg = slurm.slurm_config(grid, {"cells_per_task": 2, "cpus_per_process": 3, "gpus_per_process": 1})
    (array,) = slurm.plan(grid, tmp_path / "out", cfg, dry_run=True).arrays
    assert array.per_task == 2 and [array.task_of(i) for i in range(3)] == [0, 0, 1]
    for line in (
        "#SBATCH --array=0-1",
        "#SBATCH --cpus-per-task=6",  # each packed cell keeps its CPUs
        "#SBATCH --gpus-per-node=1",  # and they share the GPU
        "per_task=2",
        '-m bench.launch.packed -- "${todo[@]}"',
    ):
        assert line in array.script, line
    with pytest.raises(BenchError, match="slurm.cells_per_task: "):
        slurm.slurm_config(grid, {"cells_per_task": 0})
    one = slurm.plan(grid, tmp_path / "out", slurm.slurm_config(grid, {}), dry_run=True).arrays[0]
    assert "#SBATCH --array=0-2" in one.script and "per_task=1" in one.script
    assert '-m bench cell "$cell_dir"' in one.script


def test_cells_of_several_processes_keep_a_task_each(write_grid, tmp_path: Path) -> None:
    grid = load_grid(str(write_grid(seeds=[0, 1], models=["mlp_vae"], train={"steps": 4, "processes": 2})))
    (array,) = slurm.plan(
        grid, tmp_path, slurm.slurm_config(grid, {"cells_per_task": 4}), dry_run=True
    ).arrays
    assert array.per_task == 1 and "#SBATCH --array=0-1" in array.script
    assert "torch.distributed.run" in array.script


def test_the_flag_comes_from_the_schema(tmp_path: Path) -> None:
    printed = bench(
        "run", "--grid", "quick", "--launcher", "slurm", "--dry-run", "--no-estimate",
        "--cells-per-task", "4", "--out", str(tmp_path / "out"),
    ).stdout  # fmt: skip
    assert "#SBATCH --array=0-4" in printed and "per_task=4" in printed  # 18 cells in 5 tasks


SITE = """
import os
if os.environ.get("BENCH_TEST_PACKED_FAMILY"):
    from bench.models import MODELS
    from bench.models.mlp_vae import MLPVAE

    class _Exploding(MLPVAE):
        def training_step(self, batch, phase):
            raise RuntimeError("boom in a packed task")

    MODELS.register("test_packed_exploding")(_Exploding)
"""


def node_cpus() -> int:
    """The most CPUs one node of the cluster offers (`sinfo`: a task lives on one node)."""
    out = subprocess.run(
        ["sinfo", "--noheader", "--Node", "--format=%c"], capture_output=True, text=True, timeout=15
    ).stdout
    return max((int(n) for n in out.split() if n.isdigit()), default=0)


@pytest.fixture
def fake_squeue(tmp_path: Path, monkeypatch):
    """An `squeue` on PATH that prints `reason` for one pending job, whatever it is asked."""

    def install(reason: str) -> None:
        script = tmp_path / "bin" / "squeue"
        script.parent.mkdir(exist_ok=True)
        script.write_text(f"#!/bin/sh\necho '4242_0 {reason}'\n")
        script.chmod(0o755)
        monkeypatch.setenv("PATH", f"{script.parent}{os.pathsep}{os.environ['PATH']}")

    monkeypatch.setattr(test_slurm, "NEVER_STARTS_GRACE", 0.0)
    monkeypatch.setattr(test_slurm, "QUEUE_POLL", 0.1)
    return install


def test_waiting_on_a_task_that_cannot_start_fails_at_once_with_slurms_reason(fake_squeue) -> None:
    fake_squeue("PartitionConfig")
    started = time.monotonic()
    reason = "SLURM will not start it: job 4242_0 is pending with reason PartitionConfig"
    with pytest.raises(AssertionError, match=reason):
        _wait("the packed task", lambda: False, timeout=300)
    assert time.monotonic() - started < 10


def test_waiting_on_a_task_that_waits_for_resources_times_out(fake_squeue) -> None:
    fake_squeue("Resources")  # the node is busy: it will start, so the time-out decides
    with pytest.raises(AssertionError, match="timed out waiting for the packed task"):
        _wait("the packed task", lambda: False, timeout=1)


@needs_cluster
def test_a_packed_task_survives_a_failing_cell_and_preemption(tmp_path: Path) -> None:
    cpus = node_cpus()
    if cpus < PACKED:
        pytest.fail(
            f"the cluster's largest node offers {cpus} CPU(s) and this test packs {PACKED} one-CPU cells "
            f"into one task, which SLURM would never start (PartitionConfig); start the dev cluster with "
            f"BENCH_SLURM_CPUS={PACKED} or more (slurm/dev-cluster-start.sh advertises {PACKED} by default)"
        )
    steps = 600
    train = {"batch_size": 16, "log_every": 10, "threads": 1}
    grid = {
        "name": "packed",
        "train": {**train, "steps": steps},
        "eval": {"metrics": [], "n_samples": 60, "batch_size": 60},
        "datasets": ["digits"],
        "latent_sizes": [4],
        "blocks": [
            {"models": ["mlp_vae"], "seeds": [0], "train": {**train, "steps": 30}},  # done before the stop
            {"models": ["mlp_vae"], "seeds": [1, 2]},  # both preempted, then resumed
            {"models": ["test_packed_exploding"], "seeds": [0]},  # fails; the others go on
        ],
        "slurm": {
            "cpus_per_process": 1,
            "gpus_per_process": 0,
            "time": "00:10:00",
            "signal_seconds": 60,
            "cells_per_task": PACKED,
        },
    }
    (tmp_path / "grid.yaml").write_text(yaml.safe_dump(grid))
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(SITE)  # the family, in the submitting and the job's processes
    env = {
        **os.environ,
        "BENCH_TEST_PACKED_FAMILY": "1",
        "PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")]),
    }
    out = tmp_path / "out"
    run = [sys.executable, "-m", "bench", "run", "--grid", str(tmp_path / "grid.yaml"), "--launcher", "slurm"]
    submitted = subprocess.run(
        [*run, "--out", str(out)], capture_output=True, text=True, env=env, timeout=300
    )
    assert submitted.returncode == 0, submitted.stdout + submitted.stderr
    assert "4 cell(s) in 1 task(s)" in submitted.stdout

    dirs = [c.parent for c in out.glob(f"*/{store.CONFIG}")]  # cell folders (not estimate.json, .slurm)
    configs = {d: json.loads((d / store.CONFIG).read_text()) for d in dirs}
    by = {(c["model"], c["seed"]): d for d, c in configs.items()}
    short, failing = by[("mlp_vae", 0)], by[("test_packed_exploding", 0)]
    longs = [by[("mlp_vae", 1)], by[("mlp_vae", 2)]]
    (task,) = {fs.read_json(d / "queued.json")["job"] for d in dirs}  # one task holds all four

    def rows(cell: Path) -> int:
        return len((cell / store.METRICS).read_text().splitlines()) if (cell / store.METRICS).exists() else 0

    def ready() -> bool:
        ended = store.read_result(short) is not None and store.read_result(failing) is not None
        return ended and all(rows(d) >= 20 for d in longs)

    _wait("the short cell to finish, the failing one to fail, the long ones to train", ready, 300, (task,))
    subprocess.run(["scancel", "--signal=USR1", "--batch", task], check=True)
    task_log = next((out / slurm.SUBMISSIONS).glob("*/task-0.log"))
    _wait("the task to checkpoint and requeue", lambda: "requeueing" in task_log.read_text(), 90, (task,))
    stopped = {d: fs.read_json(d / store.LOCK)["stopped_at_step"] for d in longs}
    assert all(20 <= at < steps for at in stopped.values()), "every running cell checkpointed"
    assert all(store.read_result(d) is None for d in longs)
    finished = lambda: all(store.read_result(d) is not None for d in longs)  # noqa: E731
    _wait("the long cells to finish", finished, 300, (task,))

    log = task_log.read_text()
    assert "restart 0" in log and "restart 1" in log
    assert f"{short} already has a result; nothing to do" in log, "finished cells are skipped on requeue"
    for long, stopped_at in stopped.items():
        r = store.read_result(long)
        assert r["status"] == "done" and r["train"]["resumed_from"] == stopped_at
        logged = [json.loads(line)["step"] for line in (long / store.METRICS).read_text().splitlines()]
        assert logged == list(range(steps)), "every step logged exactly once across the two attempts"
        assert r["cost"]["cells_sharing_device"] == 2, "the second attempt ran the two left"
    s = store.read_result(short)
    assert s["status"] == "done" and s["slurm_job_id"] == task
    assert s["cost"]["cells_sharing_device"] == 4 and s["cost"]["worker"] == "persistent"
    assert s["cost"]["mps"] is False  # no GPU here: nothing to serve
    f = store.read_result(failing)
    assert f["status"] == "failed" and f["reason"] == "RuntimeError: boom in a packed task"
    assert all("packed with 4 cell(s)" in (d / "slurm.log").read_text() for d in dirs)
