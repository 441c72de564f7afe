"""tiny-ImageNet (CS231n): 200 classes of 64x64 images in its standard folder layout.

    tiny-imagenet-200/wnids.txt                        the 200 class ids (labels follow their sorted order)
    tiny-imagenet-200/train/<wnid>/images/*.JPEG       500 per class
    tiny-imagenet-200/val/images/*.JPEG + val/val_annotations.txt   50 per class (file \\t wnid \\t box)

The official test folder has no labels, so this dataset's `test` split is the labelled `val` folder,
as in most papers. At 64x64 the 100,000 training images are 1.2 GB of uint8: held in memory and
cached like every other dataset.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import ClassVar

import torch
from pydantic import Field, field_validator

from bench.datasets.base import DatasetInfo, ImageSplit
from bench.datasets.cache import cached_split, file_identity
from bench.datasets.decode import decode_files, is_image
from bench.datasets.derived import ClassSubsetArgs, select_classes
from bench.datasets.fetch import Remote, RemoteDataset, fetch_command
from bench.datasets.integrity import repair_hint
from bench.datasets.source import DATASETS, DataContext
from bench.errors import BenchError

URL = "http://cs231n.stanford.edu/tiny-imagenet-200.zip"
MD5 = "90528d7ca1a48142e341f4ef8d21d0de"
PER_CLASS = {"train": 500, "test": 50}
NUM_CLASSES = 200
READER_VERSION = 1
_WNID = re.compile(r"n\d{8}")


def _download(dest: Path) -> None:
    from torchvision.datasets.utils import download_and_extract_archive

    download_and_extract_archive(URL, str(dest), md5=MD5, remove_finished=True)


class TinyImageNetArgs(ClassSubsetArgs):
    # The 200 wnids are read from wnids.txt, so classes are checked for form here and for presence
    # when the files are read.
    resolution: int = Field(64, ge=8, le=256, description="square side; 64 is native")

    @field_validator("classes")
    @classmethod
    def _wnids(cls, value: list[str | int] | None) -> list[str | int] | None:
        for v in value or ():
            if not (isinstance(v, int) and 0 <= v < NUM_CLASSES) and not _WNID.fullmatch(str(v)):
                raise ValueError(f"classes are wnids such as n01443537 or indices 0..199, got {v!r}")
        return value


@DATASETS.register("tiny_imagenet")
class TinyImageNet(RemoteDataset):
    Args = TinyImageNetArgs
    args: TinyImageNetArgs
    remote: ClassVar[Remote] = Remote(
        name="tiny_imagenet",
        folder="tiny-imagenet-200",
        files=("wnids.txt", "train/", "val/images/", "val/val_annotations.txt"),
        download=_download,
        size="about 237 MB",
    )

    def info(self) -> DatasetInfo:
        # The class count is that of the files when they are there (wnids.txt names the classes the
        # labels index), so the domain classifier, coverage and conditional models get the true count.
        return self._info(len(self._wnids_on_disk()) if not self.args.classes else 0)

    def published_info(self) -> DatasetInfo:
        return self._info(0)

    def _info(self, on_disk: int) -> DatasetInfo:
        """on_disk: the classes wnids.txt names (0: not read; the published 200)."""
        a = self.args
        k = len(a.classes) if a.classes else (on_disk or NUM_CLASSES)
        kept = tuple(str(c) for c in a.classes) if a.classes else ()
        return DatasetInfo(
            name="tiny_imagenet" if not a.classes else f"tiny_imagenet_{k}cls",
            resolution=a.resolution,
            channels=3,
            num_classes=k,
            splits={s: n * k for s, n in PER_CLASS.items()},
            class_names=kept,
            source="CS231n tiny-ImageNet (cs231n.stanford.edu), standard folder layout",
            licence="ImageNet terms: non-commercial research and education",
            description="110,000 64x64 images of 200 ImageNet classes; test = the labelled val folder",
        )

    def _wnids_on_disk(self) -> tuple[str, ...]:
        """The class ids wnids.txt names under the data root (BENCH_DATA); () when it is not there."""
        root = DataContext.from_env().data_root
        listing = self.locate(root) / "wnids.txt" if root is not None else None
        return tuple(sorted(listing.read_text().split())) if listing and listing.is_file() else ()

    def check_listing(self, folder: Path) -> tuple[list[str], list[str]]:
        """Every image the dataset's own listings name is there: train/<wnid>/<wnid>_boxes.txt and
        val/val_annotations.txt list each file, so a deleted image is found by name, not as a split one
        image short that silently trains and scores on other data."""
        hint = repair_hint("tiny_imagenet", folder, fetch_command("tiny_imagenet", folder.parent))
        wnids = tuple(sorted((folder / "wnids.txt").read_text().split()))
        absent_dirs = [w for w in wnids if not (folder / "train" / w / "images").is_dir()]
        if absent_dirs:
            return [
                f"tiny_imagenet: {len(absent_dirs)} of the {len(wnids)} class folders wnids.txt names are "
                f"missing, e.g. {folder / 'train' / absent_dirs[0] / 'images'}; {hint}"
            ], []
        listed: list[Path] = []
        unlisted = 0
        for w in wnids:
            boxes = folder / "train" / w / f"{w}_boxes.txt"
            if boxes.is_file():
                names = [ln.split("\t")[0] for ln in boxes.read_text().splitlines() if ln.strip()]
                listed += [folder / "train" / w / "images" / n for n in names]
                unlisted += len(_images(folder / "train" / w / "images") - set(names))
        names = [
            ln.split("\t")[0] for ln in (folder / "val" / "val_annotations.txt").read_text().splitlines()
        ]
        names = [n for n in names if n]
        listed += [folder / "val" / "images" / n for n in names]
        unlisted += len(_images(folder / "val" / "images") - set(names))
        present = {d: _images(d) for d in {p.parent for p in listed}}
        absent = [p for p in listed if p.name not in present[p.parent]]
        problems, warnings = [], []
        if absent:
            problems.append(
                f"tiny_imagenet: {len(absent):,} of the {len(listed):,} images its listings name "
                f"(train/*/*_boxes.txt, val/val_annotations.txt) are missing, found "
                f"{len(listed) - len(absent):,}; e.g. {absent[0]}; {hint}"
            )
        if unlisted:
            warnings.append(
                f"tiny_imagenet: {folder} holds {unlisted:,} images no listing names (added files?); "
                "they are used"
            )
        if len(wnids) != NUM_CLASSES:
            warnings.append(f"tiny_imagenet: {folder / 'wnids.txt'} names {len(wnids)} classes, not 200")
        return problems, warnings

    def load(self, split: str, ctx: DataContext) -> ImageSplit:
        if split not in PER_CLASS:
            raise ValueError(f"tiny_imagenet has no split {split!r}; splits: {', '.join(PER_CLASS)}")
        a = self.args
        folder = self.folder(ctx)
        wnids = tuple(sorted((folder / "wnids.txt").read_text().split()))
        if split == "train":
            image_dirs = [folder / "train" / w / "images" for w in wnids]
            inputs = [folder / "wnids.txt", *(d for d in image_dirs if d.is_dir())]
        else:
            inputs = [folder / "wnids.txt", folder / "val" / "val_annotations.txt", folder / "val" / "images"]

        def build() -> ImageSplit:
            # A cache miss: new files, or a listing that changed since the last decode; say what changed.
            problems, _ = self.check_listing(folder)
            if problems:
                raise BenchError(problems[0])
            paths, labels = _listing(folder, split, wnids)
            return ImageSplit(decode_files(paths, a.resolution, 3), torch.tensor(labels, dtype=torch.int64))

        recipe = {"dataset": "tiny_imagenet", "reader": READER_VERSION, "resolution": a.resolution}
        whole = cached_split(
            ctx.cache_dir, "tiny_imagenet", split, recipe, file_identity(inputs, folder.parent), build
        )
        kept = tuple(wnids[c] if isinstance(c, int) else c for c in a.classes) if a.classes else wnids
        return select_classes(whole, wnids, kept)


def _images(folder: Path) -> set[str]:
    return {n for n in os.listdir(folder) if is_image(Path(n))} if folder.is_dir() else set()


def _listing(folder: Path, split: str, wnids: tuple[str, ...]) -> tuple[list[Path], list[int]]:
    """Image paths and label indices of a split, in a fixed (sorted) order."""
    index = {w: i for i, w in enumerate(wnids)}
    paths: list[Path] = []
    labels: list[int] = []
    if split == "train":
        for w in wnids:
            files = sorted(p for p in (folder / "train" / w / "images").iterdir() if is_image(p))
            paths += files
            labels += [index[w]] * len(files)
        return paths, labels
    for line in sorted((folder / "val" / "val_annotations.txt").read_text().splitlines()):
        if line.strip():
            name, wnid = line.split("\t")[:2]
            paths.append(folder / "val" / "images" / name)
            labels.append(index[wnid])
    return paths, labels
