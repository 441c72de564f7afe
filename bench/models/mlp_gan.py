"""MLP GAN (Goodfellow et al. 2014) with the course recipe's layer sizes and LeakyReLU slopes."""

from __future__ import annotations

import math

import torch
from pydantic import Field

from bench.config import StrictModel
from bench.datasets.base import DatasetInfo
from bench.datasets.batches import Batch
from bench.models.base import MODELS, GenerativeModel, image_shape
from bench.models.losses import gan_d_loss_bce, gan_g_loss_bce
from bench.models.nets import mlp


class MLPGANConfig(StrictModel):
    lr: float = Field(2e-4, gt=0)
    betas: list[float] = Field(default_factory=lambda: [0.5, 0.999], min_length=2, max_length=2)


@MODELS.register("mlp_gan")
class MLPGAN(GenerativeModel):
    Config = MLPGANConfig
    family = "gan"
    paper = "Goodfellow et al. 2014, Generative Adversarial Nets"
    default_latent_size = 64

    def __init__(self, cfg: MLPGANConfig, info: DatasetInfo, latent_size: int | None) -> None:
        super().__init__(cfg, info, latent_size)
        assert latent_size is not None
        self.shape = image_shape(info)
        d = math.prod(self.shape)
        g = mlp([latent_size, 128, 256, 512, d], [0.1, 0.2, 0.3, None])
        g.append(torch.nn.Tanh())
        self.nets["G"] = g
        # D ends in a logit; the recipe's sigmoid is applied inside the BCE loss (same function,
        # numerically stable, and allowed under autocast).
        self.nets["D"] = mlp([d, 512, 256, 128, 1], [0.3, 0.2, 0.1, None])
        self._fake: torch.Tensor | None = None

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        betas = tuple(self.cfg.betas)
        return {
            "d": torch.optim.Adam(self.nets["D"].parameters(), lr=self.cfg.lr, betas=betas),
            "g": torch.optim.Adam(self.nets["G"].parameters(), lr=self.cfg.lr, betas=betas),
        }

    def phases(self, step: int) -> tuple[str, ...]:
        return ("d", "g")

    def _generate(self, n: int, device: torch.device) -> torch.Tensor:
        return self.nets["G"](torch.randn(n, self.latent_size, device=device))

    def training_step(self, batch: Batch, phase: str) -> dict[str, torch.Tensor]:
        D = self.nets["D"]
        if phase == "d":
            # The fakes made here are reused by the following "g" phase, as in the reference DCGAN
            # loop: one generator forward per step instead of two.
            self._fake = self._generate(len(batch), batch.x.device)
            loss = gan_d_loss_bce(D(batch.x.flatten(1)), D(self._fake.detach()))
            return {"loss": loss}
        fake = self._fake if self._fake is not None else self._generate(len(batch), batch.x.device)
        self._fake = None
        return {"loss": gan_g_loss_bce(D(fake))}

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator) -> torch.Tensor:
        z = torch.randn(n, self.latent_size, generator=generator, device=generator.device).to(self.device)
        return self.nets["G"](z).float().view(n, *self.shape)
