"""Fréchet distance and KID on feature tensors, in float64 with torch on the features' own device.

torch-fidelity computes both in NumPy on the CPU (`metric_fid.fid_statistics_to_metric`,
`metric_kid.kid_features_to_metric`); with features already on a GPU that is a device-to-host copy
and a single-threaded eigen-solve per score. These functions give the same numbers (within 1e-6
relative, tests/metrics/test_torch_stats.py) wherever the features live, CPU or CUDA.

- FD (Heusel et al. 2017, "GANs trained by a two time-scale update rule..."):
  ||mu1 - mu2||^2 + tr(S1) + tr(S2) - 2 tr((S1 S2)^(1/2)).
- KID (Bińkowski et al. 2018, "Demystifying MMD GANs"): unbiased MMD^2 with the cubic polynomial
  kernel k(x, y) = (x.y / d + 1)^3, averaged over random subsets.
"""

from __future__ import annotations

import numpy as np
import torch

from bench.errors import BenchError

ArrayLike = torch.Tensor | np.ndarray


def _as_f64(x: ArrayLike, device: torch.device | None = None) -> torch.Tensor:
    t = torch.as_tensor(x)
    return t.to(device=device if device is not None else t.device, dtype=torch.float64)


def feature_statistics(features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(mu, sigma) of (N, D) features in float64 on their device: the mean and the unbiased covariance.

    sigma = (X - mu)^T (X - mu) / (N - 1), as `numpy.cov(X, rowvar=False)` (torch-fidelity's
    `fid_features_to_statistics`).
    """
    if features.dim() != 2 or features.shape[0] < 2:
        raise BenchError(f"feature statistics need an (N >= 2, D) tensor, got shape {tuple(features.shape)}")
    x = features.to(torch.float64)
    mu = x.mean(dim=0)
    xc = x - mu
    sigma = xc.T @ xc / (x.shape[0] - 1)
    return mu, sigma


def trace_sqrt_product(sigma1: torch.Tensor, sigma2: torch.Tensor) -> torch.Tensor:
    """tr((S1 S2)^(1/2)) for symmetric positive semi-definite S1, S2 (a 0-dim float64 tensor).

    S1 S2 is not symmetric, but it is similar to M = S1^(1/2) S2 S1^(1/2), which is symmetric PSD:
    M = S1^(1/2) (S1 S2) S1^(-1/2) when S1 is invertible, and by continuity the eigenvalues agree when
    it is not. So tr((S1 S2)^(1/2)) = sum_i sqrt(lambda_i(M)), with two symmetric eigen-solves (eigh;
    backward stable, real eigenvalues) instead of a general eigen-solve of S1 S2 (complex, unstable
    for near-zero eigenvalues) or an iterative sqrtm. Round-off below zero (covariances estimated
    from fewer samples than dimensions are singular) is clamped to 0, which is what torch-fidelity's
    `sqrt(complex eigenvalue).real` does too.
    """
    w, v = torch.linalg.eigh(sigma1)
    root1 = (v * w.clamp(min=0).sqrt()) @ v.T
    m = root1 @ sigma2 @ root1
    m = (m + m.T) / 2  # symmetric up to round-off; make it exact for eigvalsh
    return torch.linalg.eigvalsh(m).clamp(min=0).sqrt().sum()


def frechet_distance(mu1: ArrayLike, sigma1: ArrayLike, mu2: ArrayLike, sigma2: ArrayLike) -> float:
    """FD = ||mu1 - mu2||^2 + tr(S1) + tr(S2) - 2 tr((S1 S2)^(1/2)), in float64 on mu1's device.

    Accepts tensors or NumPy arrays (reference statistics cached by torch-fidelity are NumPy); see
    `trace_sqrt_product` for the matrix square root. Equals torch-fidelity's
    `fid_statistics_to_metric` within 1e-6 relative.
    """
    m1 = _as_f64(mu1)
    device = m1.device
    s1, m2, s2 = (_as_f64(a, device) for a in (sigma1, mu2, sigma2))
    d = m1.shape[0]
    if m1.dim() != 1 or m2.shape != (d,) or s1.shape != (d, d) or s2.shape != (d, d):
        raise BenchError(
            f"FD needs means of shape (D,) and covariances (D, D) with one D; got {tuple(m1.shape)}, "
            f"{tuple(s1.shape)}, {tuple(m2.shape)}, {tuple(s2.shape)}"
        )
    diff = m1 - m2
    fd = diff @ diff + torch.trace(s1) + torch.trace(s2) - 2 * trace_sqrt_product(s1, s2)
    return float(fd)


def kid_subset_indices(
    n_fake: int, n_real: int, subsets: int, subset_size: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """(subsets, subset_size) index arrays into the fake and real features, drawn as torch-fidelity does.

    torch-fidelity 0.4 (`kid_features_to_metric`) draws, for each subset in turn, the fake indices and
    then the real ones with `numpy.random.RandomState(seed).choice(n, subset_size, replace=False)`;
    drawing them the same way, in the same order, makes the subsets (and so the KID) identical.
    """
    rng = np.random.RandomState(seed)
    fake_idx = np.empty((subsets, subset_size), dtype=np.int64)
    real_idx = np.empty((subsets, subset_size), dtype=np.int64)
    for i in range(subsets):
        fake_idx[i] = rng.choice(n_fake, subset_size, replace=False)
        real_idx[i] = rng.choice(n_real, subset_size, replace=False)
    return fake_idx, real_idx


def mmd2_unbiased_poly(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Unbiased MMD^2 of two (m, d) samples with k(a, b) = (a.b / d + 1)^3 (a 0-dim tensor).

    (1/(m(m-1))) sum_{i!=j} k(x_i, x_j) + (1/(m(m-1))) sum_{i!=j} k(y_i, y_j) - (2/m^2) sum_{i,j} k(x_i, y_j)
    (Bińkowski et al. 2018, eq. 4 with equal sample sizes; torch-fidelity's `mmd2(..., "unbiased")`).
    """
    m, d = x.shape
    k_xx = (x @ x.T / d + 1) ** 3
    k_yy = (y @ y.T / d + 1) ** 3
    k_xy = (x @ y.T / d + 1) ** 3
    off_xx = k_xx.sum() - k_xx.diagonal().sum()
    off_yy = k_yy.sum() - k_yy.diagonal().sum()
    return (off_xx + off_yy) / (m * (m - 1)) - 2 * k_xy.sum() / (m * m)


def kid(
    fake_feats: torch.Tensor, real_feats: torch.Tensor, subsets: int, subset_size: int, seed: int
) -> tuple[float, float]:
    """KID (mean, std over subsets) of fake vs real features, in float64 on the fake features' device.

    Each subset pairs `subset_size` fake and `subset_size` real features drawn without replacement
    (`kid_subset_indices`, torch-fidelity's RNG and order) and scores `mmd2_unbiased_poly`; std is the
    population std (ddof = 0, `numpy.std`), as torch-fidelity reports it. The values can be slightly
    negative when the distributions are close. One host sync, at the end.
    """
    if fake_feats.dim() != 2 or real_feats.dim() != 2 or fake_feats.shape[1] != real_feats.shape[1]:
        raise BenchError(
            f"KID needs (N, D) features with one D, got {tuple(fake_feats.shape)} and "
            f"{tuple(real_feats.shape)}"
        )
    if subset_size < 2 or subsets < 1:
        raise BenchError(
            f"KID needs kid_subsets >= 1 and kid_subset_size >= 2, got {subsets} and {subset_size}"
        )
    n_fake, n_real = len(fake_feats), len(real_feats)
    if min(n_fake, n_real) < subset_size:
        raise BenchError(
            f"KID needs at least kid_subset_size={subset_size} features on each side, got {n_fake} "
            f"generated and {n_real} real; lower kid_subset_size or raise N"
        )
    device = fake_feats.device
    x = fake_feats.to(torch.float64)
    y = real_feats.to(device=device, dtype=torch.float64)
    fake_idx, real_idx = kid_subset_indices(n_fake, n_real, subsets, subset_size, seed)
    fi = torch.from_numpy(fake_idx).to(device)
    ri = torch.from_numpy(real_idx).to(device)
    mmds = torch.stack([mmd2_unbiased_poly(x[fi[i]], y[ri[i]]) for i in range(subsets)])
    mean, std = mmds.mean(), mmds.std(correction=0)
    return float(mean), float(std)
