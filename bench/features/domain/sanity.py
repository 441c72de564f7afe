"""The sanity check every domain-extractor objective is held to (README "Evaluation (offline)"): trained
on real images, its FD between two real splits is near 0 and grows with every step of noise and of
blur. One owner for the check, so the test (tests/features/test_domain_objectives.py) and the benchmark that
measures it at the default recipe (benchmarks/domain_objectives.py) compute the same numbers.

The images are scikit-learn's digits (no download), seen as each objective needs them: with their
labels (`classes`), with the 4 bits of each label as binary attributes (`attributes`), or bare
(`rotation`).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import torch
from torchvision.transforms.functional import gaussian_blur

from bench.datasets import DATASETS, DataContext
from bench.datasets.base import DatasetInfo, ImageSplit
from bench.datasets.batches import to_uint8
from bench.features.fidelity import DOMAIN_EXTRACTOR, extract_features, frechet_distance

NOISE = (0.2, 0.4, 0.8)  # std of Gaussian noise on [-1, 1] images
BLUR = (1.0, 1.5, 2.5)  # sigma of a 9x9 Gaussian blur


def _bits(labels: torch.Tensor) -> torch.Tensor:
    """The 4 bits of each digit's label: binary attributes a net can learn from the pixels."""
    return torch.stack([(labels >> b) & 1 for b in range(4)], dim=1)


def digits_as(objective: str) -> tuple[DatasetInfo, ImageSplit, ImageSplit]:
    """(info, train, test) of the digits with what `objective` needs and nothing more."""
    src = DATASETS.get("digits")(DATASETS.get("digits").Args())
    info, train, test = src.info(), src.load("train", DataContext()), src.load("test", DataContext())
    if objective == "classes":
        return info, train, test
    if objective == "attributes":
        info = dataclasses.replace(
            info, name="digits_bits", num_classes=0, factors={f"b{i}": 2 for i in range(4)}
        )
        return info, *(ImageSplit(s.images, factors=_bits(s.labels)) for s in (train, test))
    info = dataclasses.replace(info, name="digits_bare", num_classes=0)
    return info, ImageSplit(train.images), ImageSplit(test.images)


def sanity_fds(
    weights: Path, train: ImageSplit, test: ImageSplit, cuda: bool = False
) -> tuple[float, list[float], list[float]]:
    """(FD real test vs train, FD under each NOISE level, FD under each BLUR level) on the features the
    evaluation extracts (torch-fidelity's loading path) from the extractor file `weights`."""

    def feats(images: torch.Tensor) -> torch.Tensor:
        return extract_features(images, DOMAIN_EXTRACTOR, weights, 500, cuda, ("features",))["features"]

    reference = feats(train.images)
    x = test.images.float() / 127.5 - 1
    noise = torch.randn(x.shape, generator=torch.Generator().manual_seed(1))
    real = frechet_distance(feats(test.images), reference)
    noisy = [frechet_distance(feats(to_uint8(x + s * noise)), reference) for s in NOISE]
    blurred = [frechet_distance(feats(to_uint8(gaussian_blur(x, 9, s))), reference) for s in BLUR]
    return real, noisy, blurred
