"""The dataset contract: a registered class that describes itself and loads splits as uint8 tensors."""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from pydantic import Field

from bench.config import StrictModel
from bench.datasets.base import DatasetInfo, ImageSplit
from bench.datasets.integrity import DataReport
from bench.registry import Registry


class NoArgs(StrictModel):
    pass


def cache_root() -> Path:
    """BENCH_CACHE, else ~/.cache/bench: derived data (generated datasets, classifiers, statistics)."""
    return Path(os.environ.get("BENCH_CACHE") or Path.home() / ".cache" / "bench")


class DataSettings(StrictModel):
    """A grid's `data:` key. Not part of any cell's identity: moving the data changes no cell id."""

    root: str | None = Field(None, description="data root; --data-root and BENCH_DATA take precedence")
    download: bool = Field(False, description="fetch missing datasets before the first cell runs")


@dataclass(frozen=True)
class DataContext:
    """Where data lives; datasets that download read `data_root`, generated ones write to `cache_dir`."""

    data_root: Path | None = None
    cache_dir: Path = Path()
    download: bool = False

    @classmethod
    def from_env(cls) -> DataContext:
        root = os.environ.get("BENCH_DATA")
        return cls(data_root=Path(root) if root else None, cache_dir=cache_root() / "data")


class DatasetSource(ABC):
    """A dataset family; instances are bound to the validated arguments a grid gave it."""

    Args: ClassVar[type[StrictModel]] = NoArgs
    # Arguments `bench list datasets` describes the dataset with, for datasets with required arguments.
    example_args: ClassVar[dict[str, Any]] = {}

    def __init__(self, args: StrictModel) -> None:
        self.args = args

    @abstractmethod
    def info(self) -> DatasetInfo: ...

    def published_info(self) -> DatasetInfo:
        """The facts of the dataset as published, for `bench list datasets`: read from no file. A family
        whose `info()` follows the user's copy (tiny-ImageNet's class count) says what the original has."""
        return self.info()

    @abstractmethod
    def load(self, split: str, ctx: DataContext) -> ImageSplit: ...

    def check(self, ctx: DataContext, deep: bool = True) -> DataReport:
        """What `bench data check` prints: problems (refuse), warnings (used, but said). Datasets that
        read files override it (RemoteDataset); others pass when `require` does."""
        from bench.errors import BenchError

        report = DataReport(type(self).__name__.lower())
        try:
            self.require(ctx)
        except BenchError as err:
            report.problems.append(str(err))
        report.summary = report.summary or "needs no files"
        return report

    def require(self, ctx: DataContext) -> None:
        """Raise BenchError when files this dataset reads are missing (fetching them first when
        ctx.download). `bench run` calls it for every dataset of a grid before anything is written;
        `load` calls it too, so a cell on a machine without the files fails with the same line.
        Datasets that need no files (bundled, generated) keep this no-op."""
        return None


DATASETS: Registry[type[DatasetSource]] = Registry("dataset")
