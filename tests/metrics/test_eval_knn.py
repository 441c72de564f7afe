"""bench.metrics.knn: hand-counted point sets, torch-fidelity's precision/recall, memorisation."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch_fidelity.metric_prc import KEY_METRIC_PRECISION, KEY_METRIC_RECALL, prc_features_to_metric

from bench.errors import BenchError
from bench.metrics.knn import (
    authentic,
    closest_pairs,
    data_copying_ct,
    density_coverage,
    knn_radii,
    mann_whitney_z,
    memorisation,
    precision_recall_knn,
)

pytestmark = pytest.mark.usefixtures("one_blas_thread")


def points(*xs: float) -> torch.Tensor:
    return torch.tensor(xs, dtype=torch.float64).unsqueeze(1)


REAL = points(0, 1, 3, 6)
FAKE = points(0.5, 2.5, 10)


def test_knn_radii_by_hand() -> None:
    # Distances from 0, 1, 3, 6 to the others: {1,3,6}, {1,2,5}, {3,2,3}, {6,5,3}.
    assert knn_radii(REAL, 1).tolist() == [1, 1, 2, 3]
    assert knn_radii(REAL, 2).tolist() == [3, 2, 3, 5]
    assert knn_radii(points(0, 0, 4), 1).tolist() == [0, 0, 4]  # a duplicate is a neighbour at 0


def test_density_coverage_by_hand_k1() -> None:
    # radii 1, 1, 2, 3. 0.5 lies in the balls of 0 and 1; 2.5 in the ball of 3; 10 in none.
    # density = (2 + 1 + 0) / (1 * 3) = 1; covered real points: 0, 1, 3 -> 3 / 4.
    assert density_coverage(REAL, FAKE, k=1) == {"density": 1.0, "coverage": 0.75}


def test_density_coverage_by_hand_k2() -> None:
    # radii 3, 2, 3, 5. 0.5 is in the balls of 0, 1, 3 (3 hits); 2.5 in all four; 10 only in 6's (|10-6| = 4).
    # density = 8 / (2 * 3) = 4 / 3 (> 1 is allowed); every real point is covered.
    out = density_coverage(REAL, FAKE, k=2)
    assert out["density"] == pytest.approx(4 / 3, rel=1e-12)
    assert out["coverage"] == 1.0


def test_density_coverage_in_2d_and_the_ball_is_closed() -> None:
    real = torch.tensor([[0.0, 0.0], [3.0, 0.0], [0.0, 4.0]])  # pairwise distances 3, 4, 5
    # k=1 radii: 3, 3, 4. A fake exactly on the circle of radius 3 around (0, 0) counts (<=).
    fake = torch.tensor([[0.0, 3.0], [10.0, 10.0]])
    # (0, 3): to (0,0) 3 <= 3 yes; to (3,0) sqrt(18) > 3; to (0,4) 1 <= 4 yes -> 2 hits.
    assert density_coverage(real, fake, k=1) == {"density": 1.0, "coverage": 2 / 3}


def test_precision_recall_by_hand() -> None:
    # Real radii (k=1) 1, 1, 2, 3: 0.5 and 2.5 are inside, 10 is not -> precision 2/3.
    # Fake radii (k=1): 2, 2, 7.5; 0, 1, 3 lie within 2 of a fake, 6 within 7.5 of 10 -> recall 1.
    out = precision_recall_knn(REAL, FAKE, k=1)
    assert out["precision"] == pytest.approx(2 / 3)
    assert out["recall"] == 1.0


def test_precision_recall_equal_torch_fidelitys() -> None:
    rng = np.random.default_rng(0)
    real = torch.from_numpy(rng.normal(size=(600, 16))).float()
    fake = torch.from_numpy(rng.normal(size=(500, 16)) * 1.2 + 0.3).float()
    ref = prc_features_to_metric(fake, real, prc_neighborhood=3, prc_batch_size=10000, verbose=False)
    got = precision_recall_knn(real, fake, k=3, block=128)  # several blocks
    # torch-fidelity averages in float32: equal counts agree to float32 rounding, one sample apart would
    # differ by 1/500.
    assert got["precision"] == pytest.approx(ref[KEY_METRIC_PRECISION], abs=1e-6)
    assert got["recall"] == pytest.approx(ref[KEY_METRIC_RECALL], abs=1e-6)


def test_blocks_do_not_change_the_result() -> None:
    rng = np.random.default_rng(1)
    real, fake = torch.from_numpy(rng.normal(size=(300, 8))), torch.from_numpy(rng.normal(size=(250, 8)))
    assert density_coverage(real, fake, block=7) == density_coverage(real, fake, block=4096)


def test_authenticity_by_hand() -> None:
    train = points(0, 10)  # each training point's nearest other is 10 away
    # 1 is 1 from 0 (<= 10: unauthentic), 12 is 2 from 10 (unauthentic), 25 is 15 from 10 (authentic).
    assert authentic(train, points(1, 12, 25)).tolist() == [False, False, True]


def test_mann_whitney_z_by_hand() -> None:
    # Fake distances 0.5, 2.5 vs test 1, 2, 3: U = #(fake > test) = 0 + 2 = 2; m n = 6;
    # Z = (2 - (3 - 0.5)) / sqrt(6 * 6 / 12) = -0.5 / sqrt(3).
    assert mann_whitney_z(np.array([0.5, 2.5]), np.array([1.0, 2.0, 3.0])) == pytest.approx(-0.5 / np.sqrt(3))


def test_closest_pairs_by_hand() -> None:
    train = points(0, 10, 20)
    fake = points(9.0, 20.5, 4.0, 0.2)
    out = closest_pairs(train, fake, n=3)
    assert out["fake_index"] == [3, 1, 0]
    assert out["train_index"] == [0, 2, 1]
    assert out["distance"] == pytest.approx([0.2, 0.5, 1.0])


# ---- behaviour: a copying generator is flagged, held-out real data are not -----------------------

D = 24


def mixture(seed: int, n: int) -> torch.Tensor:
    """Samples of one fixed 4-component Gaussian mixture (the means depend on nothing but D)."""
    means = np.random.default_rng(123).normal(size=(4, D)) * 3
    rng = np.random.default_rng(seed)
    return torch.from_numpy(means[rng.integers(0, 4, n)] + rng.normal(size=(n, D))).float()


@pytest.fixture(scope="module")
def splits() -> dict[str, torch.Tensor]:
    return {"train": mixture(0, 1500), "test": mixture(1, 600)}


def test_a_generator_returning_training_samples_is_flagged(splits: dict[str, torch.Tensor]) -> None:
    train = splits["train"]
    pick = np.random.default_rng(2).choice(len(train), 600, replace=False)
    copies = train[pick] + 1e-3 * torch.from_numpy(np.random.default_rng(3).normal(size=(600, D))).float()
    out = memorisation(train, splits["test"], copies, cells=4)
    assert out["copies"] is True
    assert out["c_t"] < -10 and out["z_u"] < -10
    assert out["authentic_share"] == 0.0
    pairs = closest_pairs(train, copies, n=5)
    nearest_train = dict(zip(pairs["fake_index"], pairs["train_index"], strict=True))
    assert all(train_j == pick[fake_i] for fake_i, train_j in nearest_train.items())


def test_held_out_real_data_are_not_flagged(splits: dict[str, torch.Tensor]) -> None:
    out = memorisation(splits["train"], splits["test"], mixture(4, 600), cells=4)
    assert out["copies"] is False
    assert abs(out["c_t"]) < 3 and abs(out["z_u"]) < 3
    assert out["authentic_share"] == pytest.approx(out["authentic_share_test"], abs=0.1)


def test_an_underfitting_generator_is_not_called_a_copier(splits: dict[str, torch.Tensor]) -> None:
    blurry = mixture(5, 600) * 1.5  # farther from the training samples than held-out data
    out = memorisation(splits["train"], splits["test"], blurry, cells=4)
    assert out["c_t"] > 3 and out["copies"] is False


def test_data_copying_refuses_a_partition_it_cannot_fill(splits: dict[str, torch.Tensor]) -> None:
    with pytest.raises(BenchError, match="generated samples"):
        data_copying_ct(splits["train"], splits["test"], mixture(6, 10), cells=4, min_fake_per_cell=20)
    with pytest.raises(BenchError, match="cells"):
        data_copying_ct(splits["train"][:6], splits["test"], mixture(6, 10), cells=4)
