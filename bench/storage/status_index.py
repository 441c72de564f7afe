"""What a cell's files at rest say (`CellFacts`), and an index of them beside the cell folders,
`OUT/.bench-index.json`, so `bench status` on thousands of finished cells reads one file instead of
parsing every result.json.

The folders stay the source of truth. Each entry holds a cell's facts with the stamp (mtime in ns,
size, inode) of every file they were read from: config.json, result.json, queued.json. An entry whose
stamps differ from the files now, or a missing entry, is read again from the folder, so a cell whose
files change after indexing shows its new state on the next read. Files are replaced by a rename
(bench.fs.atomic_write), which gives them a new inode: two versions written within one mtime tick
still differ. The index is rewritten (atomically) only when an entry changed; a folder that is not
writable is still read, just without the index.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import fs
from bench.storage import files as store
from bench.storage.cell_dir import CellDir, CellStatus


@dataclass(frozen=True)
class CellFacts:
    """What a cell's files at rest say: its config's identity and its finished attempt, if any."""

    model: str
    dataset: str
    latent_size: int | None
    seed: int
    status: CellStatus | None  # None: no readable result.json
    detail: str  # the failure's reason, or a done cell's wall time
    job: str | None  # the SLURM job that wrote the result
    queued_job: str | None  # the SLURM array task queued.json names

    def to_json(self) -> dict[str, object]:
        return {**self.__dict__, "status": self.status.value if self.status else None}

    @classmethod
    def from_json(cls, raw: dict[str, object]) -> CellFacts:
        status = raw["status"]
        return cls(**{**raw, "status": CellStatus(status) if status else None})  # type: ignore[arg-type]


def read_facts(cell_dir: Path) -> CellFacts:
    """The facts of one cell, read and parsed from its files (the source of truth)."""
    cell = CellDir(cell_dir)
    cfg = cell.raw_config()
    result = cell.read_result()
    queued = fs.read_json(cell_dir / store.QUEUED)
    queued_job = queued.get("job") if isinstance(queued, dict) else None
    status, detail = None, ""
    if result is not None:
        status, detail = result.status, result.reason or ""
        if result.status is CellStatus.done:
            detail = f"{result.wall_seconds:.0f} s"
    # config.json as plain data: a damaged one (`{"model": 3}`) still lists, its odd values as "?".
    def text(key: str) -> str:
        return cfg[key] if isinstance(cfg.get(key), str) else "?"

    def number(key: str, default: int | None) -> int | None:
        value = cfg.get(key, default)
        return value if isinstance(value, int) and not isinstance(value, bool) else default

    return CellFacts(
        text("model"),
        text("dataset"),
        number("latent_size", None),
        number("seed", 0) or 0,
        status,
        detail,
        result.slurm_job_id if result else None,
        queued_job,
    )


INDEX = ".bench-index.json"
VERSION = 1  # bump when CellFacts changes shape: an index of another version is rebuilt
STAMPED = (store.CONFIG, store.RESULT, store.QUEUED)  # the files CellFacts are read from


def _stamp(path: str) -> list[int] | None:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return [st.st_mtime_ns, st.st_size, st.st_ino]


def _load(path: Path) -> dict[str, Any]:
    raw = fs.read_json(path)
    if not isinstance(raw, dict) or raw.get("version") != VERSION or not isinstance(raw.get("cells"), dict):
        return {}
    return raw["cells"]


def indexed_facts(out: Path) -> dict[str, tuple[CellFacts, bool]]:
    """name -> (facts, whether its lock file exists) of every cell folder under `out` (a folder holding
    config.json, as bench.storage.cell_dir.cell_dirs finds them), in sorted order; facts from the index
    where it is current. Plain strings and os.scandir: at thousands of cells, pathlib's objects cost
    more than the stats."""
    path = out / INDEX
    cells = _load(path)
    facts: dict[str, tuple[CellFacts, bool]] = {}
    fresh: dict[str, Any] = {}
    changed = False
    with os.scandir(out) as entries:
        names = sorted(e.name for e in entries if e.is_dir())
    for name in names:
        folder = os.path.join(out, name)
        # Stamped before reading: a file that changes while it is read gets another stamp next time.
        now = [_stamp(os.path.join(folder, f)) for f in STAMPED]
        if now[0] is None:
            continue  # no config.json: not a cell folder
        entry = cells.get(name)
        got = None
        if isinstance(entry, dict) and entry.get("stamps") == now:
            try:
                got = CellFacts.from_json(entry["facts"])
            except (KeyError, TypeError, ValueError):
                got = None
            if got is not None and got.status is None and now[1] is not None:
                got = None  # an unreadable result.json: read (and warned about) every time, as before
        if got is None:
            got, changed = read_facts(Path(folder)), True
            entry = {"stamps": now, "facts": got.to_json()}
        facts[name] = (got, os.path.lexists(os.path.join(folder, store.LOCK)))
        fresh[name] = entry
    if changed or set(cells) != set(fresh):
        with contextlib.suppress(OSError):  # a read-only results folder: status works, only slower
            fs.atomic_write_json(path, {"version": VERSION, "cells": fresh})
    return facts
