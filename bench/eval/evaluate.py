"""Evaluate a trained model under the cell's recorded protocol."""

from __future__ import annotations

import platform
import time
from typing import Any

import numpy as np
import torch
import torch_fidelity

from bench.config import EvalConfig
from bench.datasets.base import DatasetInfo, ImageSplit
from bench.datasets.batches import to_uint8
from bench.eval.domain import DomainExtractorFile
from bench.eval.fidelity import (
    DOMAIN_EXTRACTOR,
    extract_features,
    frechet_distance,
    kernel_distance,
    mode_coverage,
)
from bench.models.base import GenerativeModel


def generate_uint8(model: GenerativeModel, n: int, batch_size: int, seed: int) -> torch.Tensor:
    """n samples as uint8 NCHW on the CPU, from a generator seeded only by the protocol's seed."""
    gen = torch.Generator(model.device).manual_seed(seed)
    model.train(False)
    out = [to_uint8(model.sample(min(batch_size, n - i), gen)).cpu() for i in range(0, n, batch_size)]
    return torch.cat(out)


def versions() -> dict[str, str]:
    return {
        "torch": torch.__version__,
        "torch_fidelity": torch_fidelity.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
    }


def evaluate(
    model: GenerativeModel,
    info: DatasetInfo,
    real: ImageSplit,
    ev: EvalConfig,
    extractor: DomainExtractorFile,
    cuda: bool,
) -> tuple[dict[str, float], dict[str, Any]]:
    """(metrics, protocol). Metric names carry the extractor: fd_digits, kid_digits, coverage_digits."""
    t0 = time.perf_counter()
    n_real = ev.n_real or len(real)
    fake = generate_uint8(model, ev.n_samples, ev.batch_size, ev.seed)
    feats_fake = extract_features(fake, DOMAIN_EXTRACTOR, extractor.path, ev.batch_size, cuda)
    feats_real = extract_features(real.images[:n_real], DOMAIN_EXTRACTOR, extractor.path, ev.batch_size, cuda)
    name = extractor.name
    metrics: dict[str, float] = {}
    if "fd" in ev.metrics:
        metrics[f"fd_{name}"] = frechet_distance(feats_fake["features"], feats_real["features"])
    if "kid" in ev.metrics:
        mean, std = kernel_distance(
            feats_fake["features"], feats_real["features"], ev.kid_subsets, ev.kid_subset_size, ev.seed
        )
        metrics[f"kid_{name}"], metrics[f"kid_{name}_std"] = mean, std
    if "coverage" in ev.metrics and real.labels is not None:
        cov = mode_coverage(feats_fake["logits"], real.labels[:n_real], info.num_classes)
        metrics[f"coverage_{name}"], metrics[f"class_kl_{name}"] = cov["coverage"], cov["class_kl"]
    protocol = {
        "extractor": f"domain:{name}",
        "extractor_sha256": extractor.sha256,
        "extractor_test_accuracy": extractor.test_accuracy,
        "feature_layer": "features",
        "n_generated": ev.n_samples,
        "n_real": n_real,
        "real_split": f"{info.name}/{ev.split}",
        "resize": "none (native resolution)",
        "kid_subsets": ev.kid_subsets,
        "kid_subset_size": ev.kid_subset_size,
        "seed": ev.seed,
        "versions": versions(),
    }
    metrics["eval_seconds"] = time.perf_counter() - t0
    return metrics, protocol
