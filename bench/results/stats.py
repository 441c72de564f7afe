"""Statistics over training seeds: per row (a model x dataset x latent size config) and between rows.

Every quantity here is defined once, with its formula, in README.md ("Statistics"); /work/shared
STATS.md names the sources (Efron & Tibshirani 1993 for the bootstrap; Agarwal et al. 2021 for IQM,
probability of improvement and rank uncertainty). No plotting here.

Conventions: one seed has an unknown spread (std and CI are None, never 0); every bootstrap draws
from a numpy Generator seeded with BOOTSTRAP_SEED, so the report is reproducible; `lower` says the
metric's direction (True: lower is better).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats as sps

BOOTSTRAP_SEED = 0
N_BOOTSTRAP = 4000
CI_LEVEL = 0.95
RANK_INTERVAL = (5.0, 95.0)  # percentiles of each row's rank over bootstrap draws: a 90% interval
IQM_MIN_N = 4


def distinct_resamples(n: int) -> int:
    """Distinct multisets a bootstrap of n values can draw: C(2n-1, n) (n=2: 3, n=3: 10, n=4: 35)."""
    return math.comb(2 * n - 1, n)


@dataclass(frozen=True)
class Summary:
    """One row's values of one metric over seeds."""

    n: int
    mean: float
    std: float | None  # ddof=1; None for n=1
    median: float
    min: float
    max: float
    ci: tuple[float, float] | None  # 95% percentile bootstrap CI of the mean; None for n=1
    iqm: float | None  # interquartile mean, from n >= 4
    distinct: int  # distinct bootstrap resamples (the CI's resolution: 3 for n=2, 10 for n=3)

    def ci_note(self) -> str:
        """Words to print next to the CI when it rests on few resamples ("" from n=4 on)."""
        if self.n == 1:
            return "n=1, spread unknown"
        return f"{self.distinct} distinct resamples" if self.n <= 3 else ""


def _rng(seed: int = BOOTSTRAP_SEED) -> np.random.Generator:
    return np.random.default_rng(seed)


def resample_means(values: Sequence[float], draws: int, rng: np.random.Generator) -> np.ndarray:
    """Means of `draws` resamples with replacement of `values` (shape: draws)."""
    x = np.asarray(values, dtype=np.float64)
    return x[rng.integers(0, len(x), size=(draws, len(x)))].mean(axis=1)


def bootstrap_ci(
    values: Sequence[float], draws: int = N_BOOTSTRAP, seed: int = BOOTSTRAP_SEED
) -> tuple[float, float] | None:
    """Percentile bootstrap CI of the mean at CI_LEVEL; None for fewer than 2 values."""
    if len(values) < 2:
        return None
    means = resample_means(values, draws, _rng(seed))
    tail = 100 * (1 - CI_LEVEL) / 2
    lo, hi = np.percentile(means, [tail, 100 - tail])
    return float(lo), float(hi)


def summarize(values: Sequence[float]) -> Summary:
    x = np.asarray(values, dtype=np.float64)
    if x.size == 0:
        raise ValueError("summarize: no values")
    n = int(x.size)
    return Summary(
        n=n,
        mean=float(x.mean()),
        # Equal values have no spread: exactly 0, not the 1e-17 that summing their squared deviations
        # from a rounded mean leaves.
        std=None if n == 1 else 0.0 if np.all(x == x[0]) else float(x.std(ddof=1)),
        median=float(np.median(x)),
        min=float(x.min()),
        max=float(x.max()),
        ci=bootstrap_ci(x),
        iqm=float(sps.trim_mean(x, 0.25)) if n >= IQM_MIN_N else None,
        distinct=distinct_resamples(n),
    )


def prob_improvement(a: Sequence[float], b: Sequence[float], lower: bool) -> float:
    """P(A better than B) = U / (n m): the Mann-Whitney U of the better direction, ties counting 1/2."""
    # mannwhitneyu(x, y).statistic counts pairs with x_i > y_j (ties 1/2); "A better" is A < B when
    # lower is better, so A's count is the U of (B, A) then.
    first, second = (b, a) if lower else (a, b)
    u = sps.mannwhitneyu(first, second, alternative="two-sided").statistic
    return float(u) / (len(a) * len(b))


def _prob_improvement_draws(xa: np.ndarray, xb: np.ndarray, lower: bool) -> np.ndarray:
    """P(A better than B) for each draw: xa (draws, n), xb (draws, m) -> (draws,)."""
    d = xa[:, :, None] - xb[:, None, :]
    better = (d < 0) if lower else (d > 0)
    return (better + 0.5 * (d == 0)).mean(axis=(1, 2))


