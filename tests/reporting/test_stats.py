"""Seed statistics and pairwise answers against values computed by hand (docs/statistics.md)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as sps

from bench.reporting import comparison as cmp
from bench.reporting import pairwise as pw
from bench.reporting import stats


def test_one_seed_has_unknown_spread_and_no_interval() -> None:
    s = stats.summarize([3.5])
    assert (s.n, s.mean, s.std, s.ci, s.iqm, s.ci_method) == (1, 3.5, None, None, None, "none")
    assert s.ci_note() == "n=1, no interval"


def test_student_t_interval_of_the_mean() -> None:
    # {0, 1}: mean 0.5, sd sqrt(0.5), t(0.975, 1) = 12.706: 0.5 ± 12.706 * 0.7071 / 1.4142.
    s = stats.summarize([0.0, 1.0])
    assert s.ci == pytest.approx((0.5 - 6.353, 0.5 + 6.353), abs=1e-3)
    assert s.ci_method == "t" and s.ci_note() == "t, 1 df"
    x = np.random.default_rng(1).normal(10.0, 2.0, size=40)
    ref = sps.t.interval(0.95, 39, loc=x.mean(), scale=sps.sem(x))
    assert stats.summarize(x).ci == pytest.approx(ref)


def test_iqm_from_four_seeds_and_its_bca_interval_from_ten() -> None:
    assert stats.summarize([1.0, 2.0, 3.0]).iqm is None
    # trim_mean(., 0.25) of 8 sorted values drops 2 each side: mean of 2, 3, 3, 4.
    s = stats.summarize([1.0, 2.0, 3.0, 4.0, 5.0, 100.0, 0.0, 3.0])
    assert s.iqm == pytest.approx((2 + 3 + 3 + 4) / 4) and s.iqm_ci is None  # BCa needs 10 seeds
    x = np.random.default_rng(2).normal(size=12)
    lo, hi = stats.summarize(x).iqm_ci
    assert lo < stats.iqm(x) < hi


def test_probability_of_improvement_counts_pairs_with_ties_half() -> None:
    a, b = [1.0, 2.0, 3.0], [2.0, 4.0]
    # Lower is better: pairs a<b: (1,2),(1,4),(2,4),(3,4) = 4, ties (2,2) = 1/2 -> 4.5 / 6.
    assert stats.prob_improvement(a, b, lower=True) == pytest.approx(4.5 / 6)
    assert stats.prob_improvement(b, a, lower=True) == pytest.approx(1.5 / 6)
    assert stats.prob_improvement(a, b, lower=False) == pytest.approx(1.5 / 6)
    assert stats.prob_improvement([5.0], [5.0], lower=True) == 0.5


def test_welch_matches_scipy_and_holm_by_hand() -> None:
    a, b = [63.4, 67.3, 71.2], [70.0, 76.8, 83.6]
    w = pw.welch(np.mean(a), np.var(a, ddof=1), 3, np.mean(b), np.var(b, ddof=1), 3)
    ref = sps.ttest_ind(a, b, equal_var=False)
    assert float(w.p) == pytest.approx(ref.pvalue) and float(w.df) == pytest.approx(ref.df)
    lo, hi = w.interval()
    assert (float(lo), float(hi)) == pytest.approx(tuple(ref.confidence_interval()))
    # Holm: sorted 0.005, 0.01, 0.03, 0.04 times 4, 3, 2, 1 -> 0.02, 0.03, 0.06, 0.06 (monotone).
    adj = pw.holm(np.array([0.01, 0.04, 0.03, np.nan, 0.005]))
    assert adj[[4, 0, 2, 1]] == pytest.approx([0.02, 0.03, 0.06, 0.06]) and np.isnan(adj[3])


def test_exact_permutation_test_and_its_floor() -> None:
    # 3 vs 3 seeds: 20 relabellings; the observed split and its mirror are the most extreme.
    assert pw.min_permutation_p(3, 3) == pytest.approx(0.1)
    assert pw.permutation_p([1.0, 2.0, 3.0], [10.0, 11.0, 12.0]) == pytest.approx(0.1)
    assert pw.permutation_p([1.0, 2.0], [1.0, 2.0]) == 1.0


def test_hedges_g_and_its_interval() -> None:
    a, b = [1.0, 2.0, 3.0, 4.0], [3.0, 4.0, 5.0, 6.0]
    g, (lo, hi) = pw.hedges_g(a, b)
    d = -2.0 / math.sqrt(np.var(a, ddof=1))
    assert g == pytest.approx(d * (1 - 3 / (4 * 8 - 9)))
    assert lo < g < hi < 0.5
    assert pw.hedges_g([1.0], [2.0, 3.0]) is None


def test_rank_sets_from_simultaneous_tests() -> None:
    # Rows 0 and 1 close, row 2 far worse (lower is better): ranks {1-2, 1-2, 3}.
    means = np.array([10.0, 10.5, 60.0])
    t = pw.pair_tests(means, np.array([1.0, 1.0, 1.0]), np.array([5, 5, 5]))
    low, high = pw.rank_bounds(t, 3, lower=True)
    assert list(low) == [1, 1, 3] and list(high) == [2, 2, 3]
    low, high = pw.rank_bounds(t, 3, lower=False)
    assert list(low) == [2, 2, 1] and list(high) == [3, 3, 1]


def test_a_three_seed_pair_at_welch_p_of_a_tenth_reads_not_separable_with_the_seeds_it_needs() -> None:
    # The real case: latent 8 (67.3 ± 3.9) against latent 32 (76.8 ± 6.8), 3 seeds each.
    a, b = [63.4, 67.3, 71.2], [70.0, 76.8, 83.6]
    means = np.array([np.mean(a), np.mean(b)])
    t = pw.pair_tests(means, np.array([np.var(a, ddof=1), np.var(b, ddof=1)]), np.array([3, 3]))
    c = cmp.compare(a, b, t, 0, lower=True)
    assert c.p == pytest.approx(0.121, abs=0.002) and c.verdict == "not separable"
    assert c.ci == pytest.approx((-23.4, 4.4), abs=0.05)
    assert c.seeds == 7  # noncentral t: 80% power for a difference of 9.5 with sd 5.54 at alpha 0.05
    text = cmp.sentence("mlp_vae z8", "mlp_vae z32", "fd", c)
    assert text.startswith("mlp_vae z8 and mlp_vae z32 cannot be told apart on fd with 3 seeds")
    assert "Welch p = 0.12" in text and "about 7 seeds each would separate a difference this large" in text
    assert "it cannot go below 0.1" in text  # the exact permutation test's floor at 3 vs 3


def test_evaluation_spread_and_coefficient_of_variation() -> None:
    # Seed 1 repeats: var(1, 3) = 2; seed 2: var(2, 2, 2) = 0 -> sqrt(mean(2, 0)) = 1.
    assert stats.pooled_eval_std([[1.0, 3.0], [2.0, 2.0, 2.0], [7.0]]) == pytest.approx(1.0)
    assert stats.pooled_eval_std([[1.0]]) is None
    assert stats.coefficient_of_variation([9.0, 11.0]) == pytest.approx(math.sqrt(2) / 10)
    assert stats.coefficient_of_variation([9.0]) is None
