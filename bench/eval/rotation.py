"""A feature extractor for datasets without labels: a small CNN trained once, on the real training
images, to tell by how much an image was rotated (0, 90, 180 or 270 degrees; Gidaris et al. 2018).

The domain classifiers (domain.py) need class labels; folders of faces or textures have none, and
offline there is no Inception. Predicting rotations needs no labels but does need the net to see
what upright images of the domain look like (where eyes are, which way text runs), so its
penultimate features respond to the same defects FD is meant to catch: noise, blur, wrong shapes.
Scores computed with it are named by the extractor (`fd_rotation_<dataset>`), never FID.

The net is cached under `<cache_dir>/extractors/` keyed by a hash of the images, the recipe and the
seed; a file lock makes one process train while the others wait, and the file is renamed into place.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from filelock import FileLock
from torch import nn

from bench.datasets.base import ImageSplit
from bench.datasets.batches import to_unit_range
from bench.eval.domain import shuffled_batches
from bench.results.store import atomic_write

RECIPE: dict[str, Any] = {
    "version": 1,
    "width": 32,
    "feat_dim": 128,
    "lr": 1e-3,
    "batch": 64,  # images per step; each is seen at all 4 rotations, so 256 inputs
    "epochs": 10,
    "max_steps": 1500,
}


class RotationNet(nn.Module):
    """Three stride-2 conv blocks -> pooled -> a feature layer (the features) -> 4 rotation logits."""

    def __init__(self, channels: int, width: int, feat_dim: int) -> None:
        super().__init__()
        blocks: list[nn.Module] = []
        c_in = channels
        for c in (width, width * 2, width * 4):
            blocks += [nn.Conv2d(c_in, c, 3, 2, 1), nn.BatchNorm2d(c), nn.ReLU(True)]
            c_in = c
        self.trunk = nn.Sequential(
            *blocks, nn.AdaptiveAvgPool2d(2), nn.Flatten(), nn.Linear(c_in * 4, feat_dim), nn.ReLU(True)
        )
        self.head = nn.Linear(feat_dim, 4)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """x: uint8 NCHW (0..255) or float in [-1, 1] -> (N, feat_dim)."""
        if x.dtype == torch.uint8:
            x = to_unit_range(x)
        return self.trunk(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The features: what an FD over this extractor compares."""
        return self.features(x)


def rotations(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Each image at 0/90/180/270 degrees and the index of its rotation."""
    rotated = torch.cat([torch.rot90(x, k, dims=(2, 3)) for k in range(4)])
    labels = torch.arange(4).repeat_interleave(len(x))
    return rotated, labels


def _key(images: torch.Tensor, recipe: dict[str, Any], seed: int) -> str:
    h = hashlib.sha256(repr((sorted(recipe.items()), seed, tuple(images.shape))).encode())
    h.update(images.contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


def _train(images: torch.Tensor, recipe: dict[str, Any], seed: int) -> dict[str, torch.Tensor]:
    torch.manual_seed(seed)
    net = RotationNet(images.shape[1], recipe["width"], recipe["feat_dim"])
    opt = torch.optim.Adam(net.parameters(), lr=recipe["lr"])
    n, bs = len(images), min(recipe["batch"], len(images))
    for idx in shuffled_batches(n, bs, recipe["epochs"], recipe["max_steps"], seed):
        x, y = rotations(to_unit_range(images[idx]))
        loss = F.cross_entropy(net.head(net.trunk(x)), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return net.state_dict()


def train_rotation_extractor(
    train_split: ImageSplit, cache_dir: Path, seed: int = 0, *, recipe: dict[str, Any] | None = None
) -> RotationNet:
    """The rotation net of these training images (in eval mode, on the CPU), trained first when no
    process has yet. `recipe` overrides entries of RECIPE (a smaller net in tests); the resolved
    recipe is part of the cache key."""
    unknown = set(recipe or {}) - set(RECIPE)
    if unknown:
        raise ValueError(f"unknown rotation recipe keys {sorted(unknown)}; known: {', '.join(RECIPE)}")
    recipe = {**RECIPE, **(recipe or {})}
    images = train_split.images.cpu()
    path = Path(cache_dir) / "extractors" / f"rotation-{_key(images, recipe, seed)}.pt"
    path.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(path) + ".lock"):
        if not path.exists():
            blob = {
                "state_dict": _train(images, recipe, seed),
                "channels": images.shape[1],
                "width": recipe["width"],
                "feat_dim": recipe["feat_dim"],
            }
            atomic_write(path, lambda f: torch.save(blob, f), binary=True)
    return load_rotation_extractor(path)


def load_rotation_extractor(path: Path) -> RotationNet:
    blob = torch.load(path, map_location="cpu", weights_only=True)
    net = RotationNet(blob["channels"], blob["width"], blob["feat_dim"])
    net.load_state_dict(blob["state_dict"])
    return net.eval()


@torch.no_grad()
def extract(net: RotationNet, images: torch.Tensor, batch: int = 500) -> torch.Tensor:
    """Features of uint8 or [-1, 1] float images, in batches, as float64 for the statistics."""
    return torch.cat([net(images[i : i + batch]) for i in range(0, len(images), batch)]).double()
