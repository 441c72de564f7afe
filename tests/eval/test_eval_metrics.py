"""The harness's metric arithmetic against independent formulas written here (numpy/scipy), features
that do not depend on the batch size, and sizes refused before any work."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg
import torch

from bench.config import EvalConfig
from bench.datasets import DATASETS, DataContext
from bench.errors import BenchError
from bench.eval.evaluate import domain, evaluate_samples
from bench.features.fidelity import (
    extract_features,
    feature_statistics,
    frechet_distance_from_stats,
    inception_score,
    precision_recall,
)


def feats(seed: int, n: int = 300, d: int = 12, shift: float = 0.0) -> torch.Tensor:
    rng = np.random.default_rng(seed)
    return torch.from_numpy(rng.normal(size=(n, d)) @ (rng.normal(size=(d, d)) / np.sqrt(d)) + shift).float()


def test_fd_from_cached_statistics_matches_scipy() -> None:
    x, y = feats(0), feats(1, shift=0.2)
    xd, yd = x.double().numpy(), y.double().numpy()
    s1, s2 = np.cov(xd, rowvar=False), np.cov(yd, rowvar=False)
    ref = ((xd.mean(0) - yd.mean(0)) ** 2).sum() + np.trace(s1 + s2 - 2 * scipy.linalg.sqrtm(s1 @ s2).real)
    got = frechet_distance_from_stats(feature_statistics(x), feature_statistics(y))
    assert abs(got - ref) / ref <= 1e-6


def test_inception_score_matches_its_formula() -> None:
    logits = feats(3, n=40, d=5) * 3
    mean, std = inception_score(logits, splits=1, seed=0)  # one split: order does not matter
    p = torch.softmax(logits.double(), 1).numpy()
    ref = np.exp((p * (np.log(p) - np.log(p.mean(0, keepdims=True)))).sum(1).mean())
    assert mean == pytest.approx(ref, rel=1e-9) and std == 0.0


def test_precision_recall_match_k_nearest_neighbour_balls() -> None:
    fake, real = feats(4, n=60, d=3), feats(5, n=70, d=3, shift=0.5)
    f, r = fake.double().numpy(), real.double().numpy()

    def radii(a: np.ndarray) -> np.ndarray:  # distance to the 3rd nearest other point
        d = np.linalg.norm(a[:, None] - a[None], axis=2)
        return np.sort(d, axis=1)[:, 3]

    d_fr = np.linalg.norm(f[:, None] - r[None], axis=2)
    precision = (d_fr <= radii(r)[None]).any(1).mean()
    recall = (radii(f)[None] >= d_fr.T).any(1).mean()
    p, rc = precision_recall(fake, real, neighborhood=3)
    assert p == pytest.approx(precision, abs=1e-6) and rc == pytest.approx(recall, abs=1e-6)  # float32


@pytest.fixture(scope="module")
def digits_domain():
    src = DATASETS.get("digits")(DATASETS.get("digits").Args())
    ctx = DataContext.from_env()
    train, test = src.load("train", ctx), src.load("test", ctx)
    return domain(src.info(), train, test, ctx.cache_dir.parent), test, ctx.cache_dir.parent


def test_features_do_not_depend_on_the_batch_size(digits_domain) -> None:
    ext, test, _ = digits_domain
    images = test.images[:90]
    a = extract_features(images, ext.fidelity_name, ext.weights, 7, False, ext.layers)
    b = extract_features(images, ext.fidelity_name, ext.weights, 90, False, ext.layers)
    for layer in ext.layers:
        torch.testing.assert_close(a[layer], b[layer], rtol=1e-5, atol=1e-5)


def test_kid_with_too_few_samples_is_refused_before_sampling(digits_domain) -> None:
    ext, test, cache = digits_domain
    drawn = []

    def sampler(j, size, g):
        drawn.append(size)
        return torch.zeros(size, 1, 28, 28)

    ev = EvalConfig(metrics=["kid"], n_samples=30, kid_subset_size=100)
    with pytest.raises(BenchError, match=r"kid_subset_size: 100 is larger than the 30 images available"):
        evaluate_samples(
            sampler,
            torch.device("cpu"),
            test,
            {"dataset": "digits", "split": "test"},
            ev,
            ["kid"],
            {"domain": ext},
            cache,
            False,
        )
    assert drawn == []
