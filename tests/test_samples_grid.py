"""samples.png: small images enlarged to readable tiles, with a title band."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image

from bench.results.plots import save_image_grid


def test_small_tiles_are_enlarged_nearest_neighbour_and_titled(tmp_path: Path) -> None:
    x = -torch.ones(16, 1, 28, 28)
    x[0, 0, 0, 0] = 1.0  # one white pixel in the first image
    save_image_grid(x, tmp_path / "plain.png", nrow=4, title=None)
    save_image_grid(x, tmp_path / "titled.png", nrow=4, title="mlp_vae_digits_z4_s0")
    plain = np.asarray(Image.open(tmp_path / "plain.png").convert("L"))
    # 28 px -> x3 = 84 px tiles (>= 64), padding scaled with them: 4 * (84 + 6) + 6
    assert plain.shape == (366, 366)
    tile = plain[6 : 6 + 84, 6 : 6 + 84]
    assert (tile[:3, :3] == 255).all() and (tile[3:, 3:] == 0).all()  # a crisp 3x3 block, no blur
    titled = np.asarray(Image.open(tmp_path / "titled.png").convert("L"))
    band = titled.shape[0] - plain.shape[0]
    assert band > 0 and titled.shape[1] == plain.shape[1]
    assert (titled[band:] == plain).all()  # the grid is unchanged below the band
    assert (titled[:band] < 128).any()  # text drawn in the band


def test_large_tiles_keep_their_size(tmp_path: Path) -> None:
    save_image_grid(torch.zeros(8, 3, 64, 64), tmp_path / "s.png")
    assert Image.open(tmp_path / "s.png").size == (8 * 66 + 2, 66 + 2)
