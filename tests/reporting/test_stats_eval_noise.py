"""The two-level CI (seeds, then each seed's evaluation repeats) on synthetic rows whose answer is
known: no evaluation noise gives the seed bootstrap exactly; evaluation noise larger than the seeds'
spread widens the CI to what that noise allows; noise already inside the seed means is counted once."""

from __future__ import annotations

import math

import numpy as np
import pytest

from bench.reporting import stats


def rows_with_noise(means: list[float], eval_sd: float, r: int, seed: int = 0) -> list[list[float]]:
    """Each seed's R repeats: centred exactly on its mean, with sample sd exactly eval_sd."""
    rng = np.random.default_rng(seed)
    out = []
    for m in means:
        e = rng.normal(size=r)
        e = (e - e.mean()) / e.std(ddof=1) * eval_sd
        out.append(list(m + e))
    return out


def test_variance_components_by_hand() -> None:
    # Seed means 10 and 12 (var 2); repeats (9, 11) and (11, 13): within var 2 each, R = 2, so the
    # seed variance net of evaluation is 2 - 2/2 = 1.
    noise = stats.eval_noise([10.0, 12.0], [[9.0, 11.0], [11.0, 13.0]])
    assert noise.eval_std == pytest.approx(math.sqrt(2.0))
    assert noise.seed_std == pytest.approx(1.0) and noise.repeats == 2
    # Seeds closer together than their evaluation noise allows: no seed spread left, never negative.
    assert stats.eval_noise([10.0, 10.1], [[5.0, 15.0], [5.1, 15.1]]).seed_std == 0.0
    # A seed without two repeats: its evaluation noise cannot be separated, no components.
    assert stats.eval_noise([10.0, 12.0], [[9.0, 11.0], None]) is None
    assert stats.eval_noise([10.0, 12.0], [[9.0, 11.0], [12.0]]) is None


def test_zero_evaluation_noise_is_the_seed_bootstrap() -> None:
    means = [40.0, 42.0, 41.0, 45.0]
    flat = [[m] * 5 for m in means]
    assert stats.bootstrap_ci(means, repeats=flat) == stats.bootstrap_ci(means)
    s = stats.summarize(means, flat)
    assert s.ci == stats.bootstrap_ci(means) and s.eval_std == 0.0
    assert s.noise.seed_std == pytest.approx(s.std)


def test_large_evaluation_noise_widens_the_ci() -> None:
    means = [20.0, 20.1, 20.2]  # seeds that happen to agree closely
    seeds_only = stats.bootstrap_ci(means)
    both = stats.bootstrap_ci(means, repeats=rows_with_noise(means, eval_sd=2.0, r=8))
    assert both[1] - both[0] > 5 * (seeds_only[1] - seeds_only[0])
    # All of the spread is evaluation noise: the CI is about mean ± 1.96 * 2 / sqrt(3 * 8).
    half = 1.96 * 2.0 / math.sqrt(3 * 8)
    assert (both[1] - both[0]) / 2 == pytest.approx(half, rel=0.15)
    assert stats.summarize(means, rows_with_noise(means, 2.0, 8)).ci_note() == "seeds x 8 eval repeats"


def test_noise_inside_the_seed_means_is_counted_once() -> None:
    # 40 seeds, spread 1 between seeds, evaluation sd 2 with R = 4 (as much noise from each level).
    # The two-level draws' variance is ((n-1)/n * seed_std^2 + eval_sd^2 / R) / n; resampling both
    # levels as they are would add the evaluation part a second time.
    rng = np.random.default_rng(3)
    n, r = 40, 4
    centres = rng.normal(50.0, 1.0, size=n)
    reps = [list(c + rng.normal(0.0, 2.0, size=r)) for c in centres]
    means = [float(np.mean(x)) for x in reps]
    noise = stats.eval_noise(means, reps)
    draws = stats.hierarchical_means(means, reps, 20000, np.random.default_rng(0))
    expected = ((n - 1) / n * noise.seed_std**2 + noise.eval_std**2 / r) / n
    assert draws.var() == pytest.approx(expected, rel=0.05)
    assert draws.var() == pytest.approx(np.var(means, ddof=0) / n, rel=0.05)  # the seed bootstrap's
    naive = expected + noise.eval_std**2 / r / n
    assert draws.var() < 0.8 * naive


def test_separation_and_ranks_use_the_evaluation_noise() -> None:
    a, b = [20.0, 20.1, 20.2], [21.0, 21.1, 21.2]
    assert stats.separation(a, b).verdict == "separable"
    noisy = stats.separation(a, b, rows_with_noise(a, 3.0, 5), rows_with_noise(b, 3.0, 5, seed=1))
    assert noisy.verdict == "not separable"
    plain = stats.rank_uncertainty({"a": a, "b": b}, lower=True)
    both = stats.rank_uncertainty(
        {"a": a, "b": b}, lower=True, repeats={"a": rows_with_noise(a, 3.0, 5), "b": None}
    )
    assert plain["a"].p_first == 1.0 and both["a"].p_first < 0.95
