"""Datasets that live under the data root: what files they need, the one error when files are missing,
and downloading them so that an interrupted download never looks like a dataset.

A download goes into `<root>/.partial-<name>-XXXX/`, is verified (torchvision's own MD5 checks while it
downloads, then every file the loader reads must exist), and only then is its folder renamed into
place. A rename within one filesystem is atomic, so a reader sees the whole folder or none; a killed
download leaves only a `.partial-*` folder, which no loader reads and the next fetch removes.
"""

from __future__ import annotations

import logging
import os
import shlex
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from filelock import FileLock

from bench.datasets.integrity import DataReport, Expected, differs_warning, judge_file, repair_hint
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
    # their dataset lists them in `expected()` only when its arguments read them.
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


def no_root_message(name: str) -> str:
    return (
        f"{name}: no data root; give --data-root DIR, set BENCH_DATA=DIR or `data: {{root: DIR}}` "
        f"in the grid, and fetch the files on a machine with internet: {fetch_command(name, None)}"
    )


def missing_message(remote: Remote, root: Path, lacking: list[str], n: int, note: str = "") -> str:
    """One line naming the missing files (relative to the root) and the command that fetches them."""
    if len(lacking) == 1 and n > 1:
        which = f"{root / lacking[0]} is missing"
    else:
        count = (
            f"the {n} expected files are"
            if len(lacking) == n
            else f"{len(lacking)} of {n} expected files are"
        )
        which = f"{count} missing under {root}: {', '.join(lacking)}"
    return (
        f"{remote.name}: {which}{note}; on a machine with internet run `{fetch_command(remote.name, root)}`"
        f"{f' ({remote.size})' if remote.size else ''}, or set `data: {{download: true}}` in the grid"
    )


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
    """A dataset read from files under the data root that `bench data fetch` can download.

    `expected()` lists exactly the files these arguments read (with their official MD5s and readers),
    so a message names what the requested splits need and nothing else; `check` judges them (see
    integrity.py); `folder` is the cheap form for `load`: every expected file exists."""

    remote: ClassVar[Remote]

    def expected(self) -> list[Expected]:
        return [Expected((rel,)) for rel in self.remote.files]

    def locate(self, root: Path) -> Path:
        """The dataset's folder under the root (SVHN also accepts torchvision's own layout)."""
        return root / self.remote.folder

    def layout_note(self, root: Path) -> str:
        """Said after the missing files: other places the files may be (SVHN's two layouts)."""
        return ""

    def check_listing(self, folder: Path) -> tuple[list[str], list[str]]:
        """(problems, warnings) about the files inside folder entries (every image a listing names)."""
        return [], []

    def check(self, ctx: DataContext, deep: bool = True) -> DataReport:
        """Missing files (fetched first when ctx.download); with `deep`, also MD5s, readability and
        listings. Never raises for bad data: the report holds the problems."""
        report = DataReport(self.remote.name)
        root = ctx.data_root
        if root is None:
            report.problems.append(no_root_message(self.remote.name))
            report.absent = True
            return report
        expected = self.expected()
        lacking = self._lacking(root, expected)
        if lacking and ctx.download:
            fetch(self.remote, root)
            lacking = self._lacking(root, expected)
        folder = report.folder = self.locate(root)
        required = [e for e in expected if not e.optional]
        if lacking:
            report.absent = len(lacking) == len(required)
            report.problems.append(
                missing_message(self.remote, root, lacking, len(required), self.layout_note(root))
            )
            return report
        if not deep:
            return report
        memo = ctx.cache_dir / "checked"
        hint = repair_hint(self.remote.name, folder, fetch_command(self.remote.name, root))
        differs: list[tuple[str, str]] = []
        judged = failed = 0
        for e in expected:
            rel = next((r for r in e.paths if _present(folder, r)), None)
            if rel is None or rel.endswith("/") or (e.check is None and e.official_md5(rel) is None):
                continue
            problem, found = judge_file(
                self.remote.name, folder / rel, e.official_md5(rel), e.check, memo, hint
            )
            report.problems += [problem] if problem else []
            differs += [(rel, found)] if found else []
            judged += 1
            failed += problem is not None
        if differs:
            report.warnings.append(differs_warning(self.remote.name, folder, differs, judged))
        problems, warnings = self.check_listing(folder)
        report.problems += problems
        report.warnings += warnings
        n = sum(1 for e in expected if any(_present(folder, r) for r in e.paths))
        report.summary = f"{n} files and folders in {folder}"
        if judged:
            official = judged - len(differs) - failed
            report.summary += f"; {official} of {judged} checked files match the official MD5s"
        return report

    def _lacking(self, root: Path, expected: list[Expected]) -> list[str]:
        folder = self.locate(root)
        prefix = os.path.relpath(folder, root)
        out = []
        for e in expected:
            if not e.optional and not any(_present(folder, r) for r in e.paths):
                out.append(e.paths[0] if prefix == "." else f"{prefix}/{e.paths[0]}")
        return out

    def require(self, ctx: DataContext) -> None:
        report = self.check(ctx)
        report.raise_if_bad()
        for warning in report.warnings:
            logging.getLogger(__name__).warning("%s", warning)

    def folder(self, ctx: DataContext) -> Path:
        """The dataset's folder, after checking that every file it reads is there (no hashing: `bench
        run` judged the contents before any cell started, and the readers name a bad file anyway)."""
        report = self.check(ctx, deep=False)
        report.raise_if_bad()
        assert report.folder is not None
        return report.folder


def _present(folder: Path, rel: str) -> bool:
    """A file that exists, or (for "x/") a folder with something in it."""
    path = folder / rel
    return path.is_dir() and any(path.iterdir()) if rel.endswith("/") else path.is_file()
