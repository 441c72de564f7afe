"""The leaderboard's statistics hold their error rates at the seed counts users run.

Simulated studies where every row's seed scores come from one and the same distribution (so every
"separable" verdict is false): normal, lognormal and t(3) scores, n = 2, 3, 5, 10 seeds, 2 to 20 rows,
each seed's score a single evaluation or the mean of R = 3 evaluation repeats. Thousands of studies
at once, through the same functions the leaderboard calls (stats.t_interval, pairwise.pair_tests,
pairwise.rank_bounds). Tolerances: the nominal 5% plus 3 Monte Carlo standard errors. The before /
after numbers and power curves: benchmarks/stats_calibration.py.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from bench.reporting import pairwise as pw
from bench.reporting import stats

ALPHA = 0.05
DISTS = ("normal", "lognormal", "t3")
SEEDS = (2, 3, 5, 10)


def draw(rng: np.random.Generator, dist: str, shape: tuple[int, ...]) -> np.ndarray:
    if dist == "normal":
        return rng.normal(size=shape)
    if dist == "lognormal":
        return rng.lognormal(0.0, 1.0, size=shape)
    return rng.standard_t(3, size=shape)


TRUE_MEAN = {"normal": 0.0, "lognormal": math.exp(0.5), "t3": 0.0}


def study(rng: np.random.Generator, dist: str, studies: int, rows: int, n: int, repeats: int) -> np.ndarray:
    """Seed scores (studies, rows, n): a training-seed effect plus, with repeats, the mean of R
    evaluation draws (the evaluation noise each seed's score carries)."""
    seed = draw(rng, dist, (studies, rows, n))
    if repeats <= 1:
        return seed
    return seed + draw(rng, dist, (studies, rows, n, repeats)).mean(axis=-1) - TRUE_MEAN[dist]


def pair_tests_of(scores: np.ndarray) -> pw.PairTests:
    n = scores.shape[-1]
    return pw.pair_tests(scores.mean(axis=-1), scores.var(axis=-1, ddof=1), np.full(scores.shape[1], n))


def limit(rate: float, trials: int) -> float:
    return rate + 3 * math.sqrt(rate * (1 - rate) / trials)


@pytest.mark.parametrize("repeats", (1, 3))
@pytest.mark.parametrize("dist", DISTS)
def test_one_pair_is_called_separable_at_most_five_percent_of_the_time(dist: str, repeats: int) -> None:
    # Two rows: the Holm family is the one pair, so this is Welch's own false-positive rate.
    rng = np.random.default_rng(1)
    for n in SEEDS:
        t = pair_tests_of(study(rng, dist, 4000, 2, n, repeats))
        rate = float(np.mean(t.p_adj < ALPHA))
        assert rate <= limit(ALPHA, 4000), (dist, n, repeats, rate)


@pytest.mark.parametrize("rows,studies", ((6, 2000), (20, 400)))
@pytest.mark.parametrize("dist", DISTS)
def test_family_wise_rate_of_a_table_stays_at_five_percent_with_holm(
    dist: str, rows: int, studies: int
) -> None:
    rng = np.random.default_rng(2)
    for n in SEEDS:
        t = pair_tests_of(study(rng, dist, studies, rows, n, 1 if n % 2 else 3))
        per_pair = float(np.mean(t.p_adj < ALPHA))
        family = float(np.mean(np.any(t.p_adj < ALPHA, axis=-1)))
        assert per_pair <= limit(ALPHA, studies), (dist, rows, n, per_pair)
        assert family <= limit(ALPHA, studies), (dist, rows, n, family)
        # Every row's rank set holds every rank the tie allows, as often as the family holds.
        low, high = pw.rank_bounds(t, rows, lower=True)
        full = np.all((low == 1) & (high == rows), axis=-1)
        assert float(np.mean(full)) >= 1 - limit(ALPHA, studies)


@pytest.mark.parametrize("repeats", (1, 3))
def test_t_interval_covers_the_true_mean_of_normal_scores(repeats: int) -> None:
    rng = np.random.default_rng(3)
    for n in SEEDS:
        x = study(rng, "normal", 20000, 1, n, repeats)[:, 0]
        lo, hi = stats.t_interval(x.mean(axis=-1), x.std(axis=-1, ddof=1), n)
        coverage = float(np.mean((lo <= 0.0) & (hi >= 0.0)))
        assert coverage >= 0.93, (n, repeats, coverage)
        assert coverage <= 0.97, (n, repeats, coverage)  # and not by being needlessly wide


def test_summaries_use_the_same_interval() -> None:
    x = [67.3 - 3.9, 67.3, 67.3 + 3.9]
    s = stats.summarize(x)
    lo, hi = stats.t_interval(67.3, 3.9, 3)
    assert s.ci == pytest.approx((float(lo), float(hi))) and s.ci_method == "t"
    assert s.ci[1] - s.ci[0] == pytest.approx(2 * 4.3027 * 3.9 / math.sqrt(3), rel=1e-4)


def test_the_tests_have_power_where_rows_differ() -> None:
    # 5 seeds, rows 2 sd apart: Welch at alpha 0.05 finds it most of the time (noncentral t: ~0.79).
    rng = np.random.default_rng(4)
    scores = rng.normal(size=(4000, 2, 5))
    scores[:, 1] += 2.0
    rate = float(np.mean(pair_tests_of(scores).p_adj < ALPHA))
    expected = float(pw.power(np.array(5), np.array(2.0), np.array(ALPHA)))
    assert abs(rate - expected) < 3 * math.sqrt(expected * (1 - expected) / 4000) + 0.01
    # ... and seeds_needed is the n at which that power first reaches 80%.
    n = int(pw.seeds_needed(np.array([2.0]), np.array([1.0]), np.array(ALPHA))[0])
    assert (
        pw.power(np.array(n), np.array(2.0), np.array(ALPHA))
        >= 0.8
        > pw.power(np.array(n - 1), np.array(2.0), np.array(ALPHA))
    )
