"""CelebA in torchvision's layout, read by bench: aligned faces center-cropped to 178x178 and resized
(default 64x64), the 40 binary attributes as factors, and the official train/valid/test partition.

Each split is decoded once into a uint8 tensor with its attributes (cache.py); every variant below is
a row selection of that tensor, so `celeba`, `{celeba: {where: {Male: 1}}}` and `celeba_domains`
share one decode:

    celeba                                                # all faces; attributes as factors
    {celeba: {label: Smiling}}                            # one attribute as the 2-class label
    {celeba: {where: {Male: 1, Eyeglasses: 1}}}           # only faces meeting every condition
    {celeba_domains: {a: {Eyeglasses: 1}, b: {Eyeglasses: 0}}}   # unpaired domains for translation
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from pydantic import Field, field_validator, model_validator

from bench.config import StrictModel
from bench.datasets import readers
from bench.datasets.base import DatasetInfo, ImageSplit
from bench.datasets.cache import cached_split, file_identity
from bench.datasets.decode import decode_files
from bench.datasets.derived import check_conditions, matching
from bench.datasets.fetch import Remote, RemoteDataset, fetch_command
from bench.datasets.integrity import Expected, repair_hint
from bench.datasets.source import DATASETS, DataContext
from bench.errors import BenchError

ATTRIBUTES = (
    "5_o_Clock_Shadow", "Arched_Eyebrows", "Attractive", "Bags_Under_Eyes", "Bald", "Bangs", "Big_Lips",
    "Big_Nose", "Black_Hair", "Blond_Hair", "Blurry", "Brown_Hair", "Bushy_Eyebrows", "Chubby",
    "Double_Chin", "Eyeglasses", "Goatee", "Gray_Hair", "Heavy_Makeup", "High_Cheekbones", "Male",
    "Mouth_Slightly_Open", "Mustache", "Narrow_Eyes", "No_Beard", "Oval_Face", "Pale_Skin", "Pointy_Nose",
    "Receding_Hairline", "Rosy_Cheeks", "Sideburns", "Smiling", "Straight_Hair", "Wavy_Hair",
    "Wearing_Earrings", "Wearing_Hat", "Wearing_Lipstick", "Wearing_Necklace", "Wearing_Necktie", "Young",
)  # fmt: skip
SPLITS = {"train": 162_770, "valid": 19_867, "test": 19_962}
ANNOTATIONS = (
    "list_attr_celeba.txt",
    "list_eval_partition.txt",
    "identity_CelebA.txt",
    "list_bbox_celeba.txt",
    "list_landmarks_align_celeba.txt",
)
READER_VERSION = 1  # bump when the decoding below changes, so cached tensors are rebuilt
SOURCE = "torchvision.datasets.CelebA (Liu et al. 2015), aligned, center crop 178, resized"
LICENCE = "non-commercial research only (CelebA agreement)"


def _download(dest: Path) -> None:
    if importlib.util.find_spec("gdown") is None:  # torchvision fetches CelebA from Google Drive via gdown
        raise BenchError("celeba: downloading it needs gdown (pip install gdown), which is not installed")
    from torchvision.datasets import CelebA

    CelebA(str(dest), split="all", download=True)  # MD5 of the zip and of every annotation file


REMOTE = Remote(
    name="celeba",
    folder="celeba",
    files=("img_align_celeba/", *ANNOTATIONS),
    download=_download,
    size="about 1.4 GB",
    remove_after=("img_align_celeba.zip",),
)
# What bench reads (torchvision's class also demands identity, bbox and landmark files; bench does not).
IMAGES, ATTR_FILE, PARTITION_FILE = "img_align_celeba", "list_attr_celeba.txt", "list_eval_partition.txt"


def _md5s() -> dict[str, str]:
    from torchvision.datasets import CelebA

    return {file: md5 for _, md5, file in CelebA.file_list}


def _check_attributes(path: Path) -> str:
    names, _ = readers.read_celeba_attributes(path, ATTRIBUTES)
    return f"{len(names):,} faces x {len(ATTRIBUTES)} attributes"


def _check_partition(path: Path) -> str:
    counts = np.bincount(list(readers.read_celeba_partition(path).values()), minlength=3)
    return ", ".join(f"{s} {int(n):,}" for s, n in zip(SPLITS, counts, strict=True))


class _CelebAFiles(RemoteDataset):
    """The files every CelebA variant reads, and their checks."""

    remote = REMOTE

    def expected(self) -> list[Expected]:
        md5s = _md5s()
        return [
            Expected((f"{IMAGES}/",)),
            Expected((ATTR_FILE,), md5s[ATTR_FILE], _check_attributes),
            Expected((PARTITION_FILE,), md5s[PARTITION_FILE], _check_partition),
        ]

    def check_listing(self, folder: Path) -> tuple[list[str], list[str]]:
        """Every face the partition names is in the image folder; both tables name the same faces."""
        try:
            listed = readers.read_celeba_partition(folder / PARTITION_FILE)
            attributed, _ = readers.read_celeba_attributes(folder / ATTR_FILE, ATTRIBUTES)
        except readers.BadFile:
            return [], []  # already reported by the file checks
        hint = repair_hint("celeba", folder, fetch_command("celeba", folder.parent))
        problems, warnings = [], []
        present = set(os.listdir(folder / IMAGES))
        absent = [n for n in listed if n not in present]
        if absent:
            problems.append(
                f"celeba: {len(absent):,} of the {len(listed):,} images {PARTITION_FILE} names are missing "
                f"from {folder / IMAGES} (found {len(listed) - len(absent):,}), e.g. {absent[0]}; {hint}"
            )
        unlisted = set(listed) ^ set(attributed)
        if unlisted:
            problems.append(
                f"celeba: {ATTR_FILE} and {PARTITION_FILE} in {folder} name different faces "
                f"({len(unlisted):,} in one only, e.g. {sorted(unlisted)[0]}); {hint}"
            )
        if len(listed) != sum(SPLITS.values()) and not problems:
            warnings.append(
                f"celeba: {folder / PARTITION_FILE} lists {len(listed):,} faces, the official release "
                f"{sum(SPLITS.values()):,}; using them"
            )
        return problems, warnings


def _resolution() -> Any:
    return Field(64, ge=8, le=178, description="square side after the 178x178 center crop")


def load_attributes_split(split: str, resolution: int, ctx: DataContext) -> ImageSplit:
    """The whole official split: images (N, 3, R, R) uint8 and the 40 attributes (N, 40) as 0/1."""
    if split not in SPLITS:
        raise ValueError(f"celeba has no split {split!r}; splits: {', '.join(SPLITS)}")
    folder = CelebA(CelebAArgs()).folder(ctx)

    def build() -> ImageSplit:
        hint = repair_hint("celeba", folder, fetch_command("celeba", ctx.data_root))
        try:
            # Rows are matched by file name (torchvision matches them by position in the two files).
            names, attrs = readers.read_celeba_attributes(folder / ATTR_FILE, ATTRIBUTES)
            partition = readers.read_celeba_partition(folder / PARTITION_FILE)
        except readers.BadFile as err:
            raise BenchError(f"celeba: a table in {folder} {err}; {hint}") from None
        row = {n: i for i, n in enumerate(names)}
        wanted = [n for n, p in partition.items() if p == list(SPLITS).index(split)]
        unknown = [n for n in wanted if n not in row]
        if unknown:
            raise BenchError(f"celeba: {PARTITION_FILE} names {unknown[0]}, which {ATTR_FILE} lacks; {hint}")
        paths = [folder / IMAGES / n for n in wanted]
        factors = torch.from_numpy(attrs[[row[n] for n in wanted]].reshape(-1, len(ATTRIBUTES)))
        return ImageSplit(images=decode_files(paths, resolution, 3), factors=factors)

    # The image folder's own stat keys 200k files in one call: adding or removing images changes it.
    inputs = [folder / IMAGES, folder / ATTR_FILE, folder / PARTITION_FILE]
    recipe = {"dataset": "celeba", "reader": READER_VERSION, "resolution": resolution, "crop": "center-178"}
    return cached_split(ctx.cache_dir, "celeba", split, recipe, file_identity(inputs, folder.parent), build)


def _condition_name(conditions: dict[str, int]) -> str:
    return "+".join(f"{k}={v}" for k, v in conditions.items())


class CelebAArgs(StrictModel):
    resolution: int = _resolution()
    label: str | None = Field(None, description="an attribute used as the 2-class label (0 = absent)")
    where: dict[str, int] = Field(
        default_factory=dict, description="keep only faces whose attributes all match: {Male: 1}"
    )

    @field_validator("label")
    @classmethod
    def _known_label(cls, v: str | None) -> str | None:
        if v is not None and v not in ATTRIBUTES:
            raise ValueError(f"unknown attribute {v!r}; allowed: {', '.join(ATTRIBUTES)}")
        return v

    @field_validator("where")
    @classmethod
    def _known_where(cls, v: dict[str, int]) -> dict[str, int]:
        return check_conditions(v, ATTRIBUTES)


@DATASETS.register("celeba")
class CelebA(_CelebAFiles):
    Args = CelebAArgs
    args: CelebAArgs

    def info(self) -> DatasetInfo:
        a = self.args
        name = "celeba" + (f"_{_condition_name(a.where)}" if a.where else "")
        name += f"_by_{a.label}" if a.label else ""
        return DatasetInfo(
            name=name,
            resolution=a.resolution,
            channels=3,
            num_classes=2 if a.label else 0,
            # Sizes after a `where` filter are known only once the attributes are read: 0 = unknown.
            splits=dict(SPLITS) if not a.where else dict.fromkeys(SPLITS, 0),
            class_names=(f"not {a.label}", a.label) if a.label else (),
            factors=dict.fromkeys(ATTRIBUTES, 2),
            source=SOURCE,
            licence=LICENCE,
            description="202,599 aligned celebrity faces with 40 binary attributes",
        )

    def load(self, split: str, ctx: DataContext) -> ImageSplit:
        a = self.args
        whole = load_attributes_split(split, a.resolution, ctx)
        assert whole.factors is not None
        keep = matching(whole.factors, ATTRIBUTES, a.where) if a.where else None
        images = whole.images[keep] if keep is not None else whole.images
        factors = whole.factors[keep] if keep is not None else whole.factors
        if len(images) == 0:
            raise BenchError(f"celeba: no face of split {split!r} has {_condition_name(a.where)}")
        labels = factors[:, ATTRIBUTES.index(a.label)].clone() if a.label else None
        return ImageSplit(images=images, labels=labels, factors=factors)


class CelebADomainsArgs(StrictModel):
    a: dict[str, int] = Field(description="attributes of domain A (the inputs): {Eyeglasses: 1}")
    b: dict[str, int] = Field(description="attributes of domain B (the targets): {Eyeglasses: 0}")
    resolution: int = _resolution()

    @field_validator("a", "b")
    @classmethod
    def _known(cls, v: dict[str, int]) -> dict[str, int]:
        if not v:
            raise ValueError("name at least one attribute, for example {Eyeglasses: 1}")
        return check_conditions(v, ATTRIBUTES)

    @model_validator(mode="after")
    def _different(self) -> CelebADomainsArgs:
        if self.a == self.b:
            raise ValueError("domains a and b are the same set of faces")
        return self


@DATASETS.register("celeba_domains")
class CelebADomains(_CelebAFiles):
    """Two sets of CelebA faces chosen by attributes, for unpaired translation (CycleGAN-style) and
    attribute arithmetic: images are domain A, targets domain B, each of its own size."""

    Args = CelebADomainsArgs
    args: CelebADomainsArgs
    example_args: ClassVar[dict[str, Any]] = {"a": {"Eyeglasses": 1}, "b": {"Eyeglasses": 0}}

    def info(self) -> DatasetInfo:
        a = self.args
        return DatasetInfo(
            name=f"celeba_{_condition_name(a.a)}_to_{_condition_name(a.b)}",
            resolution=a.resolution,
            channels=3,
            num_classes=0,
            splits=dict.fromkeys(SPLITS, 0),  # domain sizes depend on the attributes: known once loaded
            factors=dict.fromkeys(ATTRIBUTES, 2),
            source=SOURCE,
            licence=LICENCE,
            description="CelebA faces split into two attribute-defined domains (unpaired)",
            pairing="unpaired",
        )

    def load(self, split: str, ctx: DataContext) -> ImageSplit:
        a = self.args
        whole = load_attributes_split(split, a.resolution, ctx)
        assert whole.factors is not None
        masks = {d: matching(whole.factors, ATTRIBUTES, getattr(a, d)) for d in ("a", "b")}
        for d, m in masks.items():
            if not bool(m.any()):
                raise BenchError(
                    f"celeba_domains.{d}: no face of split {split!r} has {_condition_name(getattr(a, d))}"
                )
        return ImageSplit(
            images=whole.images[masks["a"]],
            factors=whole.factors[masks["a"]],
            targets=whole.images[masks["b"]],
            target_factors=whole.factors[masks["b"]],
        )


def attribute_index(name: str) -> int:
    """Column of an attribute in the factors tensor."""
    return ATTRIBUTES.index(name)
