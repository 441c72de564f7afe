"""Which features each metric is computed on, and the fingerprint of the protocol stored with each score.

A metric is a kind (fd, kid, isc, prc, coverage) computed on one extractor's features. Two extractors
exist: the dataset's own domain classifier (`domain`, offline, comparable within one dataset only) and
torch-fidelity's TF-compatible InceptionV3 (`inception`, comparable with published FID when N and the
reference match). Scores are named by both, so `fd_digits` is never confused with `fid`.

Every score carries a fingerprint of everything that changes its value: extractor, weight hash, N
generated, N real, split, resize, torch-fidelity version, seed, feature precision (and KID's subset
settings for KID). The leaderboard never puts two fingerprints in one column.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch_fidelity

from bench.config import canonical_json


@dataclass(frozen=True)
class Extractor:
    """One feature extractor as evaluation uses it, with the facts the protocol records."""

    key: str  # suffix of metric names: the domain classifier's dataset ("digits") or "inception"
    fidelity_name: str  # name in torch-fidelity's feature-extractor registry
    description: str  # "domain:digits" or "inception-v3-compat"
    weights: Path
    sha256: str
    layers: tuple[str, ...]  # feature layers extracted once and shared by every metric
    fd_layer: str  # features for FD, KID and precision/recall
    logits_layer: str  # class scores for IS and coverage
    resize: str
    test_accuracy: float | None = None

    def protocol(self) -> dict[str, Any]:
        return {
            "extractor": self.description,
            "extractor_sha256": self.sha256,
            "feature_layer": self.fd_layer,
            "resize": self.resize,
            "extractor_test_accuracy": self.test_accuracy,
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


@dataclass(frozen=True)
class MetricSpec:
    kind: str  # fd | kid | isc | prc | coverage
    extractor: str  # domain | inception


# Names a grid's eval.metrics accepts. The domain ones keep their original short names.
METRICS: dict[str, MetricSpec] = {
    "fd": MetricSpec("fd", "domain"),
    "kid": MetricSpec("kid", "domain"),
    "coverage": MetricSpec("coverage", "domain"),
    "prc_domain": MetricSpec("prc", "domain"),
    "fid": MetricSpec("fd", "inception"),
    "kid_inception": MetricSpec("kid", "inception"),
    "isc": MetricSpec("isc", "inception"),
    "prc": MetricSpec("prc", "inception"),
}
KINDS = ("fd", "kid", "isc", "prc", "coverage")


def output_names(kind: str, key: str) -> tuple[str, ...]:
    """The result keys a metric kind writes for extractor `key`."""
    if kind == "fd":
        return ("fid",) if key == "inception" else (f"fd_{key}",)
    if kind == "isc":
        base = "isc" if key == "inception" else f"isc_{key}"
        return (base, f"{base}_std")
    if kind == "kid":
        return (f"kid_{key}", f"kid_{key}_std")
    if kind == "prc":
        return (f"precision_{key}", f"recall_{key}")
    return (f"coverage_{key}", f"class_kl_{key}")


def fingerprint(fields: dict[str, Any]) -> str:
    return hashlib.sha256(canonical_json(fields).encode()).hexdigest()[:8]


def metric_fingerprint(common: dict[str, Any], ext: Extractor | None, kind: str | None) -> str:
    """The fingerprint of one score: the issue's list, plus precision and (for KID) the subset settings."""
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
    }
    if kind == "kid":
        fields |= {"kid_subsets": common["kid_subsets"], "kid_subset_size": common["kid_subset_size"]}
    return fingerprint(fields)
