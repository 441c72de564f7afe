"""The pictures a user looks at first: a sample grid and the loss curves."""

from __future__ import annotations

import json
import warnings
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torchvision.utils import make_grid

from bench.fs import atomic_write


def pyplot() -> Any:
    """matplotlib.pyplot on the Agg backend: cells and analyses draw without a display."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig: Any, path: Path, dpi: int = 100, tight_bbox: bool = False) -> Path:
    """Lay out, write atomically as PNG, and free the figure. `tight_bbox` grows the canvas to fit
    labels that reach past the axes (long row labels) instead of cutting them at the edge."""
    fig.tight_layout()
    extra = {"bbox_inches": "tight"} if tight_bbox else {}
    atomic_write(path, lambda f: fig.savefig(f, format="png", dpi=dpi, **extra), binary=True)
    pyplot().close(fig)
    return path


def rolling_median_band(vals: np.ndarray, w: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(median, min, max) over a centred window of `w` points (shrunk at the ends). A median keeps a
    single spike from becoming a plateau (a boxcar average spreads it over its whole window); the
    min/max band still shows the spike, at its own height and width."""
    h = w // 2
    padded = np.pad(vals, h, mode="constant", constant_values=np.nan)
    windows = np.lib.stride_tricks.sliding_window_view(padded, 2 * h + 1)
    return np.nanmedian(windows, axis=1), np.nanmin(windows, axis=1), np.nanmax(windows, axis=1)


def plot_series(ax: Any, points: list[tuple[int, float]], color: str = "C0") -> None:
    """A rolling median over ~2% of the run (the trend through step-to-step noise) inside the band
    of each window's min and max; a short series is drawn as logged."""
    steps = np.asarray([s for s, _ in points], dtype=np.float64)
    vals = np.asarray([v for _, v in points], dtype=np.float64)
    w = max(1, len(vals) // 50)
    if w < 3:
        ax.plot(steps, vals, lw=0.8, color=color)
        return
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # an all-NaN window (a diverged run) stays NaN
        median, low, high = rolling_median_band(vals, w)
    ax.fill_between(steps, low, high, color=color, alpha=0.18, linewidth=0)
    ax.plot(steps, median, lw=1.2, color=color)


def save_image_grid(
    images: torch.Tensor, path: Path, nrow: int = 8, title: str | None = None, min_tile: int = 64
) -> None:
    """images: float NCHW in [-1, 1]; written atomically as PNG.

    Tiles smaller than `min_tile` pixels are enlarged by a whole factor, nearest-neighbour (each pixel
    a crisp block, nothing invented), so 28x28 digits are readable in a file viewer; `title` (the cell
    id, the model) goes on a white band above the grid."""
    from PIL import Image, ImageDraw, ImageFont

    x = (images.detach().float().cpu().clamp(-1, 1) + 1) / 2
    factor = max(1, -(-min_tile // max(1, min(x.shape[-2:]))))  # ceil(min_tile / side)
    if factor > 1:
        x = torch.nn.functional.interpolate(x, scale_factor=factor, mode="nearest")
    grid = make_grid(x, nrow=nrow, padding=2 * factor, pad_value=1.0)
    array = (grid * 255).round().to(torch.uint8).permute(1, 2, 0).numpy()
    img = Image.fromarray(array[..., 0] if array.shape[2] == 1 else array)
    if title:
        size = max(12, min(24, img.width // 40))
        font = ImageFont.load_default(size=size)
        band = size * 2
        titled = Image.new(img.mode, (img.width, img.height + band), 255 if img.mode == "L" else (255,) * 3)
        titled.paste(img, (0, band))
        draw = ImageDraw.Draw(titled)
        # Long ids are cut with an ellipsis rather than drawn past the edge.
        text = title
        while len(text) > 4 and draw.textlength(text, font=font) > img.width - 8:
            text = text[:-4] + "..."
        draw.text((4, band // 2), text, fill=0, font=font, anchor="lm")
        img = titled
    atomic_write(path, lambda f: img.save(f, format="PNG"), binary=True)


def read_metrics(path: Path) -> dict[str, list[tuple[int, float]]]:
    """metrics.jsonl as {key: [(step, value)]}. A line that does not parse as a row (the torn last line
    of a killed writer, or damage) is skipped, as the resume drops it: a plot is never worth a crash."""
    series: dict[str, list[tuple[int, float]]] = defaultdict(list)
    try:
        text = path.read_text(errors="replace")
    except (FileNotFoundError, IsADirectoryError):
        return {}
    for line in text.splitlines():
        try:
            row = json.loads(line)
        except ValueError:
            continue
        if not isinstance(row, dict) or not isinstance(row.get("step"), int):
            continue
        for k, v in row.items():
            if k != "step" and isinstance(v, int | float):
                series[k].append((row["step"], v))
    return dict(series)


def plot_losses(metrics_path: Path, out: Path, title: str) -> None:
    """One panel per logged value: a rolling median over ~2% of the run inside its min/max band."""
    series = read_metrics(metrics_path)
    if not series:
        return
    keys = sorted(series)
    cols = min(3, len(keys))
    rows = (len(keys) + cols - 1) // cols
    fig, axes = pyplot().subplots(rows, cols, figsize=(4.2 * cols, 2.8 * rows), squeeze=False)
    for ax, key in zip(axes.flat, keys, strict=False):
        plot_series(ax, series[key])
        ax.set_title(key, fontsize=9)
        ax.set_xlabel("step", fontsize=8)
        ax.tick_params(labelsize=7)
    for ax in list(axes.flat)[len(keys) :]:
        ax.axis("off")
    fig.suptitle(title, fontsize=10)
    save_figure(fig, out)
