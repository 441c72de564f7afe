"""GAN and image-to-image families: their losses against hand computations on fixed nets and inputs,
their recipes' shapes, the logged D gradient norm, samplers, and a few real training steps."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from bench.datasets.base import DatasetInfo, ImageSplit
from bench.datasets.batches import Batch
from bench.errors import BenchError
from bench.metrics.paired import psnr, ssim
from bench.models import MODELS
from bench.models.adversarial import GRAD_NORM_KEY, lsgan_d_loss, lsgan_g_loss, with_label_channels
from bench.models.pix2pix import patchgan_size

LOG2 = math.log(2.0)


def info(resolution: int = 28, channels: int = 1, classes: int = 10, pairing: str = "none") -> DatasetInfo:
    return DatasetInfo(
        name="fake",
        resolution=resolution,
        channels=channels,
        num_classes=classes,
        splits={"train": 32, "test": 16},
        source="test",
        licence="test",
        pairing=pairing,
    )


def build(name: str, resolution: int = 28, channels: int = 1, pairing: str = "none", **args: object):
    family = MODELS.get(name)
    torch.manual_seed(0)
    z = family.default_latent_size if family.uses_latent else None
    return family(family.Config(**args), info(resolution, channels, pairing=pairing), z)


def images(n: int, resolution: int = 28, channels: int = 1, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, channels, resolution, resolution, generator=g) * 2 - 1


class Shift(nn.Module):
    """x -> x + c: a fixed 'generator' whose outputs are known exactly (one parameter, so optimizers and
    DDP-style code paths still see a net)."""

    def __init__(self, c: float) -> None:
        super().__init__()
        self.c = nn.Parameter(torch.tensor(c))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.c


class ZeroLogits(nn.Module):
    """A discriminator whose every logit is 0 (weight 0 times anything): sigmoid 1/2, BCE log 2."""

    def __init__(self, patch: bool = False) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(()))
        self.patch = patch

    def forward(self, x: torch.Tensor, *more: torch.Tensor) -> torch.Tensor:
        s = x.flatten(1).sum(1) * self.weight
        return s.view(-1, 1, 1, 1).expand(-1, 1, 2, 2) if self.patch else s


# ---------------------------------------------------------------- losses by hand


def test_lsgan_losses_match_hand_computation() -> None:
    real, fake = torch.tensor([1.0, 0.5]), torch.tensor([0.0, 2.0])
    # D: 1/2 mean((D(x)-1)^2) + 1/2 mean(D(G(z))^2) = 1/2 * (0 + 0.25)/2 + 1/2 * (0 + 4)/2
    assert lsgan_d_loss(real, fake).item() == pytest.approx(0.0625 + 1.0)
    # G: 1/2 mean((D(G(z))-1)^2) = 1/2 * (1 + 1)/2
    assert lsgan_g_loss(fake).item() == pytest.approx(0.5)


def test_lsgan_model_uses_least_squares_on_its_critic_scores() -> None:
    model = build("lsgan")
    x = images(4)
    torch.manual_seed(3)
    out_d = model.training_step(Batch(x), "d")
    D = model.nets["D"]
    torch.manual_seed(3)  # the same draws: the fakes the D phase made (and hands to the G phase)
    fake = model.make_fakes(None, 4).images
    expected_d = 0.5 * (D(x.flatten(1)) - 1).pow(2).mean() + 0.5 * D(fake.detach()).pow(2).mean()
    assert out_d["loss"].item() == pytest.approx(expected_d.item(), rel=1e-6)
    out_g = model.training_step(None, "g")  # an unconditional G phase draws no batch
    assert out_g["loss"].item() == pytest.approx((0.5 * (D(fake) - 1).pow(2).mean()).item(), rel=1e-6)


class LinearCritic(nn.Module):
    """D(x) = <W, x> over image and label planes: its input gradient is W everywhere."""

    def __init__(self, w: torch.Tensor) -> None:
        super().__init__()
        self.w = nn.Parameter(w)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x * self.w).flatten(1).sum(1)


def test_conditional_wgan_gp_penalty_and_loss_on_a_linear_critic() -> None:
    model = build("cond_wgan_gp", g_width=8, d_width=8)
    k = 10
    w = torch.zeros(1 + k, 28, 28)
    w[0] = 0.01  # image part: ||grad_x D|| = 0.01 * 28 = 0.28 for every interpolate
    w[1:] = 5.0  # label planes: must not count in the penalty (the gradient is w.r.t. the image only)
    model.nets["D"] = LinearCritic(w)
    x, y = images(6), torch.arange(6) % k
    torch.manual_seed(1)
    out = model.training_step(Batch(x, y), "d")
    gp = (0.28 - 1.0) ** 2
    assert out["gp"].item() == pytest.approx(gp, rel=1e-5)
    # Reproduce the fakes: same seed, same draws.
    torch.manual_seed(1)
    fake = model.make_fakes(Batch(x, y), 6).images.detach()
    real_score = LinearCritic(w)(with_label_channels(x, y, k)).mean()
    fake_score = LinearCritic(w)(with_label_channels(fake, y, k)).mean()
    expected = fake_score - real_score + 10.0 * gp
    assert out["loss"].item() == pytest.approx(expected.item(), rel=1e-5)
    assert out["wasserstein"].item() == pytest.approx((real_score - fake_score).item(), rel=1e-5)


def cyclegan_with_fixed_nets(identity_weight: float = 0.0):
    model = build("cyclegan", pairing="unpaired", g_width=4, d_width=4, d_hidden=8, sample_pool=4,
                  identity_weight=identity_weight)  # fmt: skip
    model.nets.update(G_AB=Shift(0.1), G_BA=Shift(0.2), D_A=ZeroLogits(), D_B=ZeroLogits())
    return model


@pytest.mark.parametrize("identity_weight", [0.0, 2.0])
def test_cyclegan_loss_is_bce_plus_weighted_cycle_and_identity_l1(identity_weight: float) -> None:
    model = cyclegan_with_fixed_nets(identity_weight)
    a, b = images(4, seed=1), images(4, seed=2)
    d = model.training_step(Batch(a, target=b), "d")
    # Both D's see logit 0 for real and fake: each BCE pair is 2 log 2, halved over the two domains.
    assert d["loss"].item() == pytest.approx(0.5 * (2 * LOG2 + 2 * LOG2))
    g = model.training_step(Batch(a, target=b), "g")
    # adv: -log(1/2) per direction; cycle: |(a + .1 + .2) - a| + |(b + .2 + .1) - b| = 0.6;
    # identity: |G_AB(b) - b| + |G_BA(a) - a| = 0.1 + 0.2.
    assert g["adv"].item() == pytest.approx(2 * LOG2)
    assert g["cycle_l1"].item() == pytest.approx(0.6, rel=1e-5)
    expected = 2 * LOG2 + 10.0 * 0.6 + identity_weight * 0.3
    assert g["loss"].item() == pytest.approx(expected, rel=1e-5)
    assert ("identity_l1" in g) == (identity_weight > 0)


def test_cyclegan_test_metrics_are_the_cycle_l1_both_ways() -> None:
    model = cyclegan_with_fixed_nets()
    a = torch.full((5, 1, 28, 28), 100, dtype=torch.uint8)
    b = torch.full((3, 1, 28, 28), 20, dtype=torch.uint8)
    m = model.test_metrics(ImageSplit(a, targets=b), 2, torch.Generator())
    assert m["cycle_l1_ABA"] == pytest.approx(0.3, rel=1e-5)
    assert m["cycle_l1_BAB"] == pytest.approx(0.3, rel=1e-5)


def test_cyclegan_refuses_batches_without_domain_b() -> None:
    model = build("cyclegan", pairing="unpaired", g_width=4, d_width=4, d_hidden=8, sample_pool=4)
    with pytest.raises(BenchError, match="domain B"):
        model.training_step(Batch(images(2)), "d")


def test_pix2pix_generator_loss_weights_l1_by_100() -> None:
    model = build("pix2pix", pairing="paired", g_width=4, d_width=4, sample_pool=4)
    model.nets.update(G=Shift(0.5), D=ZeroLogits(patch=True))
    x, y = images(3, seed=1), images(3, seed=2)
    d = model.training_step(Batch(x, target=y), "d")
    assert d["loss"].item() == pytest.approx(0.5 * 2 * LOG2)
    g = model.training_step(Batch(x, target=y), "g")
    l1 = (x + 0.5 - y).abs().mean().item()
    assert g["l1"].item() == pytest.approx(l1, rel=1e-5)
    assert g["loss"].item() == pytest.approx(LOG2 + 100 * l1, rel=1e-5)


def test_pix2pix_nets_keep_the_resolution_and_patchgan_size() -> None:
    for res in (28, 32, 64):
        model = build("pix2pix", resolution=res, channels=3, pairing="paired", g_width=4, d_width=4)
        x = images(2, res, 3)
        assert model.nets["G"](x).shape == x.shape
        assert model.nets["D"](x, x).shape == (2, 1, *[patchgan_size(res, 3)] * 2)


# ---------------------------------------------------------------- paired metrics


def test_ssim_and_psnr_match_closed_forms() -> None:
    x = torch.full((1, 3, 16, 16), 0.6, dtype=torch.float64)
    y = torch.full((1, 3, 16, 16), 0.2, dtype=torch.float64)
    c1 = 0.01**2
    # Constant images: no variance, so SSIM is the luminance term alone.
    assert ssim(x, y).item() == pytest.approx((2 * 0.6 * 0.2 + c1) / (0.36 + 0.04 + c1))
    assert psnr(x, y).item() == pytest.approx(10 * math.log10(1 / 0.16))
    z = torch.rand(2, 1, 20, 20, generator=torch.Generator().manual_seed(0))
    assert torch.allclose(ssim(z, z), torch.ones(2, dtype=torch.float64))
    assert ssim(z, 1 - z).max() < 0  # anti-correlated structure


def test_ssim_matches_a_direct_windowed_computation() -> None:
    """SSIM at one 11x11 window (the map's only position), written out with plain sums."""
    g = torch.Generator().manual_seed(1)
    x, y = torch.rand(1, 1, 11, 11, generator=g).double(), torch.rand(1, 1, 11, 11, generator=g).double()
    r = torch.arange(11, dtype=torch.float64) - 5
    w = torch.exp(-(r**2) / (2 * 1.5**2))
    w = (w[:, None] * w[None, :]) / (w.sum() ** 2)
    mx, my = (w * x[0, 0]).sum(), (w * y[0, 0]).sum()
    vx, vy = (w * (x[0, 0] - mx) ** 2).sum(), (w * (y[0, 0] - my) ** 2).sum()
    cxy = (w * (x[0, 0] - mx) * (y[0, 0] - my)).sum()
    c1, c2 = 0.01**2, 0.03**2
    expected = ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx**2 + my**2 + c1) * (vx + vy + c2))
    assert ssim(x, y).item() == pytest.approx(expected.item(), rel=1e-9)


