"""Convolutional VAE for 64x64 faces (the PyTorch-VAE vanilla VAE recipe), with a Gaussian decoder.

Encoder: four stride-2 3x3 convs 32-64-128-256 (BatchNorm, LeakyReLU 0.01), linear mu and logvar,
latent 128. Decoder: the mirror with transposed convs, a last 3x3 conv and tanh. Sizes follow the
dataset: 64 -> 4x4, 32 -> 2x2, 28 -> 2x2 (output padding restores the odd 7).

Likelihood (default `gaussian`; any of bench/models/likelihoods.py but bernoulli, which needs logits):
N(x; decoder(z), sigma2 I) on [-1, 1] pixels with sigma2 the data's variance, so the
reconstruction term is sum (x - x_hat)^2 / (2 sigma2). sigma2 is `model_args.sigma2` when given, else
the pixel variance of the first training batch, measured inside the first training step (no host
read) and kept as a buffer of the decoder, so checkpoints and resumed runs use the same value.
"""

from __future__ import annotations

import torch
from pydantic import Field

from bench.datasets.base import DatasetInfo
from bench.datasets.batches import Batch
from bench.errors import BenchError
from bench.models.base import MODELS, unwrap
from bench.models.conv_blocks import ConvDecoder, ConvEncoder
from bench.models.vae import VAE, VAEConfig


class ConvVAEConfig(VAEConfig):
    likelihood: str = Field("gaussian", description="decoder likelihood (bench/models/likelihoods.py)")
    widths: list[int] = Field(
        default_factory=lambda: [32, 64, 128, 256], min_length=1, description="conv channels, input side"
    )
    sigma2: float | None = Field(
        None,
        gt=0,
        description="gaussian: decoder variance on [-1, 1] pixels; None = the training data's variance",
    )


@MODELS.register("conv_vae")
class ConvVAE(VAE):
    Config = ConvVAEConfig
    paper = "Kingma & Welling 2014, Auto-Encoding Variational Bayes (conv VAE, Gaussian decoder)"
    default_latent_size = 128
    decoder_out = "mean"  # tanh: the mean image on [-1, 1]

    def __init__(self, cfg: ConvVAEConfig, info: DatasetInfo, latent_size: int | None) -> None:
        super().__init__(cfg, info, latent_size)
        assert latent_size is not None
        c, r = info.channels, info.resolution
        self.nets["encoder"] = ConvEncoder(c, r, cfg.widths, latent_size)
        decoder = ConvDecoder(c, r, cfg.widths, latent_size)
        decoder.register_buffer("sigma2", torch.tensor(cfg.sigma2 or 1.0))
        decoder.register_buffer("sigma2_set", torch.tensor(cfg.sigma2 is not None))
        self.nets["decoder"] = decoder

    @classmethod
    def check(cls, cfg: ConvVAEConfig, info: DatasetInfo, latent_size: int | None, where: str) -> None:
        super().check(cfg, info, latent_size, where)
        if info.resolution < 2 ** len(cfg.widths):
            raise BenchError(
                f"{where}: resolution {info.resolution} is too small for {len(cfg.widths)} stride-2 convs; "
                f"allowed: >= {2 ** len(cfg.widths)}"
            )

    @property
    def sigma2(self) -> torch.Tensor:
        return unwrap(self.nets["decoder"]).sigma2

    def gaussian_sigma2(self) -> torch.Tensor:
        return self.sigma2

    def training_step(self, batch: Batch, phase: str) -> dict[str, torch.Tensor]:
        dec = unwrap(self.nets["decoder"])
        with torch.no_grad():  # set once, from the first batch; torch.where keeps it free of host reads
            dec.sigma2.copy_(torch.where(dec.sigma2_set, dec.sigma2, batch.x.float().var()))
            dec.sigma2_set.fill_(True)
        return super().training_step(batch, phase)

    def posterior(self, x: torch.Tensor, y: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        mu, logvar = self.nets["encoder"](x)
        return mu.float(), logvar.float()

    def decoder_output(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        return self.nets["decoder"](z)
