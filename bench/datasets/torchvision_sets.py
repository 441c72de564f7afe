"""MNIST, CIFAR-10 and SVHN: downloaded through torchvision's dataset classes, read by bench.

torchvision's classes download the files and publish their MD5s; `bench run` and `bench data check`
compare against those MD5s and accept a copy that differs but reads correctly (integrity.py). The files
are then parsed by bench's readers (readers.py) exactly as torchvision parses them, so a valid copy is
never refused by torchvision's MD5 gate ("Dataset not found or corrupted"). This module turns a split
into one uint8 tensor at the grid's resolution, caches it, and applies a class subset when the grid
names one. Split sizes and per-class counts are the published ones, so `info()` never touches the disk.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from pydantic import Field

from bench.datasets import readers
from bench.datasets.base import DatasetInfo, ImageSplit
from bench.datasets.cache import cached_split, file_identity
from bench.datasets.decode import resize_uint8
from bench.datasets.derived import ClassSubsetArgs, select_classes, subset_sizes
from bench.datasets.fetch import Remote, RemoteDataset, fetch_command
from bench.datasets.integrity import Expected, repair_hint
from bench.datasets.readers import BadFile
from bench.datasets.source import DATASETS, DataContext
from bench.errors import BenchError

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

    def split_files(self, folder: Path, split: str, ctx: DataContext | None = None) -> list[Path]:
        """The files a split is read from (they key its cache entry)."""
        return [folder / f for f in self.remote.files]

    @abstractmethod
    def read(self, folder: Path, split: str, root: Path | None) -> tuple[torch.Tensor, torch.Tensor]:
        """(uint8 NCHW images at the native resolution, int64 labels) of one split."""

    def parse(self, path: Path, reader: Callable[[Path], Any], folder: Path, root: Path | None) -> Any:
        """reader(path), a BadFile turned into the one-line error naming the file and the fix."""
        try:
            return reader(path)
        except BadFile as err:
            hint = repair_hint(self.NAME, folder, fetch_command(self.NAME, root))
            raise BenchError(f"{self.NAME}: {path} {err}; {hint}") from None

    def load(self, split: str, ctx: DataContext) -> ImageSplit:
        sizes = self.info().splits
        if split not in sizes:
            raise ValueError(f"{self.NAME} has no split {split!r}; splits: {', '.join(sizes)}")
        folder = self.folder(ctx)
        res = self.args.resolution

        def build() -> ImageSplit:
            images, labels = self.read(folder, split, ctx.data_root)
            return ImageSplit(resize_uint8(images, res), labels)

        recipe = {"dataset": self.NAME, "reader": READER_VERSION, "resolution": res}
        files = self.split_files(folder, split, ctx)
        # Paths relative to the data root: moving the root keeps the cache (SVHN's two layouts too).
        base = ctx.data_root if ctx.data_root is not None else folder.parent
        whole = cached_split(ctx.cache_dir, self.NAME, split, recipe, file_identity(files, base), build)
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


def _mnist_md5s() -> dict[str, str]:
    from torchvision.datasets import MNIST

    return dict(MNIST.resources)  # file name (.gz) -> MD5


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

    def expected(self) -> list[Expected]:
        # The .gz files as published, or their decompressed form (what torchvision itself reads).
        md5s = _mnist_md5s()
        return [
            Expected(
                (f"raw/{n}.gz", f"raw/{n}"),
                md5=md5s[f"{n}.gz"],
                check=readers.check_mnist_images if "images" in n else readers.check_mnist_labels,
            )
            for n in MNIST_RAW
        ]

    def _files(self, folder: Path, split: str) -> list[Path]:
        prefix = "train" if split == "train" else "t10k"
        out = []
        for kind in ("images-idx3", "labels-idx1"):
            gz = folder / "raw" / f"{prefix}-{kind}-ubyte.gz"
            out.append(gz if gz.is_file() else gz.with_suffix(""))
        return out

    def split_files(self, folder: Path, split: str, ctx: DataContext | None = None) -> list[Path]:
        return self._files(folder, split)

    def read(self, folder: Path, split: str, root: Path | None) -> tuple[torch.Tensor, torch.Tensor]:
        image_file, label_file = self._files(folder, split)
        images = self.parse(image_file, readers.read_idx, folder, root)
        labels = self.parse(label_file, readers.read_idx, folder, root)
        if len(images) != len(labels) or images.ndim != 3:
            raise BenchError(
                f"mnist: {image_file} holds {images.shape} images for {len(labels)} labels in {label_file}; "
                f"{repair_hint('mnist', folder, fetch_command('mnist', root))}"
            )
        return torch.from_numpy(images.copy()).unsqueeze(1), torch.from_numpy(labels.astype(np.int64))


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


def _cifar10_md5s() -> dict[str, str]:
    from torchvision.datasets import CIFAR10

    return {**dict(CIFAR10.train_list + CIFAR10.test_list), CIFAR10.meta["filename"]: CIFAR10.meta["md5"]}


CIFAR_TRAIN = tuple(f"data_batch_{i}" for i in range(1, 6))


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
        files=(*CIFAR_TRAIN, "test_batch", "batches.meta"),
        download=_download_cifar10,
        size="about 163 MB",
    )

    def expected(self) -> list[Expected]:
        md5s = _cifar10_md5s()
        return [
            Expected(
                (f,), md5s[f], readers.check_cifar_meta if f == "batches.meta" else readers.check_cifar_batch
            )
            for f in self.remote.files
        ]

    def split_files(self, folder: Path, split: str, ctx: DataContext | None = None) -> list[Path]:
        return [folder / n for n in (CIFAR_TRAIN if split == "train" else ("test_batch",))]

    def read(self, folder: Path, split: str, root: Path | None) -> tuple[torch.Tensor, torch.Tensor]:
        names = self.parse(folder / "batches.meta", readers.read_cifar_names, folder, root)
        if tuple(names) != self.class_names():
            raise BenchError(f"cifar10: {folder}/batches.meta names classes {names}, not CIFAR-10's")
        parts = [
            self.parse(p, readers.read_cifar_batch, folder, root) for p in self.split_files(folder, split)
        ]
        images = np.concatenate([x for x, _ in parts])
        labels = np.concatenate([y for _, y in parts])
        return torch.from_numpy(images), torch.from_numpy(labels)


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


def _svhn_md5s() -> dict[str, str]:
    from torchvision.datasets import SVHN as TorchvisionSVHN

    return {file: md5 for _, file, md5 in TorchvisionSVHN.split_list.values()}


@DATASETS.register("svhn")
class SVHN(_TorchvisionSet):
    """`<root>/svhn/*.mat` (where `bench data fetch` puts them) or torchvision's own layout, the .mat
    files directly in the data root."""

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

    def expected(self) -> list[Expected]:
        # `extra` is required only when these arguments train on it; present anyway, it is checked too.
        md5s = _svhn_md5s()
        return [
            Expected(
                (f,),
                md5s[f],
                readers.check_svhn_mat,
                optional=split == "extra" and not self.args.extra_in_train,
            )
            for split, f in SVHN_FILES.items()
        ]

    def locate(self, root: Path) -> Path:
        ours = root / self.remote.folder
        if any((ours / f).is_file() for f in SVHN_FILES.values()):
            return ours
        return root if any((root / f).is_file() for f in SVHN_FILES.values()) else ours

    def layout_note(self, root: Path) -> str:
        return f" (torchvision's layout, the .mat files directly in {root}, is read too)"

    def _parts(self, split: str) -> list[str]:
        return ["train", "extra"] if split == "train" and self.args.extra_in_train else [split]

    def split_files(self, folder: Path, split: str, ctx: DataContext | None = None) -> list[Path]:
        return [folder / SVHN_FILES[p] for p in self._parts(split)]

    def read(self, folder: Path, split: str, root: Path | None) -> tuple[torch.Tensor, torch.Tensor]:
        parts = [self.parse(p, readers.read_svhn_mat, folder, root) for p in self.split_files(folder, split)]
        images = np.concatenate([x for x, _ in parts]) if len(parts) > 1 else parts[0][0]
        labels = np.concatenate([y for _, y in parts]) if len(parts) > 1 else parts[0][1]
        return torch.from_numpy(images), torch.from_numpy(labels)