def test_pix2pix_test_metrics_on_a_perfect_translator() -> None:
    model = build("pix2pix", pairing="paired", g_width=4, d_width=4, sample_pool=4)
    model.nets["G"] = Shift(0.0)
    imgs = torch.randint(
        0, 256, (5, 1, 28, 28), generator=torch.Generator().manual_seed(0), dtype=torch.uint8
    )
    m = model.test_metrics(ImageSplit(imgs, targets=imgs.clone()), 2, torch.Generator())
    assert m == pytest.approx({"l1": 0.0, "psnr": 100.0, "ssim": 1.0})


# ---------------------------------------------------------------- recipes


def test_fc_gan_recipe_layers_and_uniform_noise() -> None:
    model = build("fc_gan")
    linear = [(m.in_features, m.out_features) for m in model.nets["G"] if isinstance(m, nn.Linear)]
    assert linear == [(96, 1024), (1024, 1024), (1024, 784)]
    assert isinstance(model.nets["G"][-1], nn.Tanh)
    linear = [(m.in_features, m.out_features) for m in model.nets["D"] if isinstance(m, nn.Linear)]
    assert linear == [(784, 256), (256, 256), (256, 1)]
    slopes = {m.negative_slope for m in model.nets["D"] if isinstance(m, nn.LeakyReLU)}
    assert slopes == {0.01}
    z = model.prior(2000, torch.Generator().manual_seed(0))
    assert z.shape == (2000, 96) and z.min() >= -1 and z.max() <= 1 and z.abs().mean() > 0.45


