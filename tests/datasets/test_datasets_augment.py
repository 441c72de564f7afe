"""Batch-level augmentation on the batch's device: whole-batch flips, seeded, pairs kept aligned."""

from __future__ import annotations

import pytest
import torch

from bench.datasets.augment import paired_hflip, random_hflip


def test_hflip_mirrors_chosen_images_and_is_seeded() -> None:
    x = torch.arange(64 * 3 * 4 * 5, dtype=torch.float32).reshape(64, 3, 4, 5)
    assert torch.equal(random_hflip(x, p=1.0), x.flip(-1))
    assert torch.equal(random_hflip(x, p=0.0), x)
    out = random_hflip(x, torch.Generator().manual_seed(0))
    flipped = (out != x).flatten(1).any(1)
    # Each image is either itself or its mirror, never anything else, and about half are mirrored.
    assert torch.equal(out[flipped], x[flipped].flip(-1)) and torch.equal(out[~flipped], x[~flipped])
    assert 16 <= int(flipped.sum()) <= 48
    assert torch.equal(out, random_hflip(x, torch.Generator().manual_seed(0)))
    assert not torch.equal(out, random_hflip(x, torch.Generator().manual_seed(1)))
    with pytest.raises(ValueError, match="p must lie in"):
        random_hflip(x, p=1.5)


def test_paired_flip_keeps_image_and_target_aligned() -> None:
    x = torch.rand(32, 1, 6, 6, generator=torch.Generator().manual_seed(2))
    target = x * 2
    fx, ft = paired_hflip(x, target, torch.Generator().manual_seed(3))
    assert torch.equal(ft, fx * 2) and not torch.equal(fx, x)
    with pytest.raises(ValueError, match="paired batches differ in size"):
        paired_hflip(x, target[:5])
