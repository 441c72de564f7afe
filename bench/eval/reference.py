"""Real-image features and statistics, computed once per reference and shared by every cell.

A reference is cached under BENCH_CACHE/reference keyed by everything that changes its features: the
dataset and its arguments, the split, the resolution, the images' own bytes and labels, the
preprocessing, the extractor, its weight hash, its layers, precision and memory format, N and
torch-fidelity's version. (torch-fidelity's own cache keys ignore resolution, N and the weight file;
see FACTS.md.) The file holds the features and their FD statistics on the CPU; `Reference.to` puts them
on the device the generated features live on, once per evaluation.

Many cells on a shared filesystem may ask at once: a file lock lets one compute while the others wait
and then read its file. The file is written to a temporary name and renamed, and it holds its own key,
so a writer killed halfway leaves nothing that is later read as valid.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch
import torch_fidelity
from filelock import FileLock

from bench.features.extractor import Extractor
from bench.features.fidelity import extract_features, uses_channels_last
from bench.fs import atomic_write, canonical_json
from bench.metrics.torch_stats import feature_statistics

# 2: mu/sigma computed with torch in float64 (bench.metrics.torch_stats), no longer NumPy's; same features.
FORMAT = 2
PREPROCESSING = "uint8 NCHW, grayscale repeated to 3 channels, no JPEG"


@dataclass
class Reference:
    features: dict[str, torch.Tensor]  # layer -> (N, D) float32, in the real split's order
    labels: torch.Tensor | None
    stats: dict[str, torch.Tensor]  # mu, sigma (float64) of the extractor's FD layer
    key: str
    path: Path
    computed: bool  # False when read from the cache
    # The generators' training split under the same extractor, for metrics that compare samples with
    # it (memorisation); None unless such a metric is evaluated.
    training: Reference | None = None

    def __len__(self) -> int:
        return next(iter(self.features.values())).shape[0]

    def to(self, device: torch.device) -> Reference:
        """The same reference with every tensor on `device` (itself when they are there already)."""
        return replace(
            self,
            features={k: v.to(device) for k, v in self.features.items()},
            labels=self.labels.to(device) if self.labels is not None else None,
            stats={k: v.to(device) for k, v in self.stats.items()},
            training=self.training.to(device) if self.training is not None else None,
        )


def content_hash(images: torch.Tensor, labels: torch.Tensor | None) -> str:
    h = hashlib.sha256(repr((tuple(images.shape), str(images.dtype))).encode())
    h.update(images.contiguous().numpy().tobytes())
    if labels is not None:
        h.update(labels.contiguous().numpy().tobytes())
    return h.hexdigest()


def reference_key(
    identity: dict[str, Any],
    ext: Extractor,
    images: torch.Tensor,
    labels: torch.Tensor | None,
    precision: str,
    cuda: bool = False,
) -> str:
    fields = {
        **identity,
        "format": FORMAT,
        "content": content_hash(images, labels),
        "n": int(images.shape[0]),
        "resolution": list(images.shape[1:]),
        "preprocessing": PREPROCESSING,
        "extractor": ext.description,
        "weights_sha256": ext.sha256,
        "layers": list(ext.layers),
        "resize": ext.resize,
        "precision": precision,
        "channels_last": uses_channels_last(cuda, precision),
        "torch_fidelity": torch_fidelity.__version__,
    }
    return hashlib.sha256(canonical_json(fields).encode()).hexdigest()


def _load(path: Path, key: str) -> dict[str, Any] | None:
    """The cached blob if it is complete and is the one asked for, else None."""
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        return None
    except Exception as err:  # a truncated or foreign file is recomputed, never trusted
        logging.warning("reference cache %s is unreadable (%s); recomputing it", path, err)
        return None
    return blob if isinstance(blob, dict) and blob.get("key") == key else None


def reference_features(
    images: torch.Tensor,
    labels: torch.Tensor | None,
    ext: Extractor,
    identity: dict[str, Any],
    cache_dir: Path,
    batch_size: int,
    cuda: bool,
    precision: str = "fp32",
) -> Reference:
    """Features of the real images under `ext`, from the cache when any process computed them before.

    identity: what names the reference ({"dataset": ..., "dataset_args": ..., "split": ...} or
    {"folder": ...}); it is part of the key and of the file name.
    """
    key = reference_key(identity, ext, images, labels, precision, cuda)
    label = "-".join(str(identity.get(k, "")) for k in ("dataset", "split")).strip("-") or "folder"
    path = cache_dir / "reference" / f"{label}-{ext.key}-n{len(images)}-{key[:16]}.pt"
    computed = False
    blob = _load(path, key)  # fast path: renamed files are complete, so no lock is needed to read
    if blob is None:
        path.parent.mkdir(parents=True, exist_ok=True)
        with FileLock(str(path) + ".lock"):
            blob = _load(path, key)  # another process may have finished while this one waited
            if blob is None:
                feats = extract_features(
                    images, ext.fidelity_name, ext.weights, batch_size, cuda, ext.layers, precision
                )
                mu, sigma = feature_statistics(feats[ext.fd_layer])
                blob = {
                    "key": key,
                    "identity": canonical_json(identity),
                    "features": {k: v.cpu() for k, v in feats.items()},
                    "labels": labels,
                    "mu": mu.cpu(),
                    "sigma": sigma.cpu(),
                }
                atomic_write(path, lambda f: torch.save(blob, f), binary=True)
                computed = True
    return Reference(
        features=blob["features"],
        labels=blob["labels"],
        stats={"mu": blob["mu"], "sigma": blob["sigma"]},
        key=key,
        path=path,
        computed=computed,
    )
