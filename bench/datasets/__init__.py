"""Datasets by name. Importing this package registers every built-in dataset."""

# Registration: each module registers its datasets on import.
from bench.datasets import (  # noqa: F401
    celeba,
    digits,
    dsprites,
    folders,
    mnist5k,
    tiny_imagenet,
    torchvision_sets,
)
from bench.datasets.base import DatasetInfo, ImageSplit
from bench.datasets.source import DATASETS, DataContext, DatasetSource

__all__ = ["DATASETS", "DataContext", "DatasetInfo", "DatasetSource", "ImageSplit"]
