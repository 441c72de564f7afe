"""Evaluate generated images against a reference under one recorded protocol.

`evaluate_samples` is the one path every evaluation takes (a finished cell, the curve during training,
`bench eval` on a folder or a cell): generate (or read) the samples in seeded blocks, extract their
features with each extractor the metrics need, take the real features from the reference cache, compute
each registered metric (bench/eval/metric_registry.py), and return the scores with the protocol and a
fingerprint per score; `eval.repeats` does this for several independent sample sets. Samples, their
features, the reference's features and the metrics all live on the sampling device (see generate.py,
fidelity.py); memorisation metrics also get the training split's features (cached like the reference).
"""

from __future__ import annotations

import logging
import platform
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch_fidelity
from accelerate import Accelerator

from bench.config import EvalConfig
from bench.datasets.base import DatasetInfo, ImageSplit
from bench.errors import BenchError
from bench.eval.generate import Sampler, generated_features, repeat_seeds, unconditional
from bench.eval.memorisation import write_closest_pairs
from bench.eval.metric_registry import (
    MetricInput,
    check_sizes,
    fingerprint_settings,
    get_metric,
    needed_extractors,
    training_extractors,
)
from bench.eval.protocol import metric_fingerprint
from bench.eval.reference import Reference, reference_features
from bench.features.extractor import Extractor
from bench.features.extractors import ExtractorContext, build_extractors, extractor_kinds
from bench.features.extractors import domain as domain  # re-exported: callers build it from here
from bench.features.extractors import inception as inception  # re-exported
from bench.models.base import GenerativeModel


def versions() -> dict[str, str]:
    return {
        "torch": torch.__version__,
        "torch_fidelity": torch_fidelity.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
    }


def _score(
    names: list[str],
    extractors: dict[str, Extractor],
    fake: dict[str, dict[str, torch.Tensor]],
    refs: dict[str, Reference],
    ev: EvalConfig,
    num_classes: int,
) -> dict[str, float]:
    """Each registered metric's outputs on one sample set."""
    scores: dict[str, float] = {}
    for m in names:
        spec = get_metric(m)
        ext = extractors[spec.extractor]
        out = spec.compute(MetricInput(fake[ext.key], refs[ext.key], ext, ev, num_classes))
        if out is not None:
            scores |= dict(zip(spec.output_names(ext.key), (float(v) for v in out), strict=True))
    return scores


def mean_over_repeats(per_repeat: list[dict[str, float]]) -> dict[str, float]:
    """Each key's mean over the repeats that have it (every repeat has the same keys in practice)."""
    keys = [k for k in per_repeat[0] if all(k in r for r in per_repeat)]
    return {k: float(np.mean([r[k] for r in per_repeat])) for k in keys}


