"""A GAN whose discriminator is a Siamese network: it scores how alike a (real, candidate) pair is.

Both images pass through one shared convolutional embedding (the DCGAN discriminator's stack, ending in
`embed_dim` features); a linear head turns |phi(a) - phi(b)| into a "same kind" logit (the distance
layer of Koch et al. 2015). D learns that two real images are alike and a real and a generated one are
not; G learns to make its images score as alike to real ones. The generator is DCGAN's.
"""

from __future__ import annotations

import torch
from pydantic import Field
from torch import nn

from bench.datasets.base import DatasetInfo
from bench.datasets.batches import Batch
from bench.models.adversarial import GRAD_NORM_KEY, first_layer_grad_norm
from bench.models.base import MODELS
from bench.models.dcgan import DCGANConfig, _ConvGAN
from bench.models.losses import gan_d_loss_bce, gan_g_loss_bce
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


@MODELS.register("siamese_gan")
class SiameseGAN(_ConvGAN):
    Config = SiameseGANConfig
    paper = "Goodfellow et al. 2014 GAN with a Siamese discriminator (Koch et al. 2015, Siamese Networks)"

    def __init__(self, cfg: SiameseGANConfig, info: DatasetInfo, latent_size: int | None) -> None:
        super().__init__(cfg, info, latent_size)
        self.nets["D"] = SiameseDiscriminator(info.channels, info.resolution, cfg.d_width, cfg.embed_dim)
        self._pair: tuple[torch.Tensor, torch.Tensor] | None = None

    def phases(self, step: int) -> tuple[str, ...]:
        return ("d", "g")

    def training_step(self, batch: Batch, phase: str) -> dict[str, torch.Tensor]:
        D = self.nets["D"]
        if phase == "d":
            fake = self._generate(len(batch), batch.x.device, None)
            self._pair = (batch.x, fake)
            # Real pairs: each image with its neighbour in the (shuffled) batch.
            same = D(batch.x, batch.x.roll(1, dims=0))
            differ = D(batch.x, fake.detach())
            return {
                "loss": gan_d_loss_bce(same, differ),
                "d_same_real": torch.sigmoid(same.detach().float()).mean(),
                "d_same_fake": torch.sigmoid(differ.detach().float()).mean(),
            }
        grad_norm = first_layer_grad_norm(D)
        if self._pair is not None:
            anchor, fake = self._pair
        else:
            anchor, fake = batch.x, self._generate(len(batch), batch.x.device, None)
        self._pair = None
        return {"loss": gan_g_loss_bce(D(anchor, fake)), GRAD_NORM_KEY: grad_norm}