def prob_improvement_ci(
    a: Sequence[float], b: Sequence[float], lower: bool, draws: int = N_BOOTSTRAP, seed: int = BOOTSTRAP_SEED
) -> tuple[float, float] | None:
    """Percentile bootstrap CI of P(A better than B), resampling seeds within each row; None when
    either row has one seed."""
    if len(a) < 2 or len(b) < 2:
        return None
    rng = _rng(seed)
    xa = np.asarray(a, dtype=np.float64)[rng.integers(0, len(a), size=(draws, len(a)))]
    xb = np.asarray(b, dtype=np.float64)[rng.integers(0, len(b), size=(draws, len(b)))]
    p = _prob_improvement_draws(xa, xb, lower)
    tail = 100 * (1 - CI_LEVEL) / 2
    lo, hi = np.percentile(p, [tail, 100 - tail])
    return float(lo), float(hi)


@dataclass(frozen=True)
class RankStats:
    p_first: float  # P(rank = 1); a k-way tie for first counts 1/k to each
    interval: tuple[int, int]  # 5%-95% of the rank over draws (1 = best)
    mean_rank: float


def rank_uncertainty(
    rows: Mapping[str, Sequence[float]], lower: bool, draws: int = N_BOOTSTRAP, seed: int = BOOTSTRAP_SEED
) -> dict[str, RankStats]:
    """Per draw: resample each row's seeds, take each row's mean, rank the rows (1 = best, ties share
    the best rank). Over draws: P(rank 1) and the 5%-95% interval of each row's rank."""
    names = list(rows)
    if not names:
        return {}
    rng = _rng(seed)
    means = np.stack([resample_means(rows[k], draws, rng) for k in names], axis=1)  # (draws, rows)
    scores = means if lower else -means
    ranks = sps.rankdata(scores, method="min", axis=1)
    first = ranks == 1
    p_first = (first / first.sum(axis=1, keepdims=True)).mean(axis=0)
    lo = np.percentile(ranks, RANK_INTERVAL[0], axis=0, method="lower")
    hi = np.percentile(ranks, RANK_INTERVAL[1], axis=0, method="higher")
    return {
        k: RankStats(float(p_first[i]), (int(lo[i]), int(hi[i])), float(ranks[:, i].mean()))
        for i, k in enumerate(names)
    }


def mean_difference_ci(
    a: Sequence[float], b: Sequence[float], draws: int = N_BOOTSTRAP, seed: int = BOOTSTRAP_SEED
) -> tuple[float, float] | None:
    """Percentile bootstrap CI of mean(A) - mean(B), resampling each row's seeds independently; None
    when either row has one seed (its spread is unknown, so the difference's is too)."""
    if len(a) < 2 or len(b) < 2:
        return None
    rng = _rng(seed)
    diff = resample_means(a, draws, rng) - resample_means(b, draws, rng)
    tail = 100 * (1 - CI_LEVEL) / 2
    lo, hi = np.percentile(diff, [tail, 100 - tail])
    return float(lo), float(hi)


@dataclass(frozen=True)
class Separation:
    verdict: str  # "separable", "not separable", or "unknown" (a row with one seed)
    diff_ci: tuple[float, float] | None
    n_a: int
    n_b: int


def separation(a: Sequence[float], b: Sequence[float]) -> Separation:
    """Two rows are separable when the bootstrap CI of the difference of their means excludes 0."""
    ci = mean_difference_ci(a, b)
    verdict = "unknown" if ci is None else "not separable" if ci[0] <= 0.0 <= ci[1] else "separable"
    return Separation(verdict, ci, len(a), len(b))


def seeds_words(n_a: int, n_b: int) -> str:
    return f"{n_a} seed{'s' * (n_a != 1)}" if n_a == n_b else f"{n_a} and {n_b} seeds"


def separation_sentence(label_a: str, label_b: str, metric: str, sep: Separation) -> str:
    """E.g. "dcgan z8 vs mlp_vae z8 on fd_digits: not separable with 3 seeds"."""
    head = f"{label_a} vs {label_b} on {metric}"
    if sep.verdict == "unknown":
        return f"{head}: unknown (one seed has no spread; {seeds_words(sep.n_a, sep.n_b)})"
    return f"{head}: {sep.verdict} with {seeds_words(sep.n_a, sep.n_b)}"


def pooled_eval_std(repeats: Sequence[Sequence[float]]) -> float | None:
    """Evaluation spread of a row: sqrt of the mean over seeds of each seed's variance (ddof=1) across
    its evaluation repeats; None when no seed has two repeats."""
    variances = [float(np.var(r, ddof=1)) for r in repeats if len(r) >= 2]
    return math.sqrt(sum(variances) / len(variances)) if variances else None


def coefficient_of_variation(values: Sequence[float]) -> float | None:
    """std (ddof=1) / |mean| over seeds; None for one seed or a zero mean."""
    s = summarize(values)
    if s.std is None or s.mean == 0:
        return None
    return s.std / abs(s.mean)
