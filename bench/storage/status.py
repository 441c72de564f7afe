"""Each cell's state, read from its folder: pending, queued, running, requeued, interrupted, done,
failed, diverged. With SLURM, `active_jobs` (job id -> state, from squeue) tells a cell whose job still
exists (queued, running, or requeued after a preemption) from one whose job is gone (interrupted)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from bench import fs
from bench.storage import files as store
from bench.storage.cell_dir import CellDir, CellStatus, cell_dirs


@dataclass(frozen=True)
class CellState:
    cell_id: str
    model: str
    dataset: str
    latent_size: int | None
    seed: int
    state: str
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


QUEUED = "queued.json"  # written by the SLURM launcher: the array task a cell was submitted as


def cell_state(cell_dir: Path, active_jobs: Mapping[str, str] | frozenset[str] = frozenset()) -> CellState:
    """`active_jobs`: SLURM job ids (from squeue) that still exist; empty where SLURM does not answer."""
    cell = CellDir(cell_dir)
    cfg = cell.raw_config()
    result = cell.read_result()
    holder = cell.lock_holder()
    lock = holder.info if holder is not None else None
    queued = fs.read_json(cell_dir / QUEUED) or {}
    job = (result.slurm_job_id if result else None) or (lock or {}).get("slurm_job_id") or queued.get("job")
    if result is not None:
        state = result.status.value
        detail = result.reason or ""
        if result.status is CellStatus.done:
            detail = f"{result.wall_seconds:.0f} s"
    elif holder is not None:
        # A SLURM task is alive while its job exists (also once requeued); others by pid or heartbeat.
        job_id = lock.get("slurm_job_id")
        alive = job_id in active_jobs if job_id else holder.alive(None)
        state = "running" if alive else "interrupted"
        if alive and isinstance(active_jobs, Mapping) and active_jobs.get(job) != "RUNNING":
            state = "requeued"  # preempted, checkpointed, waiting to continue
        step = _last_step(cell_dir)
        detail = f"step {step}" if step else ""
    elif job is not None and job in active_jobs:
        state, detail = "queued", ""
    else:
        state, detail = "pending", ""

    # config.json as plain data: a damaged one (`{"model": 3}`) still lists, its odd values as "?".
    def text(key: str) -> str:
        return cfg[key] if isinstance(cfg.get(key), str) else "?"

    def number(key: str, default: int | None) -> int | None:
        value = cfg.get(key, default)
        return value if isinstance(value, int) and not isinstance(value, bool) else default

    return CellState(
        cell_dir.name,
        text("model"),
        text("dataset"),
        number("latent_size", None),
        number("seed", 0) or 0,
        state,
        detail,
        job,
    )


def all_states(out: Path, active_jobs: Mapping[str, str] | frozenset[str] = frozenset()) -> list[CellState]:
    return [cell_state(c.path, active_jobs) for c in cell_dirs(out)]
