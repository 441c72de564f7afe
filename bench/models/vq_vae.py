"""VQ-VAE (van den Oord et al. 2017): conv encoder to 128 channels, a codebook of K vectors of size 16,
beta 0.25, straight-through gradients, Bernoulli (BCE) reconstruction; samples come from a prior over
code grids fitted after training: a Gaussian mixture (PCA 256, 16 components, 5,000 encodings) or a
small VAE (latent 32), chosen by `prior`.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import nn

from bench.datasets.base import DatasetInfo, ImageSplit
from bench.datasets.batches import Batch, to_unit_range
from bench.errors import BenchError
from bench.models.base import MODELS, GenerativeModel, ModelConfig, image_shape, unwrap
from bench.models.vae import psnr_from_mse, split_batches
from bench.models.vq import GMMPrior, VAEPrior, VectorQuantizer, perplexity

DOWNSAMPLE = 4  # two stride-2 convs


def code_counts(idx: torch.Tensor, k: int) -> torch.Tensor:
    """How often each of the k codes is used in `idx`, (k,) int64. A scatter-add into a fixed-size
    tensor: torch.bincount reads max(idx) back to the host to size its output (a device sync) even
    with `minlength`."""
    flat = idx.flatten().long()
    return torch.zeros(k, dtype=torch.int64, device=idx.device).scatter_add_(0, flat, torch.ones_like(flat))


class VQVAEConfig(ModelConfig):
    lr: float = Field(2e-4, gt=0)
    codebook_size: int = Field(128, ge=2, description="K, the number of code vectors (the study: 64/128/256)")
    code_dim: int = Field(16, gt=0, description="size of each code vector")
    hidden: int = Field(128, gt=0, description="channels of the encoder's output (and decoder's input)")
    beta: float = Field(0.25, ge=0, description="commitment loss weight")
    prior: Literal["gmm", "vae"] = Field("gmm", description="prior over code grids used for sampling")
    prior_fit_n: int = Field(5000, gt=0, description="training images whose codes fit the prior")
    pca_dim: int = Field(256, gt=0, description="gmm: PCA dimensions before the mixture")
    gmm_components: int = Field(16, gt=0, description="gmm: mixture components")
    prior_latent: int = Field(32, gt=0, description="vae: latent size of the prior VAE")
    prior_steps: int = Field(2000, gt=0, description="vae: Adam steps fitting the prior VAE")


def _encoder(channels: int, hidden: int, code_dim: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(channels, hidden // 2, 4, 2, 1),
        nn.ReLU(True),
        nn.Conv2d(hidden // 2, hidden, 4, 2, 1),
        nn.ReLU(True),
        nn.Conv2d(hidden, hidden, 3, 1, 1),
        nn.ReLU(True),
        nn.Conv2d(hidden, code_dim, 1),  # to the codebook's space
    )


def _decoder(channels: int, hidden: int, code_dim: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(code_dim, hidden, 3, 1, 1),
        nn.ReLU(True),
        nn.ConvTranspose2d(hidden, hidden // 2, 4, 2, 1),
        nn.ReLU(True),
        nn.ConvTranspose2d(hidden // 2, channels, 4, 2, 1),  # logits; the sigmoid is in the loss
    )


@MODELS.register("vq_vae")
class VQVAE(GenerativeModel):
    Config = VQVAEConfig
    family = "vq-vae"
    optimizer_phases = ("main",)
    sampling_nets = ("quantizer", "decoder")  # EMA (`ema:`) averages these
    paper = "van den Oord et al. 2017, Neural Discrete Representation Learning"
    uses_latent = False
    latent_prior = "learned"  # prior/decode/encode work on flattened code grids, not a Gaussian

    def __init__(self, cfg: VQVAEConfig, info: DatasetInfo, latent_size: int | None) -> None:
        super().__init__(cfg, info, latent_size)
        self.shape = image_shape(info)
        side = info.resolution // DOWNSAMPLE
        self.grid = (cfg.code_dim, side, side)
        dims = cfg.code_dim * side * side
        prior: GMMPrior | VAEPrior = (
            GMMPrior(dims, cfg.pca_dim, cfg.gmm_components)
            if cfg.prior == "gmm"
            else VAEPrior(dims, cfg.prior_latent, [512, 256], cfg.prior_steps, 1e-3)
        )
        self.nets["encoder"] = _encoder(info.channels, cfg.hidden, cfg.code_dim)
        self.nets["quantizer"] = VectorQuantizer(cfg.codebook_size, cfg.code_dim, prior)
        self.nets["decoder"] = _decoder(info.channels, cfg.hidden, cfg.code_dim)

    @classmethod
    def check(cls, cfg: VQVAEConfig, info: DatasetInfo, latent_size: int | None, where: str) -> None:
        if info.resolution % DOWNSAMPLE:
            raise BenchError(
                f"{where}: resolution {info.resolution} is not a multiple of {DOWNSAMPLE}, which VQ-VAE needs"
            )

    @property
    def quantizer(self) -> VectorQuantizer:
        return unwrap(self.nets["quantizer"])

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        # The prior's parameters (prior: vae) take no gradient here; `finalize` fits them.
        params = [p for net in self.nets.values() for p in net.parameters() if p.requires_grad]
        return {"main": self.adam(params, lr=self.cfg.lr)}

    def training_step(self, batch: Batch, phase: str) -> dict[str, torch.Tensor]:
        z_q, codebook, commitment, idx = self.nets["quantizer"](self.nets["encoder"](batch.x))
        logits = self.nets["decoder"](z_q)
        recon = F.binary_cross_entropy_with_logits(logits.float(), (batch.x.float() + 1) / 2)
        counts = code_counts(idx, self.cfg.codebook_size)
        return {
            "loss": recon + codebook + self.cfg.beta * commitment,
            "recon": recon,
            "codebook": codebook,
            "commitment": commitment,
            "perplexity": perplexity(counts),
        }

    def _decode_codes(self, e: torch.Tensor) -> torch.Tensor:
        logits = self.nets["decoder"](e.to(self.device))
        return (torch.sigmoid(logits.float()) * 2 - 1).clamp(-1, 1)

    def prior(self, n: int, generator: torch.Generator) -> torch.Tensor:
        """Flattened code grids (n, code_dim * h * w) from the fitted prior (uniform codes before)."""
        return self.quantizer.sample_grids(n, self.grid, generator).to(self.device)

    @torch.no_grad()
    def decode(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """Flattened grids -> nearest code at every position -> images in [-1, 1]."""
        return self._decode_codes(self.quantizer.snap(z.to(self.device), self.grid))

    @torch.no_grad()
    def encode(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """Images -> their quantised code grids, flattened (the space the prior is fitted in)."""
        e, _ = self.quantizer.quantize(self.nets["encoder"](x.to(self.device)))
        return e.flatten(1).float()

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator) -> torch.Tensor:
        return self.decode(self.prior(n, generator)).view(n, *self.shape)

    @torch.no_grad()
    def finalize(self, train: ImageSplit, generator: torch.Generator) -> None:
        """Fit the chosen prior on the code grids of up to `prior_fit_n` training images."""
        n = min(self.cfg.prior_fit_n, len(train))
        pick = torch.randperm(len(train), generator=generator, device=generator.device)[:n].cpu()
        was_training = self.quantizer.training
        self.train(False)
        codes = torch.cat(
            [
                self.encode(to_unit_range(train.images[pick[i : i + 256]].to(self.device)))
                for i in range(0, n, 256)
            ]
        )
        self.quantizer.prior.fit(codes, generator)
        self.train(was_training)

    @torch.no_grad()
    def test_metrics(self, test: ImageSplit, batch_size: int, generator: torch.Generator) -> dict[str, float]:
        """VQ-VAE metrics on the test split:

        recon_mse       mean squared error per pixel on [0, 1] pixels of the reconstructions;
        psnr            10 log10(1 / recon_mse) in dB;
        codebook_usage  share of the K codes used at least once over the split's code grids;
        perplexity      exp(entropy) of the split's code histogram: the effective number of codes used.
        """
        device = self.device
        counts = torch.zeros(self.cfg.codebook_size, dtype=torch.long, device=device)
        sq = torch.zeros((), dtype=torch.float64, device=device)
        for x, _ in split_batches(test, batch_size, device):
            e, idx = self.quantizer.quantize(self.nets["encoder"](x))
            recon = self._decode_codes(e)
            sq += ((recon - x) / 2).pow(2).sum().double()
            counts += torch.bincount(idx.flatten(), minlength=self.cfg.codebook_size)
        mse = (sq / (len(test) * x[0].numel())).float()
        out = {
            "recon_mse": mse,
            "psnr": psnr_from_mse(mse),
            "codebook_usage": (counts > 0).float().mean(),
            "perplexity": perplexity(counts),
        }
        return {k: float(v) for k, v in out.items()}
