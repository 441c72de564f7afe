"""Labelled image grids: rows of images with a label per row (and optionally per column) as one PNG."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
from torchvision.utils import make_grid

from bench.plots import pyplot, save_figure

PAD = 2


def save_labeled_grid(
    images: torch.Tensor,
    path: Path,
    row_labels: Sequence[str],
    col_labels: Sequence[str] = (),
    title: str = "",
) -> Path:
    """images: (rows, cols, C, H, W) float in [-1, 1]; written atomically as a PNG."""
    plt = pyplot()

    rows, cols, c, h, w = images.shape
    grid = make_grid(
        (images.detach().float().cpu().clamp(-1, 1).flatten(0, 1) + 1) / 2,
        nrow=cols,
        padding=PAD,
        pad_value=1.0,
    )
    array = grid.permute(1, 2, 0).numpy()
    scale = max(0.6, 64 / max(h, w)) * 0.9  # small images get more room per pixel
    fig, ax = plt.subplots(
        figsize=(1.2 + cols * scale * (w + PAD) / 64, 0.6 + rows * scale * (h + PAD) / 64), dpi=100
    )
    ax.imshow(array[..., 0] if c == 1 else array, cmap="gray" if c == 1 else None, vmin=0, vmax=1)
    ax.set_yticks([PAD + i * (h + PAD) + h / 2 for i in range(rows)], list(row_labels), fontsize=8)
    if col_labels:
        ax.set_xticks([PAD + j * (w + PAD) + w / 2 for j in range(cols)], list(col_labels), fontsize=7)
    else:
        ax.set_xticks([])
    for side in ("top", "right", "bottom", "left"):
        ax.spines[side].set_visible(False)
    ax.tick_params(length=0)
    if title:
        ax.set_title(title, fontsize=9)
    return save_figure(fig, path, tight_bbox=True)
