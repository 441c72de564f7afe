"""The VAE likelihood registry: discretised Gaussian / logistic against their definitions, bpd limits,
kl_weight as beta, and the registered `mlp_vae_mse` as `mlp_vae` with `likelihood: gaussian`."""

from __future__ import annotations

import math

import pytest
import torch

from bench.datasets.base import DatasetInfo
from bench.datasets.batches import Batch, to_unit_range
from bench.errors import BenchError
from bench.models import MODELS
from bench.models.likelihoods import (
    BIN_WIDTH,
    LIKELIHOODS,
    discretized_gaussian_nll,
    discretized_logistic_nll,
)
from bench.models.losses import bits_per_dim

LEVELS = to_unit_range(torch.arange(256, dtype=torch.uint8))  # the 256 values an 8-bit pixel takes
NLLS = [discretized_gaussian_nll, discretized_logistic_nll]


def info() -> DatasetInfo:
    return DatasetInfo(
        name="fake", resolution=28, channels=1, num_classes=10, splits={"train": 8, "test": 8},
        source="test", licence="test",
    )  # fmt: skip


def build(name: str, **args: object):
    family = MODELS.get(name)
    torch.manual_seed(0)
    return family(family.Config(**args), info(), 4)


def test_the_bin_width_is_one_8_bit_level_on_minus_one_one() -> None:
    assert torch.allclose(LEVELS.diff(), torch.full((255,), BIN_WIDTH), atol=1e-6)
    assert LEVELS[0] == -1 and LEVELS[-1] == 1


@pytest.mark.parametrize("nll", NLLS)
@pytest.mark.parametrize(("mean", "log_scale"), [(0.0, -3.0), (0.7, -1.0), (-0.99, 0.5), (0.2, -7.0)])
def test_the_256_bin_probabilities_sum_to_one(nll, mean: float, log_scale: float) -> None:
    x = LEVELS.view(256, 1)
    p = torch.exp(-nll(torch.full_like(x, mean), torch.full_like(x, log_scale), x))
    assert p.sum().item() == pytest.approx(1.0, abs=1e-5)


def test_discretized_gaussian_matches_the_cdf_difference_by_hand() -> None:
    normal = torch.distributions.Normal(torch.tensor(0.1, dtype=torch.float64), 0.3)
    x = LEVELS[[0, 100, 255]].view(3, 1)
    got = torch.exp(-discretized_gaussian_nll(torch.full_like(x, 0.1), torch.full_like(x, math.log(0.3)), x))
    d = BIN_WIDTH / 2
    want = [
        normal.cdf(torch.tensor(-1 + d, dtype=torch.float64)),  # lowest bin: from -inf
        normal.cdf(x[1].double() + d) - normal.cdf(x[1].double() - d),
        1 - normal.cdf(torch.tensor(1 - d, dtype=torch.float64)),  # highest bin: to +inf
    ]
    assert torch.allclose(got.double().view(3), torch.stack([w.view(()) for w in want]), rtol=1e-4)


@pytest.mark.parametrize("nll", NLLS)
def test_a_perfect_decoder_scores_about_zero_bits(nll) -> None:
    g = torch.Generator().manual_seed(0)
    x = to_unit_range(torch.randint(0, 256, (4, 784), generator=g, dtype=torch.uint8))
    bpd = bits_per_dim(nll(x, torch.full_like(x, math.log(1e-4)), x), 784)
    assert bpd.max().item() < 1e-3


def test_a_uniform_decoder_scores_eight_bits_per_dim() -> None:
    # Uniform over the 256 levels: each has probability 1/256 whatever x.
    nll = torch.full((3,), 784 * math.log(256))
    assert torch.allclose(bits_per_dim(nll, 784), torch.full((3,), 8.0), atol=1e-3)


def test_mlp_vae_mse_is_mlp_vae_with_a_gaussian_likelihood() -> None:
    a, b = build("mlp_vae_mse", hidden=[16]), build("mlp_vae", hidden=[16], likelihood="gaussian")
    x = torch.rand(3, 1, 28, 28) * 2 - 1
    out = a.decoder_output(torch.randn(3, 4))
    assert torch.equal(a.recon_loss(out, x), b.recon_loss(out, x))
    assert torch.equal(a.recon_nll(out, x), b.recon_nll(out, x))


def test_kl_weight_scales_the_kl_term_only() -> None:
    x = Batch(torch.rand(4, 1, 28, 28) * 2 - 1)
    outs = {}
    for beta in (1.0, 4.0):
        model = build("mlp_vae", hidden=[16], kl_weight=beta)
        torch.manual_seed(1)
        outs[beta] = model.training_step(x, "main")
    assert torch.equal(outs[1.0]["kl"], outs[4.0]["kl"]) and torch.equal(
        outs[1.0]["recon"], outs[4.0]["recon"]
    )
    assert outs[4.0]["loss"].item() == pytest.approx((outs[4.0]["recon"] + 4 * outs[4.0]["kl"]).item())


def test_discretized_likelihoods_learn_a_log_scale_per_channel() -> None:
    model = build("mlp_vae", hidden=[16], likelihood="discretized_logistic")
    assert "likelihood" in model.nets and model.nets["likelihood"].log_scale.shape == (1,)
    params = {id(p) for g in model.optimizers()["main"].param_groups for p in g["params"]}
    assert id(model.nets["likelihood"].log_scale) in params
    out = model.training_step(Batch(torch.rand(4, 1, 28, 28) * 2 - 1), "main")
    out["loss"].backward()
    assert model.nets["likelihood"].log_scale.grad is not None


def test_unknown_likelihoods_and_bernoulli_on_a_mean_decoder_are_refused() -> None:
    with pytest.raises(ValueError, match="allowed: bernoulli"):
        MODELS.get("mlp_vae").Config(likelihood="poisson")
    family = MODELS.get("conv_vae")
    with pytest.raises(BenchError, match="needs a decoder giving logits"):
        family.check(family.Config(likelihood="bernoulli"), info(), 4, "models.conv_vae")
    assert set(LIKELIHOODS.names()) == {
        "bernoulli",
        "gaussian",
        "discretized_gaussian",
        "discretized_logistic",
    }
