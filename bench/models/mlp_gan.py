"""MLP GAN (Goodfellow et al. 2014) with the course recipe's layer sizes and LeakyReLU slopes."""

from __future__ import annotations

import math

import torch
from pydantic import Field

from bench.config import StrictModel
from bench.datasets.base import DatasetInfo
from bench.datasets.batches import Batch
from bench.models.adversarial import GRAD_NORM_KEY, first_layer_grad_norm
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
    optimizer_phases = ("d", "g")
    paper = "Goodfellow et al. 2014, Generative Adversarial Nets"
    default_latent_size = 64
    # Hidden widths and the LeakyReLU slope after each (0 = ReLU); subclasses swap in their recipe.
    g_hidden: tuple[int, ...] = (128, 256, 512)
    g_slopes: tuple[float, ...] = (0.1, 0.2, 0.3)
    d_hidden: tuple[int, ...] = (512, 256, 128)
    d_slopes: tuple[float, ...] = (0.3, 0.2, 0.1)

    def __init__(self, cfg: MLPGANConfig, info: DatasetInfo, latent_size: int | None) -> None:
        super().__init__(cfg, info, latent_size)
        assert latent_size is not None
        self.shape = image_shape(info)
        d = math.prod(self.shape)
        g = mlp([latent_size, *self.g_hidden, d], [*self.g_slopes, None])
        g.append(torch.nn.Tanh())
        self.nets["G"] = g
        # D ends in a logit; the recipe's sigmoid is applied inside the BCE loss (same function,
        # numerically stable, and allowed under autocast).
        self.nets["D"] = mlp([d, *self.d_hidden, 1], [*self.d_slopes, None])
        self._fake: torch.Tensor | None = None

    def noise(self, n: int, device: torch.device, generator: torch.Generator | None = None) -> torch.Tensor:
        """G's input noise: standard normal here; subclasses may draw from another distribution."""
        return torch.randn(n, self.latent_size, generator=generator, device=device)

    def prior(self, n: int, generator: torch.Generator) -> torch.Tensor:
        return self.noise(n, generator.device, generator).to(self.device)

    @staticmethod
    def d_loss(real_scores: torch.Tensor, fake_scores: torch.Tensor) -> torch.Tensor:
        return gan_d_loss_bce(real_scores, fake_scores)

    @staticmethod
    def g_loss(fake_scores: torch.Tensor) -> torch.Tensor:
        return gan_g_loss_bce(fake_scores)

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        betas = tuple(self.cfg.betas)
        return {
            "d": torch.optim.Adam(self.nets["D"].parameters(), lr=self.cfg.lr, betas=betas),
            "g": torch.optim.Adam(self.nets["G"].parameters(), lr=self.cfg.lr, betas=betas),
        }

    def phases(self, step: int) -> tuple[str, ...]:
        return ("d", "g")

    def _generate(self, n: int, device: torch.device) -> torch.Tensor:
        return self.nets["G"](self.noise(n, device))

    def training_step(self, batch: Batch, phase: str) -> dict[str, torch.Tensor]:
        D = self.nets["D"]
        if phase == "d":
            # The fakes made here are reused by the following "g" phase, as in the reference DCGAN
            # loop: one generator forward per step instead of two.
            self._fake = self._generate(len(batch), batch.x.device)
            loss = self.d_loss(D(batch.x.flatten(1)), D(self._fake.detach()))
            return {"loss": loss}
        grad_norm = first_layer_grad_norm(D)  # the D loss's gradient, before this phase's backward
        fake = self._fake if self._fake is not None else self._generate(len(batch), batch.x.device)
        self._fake = None
        return {"loss": self.g_loss(D(fake)), GRAD_NORM_KEY: grad_norm}

    @torch.no_grad()
    def decode(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        return self.nets["G"](z.to(self.device)).float().view(len(z), *self.shape)

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator) -> torch.Tensor:
        return self.decode(self.prior(n, generator))
