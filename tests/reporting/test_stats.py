"""Seed statistics against values computed by hand (README "Statistics")."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as sps

from bench.reporting import stats


def test_one_seed_has_unknown_spread_never_zero() -> None:
    s = stats.summarize([3.5])
    assert (s.n, s.mean, s.std, s.ci, s.iqm) == (1, 3.5, None, None, None)
    assert s.ci_note() == "n=1, spread unknown"


def test_percentile_ci_of_two_values_is_their_range() -> None:
    # Resamples of {0, 1}: (0,0) p=1/4 mean 0, (0,1)/(1,0) p=1/2 mean 0.5, (1,1) p=1/4 mean 1:
    # the 2.5th percentile is 0 and the 97.5th is 1.
    s = stats.summarize([0.0, 1.0])
    assert s.ci == (0.0, 1.0)
    assert s.std == pytest.approx(math.sqrt(0.5))
    assert s.distinct == 3 and s.ci_note() == "3 distinct resamples"
    assert stats.distinct_resamples(3) == 10 and stats.distinct_resamples(4) == 35


def test_ci_matches_the_normal_approximation_for_many_seeds() -> None:
    x = np.random.default_rng(1).normal(10.0, 2.0, size=40)
    lo, hi = stats.bootstrap_ci(x)
    half = 1.96 * x.std(ddof=0) / math.sqrt(len(x))  # the plug-in bootstrap's standard error
    assert lo == pytest.approx(x.mean() - half, abs=0.12)
    assert hi == pytest.approx(x.mean() + half, abs=0.12)
    ref = sps.bootstrap((x,), np.mean, method="percentile", n_resamples=4000, rng=np.random.default_rng(0))
    assert lo == pytest.approx(ref.confidence_interval.low, abs=0.08)


def test_iqm_from_four_seeds_ignores_the_outlier() -> None:
    assert stats.summarize([1.0, 2.0, 3.0]).iqm is None
    # trim_mean(., 0.25) of 8 sorted values drops 2 each side: mean of 2, 3, 4, 5.
    s = stats.summarize([1.0, 2.0, 3.0, 4.0, 5.0, 100.0, 0.0, 3.0])
    assert s.iqm == pytest.approx((2 + 3 + 3 + 4) / 4)
    assert s.median == 3.0 and (s.min, s.max) == (0.0, 100.0)


def test_probability_of_improvement_counts_pairs_with_ties_half() -> None:
    a, b = [1.0, 2.0, 3.0], [2.0, 4.0]
    # Lower is better: pairs a<b: (1,2),(1,4),(2,4),(3,4) = 4, ties (2,2) = 1/2 -> 4.5 / 6.
    assert stats.prob_improvement(a, b, lower=True) == pytest.approx(4.5 / 6)
    assert stats.prob_improvement(b, a, lower=True) == pytest.approx(1.5 / 6)
    assert stats.prob_improvement(a, b, lower=False) == pytest.approx(1.5 / 6)
    assert stats.prob_improvement([5.0], [5.0], lower=True) == 0.5


def test_probability_of_improvement_ci_for_disjoint_rows_is_one() -> None:
    assert stats.prob_improvement_ci([1.0, 2.0, 3.0], [10.0, 11.0], lower=True) == (1.0, 1.0)
    assert stats.prob_improvement_ci([1.0], [10.0, 11.0], lower=True) is None
    lo, hi = stats.prob_improvement_ci([1.0, 5.0, 9.0], [4.0, 6.0, 2.0], lower=True)
    assert lo < 0.5 < hi


def test_rank_uncertainty_on_a_case_with_a_known_answer() -> None:
    # A = {0, 10} has resample means 0 (p 1/4), 5 (1/2), 10 (1/4); B is always 4 (lower better):
    # A ranks first only when its mean is 0, so P(A first) = 1/4 and P(B first) = 3/4.
    r = stats.rank_uncertainty({"A": [0.0, 10.0], "B": [4.0, 4.0], "C": [20.0, 21.0]}, lower=True)
    assert r["A"].p_first == pytest.approx(0.25, abs=0.03)
    assert r["B"].p_first == pytest.approx(0.75, abs=0.03)
    assert r["C"].p_first == 0.0 and r["C"].interval == (3, 3)
    assert r["A"].interval == (1, 2) and r["B"].interval == (1, 2)
    higher = stats.rank_uncertainty({"A": [0.0, 10.0], "B": [4.0, 4.0]}, lower=False)
    assert higher["A"].p_first == pytest.approx(0.75, abs=0.03)


def test_separability_and_its_sentence() -> None:
    close = stats.separation([30.0, 31.0, 32.0], [30.5, 31.5, 32.5])
    assert close.verdict == "not separable" and close.diff_ci[0] < 0 < close.diff_ci[1]
    far = stats.separation([1.0, 2.0, 3.0], [10.0, 11.0, 12.0])
    assert far.verdict == "separable" and far.diff_ci[1] < 0
    assert stats.separation([1.0], [10.0, 11.0]).verdict == "unknown"
    text = stats.separation_sentence("dcgan z8", "mlp_vae z8", "fd_digits", close)
    assert text == "dcgan z8 vs mlp_vae z8 on fd_digits: not separable with 3 seeds"


def test_evaluation_spread_and_coefficient_of_variation() -> None:
    # Seed 1 repeats: var(1, 3) = 2; seed 2: var(2, 2, 2) = 0 -> sqrt(mean(2, 0)) = 1.
    assert stats.pooled_eval_std([[1.0, 3.0], [2.0, 2.0, 2.0], [7.0]]) == pytest.approx(1.0)
    assert stats.pooled_eval_std([[1.0]]) is None
    assert stats.coefficient_of_variation([9.0, 11.0]) == pytest.approx(math.sqrt(2) / 10)
    assert stats.coefficient_of_variation([9.0]) is None
