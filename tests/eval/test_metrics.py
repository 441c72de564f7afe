"""Distribution metrics against independent formulas written here with numpy/scipy."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg
import torch

from bench.errors import BenchError
from bench.features.fidelity import frechet_distance, kernel_distance, mode_coverage


def features(seed: int, n: int = 400, d: int = 16, shift: float = 0.0) -> torch.Tensor:
    rng = np.random.default_rng(seed)
    a = rng.normal(size=(d, d)) / np.sqrt(d)
    return torch.from_numpy(rng.normal(size=(n, d)) @ a + shift).float()


def fd_reference(x: np.ndarray, y: np.ndarray) -> float:
    mu1, mu2 = x.mean(0), y.mean(0)
    s1, s2 = np.cov(x, rowvar=False), np.cov(y, rowvar=False)
    covmean = scipy.linalg.sqrtm(s1 @ s2).real
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1 + s2 - 2 * covmean))


def test_frechet_distance_matches_scipy_formula() -> None:
    x, y = features(0), features(1, shift=0.3)
    ref = fd_reference(x.double().numpy(), y.double().numpy())
    assert abs(frechet_distance(x, y) - ref) / ref <= 1e-6
    assert abs(frechet_distance(x, x)) < 1e-6


def test_kid_matches_unbiased_mmd_with_cubic_kernel() -> None:
    x, y = features(2, n=60), features(3, n=60, shift=0.5)
    mean, std = kernel_distance(x, y, subsets=1, subset_size=60, seed=0)  # one subset = all samples
    xd, yd = x.double().numpy(), y.double().numpy()
    d = xd.shape[1]

    def k(a, b):
        return (a @ b.T / d + 1) ** 3

    m = len(xd)
    kxx, kyy, kxy = k(xd, xd), k(yd, yd), k(xd, yd)
    ref = (
        (kxx.sum() - np.trace(kxx)) / (m * (m - 1))
        + (kyy.sum() - np.trace(kyy)) / (m * (m - 1))
        - 2 * kxy.mean()
    )
    assert mean == pytest.approx(ref, rel=1e-6) and std == 0.0


def test_kid_refuses_too_few_samples_before_any_work() -> None:
    with pytest.raises(BenchError, match="eval.kid_subset_size: 100 is larger than the 50 images available"):
        kernel_distance(features(0, n=50), features(1, n=500), subsets=10, subset_size=100, seed=0)


def test_mode_coverage_by_hand() -> None:
    # 100 samples over 4 classes: class 0 x60, class 1 x37, class 2 x3, class 3 x0. Threshold is
    # max(1, 0.1 * 100 / 4) = 2.5, so classes 0, 1 and 2 count as covered and 3 does not.
    preds = torch.tensor([0] * 60 + [1] * 37 + [2] * 3)
    logits = torch.nn.functional.one_hot(preds, 4).float()
    real = torch.tensor([0, 1, 2, 3] * 25)
    out = mode_coverage(logits, real, 4)
    assert out["coverage"] == 0.75
    p = np.array([0.6, 0.37, 0.03])
    assert out["class_kl"] == pytest.approx(float((p * np.log(p / 0.25)).sum()))
