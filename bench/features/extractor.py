"""One feature extractor as evaluation uses it: its weights, layers and resize, and what the protocol
records of it. The kinds are registered in bench/features/extractors.py."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


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
