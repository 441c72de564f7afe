"""MNIST, CIFAR-10 and SVHN, read and downloaded through torchvision's own dataset classes.

torchvision parses the files (and checks CIFAR's and SVHN's MD5 sums); this module turns a split into
one uint8 tensor at the grid's resolution, caches it, and applies a class subset when the grid names
one. Split sizes and per-class counts are the published ones, so `info()` never touches the disk.
"""

from __future__ import annotations

import gzip
import os
import shutil
import tempfile
from abc import abstractmethod
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from pydantic import Field

from bench.datasets.base import DatasetInfo, ImageSplit
from bench.datasets.cache import cached_split, file_identity
from bench.datasets.decode import resize_uint8
from bench.datasets.derived import ClassSubsetArgs, select_classes, subset_sizes
from bench.datasets.fetch import Remote, RemoteDataset, require_file
from bench.datasets.source import DATASETS, DataContext

READER_VERSION = 1  # bump when the conversion below changes, so cached tensors are rebuilt


def _resolution(default: int) -> Any:
    return Field(default, ge=8, le=512, description="square side in pixels; resized antialiased")


class TorchvisionArgs(ClassSubsetArgs):
    resolution: int = _resolution(32)


class _TorchvisionSet(RemoteDataset):
    """A labelled torchvision dataset held as uint8 tensors; subclasses fill the constants and `read`."""

    args: TorchvisionArgs
    NAME: ClassVar[str]
    CHANNELS: ClassVar[int]
    # Published images per class for each split, in class order; their sums are the split sizes.
    COUNTS: ClassVar[dict[str, tuple[int, ...]]]
    SOURCE: ClassVar[str]
    LICENCE: ClassVar[str]
    DESCRIPTION: ClassVar[str]

    def class_names(self) -> tuple[str, ...]:
        return self.args.CLASS_NAMES

    def info(self) -> DatasetInfo:
        a = self.args
        kept = a.chosen()
        return DatasetInfo(
            name=self.NAME if a.classes is None else f"{self.NAME}_{'-'.join(kept)}",
            resolution=a.resolution,
            channels=self.CHANNELS,
            num_classes=len(kept),
            splits=self.split_sizes(kept),
            class_names=kept,
            source=self.SOURCE,
            licence=self.LICENCE,
            description=self.DESCRIPTION,
        )

    def split_sizes(self, kept: tuple[str, ...]) -> dict[str, int]:
        return subset_sizes(self.COUNTS, self.class_names(), kept)

    def split_files(self, folder: Path, split: str, ctx: DataContext) -> list[Path]:
        """The files a split is read from (they key its cache entry)."""
        return [folder / f for f in self.remote.files]

    @abstractmethod
    def read(self, folder: Path, split: str) -> tuple[torch.Tensor, torch.Tensor]:
        """(uint8 NCHW images at the native resolution, int64 labels) of one split, via torchvision."""

    def load(self, split: str, ctx: DataContext) -> ImageSplit:
        sizes = self.info().splits
        if split not in sizes:
            raise ValueError(f"{self.NAME} has no split {split!r}; splits: {', '.join(sizes)}")
        folder = self.folder(ctx)
        res = self.args.resolution

        def build() -> ImageSplit:
            images, labels = self.read(folder, split)
            return ImageSplit(resize_uint8(images, res), labels)

        recipe = {"dataset": self.NAME, "reader": READER_VERSION, "resolution": res}
        files = self.split_files(folder, split, ctx)
        whole = cached_split(
            ctx.cache_dir, self.NAME, split, recipe, file_identity(files, folder.parent), build
        )
        return select_classes(whole, self.class_names(), self.args.chosen())


# ---------------------------------------------------------------- MNIST

MNIST_RAW = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)


class MNISTArgs(TorchvisionArgs):
    CLASS_NAMES: ClassVar[tuple[str, ...]] = tuple(str(i) for i in range(10))
    resolution: int = _resolution(28)


def _download_mnist(dest: Path) -> None:
    from torchvision.datasets import MNIST

    MNIST(str(dest), train=True, download=True)  # fetches all four files, checking their MD5s


def _gunzip_missing(raw: Path) -> None:
    """torchvision reads the decompressed idx files; a root holding only the .gz files (as published)
    gets them decompressed once, through a temporary file so a kill leaves no truncated idx file."""
    for name in MNIST_RAW:
        if not (raw / name).is_file():
            fd, tmp = tempfile.mkstemp(dir=raw, prefix=f".{name}.", suffix=".tmp")
            try:
                with gzip.open(raw / f"{name}.gz", "rb") as src, os.fdopen(fd, "wb") as dst:
                    shutil.copyfileobj(src, dst)
                os.replace(tmp, raw / name)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise


@DATASETS.register("mnist")
class MNIST(_TorchvisionSet):
    Args = MNISTArgs
    NAME, CHANNELS = "mnist", 1
    COUNTS: ClassVar[dict[str, tuple[int, ...]]] = {
        "train": (5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949),
        "test": (980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009),
    }
    SOURCE = "torchvision.datasets.MNIST (LeCun et al. 1998)"
    LICENCE = "CC BY-SA 3.0"
    DESCRIPTION = "70,000 28x28 grayscale handwritten digits"
    remote = Remote(
        name="mnist",
        folder="MNIST",
        files=tuple(f"raw/{n}.gz" for n in MNIST_RAW),
        download=_download_mnist,
        size="about 12 MB",
    )

    def read(self, folder: Path, split: str) -> tuple[torch.Tensor, torch.Tensor]:
        from torchvision.datasets import MNIST as TorchvisionMNIST

        _gunzip_missing(folder / "raw")
        ds = TorchvisionMNIST(str(folder.parent), train=split == "train", download=False)
        return ds.data.unsqueeze(1).contiguous(), ds.targets.long()


