"""Which features each metric is computed on, and the fingerprint of the protocol stored with each score.

A metric (bench/eval/metric_registry.py) is computed on one extractor's features (the kinds are
registered in bench/eval/extractors.py): the dataset's own domain extractor (`domain`, offline,
comparable within one dataset only; a classifier, a multi-label attribute net or a rotation predictor,
bench/eval/domain.py), torch-fidelity's TF-compatible InceptionV3 (`inception`, comparable with
published FID when N and the reference match), its VGG16 (`vgg16`, precision/recall) and DINOv2
ViT-S/14 (`dinov2`). Scores are named by their extractor, so `fd_digits` is never confused with `fid`
or `fd_dinov2`.

Every score carries a fingerprint of everything that changes its value: extractor, weight hash, N
generated, N real, split, resize, torch-fidelity version, seed, sample block, the generator's device
kind, repeats, feature precision, and the metric's own settings (KID's subsets, IS splits ...).
The leaderboard never puts two fingerprints in one column.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch_fidelity

from bench.config import canonical_json


@dataclass(frozen=True)
class Extractor:
    """One feature extractor as evaluation uses it, with the facts the protocol records."""

    key: str  # suffix of metric names: the domain classifier's dataset ("digits"), "inception", "vgg16" ...
    fidelity_name: str  # name in torch-fidelity's feature-extractor registry
    description: str  # "domain:digits:classes:10" or "inception-v3-compat"
    weights: Path
    sha256: str
    layers: tuple[str, ...]  # feature layers extracted once and shared by every metric
    fd_layer: str  # features for FD, KID and precision/recall
    logits_layer: str | None  # class scores for IS and coverage; None: the extractor has none
    resize: str
    test_accuracy: float | None = None
    # More facts for the protocol (the domain extractor's objective, heads, data key); the description
    # and the weight hash, not these, go into the fingerprint.
    facts: dict[str, Any] = field(default_factory=dict)

    def protocol(self) -> dict[str, Any]:
        return {
            "extractor": self.description,
            "extractor_sha256": self.sha256,
            "feature_layer": self.fd_layer,
            "resize": self.resize,
            "extractor_test_accuracy": self.test_accuracy,
            **self.facts,
        }


INCEPTION_FIDELITY_NAME = "inception-v3-compat"
INCEPTION_RESIZE = "TF1-compatible bilinear to 299x299 inside the extractor (torch-fidelity)"
DOMAIN_RESIZE = "none (the classifier's native resolution; other sizes: antialiased bilinear)"


def inception_extractor(weights: Path, sha256: str) -> Extractor:
    return Extractor(
        key="inception",
        fidelity_name=INCEPTION_FIDELITY_NAME,
        description=INCEPTION_FIDELITY_NAME,
        weights=weights,
        sha256=sha256,
        layers=("2048", "logits_unbiased"),
        fd_layer="2048",
        logits_layer="logits_unbiased",
        resize=INCEPTION_RESIZE,
    )


def fingerprint(fields: dict[str, Any]) -> str:
    return hashlib.sha256(canonical_json(fields).encode()).hexdigest()[:8]


def metric_fingerprint(common: dict[str, Any], ext: Extractor | None, settings: dict[str, Any] | None) -> str:
    """The fingerprint of one score: what changes the samples (N, seed, sample block, the generator's
    device kind, precision, repeats), the real images (N real, split), the features (extractor, weight
    hash, resize, torch-fidelity version) and the metric's own settings (KID subsets, IS splits ...;
    `settings`, from the metric registry). The extraction batch size changes none of these and is left
    out (tests/test_eval_sampling.py)."""
    fields = {
        "extractor": ext.description if ext else None,
        "weights_sha256": ext.sha256 if ext else None,
        "resize": ext.resize if ext else None,
        "n_generated": common["n_generated"],
        "n_real": common["n_real"],
        "split": common["real_split"],
        "torch_fidelity": torch_fidelity.__version__,
        "seed": common["seed"],
        "precision": common.get("precision", "fp32"),
        "sample_block": common.get("sample_block"),
        "rng_device": common.get("rng_device"),
        "repeats": common.get("repeats", 1),
    }
    return fingerprint(fields | (settings or {}))
