"""Vector quantisation (van den Oord et al. 2017) and the priors over code grids that VQ-VAE samples from.

The quantiser owns the codebook and the prior, so the fitted prior travels in checkpoints with it.
Priors model a whole code grid flattened to one vector of D = code_dim * h * w values and are fitted
after training (`fit`), not by gradient steps through the loop: until then the quantiser samples
every position's code uniformly, the prior VQ-VAE itself assumes while training.
"""

from __future__ import annotations

import logging
import math

import numpy as np
import torch
from torch import nn

from bench.models.losses import gaussian_kl, vq_losses
from bench.models.nets import mlp


def _tensor(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(a)).float()


def nearest_codes(z: torch.Tensor, codebook: torch.Tensor) -> torch.Tensor:
    """Index of the nearest code (Euclidean) for each row of z (N, d): ||z||^2 - 2 z.e + ||e||^2."""
    # In float32 even under bf16 autocast: bf16 distances would tie or swap near codes.
    with torch.autocast(z.device.type, enabled=False):
        z, e = z.float(), codebook.float()
        dist = z.pow(2).sum(1, keepdim=True) - 2 * z @ e.t() + e.pow(2).sum(1)
    return dist.argmin(1)


class GMMPrior(nn.Module):
    """PCA to `pca_dim`, then a full-covariance Gaussian mixture, fitted by scikit-learn and stored as
    tensors (PCA mean and basis; mixture weights, means and Cholesky factors of the covariances)."""

    def __init__(self, dims: int, pca_dim: int, components: int) -> None:
        super().__init__()
        p = min(pca_dim, dims)
        self.register_buffer("fitted", torch.tensor(False))
        self.register_buffer("mean", torch.zeros(dims))
        self.register_buffer("basis", torch.zeros(p, dims))
        self.register_buffer("weights", torch.full((components,), 1.0 / components))
        self.register_buffer("means", torch.zeros(components, p))
        self.register_buffer("chol", torch.eye(p).repeat(components, 1, 1))

    def fit(self, codes: torch.Tensor, generator: torch.Generator) -> None:
        """Fit on codes (N, D). With fewer encodings than PCA dimensions or components (tiny test data)
        it fits what the data allows and leaves the rest inert: zero basis rows, zero-weight components."""
        from sklearn.decomposition import PCA
        from sklearn.mixture import GaussianMixture

        seed = int(torch.randint(2**31 - 1, (1,), generator=generator, device=generator.device))
        x = codes.detach().double().cpu().numpy()
        p = min(self.basis.shape[0], len(x))
        m = min(self.weights.shape[0], len(x))
        if (p, m) != (self.basis.shape[0], self.weights.shape[0]):
            logging.warning(
                "GMM prior: %d encodings allow %d PCA dimensions and %d components (asked %d and %d)",
                len(x),
                p,
                m,
                self.basis.shape[0],
                self.weights.shape[0],
            )
        pca = PCA(n_components=p, random_state=seed).fit(x)
        gmm = GaussianMixture(n_components=m, covariance_type="full", random_state=seed).fit(pca.transform(x))
        for buf in (self.basis, self.weights, self.means):
            buf.zero_()
        self.chol.copy_(torch.eye(self.chol.shape[1]).expand_as(self.chol))
        self.mean.copy_(_tensor(pca.mean_))
        self.basis[:p].copy_(_tensor(pca.components_))
        self.weights[:m].copy_(_tensor(gmm.weights_))
        self.means[:m, :p].copy_(_tensor(gmm.means_))
        self.chol[:m, :p, :p].copy_(_tensor(np.linalg.cholesky(gmm.covariances_)))
        self.fitted.fill_(True)

    def sample(self, n: int, generator: torch.Generator) -> torch.Tensor:
        dev = generator.device
        comp = torch.multinomial(self.weights.to(dev), n, replacement=True, generator=generator)
        eps = torch.randn(n, self.means.shape[1], 1, generator=generator, device=dev).to(self.mean.device)
        comp = comp.to(self.mean.device)
        y = self.means[comp] + (self.chol[comp] @ eps).squeeze(-1)
        return y @ self.basis + self.mean


