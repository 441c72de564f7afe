"""Your own image folders as datasets: unlabeled, labeled by sub-folder, paired and unpaired.

    {folder: {path: faces}}                       every image under faces/ (recursively)
    {folder: {path: pets, labeled: true}}         pets/<class>/... : one class per sub-folder
    {folder_paired: {path: sketch2photo}}         sketch2photo/A/x.png pairs with sketch2photo/B/x.jpg
    {folder_unpaired: {path: horse2zebra}}        horse2zebra/trainA, trainB, testA, testB (CycleGAN)

Splits: when `<path>/train` and `<path>/test` (or `val`) exist they are the splits (for domains also
CycleGAN's `trainA/trainB/testA/testB`); otherwise a seeded `test_fraction` of the files is held out,
per class or per domain. A relative path is taken under the data root (or the working directory when
there is none). Images are center-cropped to a square and resized to `resolution`, decoded once and
cached keyed by every file's size and mtime.

Split sizes depend on the files, so `info()` reports 0 ("known once loaded"); class names of a
labeled folder are its sub-folders, read when the folder exists.
"""

from __future__ import annotations

import os
from abc import abstractmethod
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
import torch
from pydantic import Field

from bench.config import StrictModel
from bench.datasets.base import DatasetInfo, ImageSplit
from bench.datasets.cache import cached_split, file_identity
from bench.datasets.decode import IMAGE_SUFFIXES, decode_files, is_image
from bench.datasets.integrity import DataReport
from bench.datasets.source import DATASETS, DataContext, DatasetSource
from bench.errors import BenchError

SPLITS = ("train", "test")
READER_VERSION = 1


class FolderArgs(StrictModel):
    path: str = Field(description="folder of images; relative paths are under the data root")
    resolution: int = Field(64, ge=8, le=512, description="square side after a center square crop")
    channels: Literal[1, 3] = 3
    test_fraction: float = Field(0.1, gt=0, lt=1, description="held out when there is no test folder")
    split_seed: int = 0


class LabeledFolderArgs(FolderArgs):
    labeled: bool = Field(False, description="one class per sub-folder, in sorted order")


def resolve(path: str, root: Path | None) -> Path:
    p = Path(path).expanduser()
    return p if p.is_absolute() or root is None else root / p


def _images_under(d: Path) -> list[Path]:
    return sorted(Path(dp) / f for dp, _, fs in os.walk(d) for f in fs if is_image(Path(f)))


def _has_image(d: Path) -> bool:
    """Whether any image lies under `d` (stops at the first one)."""
    return any(is_image(Path(f)) for _, _, names in os.walk(d) for f in names)


def _split_dir(base: Path, split: str) -> Path | None:
    """`<base>/train`, `<base>/test` (or `val`) when the folder is split on disk, else None."""
    names = ("train",) if split == "train" else ("test", "val")
    if not (base / "train").is_dir():
        return None
    return next((base / n for n in names if (base / n).is_dir()), None)


def held_out(files: list, split: str, fraction: float, seed: int) -> list:
    """The seeded share of `files` for a split when the disk has no split folders."""
    n = len(files)
    n_test = max(1, round(n * fraction)) if n > 1 else 0
    test = set(np.random.default_rng(seed).permutation(n)[:n_test].tolist())
    return [f for i, f in enumerate(files) if (i in test) == (split == "test")]


def _class_dirs(base: Path) -> tuple[str, ...]:
    top = base / "train" if (base / "train").is_dir() else base
    return tuple(sorted(d.name for d in top.iterdir() if d.is_dir())) if top.is_dir() else ()


