"""Every registered family honours the contract the one training loop relies on."""

from __future__ import annotations

import math

import pytest
import torch

from bench.datasets.base import DatasetInfo, ImageSplit
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


# Narrower nets and fewer sampling steps where the defaults cost seconds per call on a CPU; the
# defaults themselves are built by `bench list models` and by each family's own tests.
FAST_ARGS: dict[str, dict[str, object]] = {
    "ddpm": {"base_channels": 8, "sample_steps": 10},
    "vq_vae": {"hidden": 32},
    "conv_vae": {"widths": [16, 32, 32, 64]},
}


# Narrower nets where a family has the setting: the contract does not depend on width, the test time does.
SMALL = {"g_width": 16, "d_width": 16, "d_hidden": 32, "sample_pool": 8, "embed_dim": 16}


def small_args(name: str) -> dict[str, object]:
    fields = MODELS.get(name).Config.model_fields
    return {k: v for k, v in SMALL.items() if k in fields}


def build(name: str, resolution: int = 28, channels: int = 1, **args: object):
    family = MODELS.get(name)
    torch.manual_seed(0)
    z = family.default_latent_size if family.uses_latent else None
    return family(family.Config(**{**FAST_ARGS.get(name, {}), **args}), info(resolution, channels), z)


def batch(n: int, resolution: int, channels: int, seed: int = 0) -> Batch:
    """Images, labels and a target batch (read only by paired / unpaired families)."""
    g = torch.Generator().manual_seed(seed)
    return Batch(
        torch.rand(n, channels, resolution, resolution, generator=g) * 2 - 1,
        torch.randint(0, 10, (n,), generator=g),
        torch.rand(n, channels, resolution, resolution, generator=g) * 2 - 1,
    )


def all_phases(model, steps: int = 10) -> list[str]:
    """Every phase the model runs over a budget of `steps` (an encoder trained after its GAN), in order."""
    model.begin(steps)
    return list(dict.fromkeys(p for step in range(steps) for p in model.phases(step)))


def finalize(model, resolution: int, channels: int) -> None:
    """What the runner does after training and before sampling."""
    g = torch.Generator().manual_seed(3)
    images = torch.randint(0, 256, (8, channels, resolution, resolution), generator=g, dtype=torch.uint8)
    model.finalize(ImageSplit(images, torch.arange(8) % 10, targets=images.flip(0)), g)


@pytest.mark.parametrize("name", MODELS.names())
@pytest.mark.parametrize(("resolution", "channels"), SHAPES)
def test_one_step_is_finite_reaches_every_net_and_samples_in_range(
    name: str, resolution: int, channels: int
) -> None:
    model = build(name, resolution, channels, **small_args(name))
    opts = model.optimizers()
    touched: set[str] = set()
    for phase in all_phases(model):
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
    finalize(model, resolution, channels)
    x = model.sample(5, torch.Generator().manual_seed(0))
    assert x.shape == (5, channels, resolution, resolution)
    assert x.dtype == torch.float32 and x.min() >= -1 and x.max() <= 1


@pytest.mark.parametrize("name", MODELS.names())
def test_sampling_is_reproducible_from_the_generator(name: str) -> None:
    model = build(name)
    finalize(model, 28, 1)
    model.train(False)
    a = model.sample(3, torch.Generator().manual_seed(7))
    b = model.sample(3, torch.Generator().manual_seed(7))
    assert torch.equal(a, b)


@pytest.mark.parametrize("name", MODELS.names())
def test_each_phase_loss_falls_when_overfitting_a_fixed_batch(name: str) -> None:
    """Optimising one phase alone on one batch (other nets frozen) must lower that phase's loss."""
    model = build(name, **small_args(name))
    opts = model.optimizers()
    fixed = batch(16, 28, 1, seed=1)
    for phase in all_phases(model):  # each distinct phase once
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


@pytest.mark.parametrize("name", MODELS.names())
def test_test_metrics_are_finite_and_conditional_families_draw_given_labels(name: str) -> None:
    """What the runner asks after training: the family's own test metrics (finite numbers), and for
    class-conditional families samples of the classes asked for."""
    model = build(name)
    finalize(model, 28, 1)
    model.train(False)
    g = torch.Generator().manual_seed(4)
    images = torch.randint(0, 256, (10, 1, 28, 28), generator=g, dtype=torch.uint8)
    test = ImageSplit(images, torch.arange(10), targets=images.flip(0))
    metrics = model.test_metrics(test, 4, g)
    assert all(isinstance(v, float) and math.isfinite(v) for v in metrics.values()), metrics
    if model.conditional:
        x = model.sample_given(torch.tensor([0, 3, 9]), torch.Generator().manual_seed(0))
        assert x.shape == (3, 1, 28, 28) and x.min() >= -1 and x.max() <= 1


@pytest.mark.parametrize("name", MODELS.names())
def test_sample_grid_is_what_samples_png_can_draw_and_reproducible(name: str) -> None:
    """samples.png's grid: float images in [-1, 1] of the data's shape, one label per row when it has
    labels, the same for the same generator."""
    from bench.train.sample_sheet import sheet

    model = build(name, **{"ddpm": {"sample_steps": 2}}.get(name, {}))  # 64 samples twice: keep it cheap
    finalize(model, 28, 1)
    model.train(False)
    images = torch.randint(
        0, 256, (10, 1, 28, 28), generator=torch.Generator().manual_seed(5), dtype=torch.uint8
    )
    test = ImageSplit(images, torch.arange(10), targets=images.flip(0))
    grid = model.sample_grid(torch.Generator().manual_seed(1), test)
    again = model.sample_grid(torch.Generator().manual_seed(1), test)
    x = grid.images
    assert x.dtype == torch.float32 and x.shape[1:] == (1, 28, 28) and x.min() >= -1 and x.max() <= 1
    assert torch.equal(x, again.images) and grid.row_labels == again.row_labels
    rows = -(-len(x) // grid.nrow)
    assert not grid.row_labels or len(grid.row_labels) == rows
    drawn, nrow = sheet(grid)
    assert nrow == grid.nrow + bool(grid.row_labels) and len(drawn) == len(x) + len(grid.row_labels)
