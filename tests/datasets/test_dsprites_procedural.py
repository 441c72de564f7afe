"""Tests for the procedural dSprites: official factor ordering, pixels that behave, and the on-disk cache."""

from __future__ import annotations

import itertools
import pathlib

import numpy as np
import pytest
import torch

from bench.datasets import dsprites_procedural as dsp

SIZES = tuple(dsp.FACTOR_SIZES.values())


def flat(shape: int, scale: int, orientation: int, pos_x: int, pos_y: int) -> int:
    return int(np.ravel_multi_index((shape, scale, orientation, pos_x, pos_y), SIZES))


def test_constants_match_the_published_definition() -> None:
    assert dsp.FACTOR_SIZES == {"shape": 3, "scale": 6, "orientation": 40, "posX": 32, "posY": 32}
    assert list(dsp.FACTOR_SIZES) == ["shape", "scale", "orientation", "posX", "posY"]
    assert dsp.SHAPE_NAMES == ("square", "ellipse", "heart")
    assert dsp.TOTAL == 737280 == int(np.prod(SIZES))


def test_render_sprites_is_binary_and_leaves_the_canvas_rim_empty() -> None:
    sprites = dsp.render_sprites()
    assert sprites.shape == (3, 6, 40, dsp.SPRITE, dsp.SPRITE)
    assert sprites.dtype == np.bool_
    assert sprites.any(axis=(3, 4)).all(), "every sprite has foreground"
    rim = np.ones((dsp.SPRITE, dsp.SPRITE), dtype=bool)
    rim[1:-1, 1:-1] = False
    assert not sprites[..., rim].any()


def test_factors_of_follows_the_official_ordering() -> None:
    idx = np.array([0, 1, 32, 32 * 32, 40 * 32 * 32, 6 * 40 * 32 * 32, dsp.TOTAL - 1])
    got = dsp.factors_of(idx)
    assert got.dtype == np.int64 and got.shape == (7, 5)
    expected = [
        [0, 0, 0, 0, 0],
        [0, 0, 0, 0, 1],  # posY varies fastest
        [0, 0, 0, 1, 0],
        [0, 0, 1, 0, 0],
        [0, 1, 0, 0, 0],
        [1, 0, 0, 0, 0],
        [2, 5, 39, 31, 31],
    ]
    np.testing.assert_array_equal(got, expected)

    # Against the mixed-radix formula of the official latents_bases = [245760, 40960, 1024, 32, 1].
    rng = np.random.default_rng(1)
    some = rng.integers(0, dsp.TOTAL, size=1000)
    bases = np.array([245760, 40960, 1024, 32, 1])
    np.testing.assert_array_equal(dsp.factors_of(some) @ bases, some)


@pytest.mark.parametrize(
    "bad", [np.array([-1]), np.array([dsp.TOTAL]), np.array([0.5]), np.zeros((2, 2), int)]
)
def test_factors_of_rejects_bad_indices(bad: np.ndarray) -> None:
    with pytest.raises(ValueError):
        dsp.factors_of(bad)


def test_generate_shapes_dtypes_and_values() -> None:
    idx = np.random.default_rng(0).integers(0, dsp.TOTAL, size=500)
    split = dsp.generate(idx)
    assert len(split) == 500
    assert split.images.dtype == torch.uint8 and split.images.shape == (500, 1, 64, 64)
    assert set(torch.unique(split.images).tolist()) == {0, 255}
    assert split.labels is not None and split.factors is not None
    assert split.labels.dtype == torch.int64 and split.labels.shape == (500,)
    assert split.factors.dtype == torch.int64 and split.factors.shape == (500, 5)
    np.testing.assert_array_equal(split.factors.numpy(), dsp.factors_of(idx))
    assert torch.equal(split.labels, split.factors[:, 0])
    assert (split.images.flatten(1) > 0).any(dim=1).all(), "no blank images"


def test_generate_is_deterministic() -> None:
    idx = np.random.default_rng(2).integers(0, dsp.TOTAL, size=300)
    a, b = dsp.generate(idx), dsp.generate(idx)
    assert torch.equal(a.images, b.images) and torch.equal(a.factors, b.factors)


def test_shapes_stay_inside_the_frame_at_the_extreme_positions() -> None:
    corners = [0, 31]
    idx = np.array(
        [
            flat(s, sc, o, x, y)
            for s, sc, o, x, y in itertools.product(range(3), range(6), range(40), corners, corners)
        ]
    )
    images = dsp.generate(idx).images[:, 0]
    border = torch.cat([images[:, 0, :], images[:, -1, :], images[:, :, 0], images[:, :, -1]], dim=1)
    assert not border.any()


def test_positions_spread_across_the_frame() -> None:
    def columns(pos_x: int) -> torch.Tensor:
        image = dsp.generate(np.array([flat(0, 5, 0, pos_x, 16)])).images[0, 0]
        return torch.nonzero(image.any(dim=0)).flatten()

    assert columns(0).min() <= 8
    assert columns(31).max() >= 55
    # posX moves the sprite along columns without changing it; posY does the same along rows.
    base = dsp.generate(np.array([flat(2, 3, 7, 0, 0)])).images[0, 0]
    moved = dsp.generate(np.array([flat(2, 3, 7, 20, 9)])).images[0, 0]
    shifted = torch.roll(base, shifts=(int(dsp.OFFSETS[9]), int(dsp.OFFSETS[20])), dims=(0, 1))
    assert torch.equal(moved, shifted)


