"""Decoder likelihoods p(x | z) of the VAE families, by name (`likelihood:` in a VAE's config).

A decoder gives either logits (the MLP and fully connected VAEs: mean image = sigmoid(logits) on
[0, 1]) or its mean image on [-1, 1] directly (conv_vae, ending in tanh); `VAE.decoder_out` says which.
Images x arrive in [-1, 1], stored as 8-bit levels k/127.5 - 1, so one level is a bin of width
BIN_WIDTH = 2/255.

    bernoulli              each pixel's [0, 1] value as a Bernoulli probability target: the binary
                           cross-entropy with logits. A distribution over {0, 1}, not over 256 gray levels,
                           so it gives no bits per dimension (no dataset here is binarised).
    gaussian               N(x; mean, sigma2 I), fixed variance (`sigma2`): on [0, 1] pixels for logit
                           decoders (default 1/2: the MSE + KL recipe), on [-1, 1] for mean decoders
                           (default: the first batch's pixel variance). A density, not a probability:
                           no bits per dimension.
    discretized_gaussian   P(x) = Phi((x + d/2 - mu)/s) - Phi((x - d/2 - mu)/s), lowest bin from -inf,
                           highest to +inf (Ho et al. 2020, eq. 13); s = exp(log_scale), one learned
                           log-scale per channel (net "likelihood").
    discretized_logistic   the same with the logistic CDF (Salimans et al. 2017, PixelCNN++).

The two discretised ones are distributions over the 256 levels, so their -ELBO in bits per dimension
bounds the data's bpd (`discrete = True`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from bench.models.losses import bce_with_logits_sum, gaussian_nll_sum
from bench.registry import Registry

BIN_WIDTH = 2 / 255  # one 8-bit level on [-1, 1]


def _log_diff(log_hi: torch.Tensor, log_lo: torch.Tensor) -> torch.Tensor:
    """log(exp(log_hi) - exp(log_lo)) for log_hi > log_lo, stable."""
    return log_hi + torch.log1p(-torch.exp((log_lo - log_hi).clamp_max(-1e-12)))


def discretized_log_prob(
    mean: torch.Tensor, log_scale: torch.Tensor, x: torch.Tensor, log_cdf, delta: float = BIN_WIDTH
) -> torch.Tensor:
    """log P(x) per element for a location-scale CDF discretised on bins of width `delta` over [-1, 1]
    (edge bins extended to infinity). `log_cdf(t)` = log F(t) of the standard distribution, symmetric
    (F(-t) = 1 - F(t)); the difference is taken on the side of the tail it is smaller on."""
    inv = torch.exp(-log_scale)
    hi = (x - mean + delta / 2) * inv
    lo = (x - mean - delta / 2) * inv
    # F(hi) - F(lo) = F(-lo) - F(-hi): use the form whose values are small (no 1 - 1 cancellation).
    upper_tail = lo > 0
    a = torch.where(upper_tail, -lo, hi)
    b = torch.where(upper_tail, -hi, lo)
    mid = _log_diff(log_cdf(a), log_cdf(b))
    bottom = log_cdf(hi)  # P(X < x + d/2): the lowest level
    top = log_cdf(-lo)  # P(X > x - d/2): the highest level
    return torch.where(x < -1 + delta / 2, bottom, torch.where(x > 1 - delta / 2, top, mid))


def discretized_gaussian_nll(mean: torch.Tensor, log_scale: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """-log P(x) in nats per image (B,), Gaussian CDF (Ho et al. 2020, eq. 13)."""
    lp = discretized_log_prob(mean.float(), log_scale.float(), x.float(), torch.special.log_ndtr)
    return -lp.flatten(1).sum(1)


def discretized_logistic_nll(mean: torch.Tensor, log_scale: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """-log P(x) in nats per image (B,), logistic CDF (Salimans et al. 2017)."""
    lp = discretized_log_prob(mean.float(), log_scale.float(), x.float(), F.logsigmoid)
    return -lp.flatten(1).sum(1)


class Likelihood:
    """p(x | z) given the decoder's raw output `out` and images x in [-1, 1]; per-image values (B,)."""

    discrete: ClassVar[bool] = False  # a distribution over the 256 levels: bits per dimension exist
    needs_logits: ClassVar[bool] = False
    learned_scale: ClassVar[bool] = False  # adds net "likelihood" with a log-scale per channel

    def __init__(
        self,
        decoder_out: str,
        sigma2: Callable[[], float | torch.Tensor],
        log_scale: Callable[[], torch.Tensor],
    ) -> None:
        """What the likelihood reads of its model, and nothing more: whether the decoder gives logits
        or its mean (`decoder_out`), the gaussian variance, and the learned log-scale (1, C*H*W), called
        at each use so that they follow the model's nets (also once wrapped for DDP)."""
        self.decoder_out = decoder_out
        self.sigma2 = sigma2
        self.log_scale = log_scale

    def loss(self, out: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """The reconstruction term minimised in training (the NLL, or it without a constant)."""
        return self.nll(out, x)

    def nll(self, out: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def mean01(self, out: torch.Tensor) -> torch.Tensor:
        """The decoder's mean on [0, 1], flat (B, D)."""
        if self.decoder_out == "logits":
            return torch.sigmoid(out.float()).flatten(1)
        return (out.float().flatten(1) + 1) / 2

    def mean(self, out: torch.Tensor) -> torch.Tensor:
        """The decoder's mean on [-1, 1], flat (B, D)."""
        if self.decoder_out == "logits":
            return torch.sigmoid(out.float()).flatten(1) * 2 - 1
        return out.float().flatten(1)


LIKELIHOODS: Registry[type[Likelihood]] = Registry("likelihood")


@LIKELIHOODS.register("bernoulli")
class Bernoulli(Likelihood):
    needs_logits = True

    def nll(self, out: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return bce_with_logits_sum(out, (x.flatten(1) + 1) / 2)


@LIKELIHOODS.register("gaussian")
class Gaussian(Likelihood):
    def loss(self, out: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        s2 = self.sigma2()
        if self.decoder_out == "logits":  # on [0, 1] pixels
            sq = (torch.sigmoid(out.float()) - (x.flatten(1).float() + 1) / 2).pow(2).sum(1)
        else:
            sq = (x.float() - out.float()).pow(2).flatten(1).sum(1)
        return sq / (2 * s2)

    def nll(self, out: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        s2 = self.sigma2()
        if self.decoder_out == "logits":
            return gaussian_nll_sum(torch.sigmoid(out.float()), (x.flatten(1) + 1) / 2, s2)
        return gaussian_nll_sum(out, x, s2)


class LogScale(nn.Module):
    """One learned log-scale per channel for the discretised likelihoods."""

    def __init__(self, channels: int, init: float = 0.0) -> None:
        super().__init__()
        self.log_scale = nn.Parameter(torch.full((channels,), init))

    def forward(self, resolution: int) -> torch.Tensor:
        """(1, C*H*W), channel-major like a flattened NCHW image (a forward, so DDP sees the use)."""
        return self.log_scale.repeat_interleave(resolution * resolution)[None]


class _Discretized(Likelihood):
    discrete = True
    learned_scale = True
    nll_fn: ClassVar = None

    def nll(self, out: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return type(self).nll_fn(self.mean(out), self.log_scale(), x.flatten(1))


@LIKELIHOODS.register("discretized_gaussian")
class DiscretizedGaussian(_Discretized):
    nll_fn = staticmethod(discretized_gaussian_nll)


@LIKELIHOODS.register("discretized_logistic")
class DiscretizedLogistic(_Discretized):
    nll_fn = staticmethod(discretized_logistic_nll)
