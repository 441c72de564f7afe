"""FC-GAN and LSGAN with the course recipe's fully connected nets.

G: noise 96 -> 1024 -> 1024 -> image (ReLU, tanh); D: image -> 256 -> 256 -> 1 (LeakyReLU 0.01). The
noise is uniform on [-1, 1] and Adam runs at 1e-3 with beta1 0.5, as in the recipe. LSGAN keeps the nets
and plays the least-squares game (`loss: ls`). Sizes follow the dataset (784 is 28x28x1).
"""

from __future__ import annotations

import torch
from pydantic import Field

from bench.models.adversarial import AdversarialConfig
from bench.models.base import MODELS
from bench.models.mlp_gan import MLPGAN


class FCGANConfig(AdversarialConfig):
    lr: float = Field(1e-3, gt=0)


class LSGANConfig(FCGANConfig):
    loss: str = Field("ls", description="the game (bench/models/adversarial.py); ls = least squares")


@MODELS.register("fc_gan")
class FCGAN(MLPGAN):
    Config = FCGANConfig
    paper = "Goodfellow et al. 2014, Generative Adversarial Nets (fully connected course recipe)"
    default_latent_size = 96
    latent_prior = "uniform"  # analyses interpolate in straight lines and traverse by the draws' spread
    g_hidden, g_slopes = (1024, 1024), (0.0, 0.0)
    d_hidden, d_slopes = (256, 256), (0.01, 0.01)

    def noise(self, n: int, device: torch.device, generator: torch.Generator | None = None) -> torch.Tensor:
        return torch.rand(n, self.latent_size, generator=generator, device=device) * 2 - 1


@MODELS.register("lsgan")
class LSGAN(FCGAN):
    Config = LSGANConfig
    paper = "Mao et al. 2017, Least Squares Generative Adversarial Networks"
