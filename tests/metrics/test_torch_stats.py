"""bench.metrics.torch_stats against torch-fidelity's NumPy path and SciPy's sqrtm, on the CPU."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg
import torch
from torch_fidelity.metric_fid import KEY_METRIC_FID, fid_features_to_statistics, fid_statistics_to_metric
from torch_fidelity.metric_kid import KEY_METRIC_KID_MEAN, KEY_METRIC_KID_STD, kid_features_to_metric

from bench.errors import BenchError
from bench.metrics.torch_stats import feature_statistics, frechet_distance, kid, kid_subset_indices

pytestmark = pytest.mark.usefixtures("one_blas_thread")


def correlated(seed: int, n: int, d: int, shift: float = 0.0, scale: float = 1.0) -> torch.Tensor:
    """Features with a non-diagonal covariance, like a network's (float32, as extractors return them).

    The mixing matrix depends on d only, so two seeds draw two samples of one distribution.
    """
    mix = np.random.default_rng(d).normal(size=(d, d)) / np.sqrt(d)
    rng = np.random.default_rng(seed)
    return torch.from_numpy(scale * rng.normal(size=(n, d)) @ mix + shift).float()


def rel(a: float, b: float) -> float:
    return abs(a - b) / abs(b)


@pytest.mark.parametrize("n,d", [(2000, 64), (500, 1024)])  # the second: N < D, singular covariances
def test_fd_equals_torch_fidelity(n: int, d: int) -> None:
    fake, real = correlated(0, n, d, shift=0.05), correlated(1, n, d, scale=1.3)
    ref_fake, ref_real = fid_features_to_statistics(fake.double()), fid_features_to_statistics(real.double())
    ref = fid_statistics_to_metric(ref_fake, ref_real, verbose=False)[KEY_METRIC_FID]
    mu1, s1 = feature_statistics(fake)
    mu2, s2 = feature_statistics(real)
    assert mu1.dtype == s1.dtype == torch.float64
    np.testing.assert_allclose(s1.numpy(), ref_fake["sigma"], rtol=1e-10, atol=1e-12)
    got = frechet_distance(mu1, s1, mu2, s2)
    assert rel(got, ref) <= 1e-6
    # NumPy statistics (torch-fidelity's cache format) are accepted as they are.
    assert (
        rel(frechet_distance(ref_fake["mu"], ref_fake["sigma"], ref_real["mu"], ref_real["sigma"]), ref)
        <= 1e-6
    )


def test_fd_equals_scipy_sqrtm_and_is_zero_on_itself() -> None:
    x, y = correlated(2, 800, 32), correlated(3, 800, 32, shift=0.3, scale=0.7)
    xd, yd = x.double().numpy(), y.double().numpy()
    s1, s2 = np.cov(xd, rowvar=False), np.cov(yd, rowvar=False)
    diff = xd.mean(0) - yd.mean(0)
    ref = diff @ diff + np.trace(s1) + np.trace(s2) - 2 * np.trace(scipy.linalg.sqrtm(s1 @ s2)).real
    assert rel(frechet_distance(*feature_statistics(x), *feature_statistics(y)), ref) <= 1e-6
    stats = feature_statistics(x)
    assert abs(frechet_distance(*stats, *stats)) <= 1e-9 * float(torch.trace(stats[1]))


def test_fd_closed_form_for_diagonal_gaussians() -> None:
    # N(m1, diag(a)) vs N(m2, diag(b)): FD = |m1 - m2|^2 + sum (sqrt(a) - sqrt(b))^2.
    a, b = torch.tensor([1.0, 4.0, 9.0]), torch.tensor([4.0, 1.0, 9.0])
    m1, m2 = torch.tensor([0.0, 1.0, 2.0]), torch.tensor([1.0, 1.0, 0.0])
    expected = 1 + 4 + (1 - 2) ** 2 + (2 - 1) ** 2 + 0
    assert frechet_distance(m1, torch.diag(a), m2, torch.diag(b)) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize(
    "n_fake,n_real,d,subsets,size", [(2000, 1500, 64, 20, 500), (500, 600, 2048, 5, 200)]
)
def test_kid_equals_torch_fidelity(n_fake: int, n_real: int, d: int, subsets: int, size: int) -> None:
    fake, real = correlated(4, n_fake, d, shift=0.1), correlated(5, n_real, d)
    ref = kid_features_to_metric(
        fake.double(), real.double(), kid_subsets=subsets, kid_subset_size=size, rng_seed=7, verbose=False
    )
    mean, std = kid(fake, real, subsets=subsets, subset_size=size, seed=7)
    assert rel(mean, ref[KEY_METRIC_KID_MEAN]) <= 1e-6
    assert rel(std, ref[KEY_METRIC_KID_STD]) <= 1e-6
    other_seed, _ = kid(fake, real, subsets=subsets, subset_size=size, seed=8)
    assert other_seed != mean  # the seed picks the subsets


def test_kid_subsets_are_torch_fidelitys_draws() -> None:
    fake_idx, real_idx = kid_subset_indices(50, 40, subsets=3, subset_size=10, seed=3)
    rng = np.random.RandomState(3)
    for i in range(3):
        np.testing.assert_array_equal(fake_idx[i], rng.choice(50, 10, replace=False))
        np.testing.assert_array_equal(real_idx[i], rng.choice(40, 10, replace=False))
    assert all(len(set(row)) == 10 for row in fake_idx)  # without replacement


def test_kid_of_a_sample_against_itself_is_near_zero_and_shift_raises_it() -> None:
    real = correlated(6, 1000, 16)
    same, _ = kid(correlated(7, 1000, 16), real, subsets=10, subset_size=300, seed=0)
    shifted, _ = kid(correlated(7, 1000, 16, shift=0.5), real, subsets=10, subset_size=300, seed=0)
    assert abs(same) < 0.01 < shifted


def test_bad_sizes_are_refused() -> None:
    with pytest.raises(BenchError, match="kid_subset_size=100"):
        kid(torch.zeros(50, 4), torch.zeros(200, 4), subsets=2, subset_size=100, seed=0)
    with pytest.raises(BenchError, match="one D"):
        frechet_distance(torch.zeros(3), torch.eye(3), torch.zeros(4), torch.eye(4))
    with pytest.raises(BenchError, match="N >= 2"):
        feature_statistics(torch.zeros(1, 5))