def feature_device(cuda: bool, accelerator: Accelerator | None) -> torch.device:
    """Where extracted features live: the accelerator's device, else the current CUDA device or the CPU."""
    if accelerator is not None:
        return accelerator.device
    return torch.device("cuda", torch.cuda.current_device()) if cuda else torch.device("cpu")


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
    train: ImageSplit | None = None,
    train_identity: dict[str, Any] | None = None,
    gallery: Path | None = None,
) -> tuple[dict[str, float], dict[str, Any], dict[str, Reference]]:
    """(scores, protocol, references). `extractors` maps each kind ("domain", "inception" ...) to one.

    identity names the reference ({"dataset", "dataset_args", "split"} or {"folder"}). With an
    accelerator of several processes, every process calls this; each generates its share. With
    ev.repeats R > 1 the scores are the means over R sample sets and protocol["eval_repeats"] holds
    each set's seed and values. Memorisation metrics need `train` (the generators' training split) and
    `train_identity` (its name in the cache); `gallery`, when given, is where closest_pairs.png of the
    first sample set is written.
    """
    n = n or ev.n_samples
    n_real = min(ev.n_real or len(real), len(real))
    check_sizes(ev, metric_names, n, n_real)
    with_train = training_extractors(metric_names)
    if with_train and (train is None or train_identity is None):
        wanting = [m for m in metric_names if get_metric(m).extractor in with_train]
        raise BenchError(
            f"{', '.join(wanting)}: memorisation compares samples with the generators' training split, "
            "which only a cell's evaluation knows; score a cell (bench eval --fake CELL_DIR) or leave it out"
        )
    if ev.precision == "bf16" and not cuda:
        logging.info("eval.precision bf16 on the CPU: bf16 autocast only (channels_last is for CUDA)")
    labels = real.labels[:n_real] if real.labels is not None else None
    # Registration order (domain, inception, vgg16, dinov2): the first one's facts go to the top level.
    needed = needed_extractors(metric_names)
    used = [extractors[k] for k in extractor_kinds() if k in needed]
    on = feature_device(cuda, accelerator)
    refs = {
        e.key: reference_features(
            real.images[:n_real], labels, e, identity, cache_dir, ev.batch_size, cuda, ev.precision
        )
        for e in used
    }
    for kind in sorted(with_train):  # the training split's features, cached as the reference's are
        assert train is not None and train_identity is not None
        e = extractors[kind]
        trained_on = reference_features(
            train.images, train.labels, e, train_identity, cache_dir, ev.batch_size, cuda, ev.precision
        )
        refs[e.key] = replace(refs[e.key], training=trained_on)
    refs = {k: r.to(on) for k, r in refs.items()}
    seeds = repeat_seeds(ev.seed, ev.repeats)
    per_repeat = []
    for r, seed in enumerate(seeds):
        fake = generated_features(
            sampler, device, n, ev.sample_block, ev.batch_size, seed, used, cuda, ev.precision, accelerator
        )
        if gallery is not None and with_train and r == 0:
            ext = extractors[sorted(with_train)[0]]
            trained_on = refs[ext.key].training
            assert trained_on is not None and train is not None
            write_closest_pairs(
                gallery,
                sampler,
                device,
                n,
                ev,
                fake[ext.key][ext.fd_layer],
                trained_on.features[ext.fd_layer],
                train,
            )
        per_repeat.append(
            _score(metric_names, extractors, fake, refs, ev.model_copy(update={"seed": seed}), num_classes)
        )
    scores = mean_over_repeats(per_repeat)
    common = {
        "real_split": identity.get("folder") or f"{identity['dataset']}/{identity['split']}",
        "n_generated": n,
        "n_real": n_real,
        "seed": ev.seed,
        "repeats": ev.repeats,
        "sample_block": ev.sample_block,
        "rng_device": device.type,
        "batch_size": ev.batch_size,
        "precision": ev.precision,
        "kid_subsets": ev.kid_subsets,
        "kid_subset_size": ev.kid_subset_size,
        "isc_splits": ev.isc_splits,
        "prc_neighborhood": ev.prc_neighborhood,
        "torch_fidelity": torch_fidelity.__version__,
    }
    fingerprints: dict[str, str] = {}
    for m in metric_names:
        spec = get_metric(m)
        ext = extractors[spec.extractor]
        fp = metric_fingerprint(common, ext, fingerprint_settings(m, ev))
        fingerprints |= dict.fromkeys((k for k in spec.output_names(ext.key) if k in scores), fp)
    primary = used[0].protocol() if used else {}
    protocol = {
        **common,
        **primary,  # the first extractor's facts at the top level, as result.json always had them
        "extractors": {e.key: e.protocol() for e in used},
        "fingerprint": metric_fingerprint(common, None, None),
        "fingerprints": fingerprints,
        "eval_repeats": {"seeds": seeds, "values": {k: [r[k] for r in per_repeat] for k in scores}},
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
    assets_dir: Path | None = None,
) -> dict[str, Extractor]:
    """The extractors a cell's metrics need, each built by its registered factory (bench/eval/
    extractors.py); conditional families always need the domain classifier. assets_dir: the weight
    files' folder (default BENCH_ASSETS)."""
    kinds = needed_extractors(metric_names) | ({"domain"} if conditional and info.num_classes else set())
    ctx = ExtractorContext(info=info, train=train, test=test, cache_dir=cache_dir, assets_dir=assets_dir)
    return build_extractors(kinds, ctx)


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
    train: ImageSplit | None = None,
    train_identity: dict[str, Any] | None = None,
    gallery: Path | None = None,
) -> tuple[dict[str, float], dict[str, Any]]:
    """A trained model's scores on `real` (its test split) and the protocol they were measured under.

    Conditional families also get the classifier's accuracy on class-conditioned samples and FD per
    class (bench.eval.conditional). train, train_identity, gallery: see `evaluate_samples`.
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
        train=train,
        train_identity=train_identity,
        gallery=gallery,
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
        seeds = protocol["eval_repeats"]["seeds"]
        per_repeat = [
            conditional_metrics(
                model, dom, ref, info.num_classes, ev.model_copy(update={"seed": s}), cuda, accelerator
            )
            for s in seeds
        ]
        cond = mean_over_repeats(per_repeat)
        metrics |= cond
        protocol["eval_repeats"]["values"] |= {k: [r[k] for r in per_repeat] for k in cond}
        fp = metric_fingerprint(protocol, dom, None)
        protocol["fingerprints"] |= dict.fromkeys(cond, fp)
    metrics["eval_seconds"] = time.perf_counter() - t0
    return metrics, protocol
