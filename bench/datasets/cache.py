"""Decoded splits cached as uint8 tensors at the target resolution, so files are decoded once.

CelebA's 200k JPEGs take minutes to decode; every later epoch, cell and job reads one tensor file
instead. The key is the identity of the source files (path relative to the data root, size, mtime)
plus the preprocessing recipe, so changed files or a changed recipe make a new entry, and moving the
data root (which keeps mtimes) does not. Entries are written through a temporary file and a rename
under a lock: one job decodes while the others wait, and nobody reads half a file.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import torch
from filelock import FileLock

from bench.datasets.base import ImageSplit
from bench.fs import atomic_write

# Bump when the layout of cache files or a shared decoding rule changes.
CACHE_VERSION = 1
_FIELDS = ("images", "labels", "factors", "targets", "target_factors")


def file_identity(paths: Iterable[Path], base: Path) -> list[tuple[str, int, int]]:
    """(path relative to base, size, mtime in ns) of each path; a folder's entry changes when files are
    added to it or removed from it, which is what the big image folders are keyed by."""
    out = []
    for p in paths:
        st = os.stat(p)
        out.append((os.path.relpath(p, base), st.st_size, st.st_mtime_ns))
    return out


def cache_key(recipe: dict[str, Any], identity: list[tuple[str, int, int]]) -> str:
    blob = json.dumps([CACHE_VERSION, recipe, identity], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _read(path: Path) -> ImageSplit:
    # mmap: a 2 GB split is paged in as batches touch it, and jobs on one node share the page cache.
    data = torch.load(path, weights_only=True, mmap=True)
    return ImageSplit(**{k: data.get(k) for k in _FIELDS})


def cached_split(
    cache_dir: Path,
    name: str,
    split: str,
    recipe: dict[str, Any],
    identity: list[tuple[str, int, int]],
    build: Callable[[], ImageSplit],
) -> ImageSplit:
    """The split from `<cache_dir>/<name>/<split>-<key>.pt`, calling `build` and saving it on a miss."""
    path = cache_dir / name / f"{split}-{cache_key({'split': split, **recipe}, identity)}.pt"
    if path.is_file():
        return _read(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(path) + ".lock"):
        if path.is_file():  # another process built it while this one waited
            return _read(path)
        result = build()
        blob = {k: getattr(result, k) for k in _FIELDS if getattr(result, k) is not None}
        atomic_write(path, lambda f: torch.save({k: v.contiguous() for k, v in blob.items()}, f), binary=True)
    return result