def test_cyclegan_recipe_channels_and_linear_head() -> None:
    model = build("cyclegan", resolution=64, channels=3, pairing="unpaired", sample_pool=2)
    convs = [m.out_channels for m in model.nets["D_A"].modules() if isinstance(m, nn.Conv2d)]
    assert convs == [64, 128, 256, 512]
    linear = [
        (m.in_features, m.out_features) for m in model.nets["D_A"].modules() if isinstance(m, nn.Linear)
    ]
    assert linear == [(512 * 4 * 4, 1000), (1000, 1)]
    g_convs = [m.out_channels for m in model.nets["G_AB"].modules() if isinstance(m, nn.Conv2d)]
    assert g_convs == [64, 128, 256, 512]
    x = images(2, 64, 3)
    assert model.translate(x, "AB").shape == x.shape and model.translate(x, "BA").shape == x.shape


def test_conditional_gans_take_the_label_as_extra_channels() -> None:
    for name in ("cond_dcgan", "cond_wgan_gp"):
        model = build(name, resolution=32, channels=3, g_width=8, d_width=8)
        assert model.nets["D"].net[0].in_channels == 3 + 10
        assert model.nets["G"].net[0].in_channels == 100 + 10
        model.train(False)
        y = torch.tensor([3, 3, 7])
        a = model.sample_given(y, torch.Generator().manual_seed(0))
        b = model.sample_given(torch.tensor([5, 5, 5]), torch.Generator().manual_seed(0))
        assert a.shape == (3, 3, 32, 32) and a.min() >= -1 and a.max() <= 1
        assert not torch.allclose(a, b)  # same z, other label: another image
        with pytest.raises(BenchError, match="no labels"):
            model.training_step(Batch(images(2, 32, 3)), "d")


