"""Which features each metric is computed on, and the fingerprint of the protocol stored with each score.

A metric (bench/eval/metric_registry.py) is computed on one extractor's features (the kinds are
registered in bench/features/extractors.py): the dataset's own domain extractor (`domain`, offline,
comparable within one dataset only; a classifier, a multi-label attribute net or a rotation predictor,
bench/features/domain/classifier.py), torch-fidelity's TF-compatible InceptionV3 (`inception`, comparable with
published FID when N and the reference match), its VGG16 (`vgg16`, precision/recall) and DINOv2
ViT-S/14 (`dinov2`). Scores are named by their extractor, so `fd_digits` is never confused with `fid`
or `fd_dinov2`.

Every score carries a fingerprint of everything that changes its value: extractor, weight hash, N
generated, N real, split, resize, torch-fidelity version, seed, sample block, the generator's device
kind, repeats, feature precision, and the metric's own settings (KID's subsets, IS splits ...).
The leaderboard never puts two fingerprints in one column.
"""

from __future__ import annotations

from typing import Any

import torch_fidelity

from bench.features.extractor import Extractor
from bench.fs import short_hash


def fingerprint(fields: dict[str, Any]) -> str:
    return short_hash(fields)


def metric_fingerprint(common: dict[str, Any], ext: Extractor | None, settings: dict[str, Any] | None) -> str:
    """The fingerprint of one score: what changes the samples (N, seed, sample block, the generator's
    device kind, precision, repeats), the real images (N real, split), the features (extractor, weight
    hash, resize, torch-fidelity version) and the metric's own settings (KID subsets, IS splits ...;
    `settings`, from the metric registry). The extraction batch size changes none of these and is left
    out (tests/eval/test_eval_sampling.py)."""
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