# ---------------------------------------------------------------- CIFAR-10


class CIFAR10Args(TorchvisionArgs):
    CLASS_NAMES: ClassVar[tuple[str, ...]] = (
        "airplane",
        "automobile",
        "bird",
        "cat",
        "deer",
        "dog",
        "frog",
        "horse",
        "ship",
        "truck",
    )


def _download_cifar10(dest: Path) -> None:
    from torchvision.datasets import CIFAR10

    CIFAR10(str(dest), train=True, download=True)  # the archive's MD5, then every batch's


@DATASETS.register("cifar10")
class CIFAR10(_TorchvisionSet):
    Args = CIFAR10Args
    NAME, CHANNELS = "cifar10", 3
    COUNTS: ClassVar[dict[str, tuple[int, ...]]] = {"train": (5000,) * 10, "test": (1000,) * 10}
    SOURCE = "torchvision.datasets.CIFAR10 (Krizhevsky 2009)"
    LICENCE = "no licence stated; free for research with citation"
    DESCRIPTION = "60,000 32x32 colour images in 10 classes"
    remote = Remote(
        name="cifar10",
        folder="cifar-10-batches-py",
        files=(*(f"data_batch_{i}" for i in range(1, 6)), "test_batch", "batches.meta"),
        download=_download_cifar10,
        size="about 163 MB",
    )

    def split_files(self, folder: Path, split: str, ctx: DataContext) -> list[Path]:
        names = [f"data_batch_{i}" for i in range(1, 6)] if split == "train" else ["test_batch"]
        return [folder / n for n in names]

    def read(self, folder: Path, split: str) -> tuple[torch.Tensor, torch.Tensor]:
        from torchvision.datasets import CIFAR10 as TorchvisionCIFAR10

        ds = TorchvisionCIFAR10(str(folder.parent), train=split == "train", download=False)
        if tuple(ds.classes) != self.class_names():
            raise ValueError(f"{folder}/batches.meta names classes {ds.classes}, not CIFAR-10's")
        images = torch.from_numpy(np.ascontiguousarray(ds.data.transpose(0, 3, 1, 2)))
        return images, torch.tensor(ds.targets, dtype=torch.int64)


# ---------------------------------------------------------------- SVHN

SVHN_FILES = {"train": "train_32x32.mat", "test": "test_32x32.mat", "extra": "extra_32x32.mat"}


class SVHNArgs(TorchvisionArgs):
    CLASS_NAMES: ClassVar[tuple[str, ...]] = tuple(str(i) for i in range(10))
    extra_in_train: bool = Field(
        False, description="train on train + the 531,131 `extra` images (604,388), as most SVHN papers do"
    )


def _download_svhn(dest: Path) -> None:
    from torchvision.datasets import SVHN as TorchvisionSVHN

    for split in SVHN_FILES:  # each .mat checked against its MD5
        TorchvisionSVHN(str(dest / "svhn"), split=split, download=True)


@DATASETS.register("svhn")
class SVHN(_TorchvisionSet):
    Args = SVHNArgs
    args: SVHNArgs
    NAME, CHANNELS = "svhn", 3
    # torchvision relabels the digit 0 (stored as 10) to class 0.
    COUNTS: ClassVar[dict[str, tuple[int, ...]]] = {
        "train": (4948, 13861, 10585, 8497, 7458, 6882, 5727, 5595, 5045, 4659),
        "test": (1744, 5099, 4149, 2882, 2523, 2384, 1977, 2019, 1660, 1595),
    }
    EXTRA = 531_131  # per-class counts of `extra` are not published with the data
    SOURCE = "torchvision.datasets.SVHN (Netzer et al. 2011), cropped digits"
    LICENCE = "non-commercial use only"
    DESCRIPTION = "32x32 house-number digits: train 73,257, test 26,032, extra 531,131"
    remote = Remote(
        name="svhn",
        folder="svhn",
        files=(SVHN_FILES["train"], SVHN_FILES["test"]),
        optional=(SVHN_FILES["extra"],),
        download=_download_svhn,
        size="about 1.6 GB with extra",
    )

    def split_sizes(self, kept: tuple[str, ...]) -> dict[str, int]:
        sizes = super().split_sizes(kept)
        # Unknown per-class counts of `extra`: 0 means "known once loaded" (grid checks skip it).
        extra = self.EXTRA if len(kept) == len(self.class_names()) else 0
        sizes["extra"] = extra
        if self.args.extra_in_train:
            sizes["train"] = sizes["train"] + extra if extra else 0
        return sizes

    def _parts(self, split: str) -> list[str]:
        return ["train", "extra"] if split == "train" and self.args.extra_in_train else [split]

    def split_files(self, folder: Path, split: str, ctx: DataContext) -> list[Path]:
        return [require_file(self.remote, ctx, SVHN_FILES[p]) for p in self._parts(split)]

    def read(self, folder: Path, split: str) -> tuple[torch.Tensor, torch.Tensor]:
        from torchvision.datasets import SVHN as TorchvisionSVHN

        images, labels = [], []
        for part in self._parts(split):
            ds = TorchvisionSVHN(str(folder), split=part, download=False)
            images.append(torch.from_numpy(np.ascontiguousarray(ds.data)))
            labels.append(torch.from_numpy(ds.labels.astype(np.int64)))
        return torch.cat(images), torch.cat(labels)
