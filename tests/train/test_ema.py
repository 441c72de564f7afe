"""EMA of the sampling nets: the update rule, buffers, the swap for sampling, bitwise resume, and the
`<metric>_ema` scores of a real cell."""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

import pytest
import torch
from accelerate import Accelerator
from rich.console import Console

from bench.datasets.base import DatasetInfo, ImageSplit
from bench.datasets.batches import BatchStream
from bench.grid import load_grid
from bench.launch.local import run_local
from bench.models import MODELS
from bench.storage import files as store
from bench.storage.checkpoint import load_checkpoint, restore, save_checkpoint
from bench.train.loop import fit
from bench.train.steplog import StepLog

QUIET = Console(file=open(os.devnull, "w"))  # noqa: SIM115


def info() -> DatasetInfo:
    return DatasetInfo(
        name="fake", resolution=28, channels=1, num_classes=10, splits={"train": 24, "test": 8},
        source="test", licence="test",
    )  # fmt: skip


def split() -> ImageSplit:
    g = torch.Generator().manual_seed(0)
    return ImageSplit(
        torch.randint(0, 256, (24, 1, 28, 28), generator=g, dtype=torch.uint8), torch.arange(24) % 10
    )


def build(name: str = "dcgan", **args: object):
    family = MODELS.get(name)
    torch.manual_seed(0)
    base = {"g_width": 4, "d_width": 4} if "g_width" in family.Config.model_fields else {"hidden": [16]}
    return family(family.Config(**{**base, **args}), info(), 4)


def train(model, steps: int, tmp: Path, start: int = 0, stream: BatchStream | None = None) -> BatchStream:
    stream = stream or BatchStream(split(), 8, torch.device("cpu"), seed=0)
    model.begin(steps)
    opts = getattr(model, "_opts", None) or model.optimizers()
    model._opts = opts
    fit(model, opts, stream, Accelerator(cpu=True), StepLog(tmp / "m.jsonl"), start, steps, log_every=2)
    return stream


def test_ema_nets_are_frozen_copies_outside_the_optimizers_and_parameter_count() -> None:
    raw, ema = build(), build(ema=0.9)
    assert set(ema.nets) == set(raw.nets) | {"G_ema"}
    assert not any(p.requires_grad for p in ema.nets["G_ema"].parameters())
    assert ema.num_parameters() == raw.num_parameters()
    params = {id(p) for opt in ema.optimizers().values() for g in opt.param_groups for p in g["params"]}
    assert not params & {id(p) for p in ema.nets["G_ema"].parameters()}
    assert build("mlp_vae", ema=0.9).sampling_nets == ("decoder",)


def test_the_average_follows_its_recursion_and_copies_before_ema_start(tmp_path: Path) -> None:
    decay, start = 0.8, 2
    model = build(ema=decay, ema_start=start)
    history = []
    orig_step = torch.optim.Adam.step

    def record(self, *a, **k):  # the G weights after every G optimizer step, in order
        out = orig_step(self, *a, **k)
        if self is model._opts["g"]:
            history.append([p.detach().clone() for p in model.nets["G"].parameters()])
        return out

    model._opts = model.optimizers()
    torch.optim.Adam.step = record
    try:
        train(model, 5, tmp_path)
    finally:
        torch.optim.Adam.step = orig_step
    expected = history[start - 1]  # copied up to step start - 1, then averaged
    for weights in history[start:]:
        expected = [e + (1 - decay) * (w - e) for e, w in zip(expected, weights, strict=True)]
    got = list(model.nets["G_ema"].parameters())
    assert all(torch.allclose(g, e, atol=1e-6) for g, e in zip(got, expected, strict=True))
    assert not all(torch.equal(g, w) for g, w in zip(got, history[-1], strict=True))
    # BatchNorm statistics are copied, not averaged.
    for b_ema, b in zip(model.nets["G_ema"].buffers(), model.nets["G"].buffers(), strict=True):
        assert torch.equal(b_ema, b)


def test_ema_weights_swaps_the_average_in_for_sampling_and_back(tmp_path: Path) -> None:
    model = build(ema=0.5)
    train(model, 3, tmp_path)
    model.train(False)
    live = model.nets["G"]
    raw = model.sample(4, torch.Generator().manual_seed(0))
    with model.ema_weights():
        assert model.nets["G"] is model.nets["G_ema"]
        averaged = model.sample(4, torch.Generator().manual_seed(0))
    assert model.nets["G"] is live
    assert not torch.equal(raw, averaged)
    assert torch.equal(raw, model.sample(4, torch.Generator().manual_seed(0)))
    with pytest.raises(Exception, match="keeps no EMA"), build().ema_weights():
        pass


