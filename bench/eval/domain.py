"""A small CNN classifier per dataset, trained once on the real training split, whose penultimate
features stand in for Inception's on machines that cannot download Inception weights.

Scores computed with it are named by the extractor (`fd_digits`, never "FID"): they compare models on
one dataset under one recorded protocol, not with published FIDs. The classifier is cached under
BENCH_CACHE keyed by a hash of the training data and the recipe, so every cell (and every process on a
shared filesystem) reuses one file; a lock makes one process train while the others wait.
"""

from __future__ import annotations

import hashlib
import logging
import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from filelock import FileLock
from torch import nn

from bench.datasets.base import DatasetInfo, ImageSplit
from bench.datasets.batches import to_unit_range
from bench.results.store import atomic_write

RECIPE = {
    "version": 1,
    "width": 32,
    "feat_dim": 128,
    "lr": 1e-3,
    "batch": 128,
    "epochs": 10,
    "max_steps": 1500,
    "seed": 0,
}


class DomainClassifier(nn.Module):
    """Three stride-2 conv blocks -> global pooling -> a feature layer -> one head per label."""

    def __init__(
        self, channels: int, resolution: int, head_sizes: list[int], width: int, feat_dim: int
    ) -> None:
        super().__init__()
        self.channels, self.resolution = channels, resolution
        blocks: list[nn.Module] = []
        c_in = channels
        for c in (width, width * 2, width * 4):
            blocks += [nn.Conv2d(c_in, c, 3, 2, 1), nn.BatchNorm2d(c), nn.ReLU(True)]
            c_in = c
        self.trunk = nn.Sequential(
            *blocks, nn.AdaptiveAvgPool2d(2), nn.Flatten(), nn.Linear(c_in * 4, feat_dim), nn.ReLU(True)
        )
        self.heads = nn.ModuleList(nn.Linear(feat_dim, k) for k in head_sizes)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """x: float in [-1, 1] at the classifier's resolution -> (features, logits of each head)."""
        f = self.trunk(x)
        return f, [h(f) for h in self.heads]


@dataclass(frozen=True)
class DomainExtractorFile:
    path: Path
    sha256: str
    name: str  # extractor name used in metric names: "digits"
    test_accuracy: float | None = None


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _data_key(info: DatasetInfo, train: ImageSplit) -> str:
    h = hashlib.sha256(repr(sorted(RECIPE.items())).encode())
    h.update(
        repr(
            (info.name, info.channels, info.resolution, info.num_classes, sorted(info.factors.items()))
        ).encode()
    )
    for t in (train.images, train.labels, train.factors):
        if t is not None:
            h.update(t.contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


def _head_targets(info: DatasetInfo, split: ImageSplit) -> tuple[list[int], list[torch.Tensor]]:
    sizes, targets = [info.num_classes], [split.labels]
    for i, k in enumerate(info.factors.values()):
        sizes.append(k)
        targets.append(split.factors[:, i])
    return sizes, targets


def shuffled_batches(n: int, batch: int, epochs: float, max_steps: int, seed: int) -> Iterator[torch.Tensor]:
    """Index batches over range(n) for training an extractor: a seeded permutation walked in order, a
    fresh one when fewer than `batch` indices remain; ceil(epochs * n / batch) of them, at most
    max_steps."""
    g = torch.Generator().manual_seed(seed)
    steps = min(max_steps, math.ceil(epochs * n / batch))
    perm, pos = torch.randperm(n, generator=g), 0
    for _ in range(steps):
        if pos + batch > n:
            perm, pos = torch.randperm(n, generator=g), 0
        yield perm[pos : pos + batch]
        pos += batch


def _train(info: DatasetInfo, train: ImageSplit, test: ImageSplit | None) -> tuple[dict, float | None]:
    sizes, targets = _head_targets(info, train)
    torch.manual_seed(RECIPE["seed"])
    net = DomainClassifier(info.channels, info.resolution, sizes, RECIPE["width"], RECIPE["feat_dim"])
    opt = torch.optim.Adam(net.parameters(), lr=RECIPE["lr"])
    n, bs = len(train), min(RECIPE["batch"], len(train))
    for idx in shuffled_batches(n, bs, RECIPE["epochs"], RECIPE["max_steps"], RECIPE["seed"]):
        _, logits = net(to_unit_range(train.images[idx]))
        loss = sum(F.cross_entropy(lg, t[idx]) for lg, t in zip(logits, targets, strict=True))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    net.eval()
    acc = None
    if test is not None and test.labels is not None:
        with torch.no_grad():
            preds = torch.cat(
                [
                    net(to_unit_range(test.images[i : i + 500]))[1][0].argmax(1)
                    for i in range(0, len(test), 500)
                ]
            )
        acc = float((preds == test.labels).float().mean())
    return net.state_dict(), acc


def domain_extractor(
    info: DatasetInfo, train: ImageSplit, test: ImageSplit | None, cache_dir: Path
) -> DomainExtractorFile:
    """The cached classifier for this dataset, training it first if no process has yet."""
    if info.num_classes == 0 or train.labels is None:
        raise ValueError(f"{info.name} has no labels to train a domain classifier on")
    path = cache_dir / "extractors" / f"{info.name}-{_data_key(info, train)}.pt"
    path.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(path) + ".lock"):
        if path.exists() and _unreadable(path):
            path.unlink()  # truncated or foreign: rebuilt below, or every evaluation needing it fails
        if not path.exists():
            state, acc = _train(info, train, test)
            sizes, _ = _head_targets(info, train)
            blob = {
                "state_dict": state,
                "channels": info.channels,
                "resolution": info.resolution,
                "head_sizes": sizes,
                "width": RECIPE["width"],
                "feat_dim": RECIPE["feat_dim"],
                "test_accuracy": acc if acc is not None else -1.0,
                "dataset": info.name,
            }
            atomic_write(path, lambda f: torch.save(blob, f), binary=True)
    blob = torch.load(path, map_location="cpu", weights_only=True)
    acc = blob["test_accuracy"]
    return DomainExtractorFile(
        path=path, sha256=file_sha256(path), name=info.name, test_accuracy=None if acc < 0 else float(acc)
    )


def _unreadable(path: Path) -> bool:
    """True (after one warning line) when the cached file does not load into a classifier."""
    try:
        load_classifier(path)
        acc = torch.load(path, map_location="cpu", weights_only=True)["test_accuracy"]
        float(acc)
        return False
    except Exception as err:  # noqa: BLE001 - whatever is wrong with the file, rebuilding fixes it
        logging.warning(
            "domain classifier %s is unreadable (%s); rebuilding it", path, " ".join(str(err).split())[:200]
        )
        return True


def load_classifier(path: Path) -> DomainClassifier:
    blob = torch.load(path, map_location="cpu", weights_only=True)
    net = DomainClassifier(
        blob["channels"], blob["resolution"], list(blob["head_sizes"]), blob["width"], blob["feat_dim"]
    )
    net.load_state_dict(blob["state_dict"])
    return net.eval()
