"""Datasets that live under the data root: what files they need, the one error when files are missing,
and downloading them so that an interrupted download never looks like a dataset.

A download goes into `<root>/.partial-<name>-XXXX/`, is verified (torchvision's own MD5 checks while it
downloads, then every file the loader reads must exist), and only then is its folder renamed into
place. A rename within one filesystem is atomic, so a reader sees the whole folder or none; a killed
download leaves only a `.partial-*` folder, which no loader reads and the next fetch removes.
"""

from __future__ import annotations

import os
import shlex
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from filelock import FileLock

from bench.datasets.source import DataContext, DatasetSource
from bench.errors import BenchError

PARTIAL_PREFIX = ".partial-"


@dataclass(frozen=True)
class Remote:
    """A downloadable dataset: `bench data fetch NAME` fills `<root>/<folder>` with `files`."""

    name: str  # the NAME of `bench data fetch NAME`
    folder: str  # the one folder under the data root that the dataset occupies
    files: tuple[str, ...]  # paths under `folder` the loader reads; a folder path ends with "/"
    # Fills `<dest>/<folder>` where dest is a fresh, empty directory; raises on any failure.
    download: Callable[[Path], None]
    size: str = ""  # download size, for the user deciding where to run it
    # Archives under `folder` deleted after verification: the extracted files are what loaders read.
    remove_after: tuple[str, ...] = field(default_factory=tuple)
    # Downloaded and verified by a fetch, but needed only by some uses (SVHN's 1.3 GB `extra` split):
    # their loader checks them with `require_file`.
    optional: tuple[str, ...] = field(default_factory=tuple)


def missing(remote: Remote, root: Path, with_optional: bool = False) -> list[str]:
    """Expected paths (relative to the data root) that are not there."""
    out = []
    for rel in remote.files + (remote.optional if with_optional else ()):
        path = root / remote.folder / rel
        ok = path.is_dir() and any(path.iterdir()) if rel.endswith("/") else path.is_file()
        if not ok:
            out.append(f"{remote.folder}/{rel}")
    return out


def fetch_command(name: str, root: Path | None) -> str:
    return f"bench data fetch {name} --root {shlex.quote(str(root)) if root else 'DIR'}"


def require(remote: Remote, ctx: DataContext) -> Path:
    """`<root>/<folder>` when every expected file is there; fetches first when ctx.download; else one
    BenchError that names the expected files and the command that fetches them."""
    root = ctx.data_root
    if root is None:
        raise BenchError(
            f"{remote.name}: no data root; give --data-root DIR, set BENCH_DATA=DIR or `data: {{root: DIR}}` "
            f"in the grid, and fetch the files on a machine with internet: {fetch_command(remote.name, None)}"
        )
    lacking = missing(remote, root)
    if lacking and ctx.download:
        fetch(remote, root)
        lacking = missing(remote, root)
    if lacking:
        n = len(remote.files)
        which = (
            f"the {n} expected files are"
            if len(lacking) == n
            else f"{len(lacking)} of {n} expected files are"
        )
        raise BenchError(
            f"{remote.name}: {which} missing under {root}: {', '.join(lacking)}; on a machine with internet "
            f"run `{fetch_command(remote.name, root)}`{f' ({remote.size})' if remote.size else ''}, "
            "or set `data: {download: true}` in the grid"
        )
    return root / remote.folder


def require_file(remote: Remote, ctx: DataContext, rel: str) -> Path:
    """One optional file of a dataset whose required files are there, or the same kind of error."""
    path = require(remote, ctx) / rel
    if not path.is_file():
        raise BenchError(
            f"{remote.name}: {path} is missing; on a machine with internet run "
            f"`{fetch_command(remote.name, ctx.data_root)}`"
        )
    return path


def fetch(remote: Remote, root: Path, say: Callable[[str], None] = lambda _: None) -> Path:
    """Download `remote` into `root` unless it is complete there already; returns its folder."""
    root = Path(root).expanduser()
    target = root / remote.folder
    try:
        root.mkdir(parents=True, exist_ok=True)
        # One fetch of a dataset at a time per root (many jobs may start with download: true at once).
        with FileLock(str(root / f".fetch-{remote.name}.lock")):
            if not missing(remote, root, with_optional=True):
                say(f"{remote.name}: already complete in {target}")
                return target
            if target.exists():
                # Never delete what a user put there; a folder a fetch created is complete or absent.
                raise BenchError(
                    f"{remote.name}: {target} exists but lacks {', '.join(missing(remote, root, True))}; "
                    "move it away, then fetch again"
                )
            for stale in root.glob(f"{PARTIAL_PREFIX}{remote.name}-*"):  # left by a killed fetch
                shutil.rmtree(stale, ignore_errors=True)
            _download_and_place(remote, root, say)
    except OSError as err:  # an unwritable or full root: the download itself reports its own errors
        raise BenchError(f"{remote.name}: cannot write under {root}: {err.strerror or err}") from None
    say(f"{remote.name}: verified and placed in {target}")
    return target


def _download_and_place(remote: Remote, root: Path, say: Callable[[str], None]) -> None:
    tmp = Path(tempfile.mkdtemp(prefix=f"{PARTIAL_PREFIX}{remote.name}-", dir=root))
    try:
        say(f"{remote.name}: downloading{f' {remote.size}' if remote.size else ''} into {tmp}")
        try:
            remote.download(tmp)
        except (OSError, RuntimeError, ValueError) as err:  # network, MD5 mismatch, bad archive
            reason = " ".join(str(err).split())  # torchvision's messages span lines
            raise BenchError(
                f"{remote.name}: download failed ({type(err).__name__}: {reason}); nothing was kept "
                f"under {root}"
            ) from None
        lacking = missing(remote, tmp, with_optional=True)
        if lacking:
            raise BenchError(f"{remote.name}: the download lacks {', '.join(lacking)}; nothing was kept")
        for rel in remote.remove_after:
            (tmp / remote.folder / rel).unlink(missing_ok=True)
        os.rename(tmp / remote.folder, root / remote.folder)  # atomic: the whole folder or none
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


class RemoteDataset(DatasetSource):
    """A dataset read from files under the data root that `bench data fetch` can download."""

    remote: ClassVar[Remote]

    def require(self, ctx: DataContext) -> None:
        require(self.remote, ctx)

    def folder(self, ctx: DataContext) -> Path:
        """The dataset's folder, after checking that every file it reads is there."""
        return require(self.remote, ctx)
