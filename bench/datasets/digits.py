"""scikit-learn's bundled handwritten digits: 1,797 real 8x8 images that need no download.

Upscaled to 28x28 so MNIST-sized architectures run unchanged; split 80/20, stratified, with a fixed seed.
"""

from __future__ import annotations

import functools

import torch
import torch.nn.functional as F

from bench.datasets.base import DatasetInfo, ImageSplit
from bench.datasets.source import DATASETS, DataContext, DatasetSource

RESOLUTION = 28
SPLIT_SEED = 0
TEST_FRACTION = 0.2


@functools.cache
def _splits() -> dict[str, ImageSplit]:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    x = torch.from_numpy(digits.images).float().unsqueeze(1) / 16.0  # values are 0..16
    # Antialiased bilinear upscaling keeps strokes smooth instead of blocky 3.5x3.5 pixels.
    x = F.interpolate(x, size=(RESOLUTION, RESOLUTION), mode="bilinear", align_corners=False, antialias=True)
    images = (x.clamp(0, 1) * 255).round().to(torch.uint8)
    labels = torch.from_numpy(digits.target).long()
    idx_train, idx_test = train_test_split(
        torch.arange(len(labels)).numpy(),
        test_size=TEST_FRACTION,
        random_state=SPLIT_SEED,
        stratify=labels.numpy(),
    )
    return {
        "train": ImageSplit(images[idx_train], labels[idx_train]),
        "test": ImageSplit(images[idx_test], labels[idx_test]),
    }


@DATASETS.register("digits")
class Digits(DatasetSource):
    def info(self) -> DatasetInfo:
        return DatasetInfo(
            name="digits",
            resolution=RESOLUTION,
            channels=1,
            num_classes=10,
            splits={"train": 1437, "test": 360},
            class_names=tuple(str(i) for i in range(10)),
            source="scikit-learn bundled UCI optical digits (no download)",
            licence="CC BY 4.0 (UCI ML repository)",
            description="1,797 real 8x8 handwritten digits upscaled to 28x28",
        )

    def load(self, split: str, ctx: DataContext) -> ImageSplit:
        return _splits()[split]
