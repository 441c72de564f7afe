"""FD extrapolated to infinitely many generated samples (Chong & Forsyth 2020, "Effectively unbiased FID
and Inception Score and where to find them").

FD estimated from N generated samples is biased upward, and the bias is close to linear in 1/N. So
FD is computed on random subsets of the generated features at several sizes N (drawn without
replacement, fixed seed; the real side stays the full reference statistics, as in the authors' code),
FD(N) = FD_inf + k / N is fitted by least squares on 1/N, and the intercept FD_inf is the score. The
paper uses 15 sizes from 5k to 50k; `fd_infinity_sizes` spaces sizes the same way, ending at the N
available.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from scipy.stats import linregress

from bench.errors import BenchError
from bench.metrics.torch_stats import ArrayLike, feature_statistics, frechet_distance


def fd_infinity_sizes(n_available: int, points: int = 15, smallest_share: float = 0.1) -> list[int]:
    """`points` evenly spaced subset sizes from smallest_share x n_available to n_available (the paper's
    5k..50k is 15 points with smallest_share 0.1), distinct and at least 2 each."""
    sizes = np.unique(np.linspace(smallest_share * n_available, n_available, points).astype(int))
    sizes = [int(s) for s in sizes if s >= 2]
    if len(sizes) < 2:
        raise BenchError(
            f"FD-infinity needs at least two distinct subset sizes; {n_available} samples give {sizes}"
        )
    return sizes


def fit_inverse_n(ns: Sequence[int], values: Sequence[float]) -> dict[str, float]:
    """Least-squares fit values = intercept + slope / N (`scipy.stats.linregress` on x = 1/N).

    Returns {"intercept", "slope", "r2"}; the intercept is the extrapolation to N = infinity.
    """
    if len(ns) != len(values) or len(set(ns)) < 2:
        raise BenchError(f"the 1/N fit needs at least two distinct sizes with one value each, got {list(ns)}")
    fit = linregress(1.0 / np.asarray(ns, dtype=np.float64), np.asarray(values, dtype=np.float64))
    return {"intercept": float(fit.intercept), "slope": float(fit.slope), "r2": float(fit.rvalue**2)}


def fd_infinity(
    fake_feats: torch.Tensor, real_stats: tuple[ArrayLike, ArrayLike], ns: Sequence[int], seed: int
) -> dict[str, float | dict[int, float]]:
    """FD_inf of generated features against real statistics (mu, sigma).

    For each N in ns, FD of a random N-subset of fake_feats (without replacement; the subsets come from
    `numpy.random.default_rng(seed)`, one permutation per N) against real_stats
    (`bench.metrics.torch_stats.frechet_distance`); then `fit_inverse_n`. Returns
      fd_inf   the intercept at 1/N = 0;
      slope    k in FD(N) = FD_inf + k / N;
      fd_at_n  {N: FD(N)};
      r2       the fit's coefficient of determination (near 1 when the 1/N model holds).
    """
    n_total = fake_feats.shape[0]
    sizes = sorted({int(n) for n in ns})
    if len(sizes) < 2 or sizes[0] < 2 or sizes[-1] > n_total:
        raise BenchError(
            f"FD-infinity needs at least two distinct subset sizes between 2 and the {n_total} generated "
            f"samples, got {list(ns)}"
        )
    mu_r, sigma_r = real_stats
    rng = np.random.default_rng(seed)
    fd_at_n: dict[int, float] = {}
    for n in sizes:
        idx = torch.from_numpy(rng.permutation(n_total)[:n]).to(fake_feats.device)
        mu, sigma = feature_statistics(fake_feats[idx])
        fd_at_n[n] = frechet_distance(mu, sigma, mu_r, sigma_r)
    fit = fit_inverse_n(sizes, [fd_at_n[n] for n in sizes])
    return {"fd_inf": fit["intercept"], "slope": fit["slope"], "fd_at_n": fd_at_n, "r2": fit["r2"]}
