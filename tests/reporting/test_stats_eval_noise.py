"""Evaluation repeats: variance components shown beside the seed spread, and the interval of the mean
from the seed scores, which already hold each seed's evaluation noise once."""

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


def test_the_interval_comes_from_the_seed_scores_which_hold_the_evaluation_noise() -> None:
    # The t interval over seed scores: evaluation repeats change the display, not the interval.
    means = [40.0, 42.0, 41.0, 45.0]
    s = stats.summarize(means, rows_with_noise(means, eval_sd=2.0, r=5))
    assert s.ci == stats.summarize(means).ci and s.eval_std == pytest.approx(2.0)
    assert s.ci_note() == "t, 3 df; seeds of 5 eval repeats"
    flat = stats.summarize(means, [[m] * 5 for m in means])
    assert flat.eval_std == 0.0 and flat.noise.seed_std == pytest.approx(flat.std)


def test_noise_inside_the_seed_means_is_counted_once() -> None:
    # Seed scores that are means of R = 4 repeats vary by seed_sd^2 + eval_sd^2 / R: the t interval
    # over them covers the true mean at its level (counting the evaluation noise again would not).
    rng = np.random.default_rng(3)
    n, r, studies = 5, 4, 20000
    scores = rng.normal(0.0, 1.0, size=(studies, n)) + rng.normal(0.0, 2.0, size=(studies, n, r)).mean(axis=2)
    lo, hi = stats.t_interval(scores.mean(axis=1), scores.std(axis=1, ddof=1), n)
    coverage = float(np.mean((lo <= 0) & (hi >= 0)))
    assert 0.94 <= coverage <= 0.96
