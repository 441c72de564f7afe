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


class BadImage(OSError):
    """An image file that cannot be read as 8-bit pixels as it is: the message names the file."""


SIXTEEN_BIT = ("I;16", "I;16L", "I;16B", "I;16N")
GRAY_MODES = ("1", "L", *SIXTEEN_BIT)


def to_8bit(img: Image.Image, path: Path) -> Image.Image:
    """`img` with 8 bits per channel, its values scaled, never clipped. PIL's convert("L") clips 16-bit
    grey (every value above 255 becomes white), so 16-bit values are scaled by 255/65535 (an 8-bit
    image saved as 16-bit, v*257, comes back exactly). 32-bit integer and float images ("I", "F") hold
    no known range: refused. Other modes (palette, alpha, CMYK...) convert exactly through PIL."""
    if img.mode in SIXTEEN_BIT:
        wide = np.asarray(img).astype(np.uint32)
        return Image.fromarray(((wide * 255 + 32767) // 65535).astype(np.uint8), "L")
    if img.mode in ("I", "F"):
        kind = "32-bit integer" if img.mode == "I" else "floating-point"
        raise BadImage(
            f"{path}: a {kind} image (PIL mode {img.mode}) has no known range of values; "
            "save it as an 8-bit or 16-bit PNG"
        )
    return img


def open_8bit(path: Path, gray: bool) -> np.ndarray:
    """The image at `path` as uint8 (H, W) when `gray`, else (H, W, 3); BadImage naming the file when it
    is no image, is truncated, or holds values of no known range."""
    try:
        with Image.open(path) as img:
            return np.asarray(to_8bit(img, path).convert("L" if gray else "RGB"), dtype=np.uint8)
    except BadImage:
        raise
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as err:
        # PIL: UnidentifiedImageError for a non-image, OSError "truncated", ValueError for a mode it
        # cannot convert, SyntaxError from some format parsers on bad headers.
        raise BadImage(f"{path}: cannot be read as an image ({err})") from None


def decode_file(path: Path, resolution: int, channels: int) -> np.ndarray:
    """One image as uint8 (C, resolution, resolution): center square crop, antialiased resize."""
    with Image.open(path) as img:
        img = to_8bit(img, path).convert("L" if channels == 1 else "RGB")
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
            except BadImage:
                raise
            except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as err:
                # a truncated or non-image file: name it instead of a bare PIL error
                raise BadImage(f"cannot decode {paths[i]}: {err}") from None

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