def test_unconditional_dcgan_sampling_did_not_change() -> None:
    """Adding conditioning to the shared class must leave DCGAN's samples for a seed as they were."""
    model = build("dcgan", g_width=8, d_width=8)
    model.train(False)
    z = torch.randn(4, 100, generator=torch.Generator().manual_seed(5))
    expected = model.nets["G"](z).float()
    assert torch.equal(model.sample(4, torch.Generator().manual_seed(5)), expected)
    assert torch.equal(model.decode(model.prior(4, torch.Generator().manual_seed(5))), expected)


def test_siamese_discriminator_scores_pairs_symmetrically() -> None:
    model = build("siamese_gan", g_width=8, d_width=8, embed_dim=16)
    D = model.nets["D"]
    D.train(False)
    a, b = images(3, seed=1), images(3, seed=2)
    assert torch.allclose(D(a, b), D(b, a))
    assert torch.allclose(D(a, a), D.head.bias.expand(3))  # identical images: zero distance


# ---------------------------------------------------------------- encoder after the GAN


def test_dcgan_encoder_trains_the_encoder_over_the_last_share_of_the_budget() -> None:
    model = build("dcgan_encoder", g_width=8, d_width=8, encoder_fraction=0.25)
    model.begin(10)
    assert [model.phases(s) for s in range(10)] == [("d", "g")] * 7 + [("e",)] * 3
    opts = model.optimizers()
    g_before = [p.detach().clone() for p in model.nets["G"].parameters()]
    x = images(8)
    out = model.training_step(Batch(x), "e")
    assert set(out) == {"loss", "latent_mse", "recon_mse"}
    assert out["loss"].item() == pytest.approx((out["latent_mse"] + out["recon_mse"]).item())
    opts["e"].zero_grad(set_to_none=True)
    out["loss"].backward()
    opts["e"].step()
    assert all(torch.equal(a, b) for a, b in zip(g_before, model.nets["G"].parameters(), strict=True))
    assert not model.nets["G"].training  # frozen G uses its running BatchNorm statistics
    assert model.encode(x).shape == (8, 100)
    assert model.decode(model.encode(x)).shape == x.shape


# ---------------------------------------------------------------- D's first-layer gradient norm


@pytest.mark.parametrize(
    ("name", "first"),
    [
        ("fc_gan", lambda m: m.nets["D"][0].weight),
        ("mlp_gan", lambda m: m.nets["D"][0].weight),
        ("dcgan", lambda m: m.nets["D"].net[0].weight),
        ("wgan_gp", lambda m: m.nets["D"].net[0].weight),
        ("cond_dcgan", lambda m: m.nets["D"].net[0].weight),
        ("siamese_gan", lambda m: m.nets["D"].embed.net[0].weight),
    ],
)
def test_g_phase_logs_the_d_first_layer_gradient_of_the_last_d_update(name: str, first) -> None:
    args = {"g_width": 8, "d_width": 8} if "width" in str(MODELS.get(name).Config.model_fields) else {}
    if name == "wgan_gp":
        args["critic_steps"] = 2
    model = build(name, **args)
    opts = model.optimizers()
    batch = Batch(images(4), torch.arange(4))
    for phase in model.phases(0):
        if phase == "g":
            expected = first(model).grad.norm()
        out = model.training_step(batch, phase)
        opts[phase].zero_grad(set_to_none=True)
        out["loss"].backward()
        opts[phase].step()
    assert out[GRAD_NORM_KEY].item() == pytest.approx(expected.item(), rel=1e-6)
    assert out[GRAD_NORM_KEY].item() > 0


