"""Every registered family honours the contract the one training loop relies on."""

from __future__ import annotations

import pytest
import torch

from bench.datasets.base import DatasetInfo
from bench.datasets.batches import Batch
from bench.models import MODELS

SHAPES = [(28, 1), (32, 3), (64, 1)]


def info(resolution: int, channels: int) -> DatasetInfo:
    return DatasetInfo(
        name=f"fake{resolution}",
        resolution=resolution,
        channels=channels,
        num_classes=10,
        splits={"train": 64, "test": 64},
        source="test",
        licence="test",
    )


def build(name: str, resolution: int = 28, channels: int = 1, **args: object):
    family = MODELS.get(name)
    torch.manual_seed(0)
    z = family.default_latent_size if family.uses_latent else None
    return family(family.Config(**args), info(resolution, channels), z)


def batch(n: int, resolution: int, channels: int, seed: int = 0) -> Batch:
    g = torch.Generator().manual_seed(seed)
    return Batch(
        torch.rand(n, channels, resolution, resolution, generator=g) * 2 - 1,
        torch.randint(0, 10, (n,), generator=g),
    )


@pytest.mark.parametrize("name", MODELS.names())
@pytest.mark.parametrize(("resolution", "channels"), SHAPES)
def test_one_step_is_finite_reaches_every_net_and_samples_in_range(
    name: str, resolution: int, channels: int
) -> None:
    model = build(name, resolution, channels)
    opts = model.optimizers()
    touched: set[str] = set()
    for phase in model.phases(0):
        assert phase in opts, f"phase {phase!r} has no optimizer"
        out = model.training_step(batch(4, resolution, channels), phase)
        for k, v in out.items():
            assert torch.isfinite(v).all(), f"{name}: {phase}/{k} = {v}"
        opts[phase].zero_grad(set_to_none=True)
        out["loss"].backward()
        stepped = {id(p) for group in opts[phase].param_groups for p in group["params"]}
        for net_name, net in model.nets.items():
            params = [p for p in net.parameters() if id(p) in stepped]
            if params and any(p.grad is not None and p.grad.abs().sum() > 0 for p in params):
                touched.add(net_name)
        opts[phase].step()
    assert touched == set(model.nets), f"{name}: no gradient reached {set(model.nets) - touched}"
    x = model.sample(5, torch.Generator().manual_seed(0))
    assert x.shape == (5, channels, resolution, resolution)
    assert x.dtype == torch.float32 and x.min() >= -1 and x.max() <= 1


@pytest.mark.parametrize("name", MODELS.names())
def test_sampling_is_reproducible_from_the_generator(name: str) -> None:
    model = build(name)
    model.train(False)
    a = model.sample(3, torch.Generator().manual_seed(7))
    b = model.sample(3, torch.Generator().manual_seed(7))
    assert torch.equal(a, b)


@pytest.mark.parametrize("name", MODELS.names())
def test_each_phase_loss_falls_when_overfitting_a_fixed_batch(name: str) -> None:
    """Optimising one phase alone on one batch (other nets frozen) must lower that phase's loss."""
    model = build(name, g_width=16, d_width=16) if "gan" in name and name != "mlp_gan" else build(name)
    opts = model.optimizers()
    fixed = batch(16, 28, 1, seed=1)
    for phase in dict.fromkeys(model.phases(0)):  # each distinct phase once
        torch.manual_seed(0)
        losses = []
        for _ in range(40):
            out = model.training_step(fixed, phase)
            opts[phase].zero_grad(set_to_none=True)
            out["loss"].backward()
            opts[phase].step()
            losses.append(float(out["loss"].detach()))
        first, last = sum(losses[:5]) / 5, sum(losses[-5:]) / 5
        assert last < first, f"{name}/{phase}: loss went {first:.4f} -> {last:.4f}"
