"""The adversarial base: each game's losses by hand, the config checks, D frozen in the G phase, G
phases that draw no batch, and `{dcgan: {loss: hinge}}` / `{mlp_gan: {loss: ls}}` as grid lines."""

from __future__ import annotations

import math
import os
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from accelerate import Accelerator
from rich.console import Console

from bench.datasets.base import DatasetInfo, ImageSplit
from bench.datasets.batches import Batch, BatchStream
from bench.errors import BenchError
from bench.grid import load_grid
from bench.launch.local import run_local
from bench.models import MODELS
from bench.models.adversarial import GAME_LOSSES, GRAD_NORM_KEY
from bench.storage import files as store
from bench.train.loop import fit
from bench.train.steplog import StepLog

QUIET = Console(file=open(os.devnull, "w"))  # noqa: SIM115
REAL, FAKE = torch.tensor([2.0, -0.5, 0.3]), torch.tensor([-1.0, 0.4, 1.5])


def sig(t: torch.Tensor) -> torch.Tensor:
    return torch.sigmoid(t)


@pytest.mark.parametrize(
    ("name", "d", "g"),
    [
        ("ns", -(sig(REAL).log().mean() + (1 - sig(FAKE)).log().mean()), -sig(FAKE).log().mean()),
        ("bce", -(sig(REAL).log().mean() + (1 - sig(FAKE)).log().mean()), (1 - sig(FAKE)).log().mean()),
        ("ls", 0.5 * (REAL - 1).pow(2).mean() + 0.5 * FAKE.pow(2).mean(), 0.5 * (FAKE - 1).pow(2).mean()),
        ("wgan_gp", FAKE.mean() - REAL.mean(), -FAKE.mean()),
        ("hinge", F.relu(1 - REAL).mean() + F.relu(1 + FAKE).mean(), -FAKE.mean()),
    ],
)
def test_each_game_matches_its_formula(name: str, d: torch.Tensor, g: torch.Tensor) -> None:
    game = GAME_LOSSES.get(name)()
    assert game.d(REAL, FAKE).item() == pytest.approx(d.item(), rel=1e-6)
    assert game.g(FAKE).item() == pytest.approx(g.item(), rel=1e-6)
    assert game.penalty == (name == "wgan_gp")


def info(pairing: str = "none") -> DatasetInfo:
    return DatasetInfo(
        name="fake", resolution=28, channels=1, num_classes=10, splits={"train": 24, "test": 8},
        source="test", licence="test", pairing=pairing,
    )  # fmt: skip


def build(name: str, **args: object):
    family = MODELS.get(name)
    torch.manual_seed(0)
    small = {"g_width": 4, "d_width": 4} if "g_width" in family.Config.model_fields else {}
    cfg = family.Config(**{**small, **args})
    family.check(cfg, info(family.needs_pairing), 8, f"models.{name}")
    return family(cfg, info(family.needs_pairing), 8 if family.uses_latent else None)


def test_defaults_keep_each_family_s_game() -> None:
    games = {n: MODELS.get(n).Config().loss for n in ("mlp_gan", "fc_gan", "lsgan", "dcgan", "wgan_gp")}
    assert games == {"mlp_gan": "ns", "fc_gan": "ns", "lsgan": "ls", "dcgan": "ns", "wgan_gp": "wgan_gp"}
    assert MODELS.get("wgan_gp").Config().critic_steps == 5 and MODELS.get("dcgan").Config().critic_steps == 1
    assert MODELS.get("cyclegan").optimizer_phases == ("d", "g")
    assert MODELS.get("dcgan_encoder").optimizer_phases == ("d", "g", "e")


def test_bad_game_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="allowed: bce, hinge, ls, ns, wgan_gp"):
        MODELS.get("dcgan").Config(loss="wasserstein")
    with pytest.raises(BenchError, match="only the wgan_gp loss"):
        build("dcgan", loss="hinge", gp_weight=5.0)
    with pytest.raises(BenchError, match="gradient penalty"):
        build("pix2pix", loss="wgan_gp")
    assert build("dcgan", loss="wgan_gp", critic_steps=2).gp_weight == 10.0


