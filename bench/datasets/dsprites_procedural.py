"""dSprites rebuilt procedurally, so the benchmark can use it without downloading the official npz.

dSprites (Matthey et al. 2017, github.com/deepmind/dsprites-dataset) is the full product of five
latent factors: shape (square, ellipse, heart) x scale (6 values in [0.5, 1]) x orientation (40 values
in [0, 2*pi]) x posX (32) x posY (32) = 737,280 binary 64x64 images. The official colour factor has a
single value and is left out. Flat indices follow the official npz order (posY varies fastest), so
`factors_of` gives the same factor classes the official `latents_classes` array would.

The pixels are not byte-identical to the official release: shapes here are drawn from implicit curves
with 4x4 supersampling and a 50% coverage threshold. What matters for disentanglement and
conditional-generation benchmarks is kept: the factor structure, binary pixels, the shape always fully
inside the frame, and positions spread across the frame.

Generation is cheap: the 720 (shape, scale, orientation) sprites are rendered once into a small canvas,
and every image is that canvas pasted at one of 32 x 32 offsets.
"""

from __future__ import annotations

import functools
import hashlib
import json
import pathlib

import numpy as np
import torch

from bench.datasets.base import ImageSplit
from bench.fs import atomic_write

# Bump whenever the pixels, the split rule or the file layout change, so stale caches are not reused.
GENERATOR_VERSION = "dsprites-procedural-v1"

FACTOR_SIZES: dict[str, int] = {"shape": 3, "scale": 6, "orientation": 40, "posX": 32, "posY": 32}
SHAPE_NAMES = ("square", "ellipse", "heart")
TOTAL = 737280

RESOLUTION = 64
# Factor values as published. Orientation includes both 0 and 2*pi, as in the official data, so the first
# and last orientation classes draw the same picture.
SCALES = np.linspace(0.5, 1.0, FACTOR_SIZES["scale"])
ORIENTATIONS = np.linspace(0.0, 2.0 * np.pi, FACTOR_SIZES["orientation"])

# Each sprite lives in a SPRITE x SPRITE canvas whose centre is the rotation centre. At scale 1 every
# shape stays within SPRITE_RADIUS pixels of that centre whatever the angle, so it never touches the
# canvas's outer pixel ring; pasting the canvas anywhere inside the frame therefore leaves the frame's
# border rows and columns empty. Radius 11 makes the square at scale 1 about 16 px wide, roughly a
# quarter of the frame as in the official data.
SPRITE = 24
SPRITE_RADIUS = 11.0
SUPERSAMPLE = 4
# Top-left corners of the canvas for the 32 positions, spread over the whole frame. Steps are 1 or 2 px
# because 40 px of travel does not divide into 31 equal whole-pixel steps.
OFFSETS = np.round(np.linspace(0, RESOLUTION - SPRITE, FACTOR_SIZES["posX"])).astype(np.int64)

# The heart is the classic construction: a square standing on one corner (|x| + |y| <= 1) with two
# discs on its upper edges (centres (+-1/2, 1/2), radius 1/sqrt(2)), which gives round lobes, a clear
# notch and a sharp tip. Its smallest enclosing circle about a point on the axis is centred at
# y = (sqrt(2) - 1) / (3 - sqrt(2)) ~ 0.26 with radius 1 + that, reached at the tip and the lobes'
# outer edges; shifting and dividing by it fits the heart in the unit circle like the other shapes.
_HEART_CENTER_Y = (np.sqrt(2.0) - 1.0) / (3.0 - np.sqrt(2.0))
_HEART_RADIUS = 1.0 + _HEART_CENTER_Y

_SIZES = tuple(FACTOR_SIZES.values())
_SPLITS = ("train", "test")


