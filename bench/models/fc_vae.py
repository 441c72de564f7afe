"""FC-VAE (the CS231n fully connected VAE): three Linear+ReLU layers of width H each side, Bernoulli."""

from __future__ import annotations

import torch
from pydantic import Field

from bench.datasets.base import DatasetInfo
from bench.models.base import MODELS
from bench.models.nets import mlp
from bench.models.vae import VAE, VAEConfig

LAYERS = 3  # hidden Linear+ReLU layers on each side, as the recipe fixes


class FCVAEConfig(VAEConfig):
    hidden: int = Field(400, gt=0, description="H: the width of every hidden layer")


@MODELS.register("fc_vae")
class FCVAE(VAE):
    """Encoder D -> H -> H -> H -> (mu, logvar); decoder z -> H -> H -> H -> D logits (sigmoid in the
    Bernoulli loss). `cond` extra inputs (a one-hot label, for the CVAE) join the image and z."""

    Config = FCVAEConfig
    paper = "Kingma & Welling 2014, Auto-Encoding Variational Bayes (CS231n FC-VAE)"
    default_latent_size = 15
    cond = 0

    def __init__(self, cfg: FCVAEConfig, info: DatasetInfo, latent_size: int | None) -> None:
        super().__init__(cfg, info, latent_size)
        assert latent_size is not None
        h, c = [cfg.hidden] * LAYERS, self.condition_size(info)
        # One Linear to 2z is the recipe's two heads (mu, logvar) side by side.
        self.nets["encoder"] = mlp([self.dims + c, *h, 2 * latent_size], [0] * LAYERS + [None])
        self.nets["decoder"] = mlp([latent_size + c, *h, self.dims], [0] * LAYERS + [None])

    @classmethod
    def condition_size(cls, info: DatasetInfo) -> int:
        return 0

    def condition(self, y: torch.Tensor | None, like: torch.Tensor) -> list[torch.Tensor]:
        """Tensors joined to the encoder's and decoder's inputs; none for the plain FC-VAE."""
        return []

    def posterior(self, x: torch.Tensor, y: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        flat = x.flatten(1)
        mu, logvar = self.nets["encoder"](torch.cat([flat, *self.condition(y, flat)], 1)).float().chunk(2, 1)
        return mu, logvar

    def decoder_output(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        return self.nets["decoder"](torch.cat([z, *self.condition(y, z)], 1))
