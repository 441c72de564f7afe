"""The SLURM launcher: scripts that quote what they carry, and a real cluster end to end.

The end-to-end tests need a cluster that answers `sinfo` (CI starts a single-node one with
slurm/dev-cluster-start.sh) and are skipped elsewhere.
"""

from __future__ import annotations

import json
import shutil
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


def _slurm_answers() -> bool:
    if shutil.which("sinfo") is None:
        return False
    try:
        return subprocess.run(["sinfo", "--noheader"], capture_output=True, timeout=15).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


needs_cluster = pytest.mark.skipif(
    not _slurm_answers(), reason="no SLURM cluster answers sinfo (start one: slurm/dev-cluster-start.sh)"
)


def bench(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    done = subprocess.run([sys.executable, "-m", "bench", *args], capture_output=True, text=True, timeout=300)
    if check:
        assert done.returncode == 0, done.stdout + done.stderr
    return done


def test_values_from_configs_never_reach_the_shell_unquoted(write_grid, tmp_path: Path) -> None:
    path = write_grid()
    path.write_text(yaml.safe_dump({**yaml.safe_load(path.read_text()), "name": 'x"; rm -rf / #'}))
    grid = load_grid(str(path))
    cfg = slurm.slurm_config(grid, {"gpus_per_process": 0})
    out = tmp_path / "it's here"
    with pytest.raises(BenchError, match="--out: .* has characters SLURM's output patterns cannot take"):
        slurm.plan(grid, out, cfg, dry_run=True)
    (array,) = slurm.plan(grid, tmp_path / "out", cfg, dry_run=True).arrays
    assert "#SBATCH --job-name=bench-x___rm_-rf____" in array.script
    assert "rm -rf /" not in array.script
    for bad, key in (("gpu part", "partition"), ("1h", "time"), ("x\n#SBATCH --uid=0", "account")):
        with pytest.raises(BenchError, match=f"slurm.{key}: "):
            slurm.slurm_config(grid, {key: bad})
    with pytest.raises(BenchError, match="slurm.nodes: 2 does not divide train.processes=1"):
        slurm.plan(grid, tmp_path / "out", slurm.slurm_config(grid, {"nodes": 2}), dry_run=True)


def test_a_multi_process_cell_gets_torchrun_over_slurm_nodes(write_grid, tmp_path: Path) -> None:
    grid = load_grid(
        str(write_grid(models=["mlp_vae"], train={"steps": 10, "batch_size": 16, "processes": 4}))
    )
    cfg = slurm.slurm_config(grid, {"nodes": 2, "gpus_per_process": 1, "partition": "gpu", "throttle": 3})
    (array,) = slurm.plan(grid, tmp_path, cfg, dry_run=True).arrays
    for line in (
        "#SBATCH --array=0-0%3",
        "#SBATCH --nodes=2",
        "#SBATCH --gpus-per-node=2",
        "#SBATCH --cpus-per-task=8",
        "#SBATCH --partition=gpu",
        '--nnodes="$SLURM_NNODES" --nproc-per-node=2 --rdzv-backend=c10d --rdzv-endpoint="$head:29500"',
    ):
        assert line in array.script, line


@needs_cluster
def test_quick_dry_run_prints_a_script_sbatch_accepts(tmp_path: Path) -> None:
    out = tmp_path / "out"
    printed = bench("run", "--grid", "quick", "--launcher", "slurm", "--dry-run", "--out", str(out)).stdout
    script = printed[printed.index("#!/bin/bash") :]
    assert "#SBATCH --array=0-17" in script and "#SBATCH --signal=B:USR1@120" in script
    (tmp_path / "quick.sbatch").write_text(script)
    test_only = subprocess.run(
        ["sbatch", "--test-only", str(tmp_path / "quick.sbatch")], capture_output=True, text=True
    )
    assert test_only.returncode == 0, test_only.stderr
    assert "to start at" in test_only.stderr
    assert not out.exists(), "a dry run writes nothing"


# Reasons SLURM gives a pending job that waiting will not cure on this cluster: the job asks for more
# than a node or the partition has, or for nodes that are down. A test waiting on such a job fails at
# once with the reason instead of after its time-out.
NEVER_STARTS = (
    "PartitionConfig",
    "PartitionNodeLimit",
    "PartitionTimeLimit",
    "ReqNodeNotAvail",
    "BadConstraints",
    "Nodes_required_for_job_are_DOWN",
    "InvalidAccount",
    "InvalidQOS",
    "DependencyNeverSatisfied",
    "JobHeldAdmin",
)
NEVER_STARTS_GRACE = 5.0  # seconds a reason must last: a node coming back may show ReqNodeNotAvail briefly
QUEUE_POLL = 2.0


def never_starts(jobs: tuple[str, ...] = ()) -> str | None:
    """The first pending job (of `jobs`, else of this user) that SLURM says cannot start, with its reason."""
    command = ["squeue", "--noheader", "--states=PENDING", "--format=%i %r"]
    command += [f"--jobs={','.join(jobs)}"] if jobs else ["--me"]
    try:
        out = subprocess.run(command, capture_output=True, text=True, timeout=15).stdout
    except (OSError, subprocess.SubprocessError):
        return None  # no answer is no reason: the time-out still applies
    for line in out.splitlines():
        job, _, reason = line.strip().partition(" ")
        if reason.startswith(NEVER_STARTS):
            return f"job {job} is pending with reason {reason}"
    return None


def _wait(what: str, condition, timeout: float, jobs: tuple[str, ...] = ()) -> None:
    """Poll `condition`; fail at once when a job it waits on cannot start (`never_starts`). (A requeued
    task waits out its credential, cred_expire=10 s on the dev cluster; forcing it to start earlier with
    `scontrol update StartTime=now` gets it killed as non-startable.)"""
    deadline = time.time() + timeout
    stuck_since: float | None = None
    next_poll = 0.0
    while not condition():
        now = time.time()
        if now >= next_poll:
            next_poll = now + QUEUE_POLL
            stuck = never_starts(jobs)
            stuck_since = None if stuck is None else (stuck_since or now)
            if stuck is not None and now - stuck_since >= NEVER_STARTS_GRACE:
                queue = subprocess.run(["squeue"], capture_output=True, text=True).stdout
                raise AssertionError(f"waiting for {what}: SLURM will not start it: {stuck}\n{queue}")
        if now > deadline:
            queue = subprocess.run(["squeue"], capture_output=True, text=True).stdout
            raise AssertionError(f"timed out waiting for {what}\n{queue}")
        time.sleep(0.3)


@needs_cluster
def test_a_grid_survives_preemption_on_a_real_cluster(tmp_path: Path) -> None:
    steps = 600
    grid = {
        "name": "preempt",
        "train": {"steps": steps, "batch_size": 16, "log_every": 10, "threads": 1},
        "eval": {"n_samples": 120, "kid_subset_size": 50, "kid_subsets": 5, "batch_size": 60},
        "datasets": ["digits"],
        "latent_sizes": [4],
        "seeds": [0, 1],
        "models": ["mlp_vae"],
        "slurm": {"cpus_per_process": 1, "gpus_per_process": 0, "time": "00:10:00", "signal_seconds": 60},
    }
    (tmp_path / "grid.yaml").write_text(yaml.safe_dump(grid))
    out = tmp_path / "out"
    submitted = bench("run", "--grid", str(tmp_path / "grid.yaml"), "--launcher", "slurm", "--out", str(out))
    assert "2 cell(s) submitted" in submitted.stdout

    cells = {json.loads(c.read_text())["seed"]: c.parent for c in out.glob(f"*/{store.CONFIG}")}
    long = cells[1]
    task = fs.read_json(long / "queued.json")["job"]

    def training() -> bool:
        return (long / store.METRICS).exists() and len((long / store.METRICS).read_text().splitlines()) >= 20

    _wait("the long cell to train", training, 120)
    subprocess.run(["scancel", "--signal=USR1", "--batch", task], check=True)
    _wait(
        "the checkpoint of the preempted cell", lambda: "requeueing" in (long / "slurm.log").read_text(), 60
    )
    stopped_at = fs.read_json(long / store.LOCK)["stopped_at_step"]
    assert 20 <= stopped_at < steps
    assert store.read_result(long) is None
    _wait("both cells to finish", lambda: all(store.read_result(d) for d in cells.values()), 240)

    log = (long / "slurm.log").read_text()
    assert "restart 0" in log and "restart 1" in log
    r = store.read_result(long)
    assert r["status"] == "done" and r["train"]["resumed_from"] == stopped_at
    assert r["slurm_job_id"] == task
    logged = [json.loads(line)["step"] for line in (long / store.METRICS).read_text().splitlines()]
    assert logged == list(range(steps)), "every step logged exactly once across the two attempts"
    assert all(store.read_result(d)["status"] == "done" for d in cells.values())

    (row,) = json.loads(bench("leaderboard", "--out", str(out), "--format", "json").stdout)["rows"]
    assert row["counts"] == {"done": 2} and row["metrics"]["fd_digits"]["n"] == 2, row

    again = bench("run", "--grid", str(tmp_path / "grid.yaml"), "--launcher", "slurm", "--out", str(out))
    assert "0 cell(s) submitted, 2 already finished" in " ".join(again.stdout.split())
    status = bench("status", "--out", str(out)).stdout
    assert "2 done" in status
    assert not list(out.glob("*/result.failed-*.json")), "no attempt was recorded as a failure"


def test_status_reads_queue_states_from_squeue_output(tmp_path: Path, monkeypatch) -> None:
    from bench.storage.status import all_states

    cell = tmp_path / "c"
    fs.atomic_write_json(cell / store.CONFIG, {"model": "m", "dataset": "d", "seed": 0})
    fs.atomic_write_json(cell / "queued.json", {"job": "7_3"})
    assert all_states(tmp_path, {"7_3": "PENDING"})[0].state == "queued"
    assert all_states(tmp_path, {})[0].state == "pending"
    fs.atomic_write_json(cell / store.LOCK, {"slurm_job_id": "7_3", "stopped_at_step": 5})
    assert all_states(tmp_path, {"7_3": "PENDING"})[0].state == "requeued"
    assert all_states(tmp_path, {"7_3": "RUNNING"})[0].state == "running"
    assert all_states(tmp_path, {})[0].state == "interrupted"
    monkeypatch.setenv("PATH", str(tmp_path))  # no squeue here: states come from the files alone
    assert slurm.active_jobs() is None


def test_a_task_that_dies_without_a_result_is_recorded_with_its_reason_and_log(write_grid, tmp_path) -> None:
    from bench.launch.cells import materialize

    (cell,) = materialize(load_grid(str(write_grid(models=["mlp_vae"]))), tmp_path / "out")
    (cell / "slurm.log").write_text("== 5_0 restart 0\nslurmstepd: error: Detected 1 oom_kill event\n")
    bench("cell-crashed", str(cell), "--code", "137", "--log", str(cell / "slurm.log"))
    r = store.read_result(cell)
    assert r["status"] == "failed" and r["reason"] == "process killed by SIGKILL (out of memory?)"
    assert r["log"] == str(cell / "slurm.log") and "oom_kill" in r["log_tail"][-1]
    bench("cell-crashed", str(cell), "--code", "1")  # a result is there: never overwritten
    assert store.read_result(cell)["reason"] == "process killed by SIGKILL (out of memory?)"


def test_submitting_needs_a_cluster_that_answers(write_grid, tmp_path, monkeypatch) -> None:
    grid = load_grid(str(write_grid(models=["mlp_vae"])))
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(BenchError, match="squeue does not answer here"):
        slurm.submit(grid, tmp_path / "out", slurm.slurm_config(grid, {}))
    assert not (tmp_path / "out").exists()
