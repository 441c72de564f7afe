"""DDPM (Ho et al. 2020) with the cosine variance schedule (Nichol & Dhariwal 2021): a small U-Net
predicts the noise added to an image at a random step, trained by MSE. Samples come from the ancestral
sampler (the DDPM reverse chain, optionally over an evenly spaced subset of steps) or from DDIM
(Song et al. 2021, deterministic, eta = 0), which needs far fewer steps for evaluation.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import nn

from bench.datasets.base import DatasetInfo, ImageSplit
from bench.datasets.batches import Batch
from bench.errors import BenchError
from bench.models.base import MODELS, GenerativeModel, ModelConfig, image_shape
from bench.models.unet import UNet
from bench.models.vae import split_batches


def cosine_alpha_bar(timesteps: int, s: float = 0.008) -> torch.Tensor:
    """alpha_bar for t = 1..T (index t - 1), float64: f(t) / f(0) with f(t) = cos^2((t/T + s)/(1 + s) pi/2),
    through betas clipped at 0.999 as in Nichol & Dhariwal (which only bites at the last step)."""
    steps = torch.arange(timesteps + 1, dtype=torch.float64) / timesteps
    f = torch.cos((steps + s) / (1 + s) * math.pi / 2).pow(2)
    betas = (1 - f[1:] / f[:-1]).clamp(max=0.999)
    return torch.cumprod(1 - betas, 0)


def noise_prediction_loss(
    net: nn.Module, x0: torch.Tensor, t: torch.Tensor, noise: torch.Tensor, alpha_bar: torch.Tensor
) -> torch.Tensor:
    """|| eps - net(sqrt(ab_t) x0 + sqrt(1 - ab_t) eps, t) ||^2, mean over every element."""
    ab = alpha_bar[t].float().view(-1, *([1] * (x0.ndim - 1)))
    x_t = ab.sqrt() * x0 + (1 - ab).sqrt() * noise
    return F.mse_loss(net(x_t, t).float(), noise.float())


def spaced_timesteps(timesteps: int, steps: int) -> list[int]:
    """`steps` evenly spaced step indices from 0 to T - 1, ascending (the respacing of improved DDPM)."""
    return sorted({round(i * (timesteps - 1) / max(steps - 1, 1)) for i in range(steps)})


def _predict_x0(net: nn.Module, x: torch.Tensor, t: int, ab_t: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(x0 clipped to [-1, 1], the noise consistent with it) from the net's noise prediction at x_t."""
    eps = net(x, torch.full((x.shape[0],), t, device=x.device, dtype=torch.long)).float()
    x0 = ((x - math.sqrt(1 - ab_t) * eps) / math.sqrt(ab_t)).clamp(-1, 1)
    return x0, (x - math.sqrt(ab_t) * x0) / math.sqrt(1 - ab_t)


@torch.no_grad()
def ancestral_sample(
    net: nn.Module, x: torch.Tensor, alpha_bar: torch.Tensor, steps: int, generator: torch.Generator
) -> torch.Tensor:
    """DDPM's reverse chain from x_T = x over `steps` spaced steps: x_prev ~ q(x_prev | x_t, x0_hat)."""
    seq = spaced_timesteps(len(alpha_bar), steps)
    ab = alpha_bar.tolist()
    for i in reversed(range(len(seq))):
        ab_t = ab[seq[i]]
        ab_prev = ab[seq[i - 1]] if i > 0 else 1.0
        beta = 1 - ab_t / ab_prev
        x0, _ = _predict_x0(net, x, seq[i], ab_t)
        mean = (math.sqrt(ab_prev) * beta / (1 - ab_t)) * x0 + (
            math.sqrt(1 - beta) * (1 - ab_prev) / (1 - ab_t)
        ) * x
        if i == 0:
            return mean
        var = beta * (1 - ab_prev) / (1 - ab_t)
        z = torch.randn(x.shape, generator=generator, device=generator.device).to(x.device)
        x = mean + math.sqrt(var) * z
    return x


@torch.no_grad()
def ddim_sample(net: nn.Module, x: torch.Tensor, alpha_bar: torch.Tensor, steps: int) -> torch.Tensor:
    """DDIM with eta = 0: x_prev = sqrt(ab_prev) x0_hat + sqrt(1 - ab_prev) eps_hat, deterministic."""
    seq = spaced_timesteps(len(alpha_bar), steps)
    ab = alpha_bar.tolist()
    for i in reversed(range(len(seq))):
        ab_prev = ab[seq[i - 1]] if i > 0 else 1.0
        x0, eps = _predict_x0(net, x, seq[i], ab[seq[i]])
        x = math.sqrt(ab_prev) * x0 + math.sqrt(1 - ab_prev) * eps
    return x