class VAEPrior(nn.Module):
    """A small MLP VAE (latent 32 by default) on standardised code grids, Gaussian decoder; its
    parameters take no gradient in the main loop (they are not part of any optimizer) and are trained
    by `fit` with its own Adam."""

    def __init__(self, dims: int, latent: int, hidden: list[int], steps: int, lr: float) -> None:
        super().__init__()
        self.latent, self.steps, self.lr = latent, steps, lr
        self.encoder = mlp([dims, *hidden, 2 * latent], [0] * len(hidden) + [None])
        self.decoder = mlp([latent, *reversed(hidden), dims], [0] * len(hidden) + [None])
        self.requires_grad_(False)
        self.register_buffer("fitted", torch.tensor(False))
        self.register_buffer("mean", torch.zeros(dims))
        self.register_buffer("std", torch.ones(dims))

    def loss(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        mu, logvar = self.encoder(x).float().chunk(2, 1)
        eps = torch.randn(mu.shape, generator=generator, device=generator.device).to(mu.device)
        recon = self.decoder(mu + eps * (0.5 * logvar).exp())
        # Unit-variance Gaussian on standardised data: sum of squares / 2, plus KL.
        return ((recon - x).pow(2).sum(1) / 2 + gaussian_kl(mu, logvar)).mean()

    def fit(self, codes: torch.Tensor, generator: torch.Generator, batch_size: int = 128) -> None:
        codes = codes.detach().float().to(self.mean.device)
        self.mean.copy_(codes.mean(0))
        self.std.copy_(codes.std(0).clamp_min(1e-3))
        x = (codes - self.mean) / self.std
        params = [*self.encoder.parameters(), *self.decoder.parameters()]
        self.requires_grad_(True)
        opt = torch.optim.Adam(params, lr=self.lr)
        with torch.enable_grad():
            for _ in range(self.steps):
                idx = torch.randint(
                    len(x), (min(batch_size, len(x)),), generator=generator, device=generator.device
                )
                loss = self.loss(x[idx.to(x.device)], generator)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
        self.requires_grad_(False)
        self.fitted.fill_(True)

    def sample(self, n: int, generator: torch.Generator) -> torch.Tensor:
        z = torch.randn(n, self.latent, generator=generator, device=generator.device).to(self.mean.device)
        return self.decoder(z).float() * self.std + self.mean


class VectorQuantizer(nn.Module):
    """Codebook of K vectors of size d; forward snaps each position of z_e (B, d, h, w) to its nearest
    code and passes gradients straight through to the encoder."""

    def __init__(self, codes: int, code_dim: int, prior: GMMPrior | VAEPrior) -> None:
        super().__init__()
        self.codebook = nn.Embedding(codes, code_dim)
        # The reference (Sonnet) initialisation, uniform unit scaling: U(-sqrt(3/d), sqrt(3/d)). Codes
        # much smaller than the encoder's outputs (U(-1/K, 1/K)) leave the code losses rising for the
        # first hundreds of steps while the codebook catches up.
        bound = math.sqrt(3.0 / code_dim)
        nn.init.uniform_(self.codebook.weight, -bound, bound)
        self.prior = prior

    def quantize(self, z_e: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(code vectors shaped like z_e, indices (B, h, w))."""
        b, d, h, w = z_e.shape
        flat = z_e.permute(0, 2, 3, 1).reshape(-1, d)
        idx = nearest_codes(flat, self.codebook.weight)
        e = self.codebook(idx).view(b, h, w, d).permute(0, 3, 1, 2)
        return e, idx.view(b, h, w)

    def forward(self, z_e: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """(straight-through z_q, codebook loss, commitment loss, indices)."""
        e, idx = self.quantize(z_e)
        codebook, commitment = vq_losses(z_e, e)
        z_q = z_e + (e.to(z_e.dtype) - z_e).detach()  # forward: e; backward: identity to z_e
        return z_q, codebook, commitment, idx

    def sample_grids(self, n: int, shape: tuple[int, int, int], generator: torch.Generator) -> torch.Tensor:
        """n flattened code grids from the fitted prior, or uniform codes before the prior is fitted."""
        if bool(self.prior.fitted):
            return self.prior.sample(n, generator)
        d, h, w = shape
        idx = torch.randint(
            self.codebook.num_embeddings, (n, h, w), generator=generator, device=generator.device
        ).to(self.codebook.weight.device)
        return self.codebook(idx).permute(0, 3, 1, 2).reshape(n, -1)

    def snap(self, flat: torch.Tensor, shape: tuple[int, int, int]) -> torch.Tensor:
        """Flattened continuous grids (n, d*h*w) -> the nearest code at every position, (n, d, h, w)."""
        return self.quantize(flat.view(-1, *shape).to(self.codebook.weight.dtype))[0]


def perplexity(counts: torch.Tensor) -> torch.Tensor:
    """exp(entropy) of a code-usage histogram: K when every code is used equally, 1 when one is."""
    p = counts.float() / counts.sum().clamp_min(1)
    return torch.exp(-(p * p.clamp_min(1e-12).log()).sum())
