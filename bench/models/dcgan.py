"""DCGAN (Radford et al. 2016) and WGAN-GP (Gulrajani et al. 2017) on the same convolutional nets, their
class-conditional versions (the label as one-hot extra channels of G's input and D's image), and DCGAN
with an encoder trained after the GAN to invert its generator.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from pydantic import Field

from bench.config import StrictModel
from bench.datasets.base import DatasetInfo
from bench.datasets.batches import Batch
from bench.errors import BenchError
from bench.models.adversarial import GRAD_NORM_KEY, first_layer_grad_norm, one_hot, with_label_channels
from bench.models.base import MODELS, GenerativeModel
from bench.models.losses import gan_d_loss_bce, gan_g_loss_bce, gradient_penalty
from bench.models.nets import DCGANDiscriminator, DCGANGenerator, dcgan_plan


class DCGANConfig(StrictModel):
    lr: float = Field(2e-4, gt=0)
    betas: list[float] = Field(default_factory=lambda: [0.5, 0.999], min_length=2, max_length=2)
    g_width: int = Field(64, gt=0, description="generator channels at full resolution (ngf)")
    d_width: int = Field(64, gt=0, description="discriminator channels after its first conv (ndf)")


class WGANGPConfig(DCGANConfig):
    lr: float = Field(1e-4, gt=0)
    betas: list[float] = Field(default_factory=lambda: [0.0, 0.9], min_length=2, max_length=2)
    gp_weight: float = Field(10.0, ge=0)
    critic_steps: int = Field(5, gt=0)


class DCGANEncoderConfig(DCGANConfig):
    encoder_fraction: float = Field(
        0.2, gt=0, lt=1, description="last share of the step budget that trains the encoder alone"
    )
    recon_weight: float = Field(
        1.0, ge=0, description="weight of ||G(E(x)) - x||^2 on real images next to ||E(G(z)) - z||^2"
    )


class _ConvGAN(GenerativeModel):
    """The nets and sampling of the convolutional GANs; `conditional` subclasses feed labels to both."""

    family = "gan"
    optimizer_phases = ("d", "g")
    default_latent_size = 100
    critic_norm = "batch"

    def __init__(self, cfg: DCGANConfig, info: DatasetInfo, latent_size: int | None) -> None:
        super().__init__(cfg, info, latent_size)
        assert latent_size is not None
        # A conditional G sees [z, one-hot y] as its 1x1 input; D sees the image with K label planes.
        self.k = info.num_classes if self.conditional else 0
        self.nets["G"] = DCGANGenerator(latent_size + self.k, info.channels, info.resolution, cfg.g_width)
        self.nets["D"] = DCGANDiscriminator(
            info.channels + self.k, info.resolution, cfg.d_width, norm=self.critic_norm
        )

    @classmethod
    def check(cls, cfg: DCGANConfig, info: DatasetInfo, latent_size: int | None, where: str) -> None:
        try:
            dcgan_plan(info.resolution)
        except Exception as err:
            raise type(err)(f"{where}: {err}") from None

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        betas = tuple(self.cfg.betas)
        return {
            "d": torch.optim.Adam(self.nets["D"].parameters(), lr=self.cfg.lr, betas=betas),
            "g": torch.optim.Adam(self.nets["G"].parameters(), lr=self.cfg.lr, betas=betas),
        }

    def _labels(self, batch: Batch) -> torch.Tensor | None:
        if not self.k:
            return None
        if batch.y is None:
            raise BenchError(f"{type(self).__name__} is class-conditional and the batch has no labels")
        return batch.y

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

    def _generate(self, n: int, device: torch.device, y: torch.Tensor | None) -> torch.Tensor:
        return self._g(torch.randn(n, self.latent_size, device=device), y)

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

    def __init__(self, cfg: DCGANConfig, info: DatasetInfo, latent_size: int | None) -> None:
        super().__init__(cfg, info, latent_size)
        self._fake: tuple[torch.Tensor, torch.Tensor | None] | None = None

    def phases(self, step: int) -> tuple[str, ...]:
        return ("d", "g")

    def training_step(self, batch: Batch, phase: str) -> dict[str, torch.Tensor]:
        if phase == "d":
            y = self._labels(batch)
            # Fakes made for the D step are reused by the G step (the reference DCGAN loop); a
            # conditional model's fakes carry the real batch's labels.
            fake = self._generate(len(batch), batch.x.device, y)
            self._fake = (fake, y)
            real_logits, fake_logits = self._d(batch.x, y), self._d(fake.detach(), y)
            return {
                "loss": gan_d_loss_bce(real_logits, fake_logits),
                "d_real": torch.sigmoid(real_logits.detach().float()).mean(),
                "d_fake": torch.sigmoid(fake_logits.detach().float()).mean(),
            }
        grad_norm = first_layer_grad_norm(self.nets["D"])
        if self._fake is not None:
            fake, y = self._fake
        else:
            y = self._labels(batch)
            fake = self._generate(len(batch), batch.x.device, y)
        self._fake = None
        return {"loss": gan_g_loss_bce(self._d(fake, y)), GRAD_NORM_KEY: grad_norm}


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

    def phases(self, step: int) -> tuple[str, ...]:
        return ("d",) * self.cfg.critic_steps + ("g",)

    def training_step(self, batch: Batch, phase: str) -> dict[str, torch.Tensor]:
        y = self._labels(batch)
        if phase == "d":
            with torch.no_grad():
                fake = self._generate(len(batch), batch.x.device, y)
            real_score, fake_score = self._d(batch.x, y).float().mean(), self._d(fake, y).float().mean()
            gp = gradient_penalty(lambda x: self._d(x, y), batch.x, fake)
            return {
                "loss": fake_score - real_score + self.cfg.gp_weight * gp,
                "wasserstein": (real_score - fake_score).detach(),
                "gp": gp.detach(),
            }
        grad_norm = first_layer_grad_norm(self.nets["D"])
        fake = self._generate(len(batch), batch.x.device, y)
        return {"loss": -self._d(fake, y).float().mean(), GRAD_NORM_KEY: grad_norm}


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
    optimizer_phases = ("d", "g", "e")

    def __init__(self, cfg: DCGANEncoderConfig, info: DatasetInfo, latent_size: int | None) -> None:
        super().__init__(cfg, info, latent_size)
        assert latent_size is not None
        self.nets["E"] = DCGANDiscriminator(
            info.channels, info.resolution, cfg.d_width, norm="batch", out_features=latent_size
        )

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        betas = tuple(self.cfg.betas)
        return {
            **super().optimizers(),
            "e": torch.optim.Adam(self.nets["E"].parameters(), lr=self.cfg.lr, betas=betas),
        }

    @property
    def gan_steps(self) -> int:
        """Steps of GAN training; the rest of `total_steps` (at least one, when any) train E."""
        return self.total_steps - math.ceil(self.total_steps * self.cfg.encoder_fraction)

    def phases(self, step: int) -> tuple[str, ...]:
        return ("e",) if step >= self.gan_steps else ("d", "g")

    def training_step(self, batch: Batch, phase: str) -> dict[str, torch.Tensor]:
        if phase != "e":
            return super().training_step(batch, phase)
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
