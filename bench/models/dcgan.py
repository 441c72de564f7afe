"""DCGAN (Radford et al. 2016) and WGAN-GP (Gulrajani et al. 2017) on the same convolutional nets."""

from __future__ import annotations

import torch
from pydantic import Field

from bench.config import StrictModel
from bench.datasets.base import DatasetInfo
from bench.datasets.batches import Batch
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


class _ConvGAN(GenerativeModel):
    family = "gan"
    default_latent_size = 100
    critic_norm = "batch"

    def __init__(self, cfg: DCGANConfig, info: DatasetInfo, latent_size: int | None) -> None:
        super().__init__(cfg, info, latent_size)
        assert latent_size is not None
        self.nets["G"] = DCGANGenerator(latent_size, info.channels, info.resolution, cfg.g_width)
        self.nets["D"] = DCGANDiscriminator(
            info.channels, info.resolution, cfg.d_width, norm=self.critic_norm
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

    def _generate(self, n: int, device: torch.device) -> torch.Tensor:
        return self.nets["G"](torch.randn(n, self.latent_size, device=device))

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator) -> torch.Tensor:
        z = torch.randn(n, self.latent_size, generator=generator, device=generator.device).to(self.device)
        return self.nets["G"](z).float()


@MODELS.register("dcgan")
class DCGAN(_ConvGAN):
    Config = DCGANConfig
    paper = "Radford et al. 2016, Unsupervised Representation Learning with DCGANs"

    def __init__(self, cfg: DCGANConfig, info: DatasetInfo, latent_size: int | None) -> None:
        super().__init__(cfg, info, latent_size)
        self._fake: torch.Tensor | None = None

    def phases(self, step: int) -> tuple[str, ...]:
        return ("d", "g")

    def training_step(self, batch: Batch, phase: str) -> dict[str, torch.Tensor]:
        D = self.nets["D"]
        if phase == "d":
            # Fakes made for the D step are reused by the G step (the reference DCGAN loop).
            self._fake = self._generate(len(batch), batch.x.device)
            real_logits, fake_logits = D(batch.x), D(self._fake.detach())
            return {
                "loss": gan_d_loss_bce(real_logits, fake_logits),
                "d_real": torch.sigmoid(real_logits.detach().float()).mean(),
                "d_fake": torch.sigmoid(fake_logits.detach().float()).mean(),
            }
        fake = self._fake if self._fake is not None else self._generate(len(batch), batch.x.device)
        self._fake = None
        return {"loss": gan_g_loss_bce(D(fake))}


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
        D = self.nets["D"]
        if phase == "d":
            with torch.no_grad():
                fake = self._generate(len(batch), batch.x.device)
            real_score, fake_score = D(batch.x).float().mean(), D(fake).float().mean()
            gp = gradient_penalty(D, batch.x, fake)
            return {
                "loss": fake_score - real_score + self.cfg.gp_weight * gp,
                "wasserstein": (real_score - fake_score).detach(),
                "gp": gp.detach(),
            }
        return {"loss": -D(self._generate(len(batch), batch.x.device)).float().mean()}