def test_wgan_gp_on_the_mlp_nets_adds_the_penalty(tmp_path: Path) -> None:
    model = build("mlp_gan", loss="wgan_gp", critic_steps=2, gp_weight=3.0)
    out = model.training_step(Batch(torch.rand(4, 1, 28, 28) * 2 - 1), "d")
    assert out["loss"].item() == pytest.approx((-out["wasserstein"] + 3.0 * out["gp"]).item(), rel=1e-5)


class CountingStream(BatchStream):
    drawn = 0

    def next(self) -> Batch:
        self.drawn += 1
        return super().next()


def _split() -> ImageSplit:
    g = torch.Generator().manual_seed(0)
    imgs = torch.randint(0, 256, (24, 1, 28, 28), generator=g, dtype=torch.uint8)
    return ImageSplit(imgs, torch.arange(24) % 10)


@pytest.mark.parametrize(
    ("name", "args", "per_step"),
    [
        ("dcgan", {}, 1),  # fakes handed from D to G: G draws nothing
        ("wgan_gp", {"critic_steps": 2}, 2),  # fresh noise for G, no labels needed
        ("cond_wgan_gp", {"critic_steps": 2}, 3),  # fresh fakes for G take a real batch's labels
        ("cond_dcgan", {}, 1),  # fakes handed over carry their labels
    ],
)
def test_g_phases_draw_a_batch_only_when_they_use_one(
    tmp_path: Path, name: str, args: dict, per_step: int
) -> None:
    model = build(name, **args)
    stream = CountingStream(_split(), 8, torch.device("cpu"), seed=0)
    model.begin(3)
    fit(model, model.optimizers(), stream, Accelerator(cpu=True), StepLog(tmp_path / "m.jsonl"), 0, 3, 3)
    assert stream.drawn == 3 * per_step


def test_the_g_phase_leaves_d_without_gradients_of_its_own() -> None:
    model = build("dcgan")
    opts = model.optimizers()
    x = Batch(torch.rand(4, 1, 28, 28) * 2 - 1)
    out = model.training_step(x, "d")
    opts["d"].zero_grad(set_to_none=True)
    out["loss"].backward()
    d_grads = [p.grad.clone() for p in model.nets["D"].parameters()]
    out = model.training_step(None, "g")
    opts["g"].zero_grad(set_to_none=True)
    out["loss"].backward()
    assert all(p.requires_grad for p in model.nets["D"].parameters())  # unfrozen after the phase
    assert all(torch.equal(p.grad, g) for p, g in zip(model.nets["D"].parameters(), d_grads, strict=True))
    assert all(p.grad is not None for p in model.nets["G"].parameters())
    first = next(model.nets["D"].parameters())
    assert out[GRAD_NORM_KEY].item() == pytest.approx(d_grads[0].norm().item(), rel=1e-6)
    assert first.grad is not None


def test_a_g_phase_without_a_d_phase_is_an_error() -> None:
    with pytest.raises(RuntimeError, match="before any D phase"):
        build("dcgan").training_step(None, "g")


def test_hinge_dcgan_and_least_squares_mlp_gan_train_and_evaluate(write_grid, tmp_path: Path) -> None:
    grid = write_grid(
        models=[{"dcgan": {"g_width": 8, "d_width": 8, "loss": "hinge"}}, {"mlp_gan": {"loss": "ls"}}],
        train={"steps": 4, "batch_size": 16, "log_every": 2, "checkpoint_every": 0},
    )
    out = tmp_path / "out"
    run_local(load_grid(str(grid)), out, QUIET, in_process=True)
    results = {store.read_result(c)["model"]: store.read_result(c) for c in out.iterdir()}
    assert set(results) == {"dcgan", "mlp_gan"}
    for r in results.values():
        assert r["status"] == "done", r.get("reason")
        assert math.isfinite(r["metrics"]["fd_digits"])
    rows = (next(c for c in out.iterdir() if c.name.startswith("dcgan")) / "metrics.jsonl").read_text()
    assert "d/d_margin" in rows  # the hinge game's own diagnostic