def test_a_resumed_run_continues_the_average_bitwise(tmp_path: Path) -> None:
    torch.manual_seed(5)
    straight = build(ema=0.7, ema_start=1)
    torch.manual_seed(5)
    train(straight, 6, tmp_path)

    first = build(ema=0.7, ema_start=1)
    torch.manual_seed(5)
    stream = train(first, 3, tmp_path)
    ckpt = tmp_path / "ckpt.pt"
    save_checkpoint(ckpt, first.nets, first._opts, 3, stream.state_dict())

    resumed = build(ema=0.7, ema_start=1)
    resumed._opts = resumed.optimizers()
    restore(load_checkpoint(ckpt), resumed.nets, resumed._opts)
    stream2 = BatchStream(split(), 8, torch.device("cpu"), seed=0)
    stream2.load_state_dict(load_checkpoint(ckpt)["stream"])
    train(resumed, 6, tmp_path, start=3, stream=stream2)
    for name in ("G", "G_ema", "D"):
        a, b = straight.nets[name].state_dict(), resumed.nets[name].state_dict()
        assert all(torch.equal(a[k], b[k]) for k in a), name


def test_a_dcgan_cell_with_ema_reports_raw_and_ema_scores(write_grid, tmp_path: Path) -> None:
    grid = write_grid(
        models=[{"dcgan": {"g_width": 8, "d_width": 8, "ema": 0.9}}],
        train={"steps": 6, "batch_size": 16, "log_every": 3, "checkpoint_every": 0},
    )
    out = tmp_path / "out"
    run_local(load_grid(str(grid)), out, QUIET, in_process=True)
    (cell,) = out.iterdir()
    r = store.read_result(cell)
    assert r["status"] == "done", r.get("reason")
    m, fp = r["metrics"], r["protocol"]["fingerprints"]
    assert "fd_digits" in m and "fd_digits_ema" in m and m["fd_digits"] != m["fd_digits_ema"]
    assert fp["fd_digits_ema"] == fp["fd_digits"] + "+ema"
    assert r["protocol"]["ema"] == {"decay": 0.9, "start": 0, "nets": ["G"]}
    assert "G_ema" in torch.load(cell / store.CHECKPOINT, weights_only=True)["nets"]
    assert json.loads((cell / "config.json").read_text())["model_args"]["ema"] == 0.9


@pytest.mark.parametrize(
    ("name", "args", "nets"),
    [
        ("ddpm", {"base_channels": 4, "channel_mults": [1, 2], "timesteps": 20, "sample_steps": 3}, ["unet"]),
        (
            "vq_vae",
            {
                "codebook_size": 8,
                "code_dim": 4,
                "hidden": 8,
                "prior": "vae",
                "prior_steps": 5,
                "prior_fit_n": 24,
            },
            ["quantizer", "decoder"],
        ),  # fmt: skip
        ("conv_vae", {"widths": [4, 8]}, ["decoder"]),
        ("pix2pix", {"g_width": 4, "d_width": 4, "sample_pool": 4}, ["G"]),
    ],
)
def test_every_kind_of_family_keeps_an_ema_and_samples_with_it(tmp_path: Path, name: str, args, nets) -> None:
    family = MODELS.get(name)
    pairing = family.needs_pairing
    torch.manual_seed(0)
    dinfo = dataclasses.replace(info(), pairing=pairing)
    model = family(family.Config(**args, ema=0.5), dinfo, 4 if family.uses_latent else None)
    assert [n for n in model.nets if n.endswith("_ema")] == [n + "_ema" for n in nets]
    data = split()
    if pairing == "paired":
        data = ImageSplit(data.images, data.labels, targets=255 - data.images)
    stream = BatchStream(data, 8, torch.device("cpu"), seed=0, paired=pairing == "paired")
    model.begin(3)
    fit(model, model.optimizers(), stream, Accelerator(cpu=True), StepLog(tmp_path / "m.jsonl"), 0, 3, 3)
    model.finalize(data, torch.Generator().manual_seed(0))
    model.train(False)
    raw = model.sample(2, torch.Generator().manual_seed(0))
    with model.ema_weights():
        averaged = model.sample(2, torch.Generator().manual_seed(0))
    assert raw.shape == averaged.shape and torch.isfinite(averaged).all()
    assert not torch.equal(raw, averaged)
