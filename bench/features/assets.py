"""Weight files that evaluation needs, for clusters whose compute nodes cannot download anything.

A manifest in the package (`assets.json`) names each file with its URL and SHA-256. `bench assets fetch`
downloads them on a machine with internet into BENCH_ASSETS; `bench assets verify` and `bench run`
(before it trains anything) check that each file a grid's metrics need is there and is the exact
published file. A wrong file fails loudly here rather than giving quietly different numbers later.
"""

from __future__ import annotations

import hashlib
import json
import os
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import IO

from bench.errors import BenchError
from bench.fs import atomic_write, file_sha256

# Tests point this at a manifest of fabricated files; users never need to.
MANIFEST: Path | None = None


@dataclass(frozen=True)
class Asset:
    name: str
    file: str
    url: str
    sha256: str
    bytes: int | None
    extractor: str  # the extractor kind (bench/features/extractors.py) that loads this file


def load_manifest() -> dict[str, Asset]:
    source = MANIFEST or resources.files("bench.features") / "assets.json"
    text = source.read_text()
    out = {}
    for entry in json.loads(text)["assets"]:
        out[entry["name"]] = Asset(
            name=entry["name"],
            file=entry["file"],
            url=entry["url"],
            sha256=entry["sha256"].lower(),
            bytes=entry.get("bytes"),
            extractor=entry["extractor"],
        )
    return out


def assets_dir(override: Path | None = None) -> Path:
    """--dir, else BENCH_ASSETS, else ~/.cache/bench/assets (weights are inputs, not derived data)."""
    if override is not None:
        return override
    env = os.environ.get("BENCH_ASSETS")
    return Path(env) if env else Path.home() / ".cache" / "bench" / "assets"


def _fetch_hint(directory: Path) -> str:
    return f"run `bench assets fetch --dir {directory}` on a machine with internet (or set BENCH_ASSETS)"


# Hashing a 95 MB file takes ~0.3 s; cells in one process check the same file many times.
_hashed: dict[tuple[str, int, int], str] = {}


def _sha256_cached(path: Path) -> str:
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    if key not in _hashed:
        _hashed[key] = file_sha256(path)
    return _hashed[key]


def verify(asset: Asset, directory: Path) -> Path:
    """The path of `asset` in `directory`, or one BenchError line naming the file, the hash and the fix."""
    path = directory / asset.file
    if path.exists() and not path.is_file():
        what = "a directory" if path.is_dir() else "not a regular file"
        raise BenchError(
            f"weight file {path} ({asset.name}) is {what}, not the weight file; move it away and "
            f"{_fetch_hint(directory)}"
        )
    if not path.is_file():
        raise BenchError(
            f"weight file {path} ({asset.name}, sha256 {asset.sha256}) is missing; {_fetch_hint(directory)}"
        )
    digest = _sha256_cached(path)
    if digest != asset.sha256:
        raise BenchError(
            f"weight file {path} ({asset.name}) has sha256 {digest}, expected {asset.sha256}; "
            f"delete it and {_fetch_hint(directory)}"
        )
    return path


def require(extractors: Iterable[str], directory: Path | None = None) -> dict[str, Path]:
    """asset name -> verified path, for every file the given extractors need (DINOv2 needs two: its
    source archive and its weights; extractors without files, like the domain classifier, need none)."""
    wanted = set(extractors)
    d = assets_dir(directory)
    return {a.name: verify(a, d) for a in load_manifest().values() if a.extractor in wanted}


Opener = Callable[[str], IO[bytes]]


def fetch(asset: Asset, directory: Path, opener: Opener | None = None) -> str:
    """Download `asset` unless a verified copy is there; "present" or "fetched".

    The download goes to a temporary file beside the target and is renamed only after its SHA-256
    matches, so an interrupted or wrong download never sits where `verify` would find it.
    """
    path = directory / asset.file
    if path.is_file() and _sha256_cached(path) == asset.sha256:
        return "present"
    h = hashlib.sha256()

    def stream(f: IO[bytes]) -> None:
        with (opener or urllib.request.urlopen)(asset.url) as src:
            for chunk in iter(lambda: src.read(1 << 20), b""):
                h.update(chunk)
                f.write(chunk)
        if h.hexdigest() != asset.sha256:  # raised inside the write: the temp file is removed
            raise BenchError(
                f"download of {asset.url} has sha256 {h.hexdigest()}, expected {asset.sha256}; "
                "nothing was written (a proxy page or a changed release?)"
            )

    try:
        # Streamed into bench.fs's temp file (named after its writer, so clean_temp_files knows it).
        atomic_write(path, stream, binary=True)
    except OSError as err:
        raise BenchError(f"cannot download {asset.url} ({err}); {_fetch_hint(directory)}") from None
    return "fetched"