class _FolderSource(DatasetSource):
    args: FolderArgs
    pairing = "none"
    example_args: ClassVar[dict[str, Any]] = {"path": "DIR"}

    def base(self, ctx: DataContext) -> Path:
        return resolve(self.args.path, ctx.data_root)

    def require(self, ctx: DataContext) -> None:
        base = self.base(ctx)
        where = f" (relative to the data root {ctx.data_root})" if ctx.data_root else ""
        if not base.is_dir():
            raise BenchError(f"datasets: folder {base}{where} does not exist; these are your own files")
        # Checked before a run writes anything: a folder without images (an empty one, a mistyped path
        # such as ../../../../etc) would only fail in every cell, after the cell folders were written.
        if not _has_image(base):
            kinds = ", ".join(IMAGE_SUFFIXES)
            raise BenchError(
                f"datasets: folder {base}{where} holds no images ({kinds}); give the folder of your images"
            )

    def _info(self, name: str, num_classes: int, class_names: tuple[str, ...], what: str) -> DatasetInfo:
        a = self.args
        return DatasetInfo(
            name=name,
            resolution=a.resolution,
            channels=a.channels,
            num_classes=num_classes,
            splits=dict.fromkeys(SPLITS, 0),
            class_names=class_names,
            source=f"your image folder {a.path}: {what}",
            licence="that of your images",
            description=what,
            pairing=self.pairing,
        )

    @abstractmethod
    def count(self, ctx: DataContext, split: str) -> tuple[int, str]:
        """(images of the split, what they are), from the file listing alone."""

    def notes(self, ctx: DataContext) -> list[str]:
        """Warnings worth a line in `bench data check` (sub-folders read as one unlabeled set)."""
        return []

    def check(self, ctx: DataContext, deep: bool = True) -> DataReport:
        """The folder's splits as the cells will read them, from the listing (images decode at load,
        naming any file that cannot): a split with no image is a problem; the summary says the size
        and colour the images are read at, since 64x64 RGB is a default a grey 28x28 folder must change."""
        a = self.args
        report = DataReport(self.info().name, folder=self.base(ctx))
        try:
            counts = {s: self.count(ctx, s) for s in SPLITS}
        except BenchError as err:
            report.problems.append(str(err))
            return report
        for s, (n, _) in counts.items():
            if not n:
                report.problems.append(f"no images for split {s!r} under {self.base(ctx)}")
        colour = "grey" if a.channels == 1 else "RGB"
        report.summary = (
            f"{self.base(ctx)}: train {counts['train'][1]}, test {counts['test'][1]}; read as "
            f"{a.resolution}x{a.resolution} {colour} (resolution: {a.resolution}, channels: {a.channels})"
        )
        report.warnings += self.notes(ctx)
        return report

    def _decode_cached(
        self,
        ctx: DataContext,
        split: str,
        files: list[Path],
        extra: dict[str, Any],
        build: Callable[[], ImageSplit],
    ) -> ImageSplit:
        """The split decoded once; keyed by every file's size and mtime (user folders change)."""
        a = self.args
        if not files:
            raise BenchError(f"datasets: no images for split {split!r} under {self.base(ctx)}")
        recipe = {
            "kind": type(self).__name__,
            "reader": READER_VERSION,
            "resolution": a.resolution,
            "channels": a.channels,
            "test_fraction": a.test_fraction,
            "split_seed": a.split_seed,
            **extra,
        }
        base = self.base(ctx)
        name = f"folder-{base.name}"
        return cached_split(ctx.cache_dir, name, split, recipe, file_identity(files, base), build)


@DATASETS.register("folder")
class Folder(_FolderSource):
    Args = LabeledFolderArgs
    args: LabeledFolderArgs

    def info(self) -> DatasetInfo:
        a = self.args
        classes = _class_dirs(resolve(a.path, DataContext.from_env().data_root)) if a.labeled else ()
        what = "images labeled by sub-folder" if a.labeled else "unlabeled images (labeled: true for classes)"
        return self._info(f"folder_{Path(a.path).name}", len(classes), classes, what)

    def files(self, ctx: DataContext, split: str) -> tuple[list[Path], list[int]]:
        """The split's image files and (labeled) each one's class index."""
        self.require(ctx)
        a = self.args
        base = self.base(ctx)
        top = _split_dir(base, split)
        files: list[Path] = []
        labels: list[int] = []
        if a.labeled:
            classes = _class_dirs(base)
            if not classes:
                raise BenchError(
                    f"datasets: folder {base} has no class sub-folders (labeled: true wants <class>/<image>)"
                )
            for i, c in enumerate(classes):
                if top is not None:
                    got = _images_under(top / c) if (top / c).is_dir() else []
                else:
                    got = held_out(_images_under(base / c), split, a.test_fraction, a.split_seed)
                files += got
                labels += [i] * len(got)
        else:
            files = (
                _images_under(top)
                if top is not None
                else held_out(_images_under(base), split, a.test_fraction, a.split_seed)
            )
        return files, labels

    def load(self, split: str, ctx: DataContext) -> ImageSplit:
        a = self.args
        files, labels = self.files(ctx, split)

        def build() -> ImageSplit:
            y = torch.tensor(labels, dtype=torch.int64) if a.labeled else None
            return ImageSplit(decode_files(files, a.resolution, a.channels), y)

        return self._decode_cached(ctx, split, files, {"labeled": a.labeled}, build)

    def count(self, ctx: DataContext, split: str) -> tuple[int, str]:
        files, labels = self.files(ctx, split)
        if not self.args.labeled:
            return len(files), f"{len(files)} images"
        return len(files), f"{len(files)} images in {len(set(labels))} classes"

    def notes(self, ctx: DataContext) -> list[str]:
        base = self.base(ctx)
        subs = [c for c in _class_dirs(base) if c not in ("train", "test", "val")]
        if self.args.labeled or not subs:
            return []
        shown = ", ".join(subs[:3]) + (", ..." if len(subs) > 3 else "")
        return [
            f"{base} has sub-folders ({shown}), read as one set of unlabeled images; "
            "add labeled: true for one class per sub-folder"
        ]


