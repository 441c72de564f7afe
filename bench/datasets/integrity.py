"""Judging a dataset's files before anything trains: present, official, or at least readable.

A file with a published MD5 (torchvision lists them for MNIST, CIFAR-10, SVHN and CelebA; they are
read from its classes, never copied here) that matches is official. One that does not is parsed with
bench's own reader (readers.py): when shapes, dtypes and labels are right it is used, with a warning
that it is not byte-identical to the official file; only a file that cannot be read is refused, by
name, with the fix. MD5s and read results are remembered under the cache, keyed by the file's path,
size and mtime, so a 1.3 GB file is hashed once, not at every run.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.datasets.readers import BadFile
from bench.errors import BenchError
from bench.fs import atomic_write

MEMO_VERSION = 1  # bump when a reader's judgement changes, so remembered results are redone


@dataclass(frozen=True)
class Expected:
    """A file a dataset reads, relative to its folder; a path ending in "/" is a folder.

    paths:    alternatives, the first present one is used (MNIST's raw/x.gz or the decompressed raw/x).
    md5:      the official MD5 of the first alternative, when one is published.
    check:    parses the file and returns what it holds ("10,000 images 3x32x32"); raises BadFile.
    optional: checked when present; its absence is no problem (SVHN's `extra` unless it is asked for).
    md5s:     the official MD5 of each further alternative, by its path.
    """

    paths: tuple[str, ...]
    md5: str | None = None
    check: Callable[[Path], str] | None = None
    optional: bool = False
    md5s: dict[str, str] = field(default_factory=dict)

    def official_md5(self, rel: str) -> str | None:
        return self.md5 if rel == self.paths[0] else self.md5s.get(rel)


@dataclass
class DataReport:
    """What a check found; `bench data check` prints it, `bench run` raises on its problems."""

    name: str
    folder: Path | None = None
    problems: list[str] = field(default_factory=list)  # refuse: missing or unreadable files
    warnings: list[str] = field(default_factory=list)  # use, but say so: not byte-identical copies
    summary: str = ""  # what was found when all is well
    absent: bool = False  # none of the dataset's files is there

    @property
    def ok(self) -> bool:
        return not self.problems

    def raise_if_bad(self) -> None:
        if self.problems:
            more = len(self.problems) - 1
            raise BenchError(
                self.problems[0] + (f" (and {more} more problem{'s' * (more > 1)})" if more else "")
            )


def _memo(memo_dir: Path | None, path: Path, kind: str, compute: Callable[[], Any]) -> Any:
    """compute(), remembered for this file's (path, size, mtime) under memo_dir; exceptions are not."""
    st = os.stat(path)
    ident = json.dumps([MEMO_VERSION, kind, str(path.resolve()), st.st_size, st.st_mtime_ns])
    file = memo_dir / f"{hashlib.sha256(ident.encode()).hexdigest()[:24]}.json" if memo_dir else None
    if file is not None and file.is_file():
        try:
            return json.loads(file.read_text())["value"]
        except (OSError, ValueError, KeyError):
            pass  # unreadable memo: compute again
    value = compute()
    if file is not None:
        try:
            file.parent.mkdir(parents=True, exist_ok=True)
            atomic_write(file, lambda f: f.write(json.dumps({"file": str(path), "value": value})))
        except OSError:  # a read-only cache costs time, never correctness
            pass
    return value


def md5_of(path: Path, memo_dir: Path | None = None) -> str:
    def compute() -> str:
        h = hashlib.md5(usedforsecurity=False)
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 22), b""):
                h.update(block)
        return h.hexdigest()

    return _memo(memo_dir, path, "md5", compute)


def judge_file(
    name: str,
    path: Path,
    md5: str | None,
    check: Callable[[Path], str] | None,
    memo_dir: Path | None,
    fix: str,
) -> tuple[str | None, str | None]:
    """(problem, what it reads as when it is not the official file) for one present file; (None, None)
    for an official file or one with nothing to check."""
    if md5 and md5_of(path, memo_dir) == md5:
        return None, None
    if check is None:
        return (f"{name}: {path} does not match the official MD5 {md5}; {fix}" if md5 else None), None
    try:
        found = _memo(memo_dir, path, f"read:{check.__module__}.{check.__qualname__}", lambda: check(path))
    except BadFile as err:
        not_official = " and is not the official file (its MD5 differs)" if md5 else ""
        return f"{name}: {path} {err}{not_official}; {fix}", None
    except OSError as err:
        return f"{name}: {path} cannot be read ({err.strerror or err}); {fix}", None
    return None, (found if md5 else None)


def differs_warning(name: str, folder: Path, differs: list[tuple[str, str]], judged: int) -> str:
    """One line for every file of a dataset that reads correctly but is not byte-identical."""
    which = "all" if len(differs) == judged else f"{len(differs)} of"
    listed = ", ".join(f"{rel} ({found})" for rel, found in differs)
    return (
        f"{name}: {which} {judged} checked files in {folder} are not byte-identical to the official ones "
        f"(MD5 differs: re-packed or re-saved copies?) but read correctly, so they are used: {listed}"
    )


def repair_hint(name: str, folder: Path, fetch: str) -> str:
    return (
        f"replace it with the official file, or move {folder} away and run `{fetch}` on a machine "
        "with internet"
    )
