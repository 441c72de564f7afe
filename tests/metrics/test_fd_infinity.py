"""bench.metrics.fd_infinity: the 1/N fit on constructed values and FD_inf on Gaussians with a known FD."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from bench.errors import BenchError
from bench.metrics.fd_infinity import fd_infinity, fd_infinity_sizes, fit_inverse_n

pytestmark = pytest.mark.usefixtures("one_blas_thread")


def test_fit_recovers_a_plus_b_over_n_exactly() -> None:
    ns = [500, 1000, 2000, 4000, 8000]
    out = fit_inverse_n(ns, [12.5 + 3000.0 / n for n in ns])
    assert out["intercept"] == pytest.approx(12.5, rel=1e-12)
    assert out["slope"] == pytest.approx(3000.0, rel=1e-12)
    assert out["r2"] == pytest.approx(1.0, abs=1e-12)


def test_sizes_are_spaced_like_the_paper() -> None:
    assert fd_infinity_sizes(50_000) == [int(x) for x in np.linspace(5000, 50_000, 15)]
    assert fd_infinity_sizes(1000, points=4) == [100, 400, 700, 1000]


def test_fd_inf_is_closer_to_the_true_fd_than_fd_at_the_largest_n() -> None:
    # Real: N(0, I); generated: N(m, diag(s^2)). The FD between the distributions is
    # |m|^2 + tr(I + S - 2 S^(1/2)) = |m|^2 + sum_i (1 - s_i)^2.
    d = 64
    m, s = np.full(d, 0.1), np.linspace(0.5, 1.5, d)
    true_fd = m @ m + ((1 - s) ** 2).sum()
    fake = torch.from_numpy(m + np.random.default_rng(0).normal(size=(4000, d)) * s)
    out = fd_infinity(fake, (np.zeros(d), np.eye(d)), fd_infinity_sizes(4000), seed=0)
    largest = out["fd_at_n"][4000]
    assert abs(out["fd_inf"] - true_fd) < abs(largest - true_fd) / 5
    assert largest > true_fd and out["slope"] > 0  # the finite-N bias is upward
    assert out["r2"] > 0.95
    assert sorted(out["fd_at_n"]) == fd_infinity_sizes(4000)
    assert fd_infinity(fake, (np.zeros(d), np.eye(d)), [400, 4000], seed=0)["fd_at_n"][4000] == pytest.approx(
        largest
    )


def test_the_seed_picks_the_subsets() -> None:
    fake = torch.from_numpy(np.random.default_rng(1).normal(size=(300, 4)))
    stats = (np.zeros(4), np.eye(4))
    a = fd_infinity(fake, stats, [50, 100, 200], seed=0)
    assert a == fd_infinity(fake, stats, [50, 100, 200], seed=0)
    assert a["fd_at_n"][50] != fd_infinity(fake, stats, [50, 100, 200], seed=1)["fd_at_n"][50]


def test_sizes_it_cannot_use_are_refused() -> None:
    fake = torch.zeros(100, 3)
    with pytest.raises(BenchError, match="two distinct subset sizes"):
        fd_infinity(fake, (np.zeros(3), np.eye(3)), [50, 200], seed=0)
    with pytest.raises(BenchError, match="two distinct subset sizes"):
        fd_infinity(fake, (np.zeros(3), np.eye(3)), [50, 50], seed=0)