def _domain_dirs(base: Path, split: str) -> tuple[Path, Path, bool]:
    """(dir A, dir B, split on disk?) for CycleGAN `trainA`, `train/A`, or plain `A`, `B`."""
    names = ("train",) if split == "train" else ("test", "val")
    for n in names:
        if (base / f"{n}A").is_dir() and (base / f"{n}B").is_dir():
            return base / f"{n}A", base / f"{n}B", True
        if (base / n / "A").is_dir() and (base / n / "B").is_dir():
            return base / n / "A", base / n / "B", True
    if (base / "A").is_dir() and (base / "B").is_dir():
        return base / "A", base / "B", False
    raise BenchError(
        f"datasets: {base} needs domain folders A/ and B/ (or {split}A/ {split}B/, or {split}/A/ {split}/B/)"
    )


@DATASETS.register("folder_paired")
class PairedFolder(_FolderSource):
    """A/ and B/ with matching file names (extensions may differ): image i of A pairs with i of B."""

    Args = FolderArgs
    args: FolderArgs
    pairing = "paired"

    def info(self) -> DatasetInfo:
        name = f"folder_{Path(self.args.path).name}"
        return self._info(name, 0, (), "paired images: A/x pairs with B/x")

    def sides(self, ctx: DataContext, split: str) -> tuple[list[Path], list[Path]]:
        """The split's A files and their B partners, row for row."""
        self.require(ctx)
        a = self.args
        dir_a, dir_b, on_disk = _domain_dirs(self.base(ctx), split)
        by_stem = [{p.relative_to(d).with_suffix(""): p for p in _images_under(d)} for d in (dir_a, dir_b)]
        only = set(by_stem[0]) ^ set(by_stem[1])
        if only:
            example = sorted(only)[0]
            raise BenchError(
                f"datasets: folder_paired {dir_a.parent}: {len(only)} images have no partner "
                f"in the other domain, e.g. {example}; A/ and B/ need matching names"
            )
        stems = sorted(by_stem[0])
        if not on_disk:
            stems = held_out(stems, split, a.test_fraction, a.split_seed)
        return [by_stem[0][s] for s in stems], [by_stem[1][s] for s in stems]

    def load(self, split: str, ctx: DataContext) -> ImageSplit:
        a = self.args
        files_a, files_b = self.sides(ctx, split)

        def build() -> ImageSplit:
            return ImageSplit(
                images=decode_files(files_a, a.resolution, a.channels),
                targets=decode_files(files_b, a.resolution, a.channels),
            )

        return self._decode_cached(ctx, split, files_a + files_b, {"pairs": len(files_a)}, build)

    def count(self, ctx: DataContext, split: str) -> tuple[int, str]:
        files_a, _ = self.sides(ctx, split)
        return len(files_a), f"{len(files_a)} pairs"


@DATASETS.register("folder_unpaired")
class UnpairedFolder(_FolderSource):
    """Two domains of any sizes (CycleGAN): images are domain A, targets domain B."""

    Args = FolderArgs
    args: FolderArgs
    pairing = "unpaired"

    def info(self) -> DatasetInfo:
        name = f"folder_{Path(self.args.path).name}"
        return self._info(name, 0, (), "two unpaired domains A and B")

    def sides(self, ctx: DataContext, split: str) -> tuple[list[Path], list[Path]]:
        """The split's files of domain A and of domain B."""
        self.require(ctx)
        a = self.args
        dir_a, dir_b, on_disk = _domain_dirs(self.base(ctx), split)
        files_a, files_b = _images_under(dir_a), _images_under(dir_b)
        if not on_disk:
            files_a = held_out(files_a, split, a.test_fraction, a.split_seed)
            files_b = held_out(files_b, split, a.test_fraction, a.split_seed + 1)
        if not files_b:
            raise BenchError(f"datasets: no images for split {split!r} under {dir_b}")
        return files_a, files_b

    def load(self, split: str, ctx: DataContext) -> ImageSplit:
        a = self.args
        files_a, files_b = self.sides(ctx, split)

        def build() -> ImageSplit:
            return ImageSplit(
                images=decode_files(files_a, a.resolution, a.channels),
                targets=decode_files(files_b, a.resolution, a.channels),
            )

        return self._decode_cached(ctx, split, files_a + files_b, {"domain_a": len(files_a)}, build)

    def count(self, ctx: DataContext, split: str) -> tuple[int, str]:
        files_a, files_b = self.sides(ctx, split)
        return len(files_a), f"{len(files_a)} A + {len(files_b)} B images"
