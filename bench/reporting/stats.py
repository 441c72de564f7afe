"""Statistics over training seeds: per row (a model x dataset x latent size config) and between rows.

Every quantity here is defined once, with its formula, in README.md ("Statistics"); /work/shared
STATS.md names the sources (Efron & Tibshirani 1993 for the bootstrap; Agarwal et al. 2021 for IQM,
probability of improvement and rank uncertainty). No plotting here. When a row's seeds carry
evaluation repeats (eval.repeats R > 1), its CIs, rank draws and separations come from a two-level
bootstrap that counts the evaluation noise once (hierarchical_means; Field & Welsh 2007 on
bootstrapping one-way arrays: resampling seeds alone already holds each seed's evaluation noise).

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

Repeats = Sequence[Sequence[float] | None] | None  # per seed, its evaluation repeats (or None)


def distinct_resamples(n: int) -> int:
    """Distinct multisets a bootstrap of n values can draw: C(2n-1, n) (n=2: 3, n=3: 10, n=4: 35)."""
    return math.comb(2 * n - 1, n)


@dataclass(frozen=True)
class Summary:
    """One row's values of one metric over seeds (and, when recorded, each seed's evaluation repeats)."""

    n: int
    mean: float
    std: float | None  # over seeds, ddof=1; None for n=1
    median: float
    min: float
    max: float
    ci: tuple[float, float] | None  # 95% bootstrap CI of the mean; None for n=1
    iqm: float | None  # interquartile mean, from n >= 4
    distinct: int  # distinct bootstrap resamples of the seeds (3 for n=2, 10 for n=3)
    noise: EvalNoise | None = None  # the variance components when every seed has >= 2 eval repeats

    def ci_note(self) -> str:
        """Words to print next to the CI: how it was drawn when evaluation repeats entered it, else
        when it rests on few resamples ("" from n=4 on)."""
        if self.n == 1:
            return "n=1, spread unknown"
        if self.noise is not None:
            return f"seeds x {self.noise.repeats} eval repeats"
        return f"{self.distinct} distinct resamples" if self.n <= 3 else ""

    @property
    def eval_std(self) -> float | None:
        return None if self.noise is None else self.noise.eval_std


@dataclass(frozen=True)
class EvalNoise:
    """One-way random-effects components of a row's scores y_ir = mu + a_i + e_ir (seed i, repeat r):
    the evaluation spread sd(e) from the repeats within each seed, and the training-seed spread sd(a)
    left once the evaluation noise a seed's mean carries (sd(e)^2 / R) is taken out."""

    eval_std: float  # pooled within-seed sd of one evaluation (ddof=1 per seed)
    repeats: int  # the smallest R over the row's seeds
    seed_std: float | None  # sqrt(max(0, var(seed means) - eval_std^2 * mean(1/R))); None for n=1


def _repeats_usable(values: Sequence[float], repeats: Repeats) -> bool:
    return (
        repeats is not None
        and len(repeats) == len(values)
        and all(r is not None and len(r) >= 2 for r in repeats)
    )


def eval_noise(values: Sequence[float], repeats: Repeats) -> EvalNoise | None:
    """The variance components of a row, or None unless every seed has >= 2 evaluation repeats
    (a seed scored once carries its evaluation noise inside its one value, unseparated)."""
    if not _repeats_usable(values, repeats):
        return None
    reps = [np.asarray(r, dtype=np.float64) for r in repeats]  # type: ignore[union-attr]
    dof = [len(r) - 1 for r in reps]
    within = sum(float(np.sum((r - r.mean()) ** 2)) for r in reps) / sum(dof)
    seed_std = None
    if len(values) >= 2:
        between = float(np.var(np.asarray(values, dtype=np.float64), ddof=1))
        seed_std = math.sqrt(max(0.0, between - within * float(np.mean([1.0 / len(r) for r in reps]))))
    return EvalNoise(math.sqrt(within), min(len(r) for r in reps), seed_std)


def _rng(seed: int = BOOTSTRAP_SEED) -> np.random.Generator:
    return np.random.default_rng(seed)


def resample_means(values: Sequence[float], draws: int, rng: np.random.Generator) -> np.ndarray:
    """Means of `draws` resamples with replacement of `values` (shape: draws)."""
    x = np.asarray(values, dtype=np.float64)
    return x[rng.integers(0, len(x), size=(draws, len(x)))].mean(axis=1)


