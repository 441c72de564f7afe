"""closest_pairs.png: the generated samples nearest to a training image, each beside that image.

The memorisation numbers (mem_* in bench/eval/metric_registry.py) say whether samples sit closer to
the training split than held-out images do; this gallery is what to look at before believing them. The
pairs are found in the extractor's feature space (`knn.closest_pairs`), and the chosen samples are drawn
again from their seeded blocks (sample i is block i // sample_block, bench/eval/generate.py), so the
gallery shows exactly the images that were scored without keeping all N of them.
"""

from __future__ import annotations

from pathlib import Path

import torch

from bench.config import EvalConfig
from bench.datasets.base import ImageSplit
from bench.eval.generate import Sampler, block_sizes, generate_uint8
from bench.metrics.knn import closest_pairs
from bench.plots import pyplot, save_figure

GALLERY = "closest_pairs.png"
GALLERY_PAIRS = 8  # columns of the gallery: the k generated samples nearest to a training image
MIN_TILE = 64  # pixels; smaller images are enlarged nearest-neighbour (each pixel a crisp block)


def samples_at(
    sampler: Sampler, device: torch.device, n: int, ev: EvalConfig, indices: list[int]
) -> torch.Tensor:
    """uint8 samples number `indices` of the set of n seeded by ev.seed, drawing only their blocks."""
    blocks = sorted({i // ev.sample_block for i in indices})
    images = generate_uint8(sampler, device, n, ev.sample_block, ev.seed, blocks, ev.precision)
    sizes = block_sizes(n, ev.sample_block)
    start, offset = {}, 0
    for j in blocks:
        start[j] = offset
        offset += sizes[j]
    rows = [start[i // ev.sample_block] + i % ev.sample_block for i in indices]
    return images[torch.tensor(rows, device=images.device)].cpu()


def _tile(image: torch.Tensor) -> torch.Tensor:
    """uint8 (C, H, W) -> (H', W', C) enlarged by a whole factor, nearest-neighbour."""
    factor = max(1, -(-MIN_TILE // max(1, min(image.shape[-2:]))))
    x = image.repeat_interleave(factor, dim=-2).repeat_interleave(factor, dim=-1)
    return x.permute(1, 2, 0)


def write_closest_pairs(
    path: Path,
    sampler: Sampler,
    device: torch.device,
    n: int,
    ev: EvalConfig,
    fake_feats: torch.Tensor,
    train_feats: torch.Tensor,
    train: ImageSplit,
    pairs: int = GALLERY_PAIRS,
) -> Path:
    """Draw the `pairs` closest (generated, training) pairs into `path`: generated samples on the top
    row, their nearest training images below, the feature distance over each column. train_feats are
    the features of train.images, row for row."""
    found = closest_pairs(train_feats, fake_feats, min(pairs, len(fake_feats)))
    fakes = samples_at(sampler, device, n, ev, found["fake_index"])
    trains = train.images[torch.tensor(found["train_index"])]
    plt = pyplot()
    k = len(found["fake_index"])
    fig, axes = plt.subplots(2, k, figsize=(1.6 * k, 4.0), squeeze=False)
    gray = fakes.shape[1] == 1
    for c in range(k):
        for r, img in enumerate((fakes[c], trains[c])):
            ax = axes[r][c]
            tile = _tile(img).numpy()
            ax.imshow(
                tile[..., 0] if gray else tile,
                cmap="gray" if gray else None,
                vmin=0,
                vmax=255,
                interpolation="nearest",
            )
            ax.set_xticks([])
            ax.set_yticks([])
        axes[0][c].set_title(f"sample {found['fake_index'][c]}\nd = {found['distance'][c]:.3g}", fontsize=7)
        axes[1][c].set_xlabel(f"train {found['train_index'][c]}", fontsize=7)
    fig.suptitle(
        f"the {k} generated samples closest to a training image (top) and that image (bottom); "
        "distances in feature space",
        fontsize=8,
    )
    return save_figure(fig, path, dpi=80)
