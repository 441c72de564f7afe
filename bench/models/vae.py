"""What every VAE family shares: the (beta-)ELBO training step, Gaussian prior, latent hooks, test metrics.

A family says how it maps images to a diagonal Gaussian posterior (`posterior`) and latent codes to its
decoder's raw output (`decoder_output`, logits or a mean image: `decoder_out`). How that output scores
an image is the config's `likelihood` (bench/models/likelihoods.py), and the KL term's weight is
`kl_weight` (beta; Higgins et al. 2017), so `{mlp_vae: {kl_weight: 4}}` or `{mlp_vae: {likelihood:
discretized_logistic}}` are grid lines. Everything else lives here once, so MLP, fully connected,
conditional and convolutional VAEs differ only in their nets.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import ClassVar

import torch
import torch.nn.functional as F
from pydantic import Field, field_validator

from bench.datasets.base import DatasetInfo, ImageSplit
from bench.datasets.batches import Batch, to_unit_range
from bench.errors import BenchError
from bench.models.base import GenerativeModel, ModelConfig, image_shape
from bench.models.likelihoods import LIKELIHOODS, LogScale
from bench.models.losses import bits_per_dim, gaussian_kl, reparameterize

DEFAULT_SIGMA2_01 = 0.5  # gaussian on [0, 1] pixels: sum of squares + KL is this NLL minus a constant


class VAEConfig(ModelConfig):
    lr: float = Field(1e-3, gt=0)
    kl_weight: float = Field(1.0, ge=0, description="beta: weight of the KL term in training (1 = the ELBO)")
    likelihood: str = Field(
        "bernoulli",
        description="decoder likelihood: bernoulli | gaussian | discretized_gaussian | discretized_logistic",
    )
    sigma2: float | None = Field(
        None,
        gt=0,
        description="gaussian: the fixed variance, on [0, 1] pixels for logit decoders (None = 1/2), on "
        "[-1, 1] for conv_vae (None = the first training batch's pixel variance)",
    )

    @field_validator("likelihood")
    @classmethod
    def _known_likelihood(cls, v: str) -> str:
        if v not in LIKELIHOODS:
            raise ValueError(f"unknown likelihood {v!r}; allowed: {', '.join(LIKELIHOODS.names())}")
        return v


def split_batches(
    test: ImageSplit, batch_size: int, device: torch.device
) -> Iterator[tuple[torch.Tensor, torch.Tensor | None]]:
    """The test split as (x in [-1, 1], labels or None) batches on `device`, in order."""
    for i in range(0, len(test), batch_size):
        x = to_unit_range(test.images[i : i + batch_size].to(device))
        y = test.labels[i : i + batch_size].to(device) if test.labels is not None else None
        yield x, y


def psnr_from_mse(mse01: torch.Tensor) -> torch.Tensor:
    """Peak signal-to-noise ratio in dB of a mean squared error measured on [0, 1] pixels."""
    return 10 * torch.log10(1.0 / mse01.clamp_min(1e-12))


class VAE(GenerativeModel):
    """Base of the VAE families: ELBO = E_q[log p(x|z)] - KL(q(z|x) || N(0, I)), one sample of z."""

    Config: ClassVar[type[VAEConfig]] = VAEConfig
    family = "vae"
    optimizer_phases = ("main",)
    sampling_nets = ("decoder",)
    latent_prior: ClassVar[str] = "gaussian"  # the analyses interpolate by slerp in a Gaussian prior
    decoder_out: ClassVar[str] = "logits"  # "logits" (mean = sigmoid, [0, 1]) or "mean" (on [-1, 1])

    def __init__(self, cfg: VAEConfig, info: DatasetInfo, latent_size: int | None) -> None:
        super().__init__(cfg, info, latent_size)
        assert latent_size is not None
        self.shape = image_shape(info)
        self.likelihood = LIKELIHOODS.get(cfg.likelihood)(
            decoder_out=self.decoder_out,
            sigma2=self.gaussian_sigma2,
            log_scale=lambda: self.nets["likelihood"](info.resolution),
        )

    @classmethod
    def check(cls, cfg: VAEConfig, info: DatasetInfo, latent_size: int | None, where: str) -> None:
        if LIKELIHOODS.get(cfg.likelihood).needs_logits and cls.decoder_out != "logits":
            raise BenchError(
                f"{where}.likelihood: {cfg.likelihood} needs a decoder giving logits; this one gives its "
                f"mean image (allowed: {', '.join(n for n, c in LIKELIHOODS.items() if not c.needs_logits)})"
            )

    def _after_init(self) -> None:
        if self.likelihood.learned_scale:  # after the family's nets, so their order is unchanged
            self.nets["likelihood"] = LogScale(self.info.channels)
        super()._after_init()

    def gaussian_sigma2(self) -> float | torch.Tensor:
        """The gaussian likelihood's variance on the decoder's pixel scale."""
        return DEFAULT_SIGMA2_01 if self.cfg.sigma2 is None else self.cfg.sigma2

    # --- what a family defines -------------------------------------------------------------------
    def posterior(self, x: torch.Tensor, y: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Images in [-1, 1] -> (mu, logvar), each (B, latent_size), float32."""
        raise NotImplementedError

    def decoder_output(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """Latent codes -> the decoder's raw output (logits for Bernoulli, the mean for Gaussian)."""
        raise NotImplementedError

    def recon_loss(self, out: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """The reconstruction term minimised in training, per image (B,): the likelihood's."""
        return self.likelihood.loss(out, x)

    def recon_nll(self, out: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """-log p(x|z) in nats per image (B,): the training term plus any constant it drops."""
        return self.likelihood.nll(out, x)

    def mean_image(self, out: torch.Tensor) -> torch.Tensor:
        """The decoder's mean image, (B, C, H, W) in [-1, 1]."""
        return self.likelihood.mean(out).view(out.shape[0], *self.shape)

    # --- shared machinery ------------------------------------------------------------------------
    @property
    def dims(self) -> int:
        return math.prod(self.shape)

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        params = [p for net in self.nets.values() for p in net.parameters() if p.requires_grad]
        return {"main": self.adam(params, lr=self.cfg.lr)}

    def training_step(self, batch: Batch, phase: str) -> dict[str, torch.Tensor]:
        mu, logvar = self.posterior(batch.x, batch.y)
        out = self.decoder_output(reparameterize(mu, logvar), batch.y)
        recon = self.recon_loss(out, batch.x).mean()
        kl = gaussian_kl(mu, logvar).mean()
        loss = recon + kl if self.cfg.kl_weight == 1.0 else recon + self.cfg.kl_weight * kl
        return {"loss": loss, "recon": recon, "kl": kl}

    def prior(self, n: int, generator: torch.Generator) -> torch.Tensor:
        z = torch.randn(n, self.latent_size, generator=generator, device=generator.device)
        return z.to(self.device)

    @torch.no_grad()
    def decode(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        return self.mean_image(self.decoder_output(z.to(self.device), y)).float().clamp(-1, 1)

    @torch.no_grad()
    def encode(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """The posterior mean."""
        return self.posterior(x.to(self.device), y)[0]

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator) -> torch.Tensor:
        labels = None
        if self.conditional:  # unconditional samples of a conditional model: classes drawn uniformly
            labels = torch.randint(
                self.info.num_classes, (n,), generator=generator, device=generator.device
            ).to(self.device)
        return self.decode(self.prior(n, generator), labels)

    @torch.no_grad()
    def test_metrics(self, test: ImageSplit, batch_size: int, generator: torch.Generator) -> dict[str, float]:
        """The VAE metrics on the test split (all averaged over its images):

        recon_mse  mean squared error per pixel, on [0, 1] pixels, of the reconstruction decoded from
                   the posterior mean;
        recon_bce  binary cross-entropy per pixel (nats) of that reconstruction read as Bernoulli means;
        psnr       10 log10(1 / recon_mse) in dB (from the split's mean squared error);
        elbo       the evidence lower bound in nats per image (KL weight 1 whatever `kl_weight`), one
                   posterior sample of z per image drawn from `generator`, under the config's likelihood;
        bpd        only for likelihoods over the 256 levels (the discretised ones): -elbo in bits per
                   dimension, an upper bound on the data's bpd. Bernoulli (gray levels are not binary)
                   and Gaussian (a density) give none: their ELBO is in nats under its own name.
        """
        device = self.device
        sums = torch.zeros(3, dtype=torch.float64, device=device)  # squared error, BCE, ELBO
        for x, y in split_batches(test, batch_size, device):
            mu, logvar = self.posterior(x, y)
            recon = self.mean_image(self.decoder_output(mu, y)).float().clamp(-1, 1)
            x01, r01 = (x + 1) / 2, (recon + 1) / 2
            eps = torch.randn(mu.shape, generator=generator, device=generator.device).to(device)
            z = mu + eps * (0.5 * logvar).exp()
            elbo = -self.recon_nll(self.decoder_output(z, y), x) - gaussian_kl(mu, logvar)
            bce = F.binary_cross_entropy(r01.clamp(1e-6, 1 - 1e-6), x01, reduction="sum")
            sums += torch.stack([(r01 - x01).pow(2).sum(), bce, elbo.sum()]).double()
        n = len(test)
        sq, bce, elbo = (sums / torch.tensor([n * self.dims, n * self.dims, n], device=device)).float()
        out = {"recon_mse": sq, "recon_bce": bce, "psnr": psnr_from_mse(sq), "elbo": elbo}
        if self.likelihood.discrete:
            out["bpd"] = bits_per_dim(-elbo, self.dims)
        return {k: float(v) for k, v in out.items()}
