"""The "domain" extractor: a small CNN per dataset, trained once on the real training images, whose
penultimate features stand in for Inception's on machines that cannot download Inception weights.

What it learns depends on what the data has, so every dataset gets one (the first objective of
OBJECTIVES that applies):

    classes     class labels (plus any discrete factors, dSprites'): one softmax head per label, with
                the dataset's true class count (a 3-class tiny-ImageNet gets 3, not 200)
    attributes  binary attributes and no class label (CelebA, celeba_domains): one 40-logit
                multi-label head trained with BCE, on both domains of celeba_domains
    rotation    nothing at all (unlabelled folders, image-to-image folders): predict whether an image was
                rotated by 0, 90, 180 or 270 degrees (self-supervised; bench/features/domain/rotation.py)

Scores computed with it are named by the dataset (`fd_digits`, never "FID"): they compare models on
one dataset under one recorded protocol, not with published FIDs. The protocol's extractor
description names the objective and the head sizes ("domain:digits:classes:10"), so a score's
fingerprint changes when either does. The net is cached under BENCH_CACHE keyed by a hash of the
training data, the objective and the recipe, so every cell (and every process on a shared filesystem)
reuses one file; a lock makes one process train (on the GPU when there is one) while the others wait,
and a truncated or foreign file is rebuilt.
"""

from __future__ import annotations

import hashlib
import logging
import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from filelock import FileLock

from bench.datasets.base import DatasetInfo, ImageSplit
from bench.datasets.batches import to_unit_range
from bench.features.domain.net import DomainClassifier
from bench.features.domain.objective import Objective, TrainingSet
from bench.features.domain.rotation import RotationObjective
from bench.fs import atomic_write, file_sha256

RECIPE = {
    "version": 1,
    "width": 32,
    "feat_dim": 128,
    "lr": 1e-3,
    "batch": 128,  # network inputs per step (an objective that multiplies its images takes fewer)
    "epochs": 10,
    "max_steps": 1500,
    "seed": 0,
}
_EVAL_BATCH = 500


# ---- objectives: what the net is trained to predict, chosen by what the training split holds ----


def _logits(net: DomainClassifier, images: torch.Tensor, head: int = 0) -> torch.Tensor:
    """One head's logits of uint8 images, in batches, on the net's device, returned on the CPU."""
    device = next(net.parameters()).device
    with torch.no_grad():
        return torch.cat(
            [
                net(to_unit_range(images[i : i + _EVAL_BATCH].to(device)))[1][head].cpu()
                for i in range(0, len(images), _EVAL_BATCH)
            ]
        )


class ClassesObjective:
    """Cross-entropy on the class label and on each discrete factor (dSprites' shape, scale ...)."""

    name, expansion = "classes", 1

    def applies(self, info: DatasetInfo, split: ImageSplit) -> bool:
        return info.num_classes > 0 and split.labels is not None

    def training_set(self, info: DatasetInfo, split: ImageSplit) -> TrainingSet:
        assert split.labels is not None
        top = int(split.labels.max()) if len(split.labels) else -1
        if top >= info.num_classes:
            raise ValueError(
                f"{info.name}: a training label is {top}, outside the {info.num_classes} classes its info "
                "declares; the classifier needs one output per class"
            )
        sizes, targets = [info.num_classes], [split.labels]
        for i, k in enumerate(info.factors.values()):
            assert split.factors is not None
            sizes.append(k)
            targets.append(split.factors[:, i])
        return TrainingSet(split.images, tuple(sizes), tuple(targets))

    def loss(self, net: DomainClassifier, x: torch.Tensor, targets: list[torch.Tensor]) -> torch.Tensor:
        _, logits = net(x)
        return sum(F.cross_entropy(lg, t) for lg, t in zip(logits, targets, strict=True))  # type: ignore[return-value]

    def accuracy(self, net: DomainClassifier, info: DatasetInfo, test: ImageSplit) -> float | None:
        if test.labels is None:
            return None
        return float((_logits(net, test.images).argmax(1) == test.labels).float().mean())


class AttributesObjective:
    """Binary cross-entropy on every binary attribute at once (CelebA's 40) when there is no class
    label. An unpaired dataset's targets count too: celeba_domains' domain A alone is constant in the
    attributes that define it (every face wears glasses), which are what a translation changes."""

    name, expansion = "attributes", 1

    def applies(self, info: DatasetInfo, split: ImageSplit) -> bool:
        binary = bool(info.factors) and all(k == 2 for k in info.factors.values())
        return binary and split.factors is not None

    def training_set(self, info: DatasetInfo, split: ImageSplit) -> TrainingSet:
        assert split.factors is not None
        images, attrs = split.images, split.factors
        if split.targets is not None and split.target_factors is not None:
            images, attrs = torch.cat([images, split.targets]), torch.cat([attrs, split.target_factors])
        return TrainingSet(images, (attrs.shape[1],), (attrs.float(),))

    def loss(self, net: DomainClassifier, x: torch.Tensor, targets: list[torch.Tensor]) -> torch.Tensor:
        _, (logits,) = net(x)
        return F.binary_cross_entropy_with_logits(logits, targets[0])

    def accuracy(self, net: DomainClassifier, info: DatasetInfo, test: ImageSplit) -> float | None:
        """The mean over attributes of the share of faces whose attribute is predicted right."""
        if test.factors is None:
            return None
        return float(((_logits(net, test.images) > 0) == test.factors.bool()).float().mean())


# In order of preference: the first that applies to a training split is its objective (rotation always
# applies). A new objective is one more entry.
OBJECTIVES: tuple[Objective, ...] = (ClassesObjective(), AttributesObjective(), RotationObjective())


