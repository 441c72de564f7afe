"""MLP VAE (Kingma & Welling 2014): 784-512-256 encoder, mirrored decoder; Bernoulli or Gaussian (MSE)."""

from __future__ import annotations

import math

import torch
from pydantic import Field

from bench.datasets.base import DatasetInfo
from bench.models.base import MODELS
from bench.models.nets import mlp
from bench.models.vae import VAE, VAEConfig


class MLPVAEConfig(VAEConfig):
    hidden: list[int] = Field(default_factory=lambda: [512, 256], min_length=1)


@MODELS.register("mlp_vae")
class MLPVAE(VAE):
    Config = MLPVAEConfig
    paper = "Kingma & Welling 2014, Auto-Encoding Variational Bayes"
    default_latent_size = 16

    def __init__(self, cfg: MLPVAEConfig, info: DatasetInfo, latent_size: int | None) -> None:
        super().__init__(cfg, info, latent_size)
        assert latent_size is not None
        d = math.prod(self.shape)
        h = cfg.hidden
        self.nets["encoder"] = mlp([d, *h, 2 * latent_size], [0] * len(h) + [None])
        # Logits out: sigmoid(logits) is the Bernoulli mean; the sigmoid is folded into the loss
        # (binary_cross_entropy_with_logits), which is exact and safe under bf16 autocast.
        self.nets["decoder"] = mlp([latent_size, *reversed(h), d], [0] * len(h) + [None])

    def posterior(self, x: torch.Tensor, y: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        mu, logvar = self.nets["encoder"](x.flatten(1)).float().chunk(2, dim=1)
        return mu, logvar

    def decoder_output(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        return self.nets["decoder"](z)


class MLPVAEMSEConfig(MLPVAEConfig):
    likelihood: str = Field("gaussian", description="decoder likelihood (bench/models/likelihoods.py)")


@MODELS.register("mlp_vae_mse")
class MLPVAEMSE(MLPVAE):
    """`mlp_vae` with `likelihood: gaussian`: sum of (sigmoid(logits) - x)^2 over [0, 1] pixels plus KL.
    That is a Gaussian likelihood with variance 1/2 on [0, 1] pixels, up to the constant D/2 log(pi),
    which the ELBO in the test metrics puts back."""

    Config = MLPVAEMSEConfig
    paper = "Kingma & Welling 2014, Auto-Encoding Variational Bayes (Gaussian decoder, MSE + KL)"
