"""A GAN whose discriminator is a Siamese network: it scores how alike a (real, candidate) pair is.

Both images pass through one shared convolutional embedding (the DCGAN discriminator's stack, ending in
`embed_dim` features); a linear head turns |phi(a) - phi(b)| into a "same kind" logit (the distance
layer of Koch et al. 2015). D learns that two real images are alike and a real and a generated one are
not; G learns to make its images score as alike to real ones. The generator is DCGAN's.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from pydantic import Field
from torch import nn

from bench.datasets.base import DatasetInfo
from bench.datasets.batches import Batch
from bench.models.base import MODELS
from bench.models.dcgan import DCGANConfig, _ConvGAN
from bench.models.nets import DCGANDiscriminator


class SiameseGANConfig(DCGANConfig):
    embed_dim: int = Field(128, gt=0, description="features of the shared embedding")


class SiameseDiscriminator(nn.Module):
    """(a, b) -> logit that a and b are the same kind of image; the embedding is shared."""

    def __init__(self, channels: int, resolution: int, width: int, embed_dim: int) -> None:
        super().__init__()
        self.embed = DCGANDiscriminator(channels, resolution, width, norm="batch", out_features=embed_dim)
        self.head = nn.Linear(embed_dim, 1)

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return self.head((self.embed(a) - self.embed(b)).abs()).view(a.shape[0])


class Pair(NamedTuple):
    anchor: torch.Tensor  # the real images the fakes are compared with
    images: torch.Tensor


@MODELS.register("siamese_gan")
class SiameseGAN(_ConvGAN):
    Config = SiameseGANConfig
    paper = "Goodfellow et al. 2014 GAN with a Siamese discriminator (Koch et al. 2015, Siamese Networks)"
    supports_penalty = False  # D scores pairs, not images
    fakes_need_batch = True  # fresh fakes are compared with a real batch

    def __init__(self, cfg: SiameseGANConfig, info: DatasetInfo, latent_size: int | None) -> None:
        super().__init__(cfg, info, latent_size)
        self.nets["D"] = SiameseDiscriminator(info.channels, info.resolution, cfg.d_width, cfg.embed_dim)

    def make_fakes(self, batch: Batch | None, n: int) -> Pair:
        assert batch is not None
        return Pair(batch.x, self.nets["G"](torch.randn(n, self.latent_size, device=self._device)))

    def d_scores(self, batch: Batch, fakes: Pair) -> list[tuple[torch.Tensor, torch.Tensor]]:
        D = self.nets["D"]
        # Real pairs: each image with its neighbour in the (shuffled) batch.
        return [(D(batch.x, batch.x.roll(1, dims=0)), D(batch.x, fakes.images.detach()))]

    def g_scores(self, fakes: Pair) -> list[torch.Tensor]:
        return [self.nets["D"](fakes.anchor, fakes.images)]
