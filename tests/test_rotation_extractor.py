"""The rotation-prediction extractor for unlabelled data: trained on real images, its FD is ~0 between
two real splits and grows with every step of noise and of blur (torch-fidelity computes the FD)."""

from __future__ import annotations

from pathlib import Path
from unittest import mock

import pytest
import torch
from torch_fidelity.metric_fid import KEY_METRIC_FID, fid_features_to_statistics, fid_statistics_to_metric
from torchvision.transforms.functional import gaussian_blur

from bench.datasets import DATASETS, DataContext
from bench.eval import rotation
from bench.eval.rotation import extract, train_rotation_extractor

# A small net and budget so the test trains in seconds; the recipe's defaults are bigger.
SMALL = {"width": 8, "feat_dim": 32, "batch": 32, "max_steps": 40}


def test_fd_is_near_zero_for_real_images_and_rises_with_noise_and_blur(tmp_path: Path) -> None:
    digits = DATASETS.get("digits")(DATASETS.get("digits").Args())
    train, test = digits.load("train", DataContext()), digits.load("test", DataContext())
    net = train_rotation_extractor(train, tmp_path, seed=0, recipe=SMALL)
    reference = fid_features_to_statistics(extract(net, train.images))

    def fd(images: torch.Tensor) -> float:
        stats = fid_features_to_statistics(extract(net, images))
        return fid_statistics_to_metric(reference, stats, False)[KEY_METRIC_FID]

    x = test.images.float() / 127.5 - 1
    noise = torch.randn(x.shape, generator=torch.Generator().manual_seed(1))
    real = fd(test.images)
    noisy = [fd((x + s * noise).clamp(-1, 1)) for s in (0.1, 0.2, 0.4)]
    blurred = [fd(gaussian_blur(x, 9, s)) for s in (1.0, 1.5, 2.5)]
    assert noisy == sorted(noisy) and len(set(noisy)) == 3, noisy
    assert blurred == sorted(blurred) and len(set(blurred)) == 3, blurred
    assert 0 <= real < 0.25 * min(noisy[0], blurred[0]), (real, noisy, blurred)

    # Cached by images, recipe and seed: the same call loads the file instead of training again.
    with mock.patch.object(rotation, "_train", side_effect=AssertionError("trained again")):
        again = train_rotation_extractor(train, tmp_path, seed=0, recipe=SMALL)
    assert torch.equal(extract(again, test.images[:8]), extract(net, test.images[:8]))
    assert len(list((tmp_path / "extractors").glob("rotation-*.pt"))) == 1
    with pytest.raises(ValueError, match="unknown rotation recipe keys"):
        train_rotation_extractor(train, tmp_path, recipe={"depth": 3})