def choose_objective(info: DatasetInfo, split: ImageSplit) -> Objective:
    """The first objective of OBJECTIVES the training split has the data for."""
    return next(o for o in OBJECTIVES if o.applies(info, split))


# ---- training and the cache ----


@dataclass(frozen=True)
class DomainExtractorFile:
    path: Path
    sha256: str
    name: str  # extractor name used in metric names: "digits"
    objective: str  # "classes", "attributes" or "rotation"
    head_sizes: tuple[int, ...]
    data_key: str  # the hash of training data, objective and recipe that names the cached file
    trained_on: str  # device type: "cuda" or "cpu"
    test_accuracy: float | None = None  # held-out accuracy of what the objective predicts

    @property
    def description(self) -> str:
        """The protocol's extractor: "domain:<dataset>:<objective>:<head sizes>"."""
        return f"domain:{self.name}:{self.objective}:{'+'.join(map(str, self.head_sizes))}"

    def facts(self) -> dict[str, Any]:
        """What the protocol records about this extractor besides its description and weight hash."""
        return {
            "extractor_objective": self.objective,
            "extractor_heads": list(self.head_sizes),
            "extractor_data_key": self.data_key,
            "extractor_trained_on": self.trained_on,
        }


def _data_key(info: DatasetInfo, objective: Objective, data: TrainingSet) -> str:
    h = hashlib.sha256(repr(sorted(RECIPE.items())).encode())
    h.update(
        repr(
            (
                info.name,
                info.channels,
                info.resolution,
                objective.name,
                data.head_sizes,
                sorted(info.factors.items()),
            )
        ).encode()
    )
    for t in (data.images, *data.targets):
        h.update(t.contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


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


def training_device() -> torch.device:
    """The accelerator when there is one (the current CUDA device: each process's own), else the CPU."""
    if torch.cuda.is_available():
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def _train(
    info: DatasetInfo,
    objective: Objective,
    data: TrainingSet,
    test: ImageSplit | None,
    device: torch.device,
) -> tuple[dict, float | None]:
    torch.manual_seed(RECIPE["seed"])
    net = DomainClassifier(
        info.channels, info.resolution, list(data.head_sizes), RECIPE["width"], RECIPE["feat_dim"]
    ).to(device)
    opt = torch.optim.Adam(net.parameters(), lr=RECIPE["lr"])
    n = len(data.images)
    bs = min(max(1, RECIPE["batch"] // objective.expansion), n)
    for idx in shuffled_batches(n, bs, RECIPE["epochs"], RECIPE["max_steps"], RECIPE["seed"]):
        x = to_unit_range(data.images[idx].to(device, non_blocking=True))
        loss = objective.loss(net, x, [t[idx].to(device, non_blocking=True) for t in data.targets])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    net.eval()
    acc = objective.accuracy(net, info, test) if test is not None and len(test) else None
    return {k: v.cpu() for k, v in net.state_dict().items()}, acc


def domain_extractor(
    info: DatasetInfo,
    train: ImageSplit,
    test: ImageSplit | None,
    cache_dir: Path,
    *,
    device: torch.device | None = None,
) -> DomainExtractorFile:
    """The cached extractor for this dataset, training it first (on `device`, default the accelerator
    when there is one) if no process has yet."""
    objective = choose_objective(info, train)
    data = objective.training_set(info, train)
    key = _data_key(info, objective, data)
    path = cache_dir / "extractors" / f"{info.name}-{key}.pt"
    path.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(path) + ".lock"):
        if path.exists() and _unreadable(path):
            path.unlink()  # truncated or foreign: rebuilt below, or every evaluation needing it fails
        if not path.exists():
            dev = device or training_device()
            state, acc = _train(info, objective, data, test, dev)
            blob = {
                "state_dict": state,
                "channels": info.channels,
                "resolution": info.resolution,
                "head_sizes": list(data.head_sizes),
                "width": RECIPE["width"],
                "feat_dim": RECIPE["feat_dim"],
                "test_accuracy": acc if acc is not None else -1.0,
                "dataset": info.name,
                "objective": objective.name,
                "data_key": key,
                "trained_on": dev.type,
            }
            atomic_write(path, lambda f: torch.save(blob, f), binary=True)
    blob = torch.load(path, map_location="cpu", weights_only=True)
    acc = blob["test_accuracy"]
    return DomainExtractorFile(
        path=path,
        sha256=file_sha256(path),
        name=info.name,
        test_accuracy=None if acc < 0 else float(acc),
        objective=blob["objective"],
        head_sizes=tuple(int(k) for k in blob["head_sizes"]),
        data_key=key,
        trained_on=blob["trained_on"],
    )


def _unreadable(path: Path) -> bool:
    """True (after one warning line) when the cached file does not load into a classifier."""
    try:
        load_classifier(path)
        blob = torch.load(path, map_location="cpu", weights_only=True)
        float(blob["test_accuracy"])
        str(blob["objective"]), str(blob["trained_on"])
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


@torch.no_grad()
def features(net: DomainClassifier, images: torch.Tensor) -> torch.Tensor:
    """Penultimate features of uint8 images at the net's resolution and channels (float64, CPU): what
    an FD on this extractor compares. Evaluation goes through torch-fidelity (bench/features/fidelity.py)."""
    device = next(net.parameters()).device
    return torch.cat(
        [
            net(to_unit_range(images[i : i + _EVAL_BATCH].to(device)))[0].cpu()
            for i in range(0, len(images), _EVAL_BATCH)
        ]
    ).double()
