"""What a domain-extractor objective is (features/domain/classifier.py picks one per dataset and trains it;
bench/features/domain/rotation.py holds the self-supervised one): the data it trains on, its loss and its
held-out accuracy. Its own module so that domain.py and rotation.py need not import each other."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import torch

from bench.datasets.base import DatasetInfo, ImageSplit
from bench.features.domain.net import DomainClassifier


@dataclass(frozen=True)
class TrainingSet:
    """What one objective trains on: uint8 images, the size of each head, and each head's target per
    image (rows follow the images; empty for a self-supervised objective, whose targets come from the
    batch itself)."""

    images: torch.Tensor
    head_sizes: tuple[int, ...]
    targets: tuple[torch.Tensor, ...] = ()


class Objective(Protocol):
    name: str
    expansion: int  # network inputs per training image (rotation: 4)

    def applies(self, info: DatasetInfo, split: ImageSplit) -> bool: ...

    def training_set(self, info: DatasetInfo, split: ImageSplit) -> TrainingSet: ...

    def loss(self, net: DomainClassifier, x: torch.Tensor, targets: list[torch.Tensor]) -> torch.Tensor:
        """x: float images in [-1, 1] on the training device; targets: this batch's rows of each head."""
        ...

    def accuracy(self, net: DomainClassifier, info: DatasetInfo, test: ImageSplit) -> float | None:
        """Held-out accuracy of what the net was trained to predict, or None when `test` cannot say."""
        ...
