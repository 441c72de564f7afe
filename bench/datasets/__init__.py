"""Datasets by name. Importing this package registers every built-in dataset."""

from bench.datasets import digits, dsprites  # noqa: F401  (registration)
from bench.datasets.base import DatasetInfo, ImageSplit
from bench.datasets.source import DATASETS, DataContext, DatasetSource

__all__ = ["DATASETS", "DataContext", "DatasetInfo", "DatasetSource", "ImageSplit"]
