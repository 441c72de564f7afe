"""A folder of PNG/JPG images as one uint8 NCHW tensor, read as they are (no crop, no resize)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from bench.errors import BenchError

EXTENSIONS = (".png", ".jpg", ".jpeg")


def read_images(folder: Path, limit: int | None = None, flag: str = "--fake") -> torch.Tensor:
    """Images under `folder` (recursively, sorted by path), grayscale kept 1-channel, others RGB.

    Every image must have the size of the first; the extractors resize (and say how in the protocol).
    """
    from PIL import Image

    from bench.datasets.decode import GRAY_MODES, BadImage, open_8bit

    files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in EXTENSIONS and p.is_file())
    if not files:
        raise BenchError(f"{flag}: no {', '.join(EXTENSIONS)} images under {folder}")
    files = files[:limit] if limit else files
    arrays = []
    gray = True
    for f in files:
        try:
            with Image.open(f) as im:
                gray &= im.mode in GRAY_MODES
        except (OSError, SyntaxError, Image.DecompressionBombError) as err:
            raise BenchError(f"{flag}: {f} cannot be read as an image ({err})") from None
    for f in files:
        try:
            a = open_8bit(f, gray)  # 16-bit scaled to 8 bits, never clipped
        except BadImage as err:
            raise BenchError(f"{flag}: {err}") from None
        if arrays and a.shape != arrays[0].shape:
            raise BenchError(
                f"{flag}: {f} is {a.shape[1]}x{a.shape[0]}, but {files[0]} is "
                f"{arrays[0].shape[1]}x{arrays[0].shape[0]}; all images must have one size"
            )
        arrays.append(a)
    x = torch.from_numpy(np.stack(arrays))
    return x.unsqueeze(1) if gray else x.permute(0, 3, 1, 2).contiguous()
