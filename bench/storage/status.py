"""Each cell's state, read from its folder: pending, queued, running, requeued, interrupted, done,
failed, diverged. With SLURM, `active_jobs` (job id -> state, from squeue) tells a cell whose job still
exists (queued, running, or requeued after a preemption) from one whose job is gone (interrupted).

What the files at rest say (config, result, queue note) is a cell's `CellFacts`; `all_states` reads
them through the index beside the cell folders (bench.storage.status_index), so thousands of finished
cells are not parsed again on every `bench status`. The lock and the live jobs are read every time:
they are what changes while a grid runs.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

from bench.storage import files as store
from bench.storage.cell_dir import cell_dirs
from bench.storage.cell_lock import read_holder
from bench.storage.status_index import CellFacts, indexed_facts, read_facts


class State(str, Enum):
    """What `bench status` says about a cell: a finished attempt's CellStatus or a live state."""

    pending = "pending"  # never started, or its job is gone before it started
    queued = "queued"  # its SLURM job waits
    running = "running"  # a live process holds its lock
    requeued = "requeued"  # preempted with a checkpoint, its SLURM job waits to continue
    interrupted = "interrupted"  # a lock whose holder is gone: `bench run` resumes it
    done = "done"
    failed = "failed"
    diverged = "diverged"

    def __str__(self) -> str:
        return self.value

    def __format__(self, spec: str) -> str:
        return format(self.value, spec)


@dataclass(frozen=True)
class CellState:
    cell_id: str
    model: str
    dataset: str
    latent_size: int | None
    seed: int
    state: State
    detail: str
    job: str | None


def _last_step(cell_dir: Path) -> int | None:
    path = cell_dir / store.METRICS
    if not path.exists() or path.stat().st_size == 0:
        return None
    with path.open("rb") as f:
        f.seek(max(0, path.stat().st_size - 4096))
        lines = f.read().decode(errors="replace").strip().splitlines()
    try:
        return int(json.loads(lines[-1])["step"]) + 1
    except (json.JSONDecodeError, KeyError, IndexError, ValueError):
        return None


def cell_state(
    cell_dir: Path,
    active_jobs: Mapping[str, str] | frozenset[str] = frozenset(),
    facts: CellFacts | None = None,
    locked: bool | None = None,
) -> CellState:
    """`active_jobs`: SLURM job ids (from squeue) that still exist; empty where SLURM does not answer.
    `facts`: the cell's files at rest when known (the index), else read here. `locked`: whether the
    lock file exists when known (the index stats it), else the lock is read."""
    return _state(cell_dir.parent, cell_dir.name, active_jobs, facts or read_facts(cell_dir), locked)


def _state(
    out: Path,
    name: str,
    active_jobs: Mapping[str, str] | frozenset[str],
    facts: CellFacts,
    locked: bool | None,
) -> CellState:
    # The folder's path is made only when its lock is read: at thousands of finished cells, pathlib's
    # objects cost more than reading the index.
    holder = read_holder(out / name / store.LOCK) if locked is not False else None
    lock = holder.info if holder is not None else {}
    job = facts.job or lock.get("slurm_job_id") or facts.queued_job
    if facts.status is not None:
        state, detail = State(facts.status.value), facts.detail
    elif holder is not None:
        # A SLURM task is alive while its job exists (also once requeued); others by pid or heartbeat.
        job_id = lock.get("slurm_job_id")
        alive = job_id in active_jobs if job_id else holder.alive(None)
        state = State.running if alive else State.interrupted
        if alive and isinstance(active_jobs, Mapping) and active_jobs.get(job) != "RUNNING":
            state = State.requeued  # preempted, checkpointed, waiting to continue
        step = _last_step(out / name)
        detail = f"step {step}" if step else ""
    elif job is not None and job in active_jobs:
        state, detail = State.queued, ""
    else:
        state, detail = State.pending, ""
    return CellState(name, facts.model, facts.dataset, facts.latent_size, facts.seed, state, detail, job)


def all_states(
    out: Path, active_jobs: Mapping[str, str] | frozenset[str] = frozenset(), use_index: bool = True
) -> list[CellState]:
    """Every cell's state under `out`, sorted by cell folder name. use_index=False parses every folder
    (the path the index replaced, kept as its reference)."""
    if not use_index:
        return [cell_state(c.path, active_jobs) for c in cell_dirs(out)]
    return [_state(out, name, active_jobs, f, locked) for name, (f, locked) in indexed_facts(out).items()]