def _inside(shape: int, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Whether points (x right, y up, shape-local units) fall inside a shape fitting the unit circle."""
    if shape == 0:  # square whose corners touch the unit circle
        half = 1.0 / np.sqrt(2.0)
        return (np.abs(x) <= half) & (np.abs(y) <= half)
    if shape == 1:  # ellipse, 2:1, long axis horizontal at orientation 0
        return (x / 1.0) ** 2 + (y / 0.5) ** 2 <= 1.0
    hx = np.abs(x * _HEART_RADIUS)  # symmetric: one lobe test covers both
    hy = y * _HEART_RADIUS + _HEART_CENTER_Y
    return (hx + np.abs(hy) <= 1.0) | ((hx - 0.5) ** 2 + (hy - 0.5) ** 2 <= 0.5)


def render_sprites() -> np.ndarray:
    """Render every (shape, scale, orientation) sprite once.

    Returns a bool array (3, 6, 40, SPRITE, SPRITE); True is foreground. Shapes are drawn upright at
    orientation 0 (heart lobes up) and turn counter-clockwise on screen as the angle grows.
    """
    n = SPRITE * SUPERSAMPLE
    # Sub-pixel sample centres in canvas pixels, measured from the canvas centre; y flipped so it points up.
    t = (np.arange(n, dtype=np.float64) + 0.5) / SUPERSAMPLE - SPRITE / 2
    px, py = np.meshgrid(t, -t)  # (n, n): columns are x, rows are y (row 0 at the top)
    # Inverse transform of every sample for every (scale, orientation) at once: undo the rotation and
    # the scaling to land in shape-local units, where membership is a closed-form test.
    cos = np.cos(ORIENTATIONS)[None, :, None, None]
    sin = np.sin(ORIENTATIONS)[None, :, None, None]
    size = (SCALES * SPRITE_RADIUS)[:, None, None, None]
    lx = (cos * px + sin * py) / size  # (6, 40, n, n)
    ly = (-sin * px + cos * py) / size
    sprites = np.empty((FACTOR_SIZES["shape"], len(SCALES), len(ORIENTATIONS), SPRITE, SPRITE), dtype=bool)
    for shape in range(FACTOR_SIZES["shape"]):
        hits = _inside(shape, lx, ly).reshape(
            len(SCALES), len(ORIENTATIONS), SPRITE, SUPERSAMPLE, SPRITE, SUPERSAMPLE
        )
        # A pixel is foreground when at least half of its sub-samples are: binary, no antialiasing.
        coverage = hits.sum(axis=(3, 5), dtype=np.int32)
        sprites[shape] = coverage * 2 >= SUPERSAMPLE * SUPERSAMPLE
    return sprites


@functools.lru_cache(maxsize=1)
def _sprites_255() -> np.ndarray:
    """The rendered sprites as uint8 0/255, flattened to (720, SPRITE, SPRITE); shared, so read-only."""
    sprites = render_sprites().reshape(-1, SPRITE, SPRITE).astype(np.uint8) * np.uint8(255)
    sprites.flags.writeable = False
    return sprites


def factors_of(indices: np.ndarray) -> np.ndarray:
    """Factor classes (N, 5) of [shape, scale, orientation, posX, posY] for flat official indices."""
    idx = np.asarray(indices)
    if idx.ndim != 1 or not np.issubdtype(idx.dtype, np.integer):
        raise ValueError(f"indices must be a 1-D integer array, got {idx.dtype} {idx.shape}")
    if idx.size and (idx.min() < 0 or idx.max() >= TOTAL):
        raise ValueError(f"indices must lie in [0, {TOTAL}), got range [{idx.min()}, {idx.max()}]")
    return np.stack(np.unravel_index(idx.astype(np.int64), _SIZES), axis=1).astype(np.int64)


def generate(indices: np.ndarray) -> ImageSplit:
    """Images, shape labels and factor classes for flat indices into the official ordering."""
    factors = factors_of(indices)
    n = factors.shape[0]
    sprites = _sprites_255()
    sprite_id = np.ravel_multi_index((factors[:, 0], factors[:, 1], factors[:, 2]), _SIZES[:3])
    # posX moves the sprite along columns, posY along rows (posY = 0 at the top of the array).
    left = OFFSETS[factors[:, 3]]
    top = OFFSETS[factors[:, 4]]
    images = np.zeros((n, RESOLUTION, RESOLUTION), dtype=np.uint8)
    span = np.arange(SPRITE)
    # Paste in chunks so the broadcast index arrays stay a few tens of MB however many images are asked for.
    chunk = 4096
    for start in range(0, n, chunk):
        stop = min(start + chunk, n)
        rows = (top[start:stop, None] + span)[:, :, None]
        cols = (left[start:stop, None] + span)[:, None, :]
        which = np.arange(start, stop)[:, None, None]
        images[which, rows, cols] = sprites[sprite_id[start:stop]]
    factors_t = torch.from_numpy(factors)
    return ImageSplit(
        images=torch.from_numpy(images).unsqueeze(1),
        labels=factors_t[:, 0].clone(),
        factors=factors_t,
    )


def _split_indices(split: str, n_train: int, n_test: int, seed: int) -> np.ndarray:
    perm = np.random.default_rng(seed).permutation(TOTAL)
    return perm[:n_train] if split == "train" else perm[n_train : n_train + n_test]


def _cache_path(cache_dir: pathlib.Path, split: str, n_train: int, n_test: int, seed: int) -> pathlib.Path:
    key = json.dumps([GENERATOR_VERSION, split, n_train, n_test, seed])
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    return cache_dir / f"dsprites_procedural-{split}-{digest}.pt"


def _save_atomically(data: dict[str, torch.Tensor], path: pathlib.Path) -> None:
    # A temporary file in the same folder, renamed into place, so readers see a whole file or none.
    atomic_write(path, lambda f: torch.save(data, f), binary=True)


def load_split(
    split: str,
    cache_dir: pathlib.Path,
    n_train: int = 50000,
    n_test: int = 10000,
    seed: int = 0,
) -> ImageSplit:
    """A deterministic train or test split, generated once and then read from a cache under cache_dir.

    A permutation of all 737,280 indices drawn from `numpy.random.default_rng(seed)` is shared by both
    splits: "train" is its first n_train entries and "test" the next n_test, so the two never overlap.
    """
    if split not in _SPLITS:
        raise ValueError(f"split must be one of {_SPLITS}, got {split!r}")
    for name, value in (("n_train", n_train), ("n_test", n_test)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    if n_train + n_test > TOTAL:
        raise ValueError(
            f"n_train + n_test must be at most {TOTAL}, got {n_train} + {n_test} = {n_train + n_test}"
        )
    n_train, n_test, seed = int(n_train), int(n_test), int(seed)

    cache_dir = pathlib.Path(cache_dir)
    path = _cache_path(cache_dir, split, n_train, n_test, seed)
    if path.exists():
        data = torch.load(path, weights_only=True)
        return ImageSplit(images=data["images"], labels=data["labels"], factors=data["factors"])

    data_split = generate(_split_indices(split, n_train, n_test, seed))
    cache_dir.mkdir(parents=True, exist_ok=True)
    _save_atomically(
        {"images": data_split.images, "labels": data_split.labels, "factors": data_split.factors}, path
    )
    return data_split
