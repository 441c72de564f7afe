"""Real-image features and statistics, computed once per reference and shared by every cell.

A reference is cached under BENCH_CACHE/reference keyed by everything that changes its features: the
dataset and its arguments, the split, the resolution, the images' own bytes and labels, the
preprocessing, the extractor, its weight hash, its layers and precision, N and torch-fidelity's
version. (torch-fidelity's own cache keys ignore resolution, N and the weight file; see FACTS.md.)

Many cells on a shared filesystem may ask at once: a file lock lets one compute while the others wait
and then read its file. The file is written to a temporary name and renamed, and it holds its own key,
so a writer killed halfway leaves nothing that is later read as valid.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch_fidelity
from filelock import FileLock

from bench.config import canonical_json
from bench.eval.fidelity import extract_features, feature_statistics
from bench.eval.protocol import Extractor
from bench.results.store import atomic_write

FORMAT = 1
PREPROCESSING = "uint8 NCHW, grayscale repeated to 3 channels, no JPEG"


@dataclass
class Reference:
    features: dict[str, torch.Tensor]  # layer -> (N, D) float32, in the real split's order
    labels: torch.Tensor | None
    stats: dict[str, np.ndarray]  # mu, sigma (float64) of the extractor's FD layer
    key: str
    path: Path
    computed: bool  # False when read from the cache

    def __len__(self) -> int:
        return next(iter(self.features.values())).shape[0]


def content_hash(images: torch.Tensor, labels: torch.Tensor | None) -> str:
    h = hashlib.sha256(repr((tuple(images.shape), str(images.dtype))).encode())
    h.update(images.contiguous().numpy().tobytes())
    if labels is not None:
        h.update(labels.contiguous().numpy().tobytes())
    return h.hexdigest()


def reference_key(
    identity: dict[str, Any], ext: Extractor, images: torch.Tensor, labels, precision: str
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
    key = reference_key(identity, ext, images, labels, precision)
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
                stats = feature_statistics(feats[ext.fd_layer])
                blob = {
                    "key": key,
                    "identity": canonical_json(identity),
                    "features": feats,
                    "labels": labels,
                    "mu": torch.from_numpy(stats["mu"]),
                    "sigma": torch.from_numpy(stats["sigma"]),
                }
                atomic_write(path, lambda f: torch.save(blob, f), binary=True)
                computed = True
    return Reference(
        features=blob["features"],
        labels=blob["labels"],
        stats={"mu": blob["mu"].numpy(), "sigma": blob["sigma"].numpy()},
        key=key,
        path=path,
        computed=computed,
    )