class DDPMConfig(ModelConfig):
    lr: float = Field(2e-4, gt=0)
    base_channels: int = Field(32, gt=0, description="U-Net channels at full resolution")
    channel_mults: list[int] = Field(
        default_factory=lambda: [1, 2, 2], min_length=1, description="channels per level, x base"
    )
    timesteps: int = Field(1000, ge=2, description="T, steps of the forward noising process")
    sampler: Literal["ddim", "ancestral"] = Field("ddim", description="sampler used for samples and eval")
    sample_steps: int = Field(50, gt=0, description="denoising steps when sampling (<= timesteps)")


@MODELS.register("ddpm")
class DDPM(GenerativeModel):
    Config = DDPMConfig
    family = "diffusion"
    optimizer_phases = ("main",)
    sampling_nets = ("unet",)  # EMA (`ema:`) averages these
    paper = (
        "Ho et al. 2020, Denoising Diffusion Probabilistic Models (cosine schedule: Nichol & Dhariwal 2021)"
    )
    uses_latent = False
    latent_prior = "gaussian"  # prior/decode: x_T ~ N(0, I) decoded by DDIM, deterministic

    def __init__(self, cfg: DDPMConfig, info: DatasetInfo, latent_size: int | None) -> None:
        super().__init__(cfg, info, latent_size)
        self.shape = image_shape(info)
        self.alpha_bar = cosine_alpha_bar(cfg.timesteps)
        self._alpha_bar_device: torch.Tensor | None = None
        self.nets["unet"] = UNet(info.channels, cfg.base_channels, cfg.channel_mults)

    def alpha_bar_on(self, device: torch.device) -> torch.Tensor:
        """The schedule on `device`, copied there once (not a host-to-device copy every step)."""
        if self._alpha_bar_device is None or self._alpha_bar_device.device != device:
            self._alpha_bar_device = self.alpha_bar.to(device)
        return self._alpha_bar_device

    @classmethod
    def check(cls, cfg: DDPMConfig, info: DatasetInfo, latent_size: int | None, where: str) -> None:
        div = 2 ** (len(cfg.channel_mults) - 1)
        if info.resolution % div:
            raise BenchError(
                f"{where}.channel_mults: {len(cfg.channel_mults)} levels need a resolution divisible by "
                f"{div}; {info.name} is {info.resolution}"
            )
        if cfg.sample_steps > cfg.timesteps:
            raise BenchError(
                f"{where}.sample_steps: {cfg.sample_steps} exceeds timesteps ({cfg.timesteps}); allowed: "
                f"1..{cfg.timesteps}"
            )

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"main": self.adam(self.nets["unet"].parameters(), lr=self.cfg.lr)}

    def training_step(self, batch: Batch, phase: str) -> dict[str, torch.Tensor]:
        x0 = batch.x
        t = torch.randint(self.cfg.timesteps, (x0.shape[0],), device=x0.device)
        noise = torch.randn_like(x0)
        ab = self.alpha_bar_on(x0.device)
        return {"loss": noise_prediction_loss(self.nets["unet"], x0, t, noise, ab)}

    def prior(self, n: int, generator: torch.Generator) -> torch.Tensor:
        """x_T ~ N(0, I), flattened to (n, C*H*W)."""
        z = torch.randn(n, math.prod(self.shape), generator=generator, device=generator.device)
        return z.to(self.device)

    @torch.no_grad()
    def decode(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """x_T (flattened) -> image by DDIM, so the same z always gives the same image."""
        x = z.to(self.device).view(-1, *self.shape)
        return ddim_sample(self.nets["unet"], x, self.alpha_bar, self.cfg.sample_steps).clamp(-1, 1)

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator) -> torch.Tensor:
        x = self.prior(n, generator).view(n, *self.shape)
        if self.cfg.sampler == "ddim":
            out = ddim_sample(self.nets["unet"], x, self.alpha_bar, self.cfg.sample_steps)
        else:
            out = ancestral_sample(self.nets["unet"], x, self.alpha_bar, self.cfg.sample_steps, generator)
        return out.float().clamp(-1, 1)

    @torch.no_grad()
    def test_metrics(self, test: ImageSplit, batch_size: int, generator: torch.Generator) -> dict[str, float]:
        """denoise_mse: the training loss (noise-prediction MSE) on the test split, with t and the noise
        drawn from `generator`, so it is comparable between checkpoints and tells over-fitting apart."""
        device, total = self.device, torch.zeros((), dtype=torch.float64, device=self.device)
        for x, _ in split_batches(test, batch_size, device):
            g_dev = generator.device
            t = torch.randint(self.cfg.timesteps, (x.shape[0],), generator=generator, device=g_dev).to(device)
            noise = torch.randn(x.shape, generator=generator, device=g_dev).to(device)
            loss = noise_prediction_loss(self.nets["unet"], x, t, noise, self.alpha_bar_on(device))
            total += loss.double() * x.shape[0]
        return {"denoise_mse": float(total / len(test))}
