"""VAE, VQ-VAE and DDPM families: losses against hand computations, samplers, priors, digits training."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from bench.datasets import DATASETS
from bench.datasets.base import DatasetInfo, ImageSplit
from bench.datasets.batches import Batch, BatchStream
from bench.errors import BenchError
from bench.models import MODELS
from bench.models.ddpm import (
    ancestral_sample,
    cosine_alpha_bar,
    ddim_sample,
    noise_prediction_loss,
    spaced_timesteps,
)
from bench.models.losses import bits_per_dim, gaussian_nll_sum, vq_losses
from bench.models.vq import GMMPrior, VectorQuantizer, nearest_codes, perplexity

VAE_FAMILIES = ["mlp_vae", "mlp_vae_mse", "fc_vae", "cvae", "conv_vae"]
# Small enough that a few dozen steps on the CPU take a second or two.
SMALL = {
    "conv_vae": {"widths": [8, 16, 16, 32]},
    "fc_vae": {"hidden": 64},
    "cvae": {"hidden": 64},
    "mlp_vae": {"hidden": [64]},
    "mlp_vae_mse": {"hidden": [64]},
    "vq_vae": {"hidden": 32, "codebook_size": 16, "pca_dim": 8, "gmm_components": 3},
    "ddpm": {"base_channels": 8, "channel_mults": [1, 2], "sample_steps": 5, "lr": 1e-3},
}


def digits_info() -> DatasetInfo:
    return DATASETS.get("digits")(DATASETS.get("digits").Args()).info()


def digits(split: str = "train") -> ImageSplit:
    return DATASETS.get("digits")(DATASETS.get("digits").Args()).load(split, None)


def build(name: str, latent: int | None = 8, **args: object):
    family = MODELS.get(name)
    torch.manual_seed(0)
    cfg = family.Config(**{**SMALL.get(name, {}), **args})
    return family(cfg, digits_info(), latent if family.uses_latent else None)


def tiny_split(n: int = 12, seed: int = 0) -> ImageSplit:
    g = torch.Generator().manual_seed(seed)
    return ImageSplit(
        torch.randint(0, 256, (n, 1, 28, 28), generator=g, dtype=torch.uint8), torch.arange(n) % 10
    )


# --- shared losses ------------------------------------------------------------------------------


def test_gaussian_nll_matches_the_density_by_hand() -> None:
    mean, x = torch.tensor([[0.0, 1.0]]), torch.tensor([[1.0, 1.0]])
    # squared error 1, sigma2 1/2: 1 / (2 * 1/2) + (2 / 2) * log(2 pi / 2)
    assert torch.allclose(gaussian_nll_sum(mean, x, 0.5), torch.tensor([1.0 + math.log(math.pi)]))
    expected = torch.distributions.Normal(mean, math.sqrt(0.3)).log_prob(x).sum(1).neg()
    assert torch.allclose(gaussian_nll_sum(mean, x, torch.tensor(0.3)), expected)


def test_bits_per_dim_of_a_uniform_density_over_minus_one_one_is_eight() -> None:
    d = 784
    nll = torch.tensor(d * math.log(2.0))  # density 1/2 per dimension on [-1, 1]
    assert torch.allclose(bits_per_dim(nll, d, math.log(2 / 256)), torch.tensor(8.0))
    # Bernoulli: nats straight to bits.
    assert torch.allclose(bits_per_dim(torch.tensor(d * math.log(2.0)), d), torch.tensor(1.0))


def test_vq_losses_nearest_code_and_straight_through_gradient() -> None:
    codebook = torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]])
    z = torch.tensor([[0.9, 0.1], [-0.2, 0.7]])
    assert nearest_codes(z, codebook).tolist() == [0, 1]
    codebook_loss, commitment = vq_losses(z, codebook[[0, 1]])
    by_hand = (0.1**2 + 0.1**2 + 0.2**2 + 0.3**2) / 4
    assert torch.allclose(codebook_loss, torch.tensor(by_hand))
    assert torch.allclose(commitment, torch.tensor(by_hand))

    vq = VectorQuantizer(3, 2, nn.Module())
    with torch.no_grad():
        vq.codebook.weight.copy_(codebook)
    z_e = torch.tensor([[[[0.9]], [[0.1]]], [[[-0.2]], [[0.7]]]], requires_grad=True)  # (2, d=2, 1, 1)
    z_q, cb, commit, idx = vq(z_e)
    assert idx.flatten().tolist() == [0, 1]
    assert torch.equal(z_q.detach().flatten(1), codebook[[0, 1]])
    w = vq.codebook.weight
    (g_x,) = torch.autograd.grad(z_q.sum(), z_e, retain_graph=True)
    assert torch.equal(g_x, torch.ones_like(z_e))  # straight through: dz_q/dz_e = I
    # Commitment moves the encoder only; the codebook loss moves the chosen codes only.
    g_x, g_w = torch.autograd.grad(commit, [z_e, w], retain_graph=True, allow_unused=True)
    assert g_x.abs().sum() > 0 and (g_w is None or g_w.abs().sum() == 0)
    g_x, g_w = torch.autograd.grad(cb, [z_e, w], allow_unused=True)
    assert (g_x is None or g_x.abs().sum() == 0) and g_w[:2].abs().sum() > 0 and g_w[2].abs().sum() == 0


def test_perplexity_counts_effective_codes() -> None:
    assert torch.allclose(perplexity(torch.tensor([5, 5, 5, 5])), torch.tensor(4.0))
    assert torch.allclose(perplexity(torch.tensor([7, 0, 0])), torch.tensor(1.0))


# --- DDPM ---------------------------------------------------------------------------------------


def test_cosine_schedule_matches_its_closed_form() -> None:
    ab = cosine_alpha_bar(1000)
    s = 0.008

    def f(t: float) -> float:
        return math.cos((t / 1000 + s) / (1 + s) * math.pi / 2) ** 2

    for t in (1, 10, 500, 900):  # alpha_bar(t) = f(t) / f(0) wherever beta is not clipped
        assert ab[t - 1].item() == pytest.approx(f(t) / f(0), rel=1e-9)
    assert bool((ab[1:] < ab[:-1]).all()) and ab[-1] < 1e-6
    assert spaced_timesteps(1000, 50)[0] == 0 and spaced_timesteps(1000, 50)[-1] == 999
    assert len(spaced_timesteps(1000, 50)) == 50 and spaced_timesteps(10, 10) == list(range(10))


class _Echo(nn.Module):
    """A 'network' that returns its input, so the loss has a closed form."""

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return x


def test_noise_prediction_loss_with_fixed_noise_and_steps() -> None:
    ab = cosine_alpha_bar(1000)
    x0 = torch.tensor([[[[0.5, -1.0]]], [[[1.0, 0.0]]]])  # (2, 1, 1, 2)
    noise = torch.tensor([[[[1.0, 0.0]]], [[[-1.0, 2.0]]]])
    t = torch.tensor([0, 700])
    loss = noise_prediction_loss(_Echo(), x0, t, noise, ab)
    by_hand = 0.0
    for i in range(2):
        a = ab[t[i]].item()
        for j in range(2):
            x_t = math.sqrt(a) * x0[i, 0, 0, j].item() + math.sqrt(1 - a) * noise[i, 0, 0, j].item()
            by_hand += (x_t - noise[i, 0, 0, j].item()) ** 2
    assert loss.item() == pytest.approx(by_hand / 4, rel=1e-5)


class _Oracle(nn.Module):
    """The exact noise predictor when all data is one image c: eps = (x_t - sqrt(ab) c) / sqrt(1 - ab)."""

    def __init__(self, c: torch.Tensor, ab: torch.Tensor) -> None:
        super().__init__()
        self.c, self.ab = c, ab.float()

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        a = self.ab[t].view(-1, 1, 1, 1)
        return (x - a.sqrt() * self.c) / (1 - a).sqrt()


@pytest.mark.parametrize("steps", [1, 7, 50])
def test_both_samplers_recover_the_only_image_under_an_exact_noise_predictor(steps: int) -> None:
    ab = cosine_alpha_bar(100)
    c = torch.linspace(-0.8, 0.8, 16).view(1, 1, 4, 4)
    x_t = torch.randn(3, 1, 4, 4, generator=torch.Generator().manual_seed(0))
    oracle = _Oracle(c, ab)
    assert torch.allclose(ddim_sample(oracle, x_t, ab, steps), c.expand(3, -1, -1, -1), atol=1e-4)
    out = ancestral_sample(oracle, x_t, ab, steps, torch.Generator().manual_seed(1))
    assert torch.allclose(out, c.expand(3, -1, -1, -1), atol=1e-4)


@pytest.mark.parametrize("sampler", ["ddim", "ancestral"])
def test_ddpm_samples_have_shape_range_and_follow_the_generator(sampler: str) -> None:
    model = build("ddpm", sampler=sampler)
    model.train(False)
    a = model.sample(3, torch.Generator().manual_seed(2))
    assert a.shape == (3, 1, 28, 28) and a.min() >= -1 and a.max() <= 1
    assert torch.equal(a, model.sample(3, torch.Generator().manual_seed(2)))
    z = model.prior(2, torch.Generator().manual_seed(0))
    assert z.shape == (2, 784) and torch.equal(model.decode(z), model.decode(z))  # DDIM: deterministic


# --- VAEs ---------------------------------------------------------------------------------------


def test_mse_vae_trains_on_squared_error_and_its_elbo_adds_the_gaussian_constant() -> None:
    model = build("mlp_vae_mse")
    out = torch.tensor([[0.0, 2.0]])  # logits -> means 0.5, 0.881
    x = torch.tensor([[1.0, -1.0]])  # [0, 1] pixels 1, 0
    sq = (0.5 - 1.0) ** 2 + (torch.sigmoid(torch.tensor(2.0)).item() - 0.0) ** 2
    assert model.recon_loss(out, x).item() == pytest.approx(sq, rel=1e-6)
    # Gaussian with variance 1/2 on [0, 1] pixels: sq / (2 * 1/2) + (2/2) log(2 pi / 2).
    assert model.recon_nll(out, x).item() == pytest.approx(sq + math.log(math.pi), rel=1e-6)


def test_conv_vae_sets_sigma2_from_the_first_batch_and_keeps_it() -> None:
    model = build("conv_vae", latent=4)
    opt = model.optimizers()["main"]
    split = digits()
    stream = BatchStream(split, 32, torch.device("cpu"), seed=0)
    first = stream.next()
    out = model.training_step(first, "main")
    sigma2 = model.sigma2.item()
    assert sigma2 == pytest.approx(first.x.var().item(), rel=1e-6)
    out["loss"].backward()
    opt.step()
    model.training_step(stream.next(), "main")
    assert model.sigma2.item() == sigma2  # fixed after the first batch
    # The training term is the Gaussian NLL without its constant, at that sigma2.
    mu, _ = model.posterior(first.x)
    dec = model.decoder_output(mu)
    const = 0.5 * 784 * math.log(2 * math.pi * sigma2)
    assert torch.allclose(model.recon_nll(dec, first.x) - model.recon_loss(dec, first.x), torch.tensor(const))
    by_hand = (first.x - dec).pow(2).flatten(1).sum(1) / (2 * sigma2)
    assert torch.allclose(model.recon_loss(dec, first.x), by_hand, rtol=1e-5)
    # ... and it travels in the decoder's state (checkpoints), fixed by config when given.
    assert "sigma2" in model.nets["decoder"].state_dict()
    assert build("conv_vae", latent=4, sigma2=0.25).sigma2.item() == 0.25


@pytest.mark.parametrize(
    ("name", "likelihood"),
    [(n, None) for n in VAE_FAMILIES]
    + [("mlp_vae", "discretized_logistic"), ("conv_vae", "discretized_gaussian")],
)
def test_vae_test_metrics_are_consistent(name: str, likelihood: str | None) -> None:
    model = build(name, **({"likelihood": likelihood} if likelihood else {}))
    model.training_step(Batch(torch.rand(4, 1, 28, 28) * 2 - 1, torch.arange(4)), "main")  # sets sigma2
    model.train(False)
    m = model.test_metrics(tiny_split(), 5, torch.Generator().manual_seed(0))
    # bpd only where the likelihood is a distribution over the 256 levels (the discretised ones).
    discrete = likelihood is not None
    assert set(m) == {"recon_mse", "recon_bce", "psnr", "elbo"} | ({"bpd"} if discrete else set())
    assert all(math.isfinite(v) for v in m.values())
    assert m["psnr"] == pytest.approx(10 * math.log10(1 / m["recon_mse"]), rel=1e-5)
    if discrete:
        assert m["bpd"] == pytest.approx(-m["elbo"] / (784 * math.log(2)), rel=1e-5)
        assert m["bpd"] > 0
    assert m["elbo"] < 0 and 0 < m["recon_mse"] < 1


def test_cvae_draws_the_class_it_is_given() -> None:
    model = build("cvae")
    model.train(False)
    g = lambda: torch.Generator().manual_seed(0)  # noqa: E731
    zeros = model.sample_given(torch.zeros(4, dtype=torch.long), g())
    ones = model.sample_given(torch.ones(4, dtype=torch.long), g())
    assert zeros.shape == (4, 1, 28, 28) and zeros.min() >= -1 and zeros.max() <= 1
    assert not torch.allclose(zeros, ones)  # same z, different label: different images
    assert model.conditional and model.needs_labels
    with pytest.raises(BenchError, match="cvae needs class labels"):
        MODELS.get("cvae").check(
            model.cfg, DatasetInfo("blank", 28, 1, 0, {"train": 1}, "t", "t"), 8, "models.cvae"
        )


# --- training on digits -------------------------------------------------------------------------


@pytest.mark.parametrize("name", [*VAE_FAMILIES, "vq_vae", "ddpm"])
def test_a_few_steps_on_digits_lower_the_loss(name: str) -> None:
    model = build(name)
    opt = model.optimizers()["main"]
    steps, batch = (12, 16) if name == "ddpm" else (30, 32)  # a U-Net step costs ~20 MLP VAE steps
    stream = BatchStream(digits(), batch, torch.device("cpu"), seed=0)
    torch.manual_seed(0)
    losses = []
    for _ in range(steps):
        out = model.training_step(stream.next(), "main")
        opt.zero_grad(set_to_none=True)
        out["loss"].backward()
        opt.step()
        losses.append(out["loss"].item())
    first, last = sum(losses[:5]) / 5, sum(losses[-5:]) / 5
    # VQ-VAE's code losses grow while the codebook catches up with the encoder, so its total falls
    # less in so few steps than a VAE's; every family must still improve by a clear margin.
    assert last < 0.97 * first, f"{name}: {first:.4f} -> {last:.4f}"


# --- VQ-VAE priors ------------------------------------------------------------------------------


# After 10 steps the encoder maps nearly everything to one code, so PCA sees (almost) no variance.
@pytest.mark.filterwarnings("ignore::RuntimeWarning", "ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("prior", ["gmm", "vae"])
def test_vq_prior_fits_after_training_samples_and_travels_in_the_checkpoint(prior: str) -> None:
    model = build("vq_vae", prior=prior, prior_steps=30, prior_fit_n=200)
    train = digits()
    stream = BatchStream(train, 32, torch.device("cpu"), seed=0)
    opt = model.optimizers()["main"]
    for _ in range(10):
        out = model.training_step(stream.next(), "main")
        opt.zero_grad(set_to_none=True)
        out["loss"].backward()
        opt.step()
    quantizer = model.nets["quantizer"]
    assert not bool(quantizer.prior.fitted)
    model.finalize(train, torch.Generator().manual_seed(0))
    assert bool(quantizer.prior.fitted)
    model.train(False)
    x = model.sample(6, torch.Generator().manual_seed(1))
    assert x.shape == (6, 1, 28, 28) and x.min() >= -1 and x.max() <= 1

    codes = model.encode(torch.rand(3, 1, 28, 28) * 2 - 1)
    assert codes.shape == (3, 16 * 7 * 7)
    # Every position of a decoded grid is a code of the codebook.
    snapped = quantizer.snap(model.prior(4, torch.Generator().manual_seed(0)), model.grid)
    flat = snapped.permute(0, 2, 3, 1).reshape(-1, 16)
    assert (flat[:, None] == quantizer.codebook.weight[None]).all(2).any(1).all()

    if prior == "gmm":  # the mixture's mean, mapped back from PCA space, sits near the codes' mean
        p = quantizer.prior
        mixture_mean = (p.weights[:, None] * p.means).sum(0) @ p.basis + p.mean
        enc = torch.cat([model.encode(to_x(train.images[i : i + 100])) for i in range(0, 200, 100)])
        assert (mixture_mean - enc.mean(0)).abs().max() < 0.5

    clone = build("vq_vae", prior=prior, prior_steps=30, prior_fit_n=200)
    for k, net in model.nets.items():
        clone.nets[k].load_state_dict(net.state_dict())
    clone.train(False)
    assert torch.equal(
        clone.sample(4, torch.Generator().manual_seed(5)), model.sample(4, torch.Generator().manual_seed(5))
    )

    metrics = model.test_metrics(tiny_split(), 5, torch.Generator().manual_seed(0))
    assert set(metrics) == {"recon_mse", "psnr", "codebook_usage", "perplexity"}
    assert 0 < metrics["codebook_usage"] <= 1 and 1 <= metrics["perplexity"] <= 16


def test_gmm_prior_stores_a_mixture_that_samples_like_the_data() -> None:
    # Two clusters in 12 dimensions that vary along 2 directions: PCA to 3, two full-covariance components.
    g = torch.Generator().manual_seed(0)
    basis = torch.randn(2, 12, generator=g)
    centres = torch.stack([torch.full((12,), 2.0), torch.full((12,), -1.0)])
    which = (torch.rand(900, generator=g) < 2 / 3).long()  # 2/3 in the first cluster
    data = centres[which] + (0.5 * torch.randn(900, 2, generator=g)) @ basis
    prior = GMMPrior(12, pca_dim=3, components=2)
    prior.fit(data, torch.Generator().manual_seed(1))
    assert sorted(prior.weights.tolist()) == pytest.approx([1 / 3, 2 / 3], abs=0.05)
    draws = prior.sample(4000, torch.Generator().manual_seed(2))
    assert draws.shape == (4000, 12)
    assert torch.allclose(draws.mean(0), data.mean(0), atol=0.1)
    assert torch.allclose(torch.cov(draws.T), torch.cov(data.T), atol=0.15)


def to_x(images: torch.Tensor) -> torch.Tensor:
    return images.float() / 127.5 - 1


@pytest.mark.parametrize(
    ("name", "args", "resolution", "message"),
    [
        ("vq_vae", {}, 30, "resolution 30 is not a multiple of 4"),
        ("ddpm", {"sample_steps": 2000}, 28, "sample_steps: 2000 exceeds timesteps"),
        ("ddpm", {"channel_mults": [1, 2, 2, 2]}, 28, "need a resolution divisible by 8"),
        ("conv_vae", {"widths": [8] * 6}, 28, "resolution 28 is too small for 6 stride-2 convs"),
    ],
)
def test_configurations_a_family_cannot_train_are_refused(
    name: str, args: dict, resolution: int, message: str
) -> None:
    family = MODELS.get(name)
    info = DatasetInfo("fake", resolution, 1, 10, {"train": 100}, "t", "t")
    with pytest.raises(BenchError, match=message):
        family.check(family.Config(**args), info, 8, f"models.{name}")
