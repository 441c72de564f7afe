"""A model's `SampleGrid` as the images samples.png and TensorBoard draw: rows with a label tile first.

Labels are drawn as tiles of the grid itself (white, the label in black), the first of each row, so
`save_image_grid` and `make_grid` lay them out with the images and nothing else needs to know about
labels. Small images are enlarged nearest-neighbour to `min_tile` pixels before the label is drawn,
so the text is drawn at the size it is shown, not enlarged into blocks afterwards.
"""

from __future__ import annotations

from pathlib import Path

import torch

from bench.models.base import SampleGrid
from bench.plots import save_image_grid

MIN_TILE = 64  # as save_image_grid: tiles smaller than this are enlarged by a whole factor


def sheet(grid: SampleGrid, min_tile: int = MIN_TILE) -> tuple[torch.Tensor, int]:
    """(images, nrow) to draw: float NCHW in [-1, 1]; with row labels, each row starts with its label."""
    x = grid.images.detach().float().cpu().clamp(-1, 1)
    if not grid.row_labels:
        return x, grid.nrow
    side = max(1, min(x.shape[-2:]))
    factor = max(1, -(-min_tile // side))
    if factor > 1:
        x = torch.nn.functional.interpolate(x, scale_factor=factor, mode="nearest")
    blank = torch.ones_like(x[:1])
    tiles: list[torch.Tensor] = []
    for r, label in enumerate(grid.row_labels):
        row = x[r * grid.nrow : (r + 1) * grid.nrow]
        missing = grid.nrow - len(row)  # a short last row is filled with white tiles
        tiles += [label_tile(label, x.shape[1:]), row, blank.expand(missing, -1, -1, -1)]
    return torch.cat(tiles), grid.nrow + 1


def label_tile(text: str, shape: torch.Size | tuple[int, ...]) -> torch.Tensor:
    """A white (1, C, H, W) tile in [-1, 1] with `text` in black, centred, as large as fits its width."""
    from PIL import Image, ImageDraw, ImageFont

    c, h, w = shape
    img = Image.new("L", (w, h), 255)
    draw = ImageDraw.Draw(img)
    size = max(8, h // 4)
    font = ImageFont.load_default(size=size)
    while size > 8 and draw.textlength(text, font=font) > w - 6:
        size -= 1
        font = ImageFont.load_default(size=size)
    draw.text((w / 2, h / 2), text, fill=0, font=font, anchor="mm")
    t = torch.frombuffer(bytearray(img.tobytes()), dtype=torch.uint8).view(1, 1, h, w)
    return (t.float() / 127.5 - 1).expand(1, c, h, w)


def save_samples(grid: SampleGrid, path: Path, title: str | None = None) -> None:
    """samples.png: the grid's rows (labelled when it has labels) under `title`, written atomically."""
    images, nrow = sheet(grid)
    save_image_grid(images, path, nrow=nrow, title=title)
