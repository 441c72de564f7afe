"""DCGAN (Radford et al. 2016) and WGAN-GP (Gulrajani et al. 2017) on the same convolutional nets, their
class-conditional versions (the label as one-hot extra channels of G's input and D's image), and DCGAN
with an encoder trained after the GAN to invert its generator.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
import torch.nn.functional as F
from pydantic import Field

from bench.datasets.base import DatasetInfo
from bench.datasets.batches import Batch
from bench.models.adversarial import AdversarialConfig, AdversarialModel, one_hot, with_label_channels
from bench.models.base import MODELS
from bench.models.nets import DCGANDiscriminator, DCGANGenerator, dcgan_plan


class DCGANConfig(AdversarialConfig):
    g_width: int = Field(64, gt=0, description="generator channels at full resolution (ngf)")
    d_width: int = Field(64, gt=0, description="discriminator channels after its first conv (ndf)")


class WGANGPConfig(DCGANConfig):
    lr: float = Field(1e-4, gt=0)
    betas: list[float] = Field(default_factory=lambda: [0.0, 0.9], min_length=2, max_length=2)
    loss: str = Field("wgan_gp", description="the game (bench/models/adversarial.py)")
    critic_steps: int = Field(5, gt=0, description="D updates per G update")


class DCGANEncoderConfig(DCGANConfig):
    encoder_fraction: float = Field(
        0.2, gt=0, lt=1, description="last share of the step budget that trains the encoder alone"
    )
    recon_weight: float = Field(
        1.0, ge=0, description="weight of ||G(E(x)) - x||^2 on real images next to ||E(G(z)) - z||^2"
    )


class Fakes(NamedTuple):
    images: torch.Tensor
    labels: torch.Tensor | None  # a conditional model's fakes carry the labels they were made for


class _ConvGAN(AdversarialModel):
    """The nets and sampling of the convolutional GANs; `conditional` subclasses feed labels to both."""

    default_latent_size = 100
    critic_norm = "batch"

    def __init__(self, cfg: DCGANConfig, info: DatasetInfo, latent_size: int | None) -> None:
        super().__init__(cfg, info, latent_size)
        assert latent_size is not None
        # A conditional G sees [z, one-hot y] as its 1x1 input; D sees the image with K label planes.
        self.nets["G"] = DCGANGenerator(latent_size + self.k, info.channels, info.resolution, cfg.g_width)
        self.nets["D"] = DCGANDiscriminator(
            info.channels + self.k, info.resolution, cfg.d_width, norm=self.critic_norm
        )

    @classmethod
    def check(cls, cfg: DCGANConfig, info: DatasetInfo, latent_size: int | None, where: str) -> None:
        super().check(cfg, info, latent_size, where)
        try:
            dcgan_plan(info.resolution)
        except Exception as err:
            raise type(err)(f"{where}: {err}") from None

    def _g(self, z: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
        if self.k:
            assert y is not None
            z = torch.cat([z, one_hot(y, self.k, z.dtype)], dim=1)
        return self.nets["G"](z)

    def _d(self, x: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
        if self.k:
            assert y is not None
            x = with_label_channels(x, y, self.k)
        return self.nets["D"](x)

    def make_fakes(self, batch: Batch | None, n: int) -> Fakes:
        y = self.labels(batch)
        return Fakes(self._g(torch.randn(n, self.latent_size, device=self._device), y), y)

    def d_scores(self, batch: Batch, fakes: Fakes) -> list[tuple[torch.Tensor, torch.Tensor]]:
        return [(self._d(batch.x, fakes.labels), self._d(fakes.images.detach(), fakes.labels))]

    def g_scores(self, fakes: Fakes) -> list[torch.Tensor]:
        return [self._d(fakes.images, fakes.labels)]

    def d_inputs(self, batch: Batch, fakes: Fakes):
        return (lambda x: self._d(x, fakes.labels)), batch.x, fakes.images.detach()

    def prior(self, n: int, generator: torch.Generator) -> torch.Tensor:
        return torch.randn(n, self.latent_size, generator=generator, device=generator.device).to(self.device)

    @torch.no_grad()
    def decode(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        if self.k and y is None:
            raise ValueError(f"{type(self).__name__}.decode needs labels y")
        return self._g(z.to(self.device), None if y is None else y.to(self.device)).float()

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator) -> torch.Tensor:
        if self.k:  # labels uniform over classes, drawn from the same generator as z
            y = torch.randint(0, self.k, (n,), generator=generator, device=generator.device)
            return self.sample_given(y, generator)
        return self.decode(self.prior(n, generator))

    @torch.no_grad()
    def sample_given(self, labels: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        if not self.k:
            return super().sample_given(labels, generator)
        return self.decode(self.prior(len(labels), generator), labels)


@MODELS.register("dcgan")
class DCGAN(_ConvGAN):
    """One D update then one G update on the fakes the D update made (the reference DCGAN loop)."""

    Config = DCGANConfig
    paper = "Radford et al. 2016, Unsupervised Representation Learning with DCGANs"


@MODELS.register("cond_dcgan")
class CondDCGAN(DCGAN):
    paper = "Mirza & Osindero 2014, Conditional GANs; on the DCGAN nets of Radford et al. 2016"
    conditional = True
    needs_labels = True


@MODELS.register("wgan_gp")
class WGANGP(_ConvGAN):
    Config = WGANGPConfig
    paper = "Gulrajani et al. 2017, Improved Training of Wasserstein GANs"
    # The paper drops batch norm from the critic: the penalty is per sample, and batch norm couples
    # the samples of a batch.
    critic_norm = "none"


@MODELS.register("cond_wgan_gp")
class CondWGANGP(WGANGP):
    paper = "Gulrajani et al. 2017, WGAN-GP, conditioned as in Mirza & Osindero 2014"
    conditional = True
    needs_labels = True


@MODELS.register("dcgan_encoder")
class DCGANEncoder(DCGAN):
    """DCGAN, then an encoder E: image -> z trained with G frozen, over the last `encoder_fraction` of
    the budget (as the encoder E_z of Perarnau et al. 2016): ||E(G(z)) - z||^2 on generated pairs, plus
    `recon_weight` * ||G(E(x)) - x||^2 on real images so that real faces land where G can draw them."""

    Config = DCGANEncoderConfig
    paper = "Radford et al. 2016 DCGAN + encoder inverting G after training (Perarnau et al. 2016, IcGAN)"
    optimizer_nets = {"d": ("D",), "g": ("G",), "e": ("E",)}

    def __init__(self, cfg: DCGANEncoderConfig, info: DatasetInfo, latent_size: int | None) -> None:
        super().__init__(cfg, info, latent_size)
        assert latent_size is not None
        self.nets["E"] = DCGANDiscriminator(
            info.channels, info.resolution, cfg.d_width, norm="batch", out_features=latent_size
        )

    @property
    def gan_steps(self) -> int:
        """Steps of GAN training; the rest of `total_steps` (at least one, when any) train E."""
        return self.total_steps - math.ceil(self.total_steps * self.cfg.encoder_fraction)

    def phases(self, step: int) -> tuple[str, ...]:
        return ("e",) if step >= self.gan_steps else tuple(super().phases(step))

    @classmethod
    def capture_blocker(cls, cfg: DCGANEncoderConfig) -> str | None:
        return super().capture_blocker(cfg) or "its phases change during training (E trains after the GAN)"

    def extra_phase(self, batch: Batch | None, phase: str) -> dict[str, torch.Tensor]:
        if phase != "e":
            return super().extra_phase(batch, phase)
        assert batch is not None
        G, E = self.nets["G"], self.nets["E"]
        G.eval()  # G is frozen from here on: its BatchNorm must use (and keep) its running statistics
        z = torch.randn(len(batch), self.latent_size, device=batch.x.device)
        with torch.no_grad():
            fake = G(z)
        latent = F.mse_loss(E(fake).float(), z)
        # The reconstruction back-propagates through G to reach E; G's optimizer never steps again.
        recon = F.mse_loss(G(E(batch.x)).float(), batch.x.float())
        return {"loss": latent + self.cfg.recon_weight * recon, "latent_mse": latent, "recon_mse": recon}

    @torch.no_grad()
    def encode(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        return self.nets["E"](x.to(self.device)).float()
