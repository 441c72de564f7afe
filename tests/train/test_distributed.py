"""One cell trained by 2 processes (torchrun, gloo on the CPU): DDP and DeepSpeed ZeRO-2 against 1 process
at the same global batch; what validation refuses."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch
from rich.console import Console

from bench import fs
from bench.errors import BenchError
from bench.grid import load_grid
from bench.launch.local import run_local
from bench.storage import files as store

QUIET = Console(file=open(os.devnull, "w"))  # noqa: SIM115
STEPS = 60


def _losses(cell: Path) -> list[float]:
    return [json.loads(line)["loss"] for line in (cell / store.METRICS).read_text().splitlines()]


@pytest.fixture(scope="module")
def three_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The same VAE cell, global batch 32: 1 process, 2 with DDP, 2 with DeepSpeed ZeRO-2; a small
    DCGAN in 2 processes."""
    import yaml

    root = tmp_path_factory.mktemp("distributed")
    grid = {
        "eval": {"n_samples": 120, "kid_subset_size": 50, "kid_subsets": 5, "batch_size": 60},
        "datasets": ["digits"],
        "latent_sizes": [4],
        "models": ["mlp_vae"],
        "train": {"steps": STEPS, "batch_size": 32, "log_every": 10, "checkpoint_every": 0, "threads": 1},
        "blocks": [
            {},
            {"train": {"processes": 2}},
            {"train": {"processes": 2, "distributed": "deepspeed", "zero_stage": 2}},
            # BatchNorm buffers: DDP broadcasts them in every forward, so sampling after training must
            # not go through DDP (rank 0 draws more than the others).
            {"models": [{"dcgan": {"g_width": 8, "d_width": 8}}], "train": {"processes": 2, "steps": 10}},
        ],
    }
    (root / "grid.yaml").write_text(yaml.safe_dump(grid))
    summary = run_local(load_grid(str(root / "grid.yaml")), root / "out", QUIET, in_process=True)
    runs = {}
    for cid in summary.ran:
        result = store.read_result(root / "out" / cid)
        runs[result["train"]["distributed"] if result["model"] == "mlp_vae" else result["model"]] = (
            root / "out" / cid
        )
    return runs


def test_two_ddp_processes_train_like_one_at_the_same_global_batch(three_runs) -> None:
    one, ddp = three_runs["none"], three_runs["ddp"]
    r = store.read_result(ddp)
    assert r["status"] == "done", r.get("reason")
    assert r["train"]["processes"] == 2
    assert (r["train"]["batch_size_global"], r["train"]["batch_size_per_device"]) == (32, 16)
    assert r["train"]["lr_scale"] == 1.0
    a, b = _losses(one), _losses(ddp)
    assert len(b) == STEPS, "one row per step, logged once (the mean over both processes)"
    # Same initial weights and the same 32 images at step 0; only the VAE's noise differs per process.
    assert b[0] == pytest.approx(a[0], rel=2e-3)
    assert sum(b[-10:]) / 10 == pytest.approx(sum(a[-10:]) / 10, rel=0.03)
    fd_one, fd_ddp = store.read_result(one)["metrics"]["fd_digits"], r["metrics"]["fd_digits"]
    assert fd_ddp == pytest.approx(fd_one, rel=0.25)


def test_deepspeed_zero2_trains_a_single_optimizer_family_on_two_processes(three_runs) -> None:
    one, ds = three_runs["none"], three_runs["deepspeed"]
    r = store.read_result(ds)
    assert r["status"] == "done", r.get("reason")
    assert (r["train"]["processes"], r["train"]["zero_stage"]) == (2, 2)
    a, b = _losses(one), _losses(ds)
    assert b[0] == pytest.approx(a[0], rel=2e-3)
    assert sum(b[-10:]) / 10 == pytest.approx(sum(a[-10:]) / 10, rel=0.03)
    # Each process keeps its own partition of the optimizer state beside the checkpoint.
    assert sorted(p.name for p in ds.glob("checkpoint.rank*.pt")) == [
        f"checkpoint.rank0.step{STEPS}.pt",
        f"checkpoint.rank1.step{STEPS}.pt",
    ]


