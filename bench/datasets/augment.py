"""Augmentations applied to a whole batch on its device, for models that ask for them.

Batches are slices of a tensor already on the training device (batches.py), so augmentation is one
tensor op per batch, never per-sample Python. Randomness comes from a caller's generator on the
batch's device, so a seeded run flips the same images every time.
"""

from __future__ import annotations

import torch


def random_hflip(x: torch.Tensor, generator: torch.Generator | None = None, p: float = 0.5) -> torch.Tensor:
    """Mirror each image of an NCHW batch left-right with probability p (a new tensor; x is kept)."""
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"p must lie in [0, 1], got {p}")
    flip = torch.rand(x.shape[0], device=x.device, generator=generator) < p
    return torch.where(flip.view(-1, *([1] * (x.ndim - 1))), x.flip(-1), x)


def paired_hflip(
    x: torch.Tensor, target: torch.Tensor, generator: torch.Generator | None = None, p: float = 0.5
) -> tuple[torch.Tensor, torch.Tensor]:
    """The same random left-right flips applied to images and their paired targets (sketch -> photo)."""
    if x.shape[0] != target.shape[0]:
        raise ValueError(f"paired batches differ in size: {x.shape[0]} images, {target.shape[0]} targets")
    flip = (torch.rand(x.shape[0], device=x.device, generator=generator) < p).view(-1, 1, 1, 1)
    return torch.where(flip, x.flip(-1), x), torch.where(flip, target.flip(-1), target)
