"""One pair of rows as the leaderboard shows it: the Welch test and its Holm-adjusted p from the
table's tests (bench/reporting/pairwise.py), with the extras computed for the shown pairs together,
and what a reader may conclude in words. Formulas and sources in docs/statistics.md."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from bench.reporting.pairwise import (
    ALPHA,
    MAX_SEEDS,
    PairTests,
    Welch,
    hedges_g_many,
    min_permutation_p,
    permutation_p,
    seeds_needed,
)
from bench.reporting.stats import prob_improvement
from bench.reporting.stats import seeds_words as _seeds_words


@dataclass(frozen=True)
class Comparison:
    """Everything shown for one pair: A ranked above B; diff = mean(A) - mean(B)."""

    n_a: int
    n_b: int
    diff: float
    ci: tuple[float, float] | None  # Welch 95% CI of the difference (per pair)
    df: float | None
    p: float | None  # Welch, two-sided, unadjusted; None when a row has one seed
    p_adj: float | None  # Holm over the table's m comparisons
    m: int
    p_perm: float | None  # exact permutation test of the difference of means
    g: tuple[float, tuple[float, float]] | None  # Hedges' g and its 95% CI
    prob_improvement: float  # U / (n m): descriptive
    seeds: int | None  # per row, for 80% power at alpha / m; -1: more than MAX_SEEDS; None: separable
    alpha: float = ALPHA

    @property
    def verdict(self) -> str:
        if self.p_adj is None:
            return "unknown"
        return "separable" if self.p_adj < self.alpha else "not separable"

    @property
    def p_perm_min(self) -> float:
        return min_permutation_p(self.n_a, self.n_b)

    @property
    def disagree(self) -> bool:
        """Welch and the permutation test fall on different sides of alpha (unadjusted)."""
        return (
            self.p is not None
            and self.p_perm is not None
            and (self.p < self.alpha) != (self.p_perm < self.alpha)
        )


def compare_many(
    values: Sequence[Sequence[float]],
    tests: PairTests,
    shown: Sequence[tuple[int, int]],
    lower: bool,
    alpha: float = ALPHA,
) -> list[Comparison]:
    """The shown pairs (i, j) of `tests` (row i ranked above row j; `values` each row's seed scores)
    with their extras, vectorised over the pairs: Welch CI, seeds needed, Hedges' g and its CI; the
    permutation test and the probability of improvement per pair (small sums)."""
    if not shown:
        return []
    k = len(values)
    ii = np.array([i for i, _ in shown])
    jj = np.array([j for _, j in shown])
    index = ii * k - ii * (ii + 1) // 2 + (jj - ii - 1)  # position of (i, j) in np.triu_indices(k, 1)
    w = tests.welch
    sub = Welch(w.diff[index], w.se[index], w.df[index], w.p[index])
    lo, hi = sub.interval()
    p_adj = tests.p_adj[index]
    m = int(tests.m)
    mean = np.array([np.mean(v) for v in values])
    var = np.array([np.var(v, ddof=1) if len(v) > 1 else np.nan for v in values])
    n = np.array([len(v) for v in values], dtype=np.float64)
    sd = np.sqrt((var[ii] + var[jj]) / 2)
    need = seeds_needed(sub.diff, sd, alpha / max(m, 1))
    g, g_lo, g_hi = hedges_g_many(mean[ii], var[ii], n[ii], mean[jj], var[jj], n[jj])
    out = []
    for q, (i, j) in enumerate(shown):
        known = bool(np.isfinite(sub.p[q]))
        out.append(
            Comparison(
                n_a=len(values[i]),
                n_b=len(values[j]),
                diff=float(sub.diff[q]),
                ci=(float(lo[q]), float(hi[q])) if known else None,
                df=float(sub.df[q]) if known else None,
                p=float(sub.p[q]) if known else None,
                p_adj=float(p_adj[q]) if known else None,
                m=m,
                p_perm=permutation_p(values[i], values[j]) if known else None,
                g=(float(g[q]), (float(g_lo[q]), float(g_hi[q]))) if np.isfinite(g[q]) else None,
                prob_improvement=prob_improvement(values[i], values[j], lower),
                seeds=int(need[q]) if known and p_adj[q] >= alpha else None,
                alpha=alpha,
            )
        )
    return out


def compare(
    a: Sequence[float], b: Sequence[float], tests: PairTests, index: int, lower: bool, alpha: float = ALPHA
) -> Comparison:
    """One pair of a two-row table (`index` 0), as compare_many shows it."""
    return compare_many([a, b], tests, [(0, 1)], lower, alpha)[0]


def fmt_p(p: float | None) -> str:
    return "-" if p is None else "< 0.001" if p < 0.001 else f"{p:.2g}"


def p_is(name: str, p: float | None) -> str:
    """ "Holm-adjusted p = 0.03" or "Holm-adjusted p < 0.001"."""
    text = fmt_p(p)
    return f"{name} {text}" if text.startswith("<") else f"{name} = {text}"


def _num(x: float) -> str:
    return f"{x:.4g}"


def seeds_words(c: Comparison) -> str:
    return _seeds_words(c.n_a, c.n_b)


def needed_words(c: Comparison) -> str:
    """ "about 9 seeds each would separate a difference this large" (or why no count would)."""
    if c.seeds is None:
        return ""
    if c.diff == 0:
        return "their means are equal, so no number of seeds would separate them"
    if c.seeds < 0:
        return f"more than {MAX_SEEDS} seeds each would be needed to separate a difference this small"
    return f"about {c.seeds} seeds each would separate a difference this large"


def sentence(label_a: str, label_b: str, metric: str, c: Comparison) -> str:
    """What a reader may conclude about one pair, in words."""
    if c.verdict == "unknown":
        return (
            f"{label_a} vs {label_b} on {metric}: unknown (a row with one seed has no spread; "
            f"{seeds_words(c)})"
        )
    diff = f"difference {_num(c.diff)}, 95% CI [{_num(c.ci[0])}, {_num(c.ci[1])}]" if c.ci else ""
    family = f"Holm over {c.m} comparison{'s' * (c.m != 1)}"
    if c.verdict == "separable":
        text = (
            f"{label_a} is better than {label_b} on {metric} ({diff}; "
            f"{p_is('Holm-adjusted p', c.p_adj)}, {family})"
        )
    else:
        text = (
            f"{label_a} and {label_b} cannot be told apart on {metric} with {seeds_words(c)} ({diff}; "
            f"{p_is('Welch p', c.p)}, {p_is('Holm-adjusted p', c.p_adj)}, {family}); {needed_words(c)} "
            f"(80% power at alpha {c.alpha:g}/{c.m})"
        )
    if c.p_perm is not None and c.p_perm_min > c.alpha:
        text += (
            f"; exact permutation p = {fmt_p(c.p_perm)} (with {seeds_words(c)} it cannot go below "
            f"{fmt_p(c.p_perm_min)})"
        )
    elif c.disagree:
        text += f"; the exact permutation test disagrees (p = {fmt_p(c.p_perm)})"
    return text