def test_a_gan_with_batchnorm_trains_and_evaluates_in_two_processes(three_runs) -> None:
    r = store.read_result(three_runs["dcgan"])
    assert r["status"] == "done", r.get("reason")
    assert r["train"]["processes"] == 2 and "fd_digits" in r["metrics"]
    assert (three_runs["dcgan"] / "samples.png").is_file()


def test_deepspeed_is_refused_for_adversarial_families(write_grid) -> None:
    path = write_grid(train={"steps": 10, "processes": 2, "distributed": "deepspeed"})
    with pytest.raises(
        BenchError,
        match=r"models\.dcgan: train\.distributed: 'deepspeed' needs a family with one optimizer; "
        r"DCGAN is adversarial, with 2 optimizers \(d, g\); use distributed: ddp",
    ):
        load_grid(str(path))


def test_a_global_batch_must_split_evenly_over_processes(write_grid) -> None:
    with pytest.raises(BenchError, match=r"train: batch_size 30 \(global\) must be divisible by processes=4"):
        load_grid(str(write_grid(models=["mlp_vae"], train={"steps": 10, "batch_size": 30, "processes": 4})))


def test_per_device_batches_scale_the_learning_rate_by_the_rule() -> None:
    from bench.config import TrainConfig
    from bench.train.distributed import batch_plan

    plan = batch_plan(
        TrainConfig(steps=1, batch_size=16, processes=4, batch_size_per="device", lr_scaling="linear")
    )
    assert (plan.per_device, plan.global_batch, plan.lr_scale) == (16, 64, 4.0)
    plan = batch_plan(
        TrainConfig(steps=1, batch_size=16, processes=4, batch_size_per="device", lr_scaling="sqrt")
    )
    assert plan.lr_scale == 2.0
    plan = batch_plan(TrainConfig(steps=1, batch_size=16, processes=4, lr_scaling="linear"))
    assert (plan.per_device, plan.global_batch, plan.lr_scale) == (4, 16, 1.0)


def test_two_processes_stopped_by_usr1_resume_bitwise_identical(three_runs, tmp_path: Path) -> None:
    """SIGUSR1 to torchrun reaches both DeepSpeed processes; they stop at the same step, each saves its
    RNG states and ZeRO partition, and the continued run matches the run never stopped bit for bit."""
    import shutil
    import signal
    import subprocess

    from bench.launch.command import TORCHRUN_ENV, cell_command

    straight = three_runs["deepspeed"]
    cell = tmp_path / straight.name
    cell.mkdir()
    shutil.copy(straight / store.CONFIG, cell / store.CONFIG)
    env = {**os.environ, **TORCHRUN_ENV}
    proc = subprocess.Popen(
        cell_command(cell, 2, progress_lines=True),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    assert proc.stdout is not None
    for line in proc.stdout:
        if "@progress train" in line and int(line.split("@progress train")[1].split()[0]) >= 5:
            proc.send_signal(signal.SIGUSR1)
            break
    proc.stdout.read()
    proc.wait()
    assert store.read_result(cell) is None
    at = fs.read_json(cell / store.LOCK)["stopped_at_step"]
    assert at in range(10, STEPS, 10), "both processes stop together at a flush step"
    assert sorted(p.name for p in cell.glob("checkpoint.rank*.pt")) == [
        f"checkpoint.rank0.step{at}.pt",
        f"checkpoint.rank1.step{at}.pt",
    ]

    subprocess.run(cell_command(cell, 2), env=env, check=True, capture_output=True)
    assert store.read_result(cell)["train"]["resumed_from"] == at
    wa = torch.load(straight / store.CHECKPOINT, weights_only=True)["nets"]
    wb = torch.load(cell / store.CHECKPOINT, weights_only=True)["nets"]
    for net in wa:
        for k in wa[net]:
            assert torch.equal(wa[net][k], wb[net][k]), f"{net}.{k}"
    assert (straight / store.METRICS).read_text() == (cell / store.METRICS).read_text()
