"""samples.png: small images enlarged to readable tiles, with a title band."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image

from bench.plots import save_image_grid


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


def _translator(name: str, pairing: str, **args: object):
    from bench.datasets.base import DatasetInfo
    from bench.models import MODELS

    info = DatasetInfo(
        name="fake", resolution=28, channels=1, num_classes=0, splits={"train": 8, "test": 12},
        source="test", licence="test", pairing=pairing,
    )  # fmt: skip
    family = MODELS.get(name)
    model = family(family.Config(**args), info, None)
    model.train(False)
    return model


def test_pix2pix_grid_shows_each_input_above_its_output_and_its_own_target(tmp_path: Path) -> None:
    from bench.datasets.base import ImageSplit
    from bench.train.sample_sheet import save_samples, sheet

    model = _translator("pix2pix", "paired", g_width=4, d_width=4, sample_pool=4)
    images = torch.arange(12, dtype=torch.uint8).view(12, 1, 1, 1).expand(12, 1, 28, 28) * 20
    test = ImageSplit(images.contiguous(), targets=(255 - images).contiguous())
    grid = model.sample_grid(torch.Generator().manual_seed(3), test)
    assert grid.row_labels == ("input", "output", "target") and grid.nrow == 8
    source, output, target = grid.images.view(3, 8, 1, 28, 28)
    assert torch.allclose(target, -source)  # each target is the pair of the input above it (255 - x)
    assert len(set(source[:, 0, 0, 0].tolist())) == 8  # eight different test images
    assert torch.allclose(output, model.translate(source, "AB"))
    drawn, nrow = sheet(grid)
    assert nrow == 9 and len(drawn) == 27  # a label tile first in each row
    label = drawn[0]
    assert (label == 1).float().mean() > 0.5 and (label < 0).any()  # white with dark text
    save_samples(grid, tmp_path / "samples.png", title="pix2pix on fake")
    w, h = Image.open(tmp_path / "samples.png").size
    assert w == 9 * (84 + 2) + 2 and h > 3 * (84 + 2) + 2  # 28 px enlarged x3; a title band above


def test_cyclegan_grid_shows_both_directions_and_the_default_is_64_samples() -> None:
    from bench.datasets.base import ImageSplit

    model = _translator("cyclegan", "unpaired", g_width=4, d_width=4, d_hidden=8, sample_pool=4)
    images = torch.randint(0, 256, (12, 1, 28, 28), dtype=torch.uint8)
    grid = model.sample_grid(torch.Generator().manual_seed(0), ImageSplit(images, targets=images[:5]))
    assert grid.row_labels == ("A", "A->B", "B", "B->A") and grid.nrow == 5  # domain B has 5 images
    a, ab, b, ba = grid.images.view(4, 5, 1, 28, 28)
    assert torch.allclose(ab, model.translate(a, "AB")) and torch.allclose(ba, model.translate(b, "BA"))

    from bench.datasets.base import DatasetInfo
    from bench.models import MODELS

    vae = MODELS.get("mlp_vae")
    info = DatasetInfo(name="fake", resolution=28, channels=1, num_classes=0, splits={"train": 8},
                       source="test", licence="test")  # fmt: skip
    default = vae(vae.Config(hidden=[8]), info, 4).sample_grid(torch.Generator(), ImageSplit(images))
    assert default.images.shape == (64, 1, 28, 28) and default.nrow == 8 and default.row_labels == ()
