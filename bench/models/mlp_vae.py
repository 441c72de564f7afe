"""MLP VAE (Kingma & Welling 2014): 784-512-256 encoder, mirrored decoder, Bernoulli likelihood."""

from __future__ import annotations

import math

import torch
from pydantic import Field

from bench.config import StrictModel
from bench.datasets.base import DatasetInfo
from bench.datasets.batches import Batch
from bench.models.base import MODELS, GenerativeModel, image_shape
from bench.models.losses import bce_with_logits_sum, gaussian_kl, reparameterize
from bench.models.nets import mlp


class MLPVAEConfig(StrictModel):
    lr: float = Field(1e-3, gt=0)
    hidden: list[int] = Field(default_factory=lambda: [512, 256], min_length=1)


@MODELS.register("mlp_vae")
class MLPVAE(GenerativeModel):
    Config = MLPVAEConfig
    family = "vae"
    paper = "Kingma & Welling 2014, Auto-Encoding Variational Bayes"
    default_latent_size = 16

    def __init__(self, cfg: MLPVAEConfig, info: DatasetInfo, latent_size: int | None) -> None:
        super().__init__(cfg, info, latent_size)
        assert latent_size is not None
        self.shape = image_shape(info)
        d = math.prod(self.shape)
        h = cfg.hidden
        self.nets["encoder"] = mlp([d, *h, 2 * latent_size], [0] * len(h) + [None])
        # Logits out: sigmoid(logits) is the Bernoulli mean; the sigmoid is folded into the loss
        # (binary_cross_entropy_with_logits), which is exact and safe under bf16 autocast.
        self.nets["decoder"] = mlp([latent_size, *reversed(h), d], [0] * len(h) + [None])

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        params = [p for net in self.nets.values() for p in net.parameters()]
        return {"main": torch.optim.Adam(params, lr=self.cfg.lr)}

    def training_step(self, batch: Batch, phase: str) -> dict[str, torch.Tensor]:
        x01 = (batch.x.flatten(1) + 1) / 2  # Bernoulli targets in [0, 1]
        mu, logvar = self.nets["encoder"](batch.x.flatten(1)).float().chunk(2, dim=1)
        logits = self.nets["decoder"](reparameterize(mu, logvar))
        recon = bce_with_logits_sum(logits, x01).mean()
        kl = gaussian_kl(mu, logvar).mean()
        return {"loss": recon + kl, "recon": recon, "kl": kl}

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator) -> torch.Tensor:
        z = torch.randn(n, self.latent_size, generator=generator, device=generator.device).to(self.device)
        return (torch.sigmoid(self.nets["decoder"](z).float()) * 2 - 1).view(n, *self.shape)