def test_larger_scale_means_more_foreground() -> None:
    idx = np.array([flat(s, sc, o, 16, 16) for s in range(3) for sc in range(6) for o in range(40)])
    area = (dsp.generate(idx).images[:, 0] > 0).sum(dim=(1, 2)).float().reshape(3, 6, 40)
    per_scale = area.mean(dim=(0, 2))
    assert (per_scale[1:] > per_scale[:-1]).all(), per_scale
    # Every shape grows with scale on its own, too.
    per_shape_scale = area.mean(dim=2)
    assert (per_shape_scale[:, 1:] > per_shape_scale[:, :-1]).all()


def test_different_shapes_differ() -> None:
    for scale, orientation in itertools.product([0, 5], [0, 13]):
        images = dsp.generate(np.array([flat(s, scale, orientation, 10, 20) for s in range(3)])).images
        for i, j in itertools.combinations(range(3), 2):
            assert not torch.equal(images[i], images[j]), (i, j, scale, orientation)


def test_upright_shapes_look_right() -> None:
    images = dsp.generate(np.array([flat(s, 5, 0, 16, 16) for s in range(3)])).images[:, 0] > 0
    square, ellipse, heart = images
    upright = dsp.render_sprites()[:, 5, 0]
    for sprite in upright:  # all three are mirror-symmetric left to right when upright
        np.testing.assert_array_equal(sprite, sprite[:, ::-1])
    rows, cols = torch.nonzero(square, as_tuple=True)
    # The square is solid: it fills its bounding box.
    assert square.sum() == (rows.max() - rows.min() + 1) * (cols.max() - cols.min() + 1)
    rows, cols = torch.nonzero(ellipse, as_tuple=True)
    width, height = cols.max() - cols.min() + 1, rows.max() - rows.min() + 1
    assert 1.6 <= width / height <= 2.4, (width, height)
    # The heart is top-heavy (lobes up, tip down) and has a notch between the lobes at the top.
    rows, cols = torch.nonzero(heart, as_tuple=True)
    top, bottom = rows.min(), rows.max()
    assert heart[top : (top + bottom) // 2 + 1].sum() > heart[(top + bottom) // 2 + 1 :].sum()
    centre = (cols.min() + cols.max()) // 2
    assert not heart[top, centre] and heart[top].any()


def test_load_split_caches_and_reuses(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cache = tmp_path / "cache"
    train = dsp.load_split("train", cache, n_train=300, n_test=100, seed=3)
    assert train.images.shape == (300, 1, 64, 64) and train.factors.shape == (300, 5)
    files = list(cache.iterdir())
    assert len(files) == 1 and files[0].suffix == ".pt" and "train" in files[0].name

    def no_generation(indices: np.ndarray) -> None:
        raise AssertionError("should have read the cache")

    monkeypatch.setattr(dsp, "generate", no_generation)
    again = dsp.load_split("train", cache, n_train=300, n_test=100, seed=3)
    assert torch.equal(again.images, train.images)
    assert torch.equal(again.labels, train.labels) and torch.equal(again.factors, train.factors)
    assert list(cache.iterdir()) == files, "nothing rewritten, no temporary files left"


def test_load_split_is_deterministic_and_splits_do_not_overlap(tmp_path: pathlib.Path) -> None:
    a = dsp.load_split("test", tmp_path / "a", n_train=200, n_test=150, seed=7)
    b = dsp.load_split("test", tmp_path / "b", n_train=200, n_test=150, seed=7)
    assert a.images.shape == (150, 1, 64, 64)
    assert torch.equal(a.images, b.images) and torch.equal(a.factors, b.factors)

    train = dsp.load_split("train", tmp_path / "a", n_train=200, n_test=150, seed=7)
    bases = torch.tensor([245760, 40960, 1024, 32, 1])
    assert not set((train.factors @ bases).tolist()) & set((a.factors @ bases).tolist())
    # Each (split, sizes, seed) gets its own file.
    assert len(list((tmp_path / "a").glob("*.pt"))) == 2
    other_seed = dsp.load_split("test", tmp_path / "a", n_train=200, n_test=150, seed=8)
    assert not torch.equal(other_seed.factors, a.factors)
    assert len(list((tmp_path / "a").glob("*.pt"))) == 3


def test_failed_write_leaves_no_file(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken_save(*args: object, **kwargs: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        dsp.load_split("train", tmp_path, n_train=50, n_test=50)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"split": "validation"}, "validation"),
        ({"split": "train", "n_train": 0}, "n_train"),
        ({"split": "train", "n_test": -5}, "-5"),
        ({"split": "test", "n_train": dsp.TOTAL, "n_test": 1}, str(dsp.TOTAL + 1)),
    ],
)
def test_load_split_validates_arguments(tmp_path: pathlib.Path, kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        dsp.load_split(cache_dir=tmp_path, **kwargs)
    assert not tmp_path.exists() or list(tmp_path.iterdir()) == []
