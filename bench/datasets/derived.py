"""Datasets derived in the grid from a base dataset: a subset of its classes, or images selected by
binary attributes (CelebA), without new files or new registered names.

    datasets: [{cifar10: {classes: [cat, dog]}}]          # 2 classes, relabelled 0 (cat), 1 (dog)
    datasets: [{celeba: {where: {Male: 1}, label: Eyeglasses}}]
    datasets: [{celeba_domains: {a: {Eyeglasses: 1}, b: {Eyeglasses: 0}}}]
"""

from __future__ import annotations

from typing import ClassVar

import torch
from pydantic import Field, field_validator

from bench.config import StrictModel
from bench.datasets.base import ImageSplit


class ClassSubsetArgs(StrictModel):
    """Arguments of a labelled dataset whose classes a grid may narrow; subclasses set CLASS_NAMES."""

    CLASS_NAMES: ClassVar[tuple[str, ...]] = ()
    classes: list[str | int] | None = Field(
        None, description="keep only these classes (names or indices), relabelled 0..k-1 in this order"
    )

    @field_validator("classes")
    @classmethod
    def _known_classes(cls, value: list[str | int] | None) -> list[str | int] | None:
        if value is None:
            return None
        if not value:
            raise ValueError("name at least one class, or leave classes out for all of them")
        names = [cls.class_name(v) for v in value]
        if len(set(names)) != len(names):
            raise ValueError("a class is named twice")
        return value

    @classmethod
    def class_name(cls, value: str | int) -> str:
        """A class given by name or index -> its name; ValueError naming the allowed ones."""
        if not cls.CLASS_NAMES:  # names known only from the files (tiny-ImageNet wnids): checked at load
            return str(value)
        if isinstance(value, int) and 0 <= value < len(cls.CLASS_NAMES):
            return cls.CLASS_NAMES[value]
        if str(value) in cls.CLASS_NAMES:
            return str(value)
        raise ValueError(f"unknown class {value!r}; allowed: {', '.join(cls.CLASS_NAMES)}")

    def chosen(self) -> tuple[str, ...]:
        """Names of the kept classes, in the order given (all classes when none were given)."""
        if self.classes is None:
            return self.CLASS_NAMES
        return tuple(self.class_name(v) for v in self.classes)


def subset_sizes(
    per_class: dict[str, tuple[int, ...]], names: tuple[str, ...], kept: tuple[str, ...]
) -> dict[str, int]:
    """Split sizes of a class subset from the published per-class counts of each split."""
    idx = [names.index(k) for k in kept]
    return {split: sum(counts[i] for i in idx) for split, counts in per_class.items()}


def select_classes(split: ImageSplit, all_names: tuple[str, ...], kept: tuple[str, ...]) -> ImageSplit:
    """Rows whose label is one of `kept`, relabelled by position in `kept`."""
    if kept == tuple(all_names):
        return split
    assert split.labels is not None
    missing = [k for k in kept if k not in all_names]
    if missing:
        raise ValueError(f"classes {missing} are not in this dataset ({len(all_names)} classes)")
    old_to_new = torch.full((len(all_names),), -1, dtype=torch.int64)
    for new, name in enumerate(kept):
        old_to_new[all_names.index(name)] = new
    new_labels = old_to_new[split.labels]
    keep = new_labels >= 0
    return ImageSplit(
        images=split.images[keep],
        labels=new_labels[keep],
        factors=split.factors[keep] if split.factors is not None else None,
        targets=split.targets[keep] if split.targets is not None else None,
    )


def check_conditions(value: dict[str, int], attributes: tuple[str, ...]) -> dict[str, int]:
    """{attribute: 0|1}: every name a known attribute, every value 0 or 1."""
    for name, v in value.items():
        if name not in attributes:
            raise ValueError(f"unknown attribute {name!r}; allowed: {', '.join(attributes)}")
        if isinstance(v, bool) or v not in (0, 1):
            raise ValueError(f"{name}: attribute values are 0 or 1, got {v!r}")
    return value


def matching(factors: torch.Tensor, attributes: tuple[str, ...], conditions: dict[str, int]) -> torch.Tensor:
    """Boolean mask of rows whose binary attributes (columns of `factors`) meet every condition."""
    mask = torch.ones(factors.shape[0], dtype=torch.bool)
    for name, v in conditions.items():
        mask &= factors[:, attributes.index(name)] == v
    return mask
