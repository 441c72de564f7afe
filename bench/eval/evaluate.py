"""Evaluate generated images against a reference under one recorded protocol.

`evaluate_samples` is the one path every evaluation takes (a finished cell, the curve during training,
`bench eval` on a folder): generate (or read) the samples in seeded chunks, extract their features
with each extractor the metrics need, take the real features from the reference cache, compute each
metric with torch-fidelity's functions, and return the scores with the protocol and a fingerprint per
score.
"""

from __future__ import annotations

import platform
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch_fidelity
from accelerate import Accelerator

from bench.config import EvalConfig
from bench.datasets.base import DatasetInfo, ImageSplit
from bench.errors import BenchError
from bench.eval import assets
from bench.eval.domain import domain_extractor
from bench.eval.fidelity import (
    DOMAIN_EXTRACTOR,
    feature_statistics,
    frechet_distance_from_stats,
    inception_score,
    kernel_distance,
    mode_coverage,
    precision_recall,
)
from bench.eval.generate import Sampler, generated_features, unconditional
from bench.eval.protocol import (
    DOMAIN_RESIZE,
    METRICS,
    Extractor,
    inception_extractor,
    metric_fingerprint,
    output_names,
)
from bench.eval.reference import Reference, reference_features
from bench.models.base import GenerativeModel


def versions() -> dict[str, str]:
    return {
        "torch": torch.__version__,
        "torch_fidelity": torch_fidelity.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
    }


def needed_extractors(metric_names: list[str]) -> set[str]:
    """ "domain" and/or "inception": the extractors a list of eval.metrics names computes on."""
    return {METRICS[m].extractor for m in metric_names}


def domain(info: DatasetInfo, train: ImageSplit, test: ImageSplit | None, cache_dir: Path) -> Extractor:
    """The dataset's own classifier as an extractor (trained once, cached under BENCH_CACHE)."""
    f = domain_extractor(info, train, test, cache_dir)
    return Extractor(
        key=f.name,
        fidelity_name=DOMAIN_EXTRACTOR,
        description=f"domain:{f.name}",
        weights=f.path,
        sha256=f.sha256,
        layers=("features", "logits"),
        fd_layer="features",
        logits_layer="logits",
        resize=DOMAIN_RESIZE,
        test_accuracy=f.test_accuracy,
    )


def inception(directory: Path | None = None) -> Extractor:
    """torch-fidelity's TF-compatible InceptionV3 from BENCH_ASSETS, after checking its SHA-256."""
    (asset,) = [a for a in assets.load_manifest().values() if a.extractor == "inception"]
    path = assets.verify(asset, assets.assets_dir(directory))
    return inception_extractor(path, asset.sha256)


def _score(
    kind: str, ext: Extractor, fake: dict[str, torch.Tensor], ref: Reference, ev: EvalConfig, num_classes: int
) -> dict[str, float]:
    names = output_names(kind, ext.key)
    if kind == "fd":
        return {names[0]: frechet_distance_from_stats(feature_statistics(fake[ext.fd_layer]), ref.stats)}
    if kind == "kid":
        mean, std = kernel_distance(
            fake[ext.fd_layer], ref.features[ext.fd_layer], ev.kid_subsets, ev.kid_subset_size, ev.seed
        )
        return {names[0]: mean, names[1]: std}
    if kind == "isc":
        mean, std = inception_score(fake[ext.logits_layer], ev.isc_splits, ev.seed)
        return {names[0]: mean, names[1]: std}
    if kind == "prc":
        p, r = precision_recall(fake[ext.fd_layer], ref.features[ext.fd_layer], ev.prc_neighborhood)
        return {names[0]: p, names[1]: r}
    if ref.labels is None or num_classes == 0:
        return {}  # coverage needs the classes of a labelled reference
    cov = mode_coverage(fake[ext.logits_layer], ref.labels, num_classes)
    return {names[0]: cov["coverage"], names[1]: cov["class_kl"]}


def check_sizes(ev: EvalConfig, metric_names: list[str], n: int, n_real: int) -> None:
    """Refuse sizes a metric cannot use before any image is generated or any feature extracted."""
    kinds = {METRICS[m].kind for m in metric_names}
    if "kid" in kinds and ev.kid_subset_size > min(n, n_real):
        raise BenchError(
            f"eval.kid_subset_size: {ev.kid_subset_size} is larger than the {min(n, n_real)} images "
            f"available ({n} generated, {n_real} real); lower kid_subset_size or raise N"
        )
    if "isc" in kinds and n < 2 * ev.isc_splits:
        raise BenchError(
            f"eval.isc_splits: {ev.isc_splits} splits need at least {2 * ev.isc_splits} images, got {n}"
        )