# ---------------------------------------------------------------- samplers of translators


def test_translators_sample_translations_of_their_pool() -> None:
    model = build("pix2pix", pairing="paired", g_width=4, d_width=4, sample_pool=6)
    with pytest.raises(RuntimeError, match="finalize"):
        model.sample(2, torch.Generator())
    pool = (torch.arange(10, dtype=torch.uint8) * 20).view(10, 1, 1, 1).expand(10, 1, 28, 28).contiguous()
    model.finalize(ImageSplit(pool, targets=pool.clone()), torch.Generator().manual_seed(0))
    kept = model.nets["G"].sample_pool[:, 0, 0, 0]
    assert len(set(kept.tolist())) == 6  # six distinct training images, kept as a buffer of G
    assert "sample_pool" in model.nets["G"].state_dict()  # so checkpoints carry it
    model.translate = lambda x, direction: x  # an identity translator shows which images were drawn
    x = model.sample(6, torch.Generator().manual_seed(1))
    # Each pooled image once for n <= pool size, in an order set by the generator.
    assert sorted(((x[:, 0, 0, 0] + 1) * 127.5).round().int().tolist()) == sorted(kept.int().tolist())
    assert torch.equal(x, model.sample(6, torch.Generator().manual_seed(1)))
    assert model.sample(9, torch.Generator().manual_seed(1)).shape == (9, 1, 28, 28)  # n > pool: cycles


# ---------------------------------------------------------------- a few real steps through the loop


@pytest.mark.parametrize(
    ("name", "pairing", "args"),
    [
        ("cyclegan", "unpaired", {"g_width": 4, "d_width": 4, "d_hidden": 16, "sample_pool": 8}),
        ("pix2pix", "paired", {"g_width": 4, "d_width": 4, "sample_pool": 8}),
        ("cond_wgan_gp", "none", {"g_width": 4, "d_width": 4, "critic_steps": 2}),
        ("dcgan_encoder", "none", {"g_width": 4, "d_width": 4}),
    ],
)
def test_a_few_training_steps_through_the_loop(tmp_path, name: str, pairing: str, args: dict) -> None:
    from accelerate import Accelerator

    from bench.datasets.batches import BatchStream
    from bench.train.loop import fit
    from bench.train.steplog import StepLog

    g = torch.Generator().manual_seed(0)
    imgs = torch.randint(0, 256, (24, 1, 28, 28), generator=g, dtype=torch.uint8)
    targets = None if pairing == "none" else 255 - imgs[: 24 if pairing == "paired" else 16]
    split = ImageSplit(imgs, torch.arange(24) % 10, targets=targets)
    model = build(name, pairing=pairing, **args)
    stream = BatchStream(split, 8, torch.device("cpu"), seed=0, paired=pairing == "paired")
    log = StepLog(tmp_path / "metrics.jsonl")
    model.begin(6)
    fit(model, model.optimizers(), stream, Accelerator(cpu=True), log, 0, 6, log_every=3)
    rows = (tmp_path / "metrics.jsonl").read_text().splitlines()
    assert len(rows) == 6
    model.finalize(split, torch.Generator().manual_seed(0))
    model.train(False)
    x = model.sample(4, torch.Generator().manual_seed(0))
    assert x.shape == (4, 1, 28, 28) and x.min() >= -1 and x.max() <= 1


@pytest.mark.parametrize(
    ("name", "resolution", "message"),
    [("cyclegan", 8, "allowed: 16 or more"), ("pix2pix", 8, "allowed: 11 or more")],
)
def test_translators_refuse_resolutions_their_nets_cannot_take(
    name: str, resolution: int, message: str
) -> None:
    family = MODELS.get(name)
    with pytest.raises(BenchError, match=message):
        family.check(family.Config(), info(resolution, 1, pairing=family.needs_pairing), None, "models.x")
    family.check(family.Config(), info(28, 1, pairing=family.needs_pairing), None, "models.x")
