"""Loss functions shared by families, written once so each can be tested against a hand computation."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn


def gaussian_kl(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, exp(logvar)) || N(0, I)), summed over latent dimensions: shape (B,)."""
    return 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar).sum(dim=1)


def reparameterize(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    return mu + torch.randn_like(mu) * (0.5 * logvar).exp()


def bce_with_logits_sum(logits: torch.Tensor, target01: torch.Tensor) -> torch.Tensor:
    """Bernoulli negative log-likelihood per image, summed over pixels: shape (B,)."""
    return (
        F.binary_cross_entropy_with_logits(logits.float(), target01.float(), reduction="none")
        .flatten(1)
        .sum(1)
    )


def gan_d_loss_bce(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """-log D(x) - log(1 - D(G(z))): the discriminator's side of the original GAN game."""
    real = F.binary_cross_entropy_with_logits(
        real_logits.float(), torch.ones_like(real_logits, dtype=torch.float)
    )
    fake = F.binary_cross_entropy_with_logits(
        fake_logits.float(), torch.zeros_like(fake_logits, dtype=torch.float)
    )
    return real + fake


def gan_g_loss_bce(fake_logits: torch.Tensor) -> torch.Tensor:
    """-log D(G(z)): the non-saturating generator loss of Goodfellow et al."""
    return F.binary_cross_entropy_with_logits(
        fake_logits.float(), torch.ones_like(fake_logits, dtype=torch.float)
    )


def gradient_penalty(
    critic: nn.Module | Callable[[torch.Tensor], torch.Tensor], real: torch.Tensor, fake: torch.Tensor
) -> torch.Tensor:
    """WGAN-GP's E[(||grad_x D(x_hat)||_2 - 1)^2] on random interpolates of real and fake."""
    alpha = torch.rand(real.shape[0], *([1] * (real.ndim - 1)), device=real.device, dtype=real.dtype)
    x_hat = (alpha * real + (1 - alpha) * fake).requires_grad_(True)
    scores = critic(x_hat)
    (grad,) = torch.autograd.grad(scores.sum(), x_hat, create_graph=True)
    return (grad.flatten(1).float().norm(2, dim=1) - 1.0).pow(2).mean()


def gaussian_nll_sum(mean: torch.Tensor, x: torch.Tensor, sigma2: float | torch.Tensor) -> torch.Tensor:
    """-log N(x; mean, sigma2 I) per image in nats, summed over pixels: shape (B,).

    sum((x - mean)^2) / (2 sigma2) + D/2 log(2 pi sigma2); with a fixed sigma2 the second term is a
    constant, so training may drop it (an MSE-sum loss is this NLL at sigma2 = 1/2, minus D/2 log pi)."""
    sq = (x.float() - mean.float()).pow(2).flatten(1).sum(1)
    d = sq.new_tensor(x[0].numel())
    s2 = torch.as_tensor(sigma2, dtype=torch.float32, device=sq.device)
    return sq / (2 * s2) + 0.5 * d * torch.log(2 * math.pi * s2)


def bits_per_dim(nll: torch.Tensor, dims: int, log_bin_width: float = 0.0) -> torch.Tensor:
    """Negative log-likelihood in nats per image -> bits per dimension.

    A density over pixel values becomes a probability of the 8-bit pixel's bin by multiplying with the
    bin width (2/256 for data in [-1, 1], 1/256 in [0, 1]): -log P = nll - dims * log(bin width).
    Bernoulli likelihoods are already probabilities: log_bin_width = 0."""
    return (nll - dims * log_bin_width) / (dims * math.log(2))


def vq_losses(z_e: torch.Tensor, e: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """VQ-VAE's two code losses (van den Oord et al. 2017), means over every element:
    codebook ||sg[z_e] - e||^2 moves the codes to the encodings; commitment ||z_e - sg[e]||^2
    (weighted by beta by the caller) keeps the encoder near its codes."""
    codebook = F.mse_loss(e.float(), z_e.detach().float())
    commitment = F.mse_loss(z_e.float(), e.detach().float())
    return codebook, commitment