def evaluate_samples(
    sampler: Sampler,
    device: torch.device,
    real: ImageSplit,
    identity: dict[str, Any],
    ev: EvalConfig,
    metric_names: list[str],
    extractors: dict[str, Extractor],
    cache_dir: Path,
    cuda: bool,
    n: int | None = None,
    num_classes: int = 0,
    accelerator: Accelerator | None = None,
) -> tuple[dict[str, float], dict[str, Any], dict[str, Reference]]:
    """(scores, protocol, references). `extractors` maps "domain"/"inception" to the one to use.

    identity names the reference ({"dataset", "dataset_args", "split"} or {"folder"}). With an
    accelerator of several processes, every process calls this; each generates its share.
    """
    n = n or ev.n_samples
    n_real = min(ev.n_real or len(real), len(real))
    check_sizes(ev, metric_names, n, n_real)
    labels = real.labels[:n_real] if real.labels is not None else None
    used = [extractors[k] for k in sorted(needed_extractors(metric_names))]
    fake = generated_features(
        sampler, device, n, ev.batch_size, ev.seed, used, cuda, ev.precision, accelerator
    )
    refs = {
        e.key: reference_features(
            real.images[:n_real], labels, e, identity, cache_dir, ev.batch_size, cuda, ev.precision
        )
        for e in used
    }
    common = {
        "real_split": identity.get("folder") or f"{identity['dataset']}/{identity['split']}",
        "n_generated": n,
        "n_real": n_real,
        "seed": ev.seed,
        "batch_size": ev.batch_size,
        "precision": ev.precision,
        "kid_subsets": ev.kid_subsets,
        "kid_subset_size": ev.kid_subset_size,
        "isc_splits": ev.isc_splits,
        "prc_neighborhood": ev.prc_neighborhood,
        "torch_fidelity": torch_fidelity.__version__,
    }
    scores: dict[str, float] = {}
    fingerprints: dict[str, str] = {}
    for m in metric_names:
        spec = METRICS[m]
        ext = extractors[spec.extractor]
        out = _score(spec.kind, ext, fake[ext.key], refs[ext.key], ev, num_classes)
        scores |= out
        fingerprints |= dict.fromkeys(out, metric_fingerprint(common, ext, spec.kind))
    primary = used[0].protocol() if used else {}
    protocol = {
        **common,
        **primary,  # the first extractor's facts at the top level, as result.json always had them
        "extractors": {e.key: e.protocol() for e in used},
        "fingerprint": metric_fingerprint(common, None, None),
        "fingerprints": fingerprints,
        "versions": versions(),
    }
    return scores, protocol, refs


def cell_extractors(
    metric_names: list[str],
    info: DatasetInfo,
    train: ImageSplit,
    test: ImageSplit | None,
    cache_dir: Path,
    conditional: bool = False,
) -> dict[str, Extractor]:
    """The extractors a cell's metrics need; conditional families always need the domain classifier."""
    kinds = needed_extractors(metric_names) | ({"domain"} if conditional and info.num_classes else set())
    out = {}
    if "domain" in kinds:
        out["domain"] = domain(info, train, test, cache_dir)
    if "inception" in kinds:
        out["inception"] = inception()
    return out


def evaluate(
    model: GenerativeModel,
    info: DatasetInfo,
    real: ImageSplit,
    ev: EvalConfig,
    extractors: dict[str, Extractor],
    cuda: bool,
    identity: dict[str, Any],
    cache_dir: Path,
    accelerator: Accelerator | None = None,
) -> tuple[dict[str, float], dict[str, Any]]:
    """A trained model's scores on `real` (its test split) and the protocol they were measured under.

    Conditional families also get the classifier's accuracy on class-conditioned samples and FD per
    class (bench.eval.conditional).
    """
    from bench.eval.conditional import conditional_metrics

    t0 = time.perf_counter()
    model.train(False)
    metrics, protocol, refs = evaluate_samples(
        unconditional(model),
        model.device,
        real,
        identity,
        ev,
        list(ev.metrics),
        extractors,
        cache_dir,
        cuda,
        num_classes=info.num_classes,
        accelerator=accelerator,
    )
    if model.conditional and info.num_classes > 0:
        dom = extractors["domain"]  # cell_extractors(..., conditional=True) provides it
        ref = refs.get(dom.key) or reference_features(
            real.images[: protocol["n_real"]],
            real.labels[: protocol["n_real"]] if real.labels is not None else None,
            dom,
            identity,
            cache_dir,
            ev.batch_size,
            cuda,
            ev.precision,
        )
        cond = conditional_metrics(model, dom, ref, info.num_classes, ev, cuda, accelerator)
        metrics |= cond
        fp = metric_fingerprint(protocol, dom, "fd")
        protocol["fingerprints"] |= dict.fromkeys(cond, fp)
    metrics["eval_seconds"] = time.perf_counter() - t0
    return metrics, protocol
