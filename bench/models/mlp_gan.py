"""MLP GAN (Goodfellow et al. 2014) with the course recipe's layer sizes and LeakyReLU slopes."""

from __future__ import annotations

import math
from typing import NamedTuple

import torch

from bench.datasets.base import DatasetInfo
from bench.datasets.batches import Batch
from bench.models.adversarial import AdversarialConfig, AdversarialModel
from bench.models.base import MODELS, image_shape
from bench.models.nets import mlp


class MLPGANConfig(AdversarialConfig):
    pass


class Fakes(NamedTuple):
    images: torch.Tensor  # G's flat output, (n, C*H*W)


@MODELS.register("mlp_gan")
class MLPGAN(AdversarialModel):
    Config = MLPGANConfig
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

    def noise(self, n: int, device: torch.device, generator: torch.Generator | None = None) -> torch.Tensor:
        """G's input noise: standard normal here; subclasses may draw from another distribution."""
        return torch.randn(n, self.latent_size, generator=generator, device=device)

    def prior(self, n: int, generator: torch.Generator) -> torch.Tensor:
        return self.noise(n, generator.device, generator).to(self.device)

    def make_fakes(self, batch: Batch | None, n: int) -> Fakes:
        return Fakes(self.nets["G"](self.noise(n, self._device)))

    def d_scores(self, batch: Batch, fakes: Fakes) -> list[tuple[torch.Tensor, torch.Tensor]]:
        D = self.nets["D"]
        return [(D(batch.x.flatten(1)), D(fakes.images.detach()))]

    def g_scores(self, fakes: Fakes) -> list[torch.Tensor]:
        return [self.nets["D"](fakes.images)]

    def d_inputs(self, batch: Batch, fakes: Fakes):
        return self.nets["D"], batch.x.flatten(1), fakes.images.detach()

    @torch.no_grad()
    def decode(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        return self.nets["G"](z.to(self.device)).float().view(len(z), *self.shape)

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator) -> torch.Tensor:
        return self.decode(self.prior(n, generator))
