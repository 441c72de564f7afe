"""The attempts a cell took before its result: what a killed or preempted attempt cost is not lost.

A cell stopped (SIGTERM, preemption) or killed (SIGKILL, a node lost) resumes from its checkpoint in a
later attempt, and that attempt alone measures its own time. The time of the earlier ones is read
from the lock each left (bench.storage.cell_lock): its start, and its end (the stop note's time, or
for a killed holder its last heartbeat). The lock records it here, in `attempts.json`, as it takes the
cell over; the runner adds these attempts to the result's cost (`add_to_cost`), and writing a result
starts the list again (CellDir.write_result), so no attempt is counted twice.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench import fs

ATTEMPTS = "attempts.json"


def earlier(cell_path: Path) -> list[dict[str, Any]]:
    """The attempts recorded since the cell's last result (oldest first); [] when none."""
    found = fs.read_json(cell_path / ATTEMPTS)
    items = found.get("attempts") if isinstance(found, dict) else None
    return [a for a in items if isinstance(a, dict)] if isinstance(items, list) else []


def record(cell_path: Path, info: dict[str, Any], ended_unix: float, how: str) -> None:
    """Add the attempt whose lock said `info` (it started at info['started_unix']) and ended then."""
    started = info.get("started_unix")
    if not isinstance(started, int | float):
        return  # a lock written by older code, or half-written: its start is not known
    entry = {
        "started": info.get("started"),
        "host": info.get("host"),
        "pid": info.get("pid"),
        "slurm_job_id": info.get("slurm_job_id"),
        "ended": how,
        "wall_seconds": max(0.0, ended_unix - float(started)),
    }
    fs.atomic_write_json(cell_path / ATTEMPTS, {"attempts": [*earlier(cell_path), entry]})


def add_to_cost(cell_path: Path, cost: dict[str, Any], wall_seconds: float) -> dict[str, Any]:
    """`cost` of this attempt (its wall time `wall_seconds`) with the earlier attempts' time added: each
    earlier attempt's whole wall time counts as training (a killed attempt cannot say how its time
    was split) and as device time (times the cell's processes); `attempts` lists every attempt."""
    before = earlier(cell_path)
    if not before:
        return cost
    extra = sum(float(a.get("wall_seconds") or 0.0) for a in before)
    processes = int(cost.get("processes") or 1)
    return {
        **cost,
        "train_seconds": (cost.get("train_seconds") or 0.0) + extra,
        "device_seconds": (cost.get("device_seconds") or 0.0) + processes * extra,
        "earlier_attempts_seconds": extra,
        "attempts": [*before, {"ended": "result", "wall_seconds": wall_seconds}],
    }
