"""Comparisons between the rows of one table: Welch tests, Holm's correction, rank confidence sets,
and the seeds a pair would need.

Formulas and sources in docs/statistics.md. Two rows are "separable" when Welch's t-test of their
means, Holm-adjusted over every comparison of the table (Holm 1979), gives p < ALPHA. A row's rank
lies in [1 + rows significantly better, K - rows significantly worse] by those same simultaneous
tests (Mogstad, Romano, Shaikh & Wilhelm 2024). For a pair that is not separable, the seeds per row
that would separate a difference of the observed size with 80% power at the table's correction
(Bonferroni alpha/m, a conservative stand-in for Holm's first step) come from the noncentral t.

The core (welch, holm, pair_tests, rank_bounds, seeds_needed) works on numpy arrays with any leading
batch dimensions: the leaderboard calls it on one table, the calibration tests on thousands of
simulated tables at once, so what is tested is what is printed. The per-pair extras (exact
permutation test, Hedges' g with its CI) are for the pairs shown; bench/reporting/comparison.py puts
them together, one pair as the leaderboard shows it.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy import stats as sps

ALPHA = 0.05  # family-wise error rate of a table (Holm)
POWER = 0.8
MAX_SEEDS = 1000  # seeds_needed looks no further
EXACT_RELABELLINGS = 20_000  # above this many, the permutation test samples relabellings
N_PERMUTATIONS = 9_999
PERMUTATION_SEED = 0


@dataclass(frozen=True)
class Welch:
    """Welch's unequal-variance t-test of mean(A) - mean(B), element-wise over arrays."""

    diff: np.ndarray
    se: np.ndarray
    df: np.ndarray  # Welch-Satterthwaite
    p: np.ndarray  # two-sided; NaN where a row has one seed

    def interval(self, level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
        """CI of the difference, diff ± t(1 - (1-level)/2, df) se: per pair, not adjusted. Computed on
        request (the quantile of non-integer df is the slow part over half a million pairs)."""
        half = np.where(self.se > 0, sps.t.ppf(0.5 + level / 2, self.df) * self.se, 0.0)
        return self.diff - half, self.diff + half


def welch(
    mean_a: np.ndarray,
    var_a: np.ndarray,
    n_a: np.ndarray,
    mean_b: np.ndarray,
    var_b: np.ndarray,
    n_b: np.ndarray,
) -> Welch:
    """t = (m_a - m_b) / sqrt(v_a/n_a + v_b/n_b), df = (v_a/n_a + v_b/n_b)^2 /
    ((v_a/n_a)^2/(n_a-1) + (v_b/n_b)^2/(n_b-1)) (Welch 1947). Rows whose seeds all scored the same
    have no spread: their difference is exact (p 0 when it is not 0, else 1)."""
    n_a, n_b = np.asarray(n_a, dtype=np.float64), np.asarray(n_b, dtype=np.float64)
    ok = (n_a >= 2) & (n_b >= 2)
    with np.errstate(divide="ignore", invalid="ignore"):
        qa, qb = np.asarray(var_a) / n_a, np.asarray(var_b) / n_b
        se2 = qa + qb
        diff = np.asarray(mean_a) - np.asarray(mean_b)
        df = se2**2 / (qa**2 / (n_a - 1) + qb**2 / (n_b - 1))
        df = np.where(se2 > 0, df, n_a + n_b - 2)
        se = np.sqrt(se2)
        t = np.abs(diff) / se
        p = np.where(se2 > 0, 2 * sps.t.sf(t, df), np.where(diff == 0, 1.0, 0.0))
    nan = np.full(np.shape(diff), np.nan)
    return Welch(diff, se, np.where(ok, df, nan), np.where(ok, p, nan))


def holm(p: np.ndarray) -> np.ndarray:
    """Holm's step-down adjusted p-values along the last axis: sorted ascending, p_(k) times the
    m - k + 1 hypotheses left, made monotone, capped at 1 (Holm 1979). NaN (an untestable pair) is
    left out of the family and stays NaN. Reject at level alpha where adjusted p < alpha."""
    p = np.asarray(p, dtype=np.float64)
    finite = np.isfinite(p)
    m = finite.sum(axis=-1, keepdims=True)
    order = np.argsort(np.where(finite, p, np.inf), axis=-1, kind="stable")
    ps = np.take_along_axis(np.where(finite, p, np.inf), order, axis=-1)
    k = np.arange(p.shape[-1])
    scaled = np.minimum(1.0, (m - k) * np.where(np.isfinite(ps), ps, 1.0))
    adj_sorted = np.maximum.accumulate(scaled, axis=-1)
    adj = np.empty_like(adj_sorted)
    np.put_along_axis(adj, order, adj_sorted, axis=-1)
    return np.where(finite, adj, np.nan)


@dataclass(frozen=True)
class PairTests:
    """Every pair (i < j) of K rows, tested and Holm-adjusted over the table (batch dims first)."""

    i: np.ndarray  # (P,) row index of A
    j: np.ndarray  # (P,) row index of B
    welch: Welch  # arrays (..., P)
    p_adj: np.ndarray  # (..., P)

    @property
    def m(self) -> np.ndarray:
        """Comparisons in the family (pairs where both rows have >= 2 seeds)."""
        return np.isfinite(self.welch.p).sum(axis=-1)


def pair_tests(means: np.ndarray, variances: np.ndarray, ns: np.ndarray) -> PairTests:
    """Welch over all K(K-1)/2 pairs of the last axis, Holm over them: O(K^2) array arithmetic."""
    k = np.shape(means)[-1]
    i, j = np.triu_indices(k, 1)
    ns = np.broadcast_to(np.asarray(ns, dtype=np.float64), np.shape(means))
    w = welch(means[..., i], variances[..., i], ns[..., i], means[..., j], variances[..., j], ns[..., j])
    return PairTests(i, j, w, holm(w.p))


def rank_bounds(tests: PairTests, k: int, lower: bool, alpha: float = ALPHA) -> tuple[np.ndarray, np.ndarray]:
    """Confidence sets for ranks (1 = best) from the simultaneous tests (Mogstad, Romano, Shaikh &
    Wilhelm 2024): row r lies in [1 + #rows significantly better, K - #rows significantly worse].
    Their joint coverage is at least 1 - alpha, as Holm's family-wise error control is."""
    sig = tests.p_adj < alpha
    a_better = sig & ((tests.welch.diff < 0) if lower else (tests.welch.diff > 0))
    b_better = sig & ~a_better
    batch = np.shape(tests.p_adj)[:-1]
    better = np.zeros((*batch, k, k), dtype=bool)  # better[..., r, s]: row r significantly better than s
    better[..., tests.i, tests.j] = a_better
    better[..., tests.j, tests.i] = b_better
    above = better.sum(axis=-2)  # rows better than r
    below = better.sum(axis=-1)  # rows worse than r
    return 1 + above, k - below


def power(n: np.ndarray, effect: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """Power of the two-sided two-sample t-test with n seeds per row for a standardised difference
    `effect` = delta / sd: P(|T| > t_crit) with T ~ noncentral t(2n - 2, effect * sqrt(n / 2))."""
    n = np.asarray(n, dtype=np.float64)
    df = 2 * n - 2
    ncp = np.asarray(effect) * np.sqrt(n / 2)
    tc = sps.t.ppf(1 - np.asarray(alpha) / 2, df)
    with np.errstate(invalid="ignore"):
        exact = sps.nct.sf(tc, df, ncp) + sps.nct.cdf(-tc, df, ncp)
    # scipy's nct gives NaN far out (large df and ncp), where the normal approximation is exact enough.
    approx = sps.norm.sf(tc - ncp) + sps.norm.cdf(-tc - ncp)
    return np.where(np.isfinite(exact), exact, approx)


def seeds_needed(
    diff: np.ndarray, sd: np.ndarray, alpha: np.ndarray, target: float = POWER, max_seeds: int = MAX_SEEDS
) -> np.ndarray:
    """The smallest n (seeds per row) for which power(n, |diff| / sd, alpha) >= target, by bisection
    over all pairs at once; -1 where no n up to max_seeds is enough (or diff is 0), 2 where a
    difference with no spread at all needs no more."""
    with np.errstate(divide="ignore", invalid="ignore"):
        effect = np.abs(np.asarray(diff, dtype=np.float64)) / np.asarray(sd, dtype=np.float64)
    effect = np.where(np.isfinite(effect), effect, np.where(np.abs(diff) > 0, np.inf, 0.0))
    alpha = np.broadcast_to(np.asarray(alpha, dtype=np.float64), effect.shape)
    finite = np.where(np.isinf(effect), 1.0, effect)
    enough = power(np.full(effect.shape, max_seeds), finite, alpha) >= target
    lo = np.full(effect.shape, 1, dtype=np.int64)  # power(lo) < target (n=1 has no test)
    hi = np.full(effect.shape, max_seeds, dtype=np.int64)  # power(hi) >= target where enough
    while np.any(hi - lo > 1):
        mid = (lo + hi) // 2
        ok = power(mid, finite, alpha) >= target
        lo, hi = np.where(ok, lo, mid), np.where(ok, mid, hi)
    out = np.where(enough, hi, -1)
    return np.where(np.isinf(effect), 2, np.where(effect == 0, -1, out))


# -- the extras of a pair that is shown --------------------------------------------------------------


@lru_cache(maxsize=64)
def _splits(n: int, m: int) -> np.ndarray:
    """Every way to pick which n of n + m pooled values are row A's (C(n+m, n) rows of indices)."""
    return np.array(list(itertools.combinations(range(n + m), n)), dtype=np.int64)


def min_permutation_p(n: int, m: int) -> float:
    """The smallest two-sided p an exact permutation test of n against m seeds can give:
    2 / C(n+m, n) when n = m (the split and its mirror), else 1 / C(n+m, n). 3 vs 3: 0.10."""
    total = math.comb(n + m, n)
    return (2 if n == m else 1) / total


def permutation_p(a: Sequence[float], b: Sequence[float]) -> float:
    """Two-sided permutation test of the difference of means: the share of relabellings of the pooled
    seeds whose |mean(A) - mean(B)| is at least the observed one. Exact (every relabelling) up to
    EXACT_RELABELLINGS, else scipy.stats.permutation_test with N_PERMUTATIONS samples."""
    xa, xb = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    n, m = len(xa), len(xb)
    pooled = np.concatenate([xa, xb])
    if math.comb(n + m, n) > EXACT_RELABELLINGS:
        res = sps.permutation_test(
            (xa, xb),
            lambda x, y, axis: np.mean(x, axis=axis) - np.mean(y, axis=axis),
            vectorized=True,
            n_resamples=N_PERMUTATIONS,
            rng=np.random.default_rng(PERMUTATION_SEED),
        )
        return float(res.pvalue)
    picks = _splits(n, m)
    sum_a = pooled[picks].sum(axis=1)
    diffs = sum_a / n - (pooled.sum() - sum_a) / m
    observed = abs(xa.mean() - xb.mean())
    return float(np.mean(np.abs(diffs) >= observed - 1e-12 * max(1.0, observed)))


def _ncp_cdf(t_obs: np.ndarray, df: np.ndarray, ncp: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", over="ignore"):
        v = sps.nct.cdf(t_obs, df, ncp)
    # Far in the tails scipy's nct returns NaN where the probability is 0 or 1.
    return np.where(np.isfinite(v), v, np.where(ncp > t_obs, 0.0, 1.0))


def _invert_nct(t_obs: np.ndarray, df: np.ndarray, q: float, steps: int = 40) -> np.ndarray:
    """The noncentrality at which nct.cdf(t_obs; df, ncp) = q, by bisection over arrays at once (the
    cdf falls as ncp grows; the bracket t_obs ± (10 + 2|t_obs|) holds it for q in [0.025, 0.975])."""
    width = 10 + 2 * np.abs(t_obs)
    lo, hi = t_obs - width, t_obs + width
    for _ in range(steps):
        mid = (lo + hi) / 2
        above = _ncp_cdf(t_obs, df, mid) > q  # the root lies above mid
        lo, hi = np.where(above, mid, lo), np.where(above, hi, mid)
    return (lo + hi) / 2


def hedges_g_many(
    mean_a: np.ndarray,
    var_a: np.ndarray,
    n_a: np.ndarray,
    mean_b: np.ndarray,
    var_b: np.ndarray,
    n_b: np.ndarray,
    level: float = 0.95,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Hedges' g = J (m_a - m_b) / s_pooled, J = 1 - 3 / (4 (n_a + n_b) - 9) (Hedges 1981), with the
    CI from inverting the noncentral t of t = d sqrt(n_a n_b / (n_a + n_b)) (Steiger & Fouladi 1997),
    over arrays of pairs. NaN where a row has one seed or neither has any spread."""
    n, m = np.asarray(n_a, dtype=np.float64), np.asarray(n_b, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        sp = np.sqrt(((n - 1) * var_a + (m - 1) * var_b) / (n + m - 2))
        ok = (n >= 2) & (m >= 2) & (sp > 0)
        d = np.where(ok, (np.asarray(mean_a) - np.asarray(mean_b)) / np.where(ok, sp, 1.0), np.nan)
    j = 1 - 3 / (4 * (n + m) - 9)
    scale = np.sqrt(n * m / (n + m))
    t_obs, df = np.where(ok, d * scale, 0.0), np.where(ok, n + m - 2, 1.0)
    lo = _invert_nct(t_obs, df, 0.5 + level / 2) * j / scale
    hi = _invert_nct(t_obs, df, 0.5 - level / 2) * j / scale
    nan = np.full(np.shape(d), np.nan)
    return j * d, np.where(ok, lo, nan), np.where(ok, hi, nan)


def hedges_g(
    a: Sequence[float], b: Sequence[float], level: float = 0.95
) -> tuple[float, tuple[float, float]] | None:
    """Hedges' g of two rows' seed scores and its CI (hedges_g_many); None when it is undefined."""
    xa, xb = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if len(xa) < 2 or len(xb) < 2:
        return None
    g, lo, hi = hedges_g_many(
        np.array([xa.mean()]), np.array([xa.var(ddof=1)]), np.array([len(xa)]),
        np.array([xb.mean()]), np.array([xb.var(ddof=1)]), np.array([len(xb)]), level,
    )  # fmt: skip
    return None if not np.isfinite(g[0]) else (float(g[0]), (float(lo[0]), float(hi[0])))
