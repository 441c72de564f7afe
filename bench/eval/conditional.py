"""Metrics of class-conditional generators: does a sample of class c look like class c?

Samples are generated through the model's `sample_given` into a uint8 tensor, never through
torch-fidelity's conditional generator wrapper (it calls `np.int`, which numpy >= 1.24 removed).
Labels are balanced and fixed (sample i asks for class i mod K), so every model is asked the same.
"""

from __future__ import annotations

import torch
from accelerate import Accelerator

from bench.config import EvalConfig
from bench.eval.generate import class_conditioned, generated_features
from bench.eval.reference import Reference
from bench.features.extractor import Extractor
from bench.features.fidelity import feature_statistics, frechet_distance_from_stats
from bench.models.base import GenerativeModel


def balanced_labels(n: int, num_classes: int) -> torch.Tensor:
    return torch.arange(n) % num_classes


def conditional_metrics(
    model: GenerativeModel,
    ext: Extractor,
    ref: Reference,
    num_classes: int,
    ev: EvalConfig,
    cuda: bool,
    accelerator: Accelerator | None = None,
) -> dict[str, float]:
    """cond_accuracy_<ds>: the domain classifier's accuracy on samples of the asked-for class;
    fd_<ds>_class<c>: FD between samples asked for class c and real test images of class c;
    fd_<ds>_class_mean: their mean. Classes with fewer than 2 real or generated images get no FD."""
    labels = balanced_labels(ev.n_samples, num_classes)
    feats = generated_features(
        class_conditioned(model, labels, ev.sample_block),
        model.device,
        ev.n_samples,
        ev.sample_block,
        ev.batch_size,
        ev.seed,
        [ext],
        cuda,
        ev.precision,
        accelerator,
    )[ext.key]
    k = ext.key
    pred = feats[ext.logits_layer].argmax(1)
    labels = labels.to(pred.device)  # features live on the sampling device (bench/eval/generate.py)
    out = {f"cond_accuracy_{k}": float((pred == labels).double().mean())}
    if ref.labels is None:
        return out
    per_class = []
    for c in range(num_classes):
        real_feats = ref.features[ext.fd_layer]
        fake, real = feats[ext.fd_layer][labels == c], real_feats[ref.labels.to(real_feats.device) == c]
        if min(len(fake), len(real)) < 2:
            continue
        fd = frechet_distance_from_stats(feature_statistics(fake), feature_statistics(real))
        out[f"fd_{k}_class{c}"] = fd
        per_class.append(fd)
    if per_class:
        out[f"fd_{k}_class_mean"] = sum(per_class) / len(per_class)
    return out
