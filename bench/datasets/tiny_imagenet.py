"""tiny-ImageNet (CS231n): 200 classes of 64x64 images in its standard folder layout.

    tiny-imagenet-200/wnids.txt                        the 200 class ids (labels follow their sorted order)
    tiny-imagenet-200/train/<wnid>/images/*.JPEG       500 per class
    tiny-imagenet-200/val/images/*.JPEG + val/val_annotations.txt   50 per class (file \\t wnid \\t box)

The official test folder has no labels, so this dataset's `test` split is the labelled `val` folder,
as in most papers. At 64x64 the 100,000 training images are 1.2 GB of uint8: held in memory and
cached like every other dataset.
"""

from __future__ import annotations

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
        a = self.args
        k = len(a.classes) if a.classes else NUM_CLASSES
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

    def load(self, split: str, ctx: DataContext) -> ImageSplit:
        if split not in PER_CLASS:
            raise ValueError(f"tiny_imagenet has no split {split!r}; splits: {', '.join(PER_CLASS)}")
        a = self.args
        folder = self.folder(ctx)
        wnids = tuple(sorted((folder / "wnids.txt").read_text().split()))
        if split == "train":
            image_dirs = [folder / "train" / w / "images" for w in wnids]
            absent = [str(d.relative_to(folder.parent)) for d in image_dirs if not d.is_dir()]
            if absent:
                raise BenchError(
                    f"tiny_imagenet: {len(absent)} class folders of wnids.txt are missing, e.g. {absent[0]}; "
                    f"fetch it again: {fetch_command('tiny_imagenet', ctx.data_root)}"
                )
            inputs = [folder / "wnids.txt", *image_dirs]
        else:
            inputs = [folder / "wnids.txt", folder / "val" / "val_annotations.txt", folder / "val" / "images"]

        def build() -> ImageSplit:
            paths, labels = _listing(folder, split, wnids)
            return ImageSplit(decode_files(paths, a.resolution, 3), torch.tensor(labels, dtype=torch.int64))

        recipe = {"dataset": "tiny_imagenet", "reader": READER_VERSION, "resolution": a.resolution}
        whole = cached_split(
            ctx.cache_dir, "tiny_imagenet", split, recipe, file_identity(inputs, folder.parent), build
        )
        kept = tuple(wnids[c] if isinstance(c, int) else c for c in a.classes) if a.classes else wnids
        return select_classes(whole, wnids, kept)


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