def hierarchical_means(
    values: Sequence[float],
    repeats: Repeats,
    draws: int,
    rng: np.random.Generator,
) -> np.ndarray:
    """Means of `draws` two-level resamples of a row: seeds with replacement, then each drawn seed's
    evaluation repeats with replacement (shape: draws).

    Resampling both levels as they are counts the evaluation noise twice: a seed's mean already holds
    sd(e)^2 / R of it, and the resampled repeats add as much again. So the seed level resamples the
    seed means shrunk towards the row mean by c = seed_std / sd(seed means) (only the training-seed
    spread of EvalNoise is left in it), and the repeat level adds the evaluation noise, its residuals
    scaled by sqrt(R / (R - 1)) so a resampled mean of R has variance sd(e)^2 / R. The draws' variance
    is then ((n - 1) / n * seed_std^2 + sd(e)^2 / R) / n, the plug-in variance of the row mean.
    Without usable repeats (a seed with fewer than 2), or with no evaluation noise at all, this is
    resample_means exactly: the seed bootstrap, whose CI already holds each seed's evaluation noise.
    """
    noise = eval_noise(values, repeats)
    if noise is None or noise.eval_std == 0.0:
        return resample_means(values, draws, rng)
    x = np.asarray(values, dtype=np.float64)
    n = len(x)
    idx = rng.integers(0, n, size=(draws, n))  # the same first draw as resample_means
    between = float(np.var(x, ddof=1)) if n >= 2 else 0.0
    c = 0.0 if between == 0.0 or noise.seed_std is None else noise.seed_std / math.sqrt(between)
    centre = x.mean()
    drawn = centre + c * (x[idx] - centre)
    for j, rep in enumerate(repeats):  # type: ignore[arg-type]
        r = np.asarray(rep, dtype=np.float64)
        resid = (r - r.mean()) * math.sqrt(len(r) / (len(r) - 1))
        pick = resid[rng.integers(0, len(r), size=(draws, n, len(r)))].mean(axis=2)
        drawn += np.where(idx == j, pick, 0.0)
    return drawn.mean(axis=1)


def _percentile_ci(draws: np.ndarray) -> tuple[float, float]:
    tail = 100 * (1 - CI_LEVEL) / 2
    lo, hi = np.percentile(draws, [tail, 100 - tail])
    return float(lo), float(hi)


def bootstrap_ci(
    values: Sequence[float],
    draws: int = N_BOOTSTRAP,
    seed: int = BOOTSTRAP_SEED,
    repeats: Repeats = None,
) -> tuple[float, float] | None:
    """Percentile bootstrap CI of the mean at CI_LEVEL over seeds, two-level (hierarchical_means)
    when every seed has evaluation repeats; None for fewer than 2 seeds."""
    if len(values) < 2:
        return None
    return _percentile_ci(hierarchical_means(values, repeats, draws, _rng(seed)))


def summarize(values: Sequence[float], repeats: Repeats = None) -> Summary:
    """Statistics of one row's values over seeds; `repeats[i]`, when given, are seed i's evaluation
    repeats (values[i] is their mean), used for the evaluation spread and the CI."""
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
        ci=bootstrap_ci(x, repeats=repeats),
        iqm=float(sps.trim_mean(x, 0.25)) if n >= IQM_MIN_N else None,
        distinct=distinct_resamples(n),
        noise=eval_noise(x, repeats),
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
    return _percentile_ci(p)


@dataclass(frozen=True)
class RankStats:
    p_first: float  # P(rank = 1); a k-way tie for first counts 1/k to each
    interval: tuple[int, int]  # 5%-95% of the rank over draws (1 = best)
    mean_rank: float


def rank_uncertainty(
    rows: Mapping[str, Sequence[float]],
    lower: bool,
    draws: int = N_BOOTSTRAP,
    seed: int = BOOTSTRAP_SEED,
    repeats: Mapping[str, Repeats] | None = None,
) -> dict[str, RankStats]:
    """Per draw: resample each row's seeds (and their evaluation repeats: hierarchical_means), take
    each row's mean, rank the rows (1 = best, ties share the best rank). Over draws: P(rank 1) and the
    5%-95% interval of each row's rank."""
    names = list(rows)
    if not names:
        return {}
    rng = _rng(seed)
    repeats = repeats or {}
    means = np.stack(
        [hierarchical_means(rows[k], repeats.get(k), draws, rng) for k in names], axis=1
    )  # (draws, rows)
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
    a: Sequence[float],
    b: Sequence[float],
    draws: int = N_BOOTSTRAP,
    seed: int = BOOTSTRAP_SEED,
    repeats_a: Repeats = None,
    repeats_b: Repeats = None,
) -> tuple[float, float] | None:
    """Percentile bootstrap CI of mean(A) - mean(B), resampling each row's seeds (and evaluation
    repeats) independently; None when either row has one seed (its spread is unknown, so the
    difference's is too)."""
    if len(a) < 2 or len(b) < 2:
        return None
    rng = _rng(seed)
    diff = hierarchical_means(a, repeats_a, draws, rng) - hierarchical_means(b, repeats_b, draws, rng)
    return _percentile_ci(diff)


@dataclass(frozen=True)
class Separation:
    verdict: str  # "separable", "not separable", or "unknown" (a row with one seed)
    diff_ci: tuple[float, float] | None
    n_a: int
    n_b: int


def separation(
    a: Sequence[float], b: Sequence[float], repeats_a: Repeats = None, repeats_b: Repeats = None
) -> Separation:
    """Two rows are separable when the bootstrap CI of the difference of their means excludes 0."""
    ci = mean_difference_ci(a, b, repeats_a=repeats_a, repeats_b=repeats_b)
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
