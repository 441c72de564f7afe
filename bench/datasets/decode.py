"""Decoding image files, and resizing in-memory images, into uint8 NCHW tensors at one resolution.

Runs once per split (the result is cached, see cache.py), so it favours fidelity over speed: full
decodes, a square center crop, then an antialiased bilinear resize (what torchvision's Resize does).
Pillow releases the GIL while decoding and resampling, so a thread pool uses every core.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm", ".pgm")
_CHUNK = 256  # files per task: few enough futures for 200k files, small enough to balance the pool


def is_image(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_SUFFIXES


def center_square(width: int, height: int) -> tuple[int, int, int, int]:
    """The largest centered square as a PIL box; CelebA's 178x218 gives rows 20..198."""
    side = min(width, height)
    left, top = (width - side) // 2, (height - side) // 2
    return left, top, left + side, top + side


def decode_file(path: Path, resolution: int, channels: int) -> np.ndarray:
    """One image as uint8 (C, resolution, resolution): center square crop, antialiased resize."""
    with Image.open(path) as img:
        img = img.convert("L" if channels == 1 else "RGB")
        if img.size != (resolution, resolution):
            img = img.crop(center_square(*img.size)).resize(
                (resolution, resolution), Image.Resampling.BILINEAR, reducing_gap=None
            )
        arr = np.asarray(img, dtype=np.uint8)
    return arr[None] if channels == 1 else arr.transpose(2, 0, 1)


def decode_files(
    paths: Sequence[Path], resolution: int, channels: int, workers: int | None = None
) -> torch.Tensor:
    """Every file decoded into one preallocated uint8 (N, C, resolution, resolution) tensor."""
    out = torch.empty((len(paths), channels, resolution, resolution), dtype=torch.uint8)
    view = out.numpy()

    def run(start: int) -> None:
        for i in range(start, min(start + _CHUNK, len(paths))):
            try:
                view[i] = decode_file(paths[i], resolution, channels)
            except OSError as err:  # a truncated or non-image file: name it instead of a bare PIL error
                raise OSError(f"cannot decode {paths[i]}: {err}") from None

    with ThreadPoolExecutor(max_workers=workers or min(32, os.cpu_count() or 1)) as pool:
        list(pool.map(run, range(0, len(paths), _CHUNK)))
    return out


def resize_uint8(images: torch.Tensor, resolution: int, chunk: int = 4096) -> torch.Tensor:
    """uint8 NCHW at another square resolution (antialiased bilinear), in chunks to bound memory."""
    if images.shape[-1] == resolution and images.shape[-2] == resolution:
        return images
    out = torch.empty((images.shape[0], images.shape[1], resolution, resolution), dtype=torch.uint8)
    for i in range(0, images.shape[0], chunk):
        x = images[i : i + chunk].float()
        x = F.interpolate(x, size=(resolution,) * 2, mode="bilinear", antialias=True, align_corners=False)
        out[i : i + chunk] = x.round_().clamp_(0, 255).to(torch.uint8)
    return out
