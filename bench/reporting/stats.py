"""Statistics of one row over its training seeds: mean, spread, the interval of the mean, IQM.

Every formula here is written out, with its source, in docs/statistics.md. In short: the 95% interval
of a row's mean is Student's t over the seed scores, mean ± t(0.975, n-1) s/sqrt(n) (exact for normal
scores, and the interval the calibration tests check: tests/reporting/test_calibration.py). A seed's
score is the mean of its R evaluation repeats, so its variance already holds the evaluation noise
sd_e^2 / R; the t interval over seed scores counts it once. The variance components (evaluation sd
beside the training-seed sd) are kept for display only. A bootstrap is used only where it is
calibrated: BCa (scipy.stats.bootstrap) for the interquartile mean from BCA_MIN_N seeds on. One seed
has an unknown spread: no std and no interval (None, never 0).

Comparisons between rows (Welch, Holm, rank sets, seeds needed) live in bench/reporting/pairwise.py.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import special
from scipy import stats as sps

CI_LEVEL = 0.95
IQM_MIN_N = 4  # the interquartile mean drops a quarter each side: it needs 4 seeds
BCA_MIN_N = 10  # below this a bootstrap interval covers less than it says (docs/statistics.md)
N_BOOTSTRAP = 2000
BOOTSTRAP_SEED = 0

Repeats = Sequence[Sequence[float] | None] | None  # per seed, its evaluation repeats (or None)


def t_interval(
    mean: np.ndarray | float, sd: np.ndarray | float, n: np.ndarray | int, level: float = CI_LEVEL
) -> tuple[np.ndarray, np.ndarray]:
    """Student-t interval of the mean, mean ± t(1 - (1-level)/2, n-1) sd / sqrt(n), element-wise over
    arrays (the calibration tests call it on thousands of simulated rows at once). n < 2: NaN."""
    n = np.asarray(n, dtype=np.float64)
    df = np.where(n >= 2, n - 1, np.nan)
    # special.stdtrit is t.ppf without scipy.stats' per-call overhead (a 1,000-row table calls it
    # once per row and column).
    half = special.stdtrit(df, 0.5 + level / 2) * np.asarray(sd, dtype=np.float64) / np.sqrt(n)
    return np.asarray(mean) - half, np.asarray(mean) + half


@dataclass(frozen=True)
class EvalNoise:
    """One-way random-effects components of a row's scores y_ir = mu + a_i + e_ir (seed i, repeat r):
    the evaluation spread sd(e) from the repeats within each seed, and the training-seed spread sd(a)
    left once the evaluation noise a seed's mean carries (sd(e)^2 / R) is taken out. For display:
    the interval of the mean comes from the seed scores, which hold both."""

    eval_std: float  # pooled within-seed sd of one evaluation (ddof=1 per seed)
    repeats: int  # the smallest R over the row's seeds
    seed_std: float | None  # sqrt(max(0, var(seed means) - eval_std^2 * mean(1/R))); None for n=1


@dataclass(frozen=True)
class Summary:
    """One row's values of one metric over seeds (and, when recorded, each seed's evaluation repeats)."""

    n: int
    mean: float
    std: float | None  # over seeds, ddof=1; None for n=1
    median: float
    min: float
    max: float
    ci: tuple[float, float] | None  # 95% interval of the mean; None for n=1
    ci_method: str  # "t" (Student t, n-1 df) or "none" (one seed)
    iqm: float | None  # interquartile mean, from n >= 4
    iqm_ci: tuple[float, float] | None = None  # BCa interval of the IQM, from BCA_MIN_N seeds
    noise: EvalNoise | None = None  # the variance components when every seed has >= 2 eval repeats

    def ci_note(self) -> str:
        """How the interval was made, in words: "t, 2 df" (and the repeats each seed's score averages),
        or why there is none."""
        if self.n == 1:
            return "n=1, no interval"
        note = f"t, {self.n - 1} df"
        if self.noise is not None:
            note += f"; seeds of {self.noise.repeats} eval repeats"
        return note

    @property
    def eval_std(self) -> float | None:
        return None if self.noise is None else self.noise.eval_std


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


def iqm(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """Interquartile mean: the mean of the middle 50%, int(n / 4) values cut from each end, as
    scipy.stats.trim_mean(x, 0.25) does (without its per-call overhead: a large table calls it per row)."""
    x = np.sort(np.asarray(x, dtype=np.float64), axis=axis)
    n = x.shape[axis]
    cut = int(0.25 * n)
    return np.take(x, np.arange(cut, n - cut), axis=axis).mean(axis=axis)


def iqm_interval(values: Sequence[float]) -> tuple[float, float] | None:
    """BCa bootstrap interval of the IQM (scipy.stats.bootstrap, method="BCa"), from BCA_MIN_N seeds;
    None below (no interval of the IQM is calibrated there) or when every seed scored the same."""
    x = np.asarray(values, dtype=np.float64)
    if x.size < BCA_MIN_N or np.all(x == x[0]):
        return None
    res = sps.bootstrap(
        (x,),
        iqm,
        confidence_level=CI_LEVEL,
        n_resamples=N_BOOTSTRAP,
        method="BCa",
        vectorized=True,
        rng=np.random.default_rng(BOOTSTRAP_SEED),
    )
    lo, hi = res.confidence_interval
    return (float(lo), float(hi)) if np.isfinite(lo) and np.isfinite(hi) else None


def summarize(values: Sequence[float], repeats: Repeats = None) -> Summary:
    """Statistics of one row's values over seeds; `repeats[i]`, when given, are seed i's evaluation
    repeats (values[i] is their mean), used for the variance components shown beside the std."""
    x = np.asarray(values, dtype=np.float64)
    if x.size == 0:
        raise ValueError("summarize: no values")
    n = int(x.size)
    mean = float(x.mean())
    # Equal values have no spread: exactly 0, not the 1e-17 that summing their squared deviations
    # from a rounded mean leaves.
    std = None if n == 1 else 0.0 if np.all(x == x[0]) else float(x.std(ddof=1))
    ci = None
    if std is not None:
        lo, hi = t_interval(mean, std, n)
        ci = (float(lo), float(hi))
    return Summary(
        n=n,
        mean=mean,
        std=std,
        median=float(np.median(x)),
        min=float(x.min()),
        max=float(x.max()),
        ci=ci,
        ci_method="none" if ci is None else "t",
        iqm=float(iqm(x)) if n >= IQM_MIN_N else None,
        iqm_ci=iqm_interval(x),
        noise=eval_noise(x, repeats),
    )


def prob_improvement(a: Sequence[float], b: Sequence[float], lower: bool) -> float:
    """Probability of improvement P(A better than B) = U / (n m) (Agarwal et al. 2021): the
    Mann-Whitney U of the better direction, ties counting 1/2. Descriptive: no test, no interval."""
    xa, xb = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    d = xa[:, None] - xb[None, :]
    better = (d < 0) if lower else (d > 0)
    return float((better + 0.5 * (d == 0)).mean())


def pooled_eval_std(repeats: Sequence[Sequence[float]]) -> float | None:
    """Evaluation spread of a row: sqrt of the mean over seeds of each seed's variance (ddof=1) across
    its evaluation repeats; None when no seed has two repeats."""
    variances = [float(np.var(r, ddof=1)) for r in repeats if len(r) >= 2]
    return math.sqrt(sum(variances) / len(variances)) if variances else None


def coefficient_of_variation(values: Sequence[float]) -> float | None:
    """std (ddof=1) / |mean| over seeds; None for one seed or a zero mean."""
    x = np.asarray(values, dtype=np.float64)
    if x.size < 2 or x.mean() == 0:
        return None
    return float(x.std(ddof=1)) / abs(float(x.mean()))


def seeds_words(n_a: int, n_b: int) -> str:
    return f"{n_a} seed{'s' * (n_a != 1)}" if n_a == n_b else f"{n_a} and {n_b} seeds"
