"""The per-cell lock: at most one process trains a cell, whichever launcher started it.

The lock is `running.json` in the cell folder, created with O_CREAT | O_EXCL, which is atomic on a
local disk and on NFS v3+ / Lustre / GPFS, so two `bench run`s, `--jobs` slots or SLURM tasks on one
shared `--out` never both hold it. It records the holder's host, pid (and the pid's start time, so a
reused pid is not mistaken for the holder), SLURM job and start time; a thread touches it every
HEARTBEAT_SECONDS while the holder lives.

A lock left behind is taken over when its holder is known to be gone:
- the holder wrote `stopped_at_step` (stopped on request with a checkpoint: released, not stale);
- same host: its pid is not alive (or now belongs to another process);
- another host: it was an earlier attempt of this same SLURM array task (requeued: SLURM runs one
  attempt at a time), its SLURM job is no longer in squeue, or, failing those, the lock has not been
  touched for BENCH_LOCK_STALE_SECONDS (default 600 s, sixty missed heartbeats).
Taking over is serialised by a second, short-lived O_EXCL file (`running.json.break`), so two
processes that both find a stale lock cannot both break it and then both hold the cell.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from bench import fs
from bench.storage import attempts

HEARTBEAT_SECONDS = 10.0  # also how closely a killed holder's time is known (bench.storage.attempts)
DEFAULT_STALE_SECONDS = 600.0
BREAK_STALE_SECONDS = 30.0  # a breaker holds its file for microseconds; one this old died holding it
CELL_BUSY_EXIT = 73  # `bench cell`: another live process holds this cell's lock; nothing was written


def stale_seconds() -> float:
    return float(os.environ.get("BENCH_LOCK_STALE_SECONDS", DEFAULT_STALE_SECONDS))


def _pid_start(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (Linux /proc), None elsewhere."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]  # field 22 of stat; the name in (...) may hold spaces


def pid_alive(pid: int, start: str | None = None) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # exists, owned by someone else
    now_start = _pid_start(pid)
    return start is None or now_start is None or now_start == start


def slurm_job_id() -> str | None:
    job, task = os.environ.get("SLURM_ARRAY_JOB_ID"), os.environ.get("SLURM_ARRAY_TASK_ID")
    return f"{job}_{task}" if job and task else os.environ.get("SLURM_JOB_ID")


def slurm_restart() -> int:
    return int(os.environ.get("SLURM_RESTART_COUNT", "0") or 0)


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


@dataclass(frozen=True)
class Holder:
    """What a lock file says about the process holding it."""

    info: dict[str, Any]
    age_seconds: float  # since the last heartbeat (the file's mtime)

    @property
    def released(self) -> bool:
        return "stopped_at_step" in self.info

    def describe(self) -> str:
        job = f", SLURM job {self.info['slurm_job_id']}" if self.info.get("slurm_job_id") else ""
        return (
            f"host {self.info.get('host')}, pid {self.info.get('pid')}{job}, since {self.info.get('started')}"
        )

    def alive(self, active_jobs: Mapping[str, str] | frozenset[str] | None = None) -> bool:
        """Whether the holder still runs. `active_jobs`: SLURM job ids from squeue, None if unknown."""
        if self.released:
            return False
        info = self.info
        if info.get("host") == socket.gethostname():
            try:
                return pid_alive(int(info.get("pid", -1)), info.get("pid_start"))
            except (TypeError, ValueError):
                return False
        job = info.get("slurm_job_id")
        if job and job == slurm_job_id() and int(info.get("slurm_restart", 0)) < slurm_restart():
            return False  # an earlier attempt of this very array task: SLURM runs one at a time
        if job and active_jobs is not None:
            return job in active_jobs
        return self.age_seconds < stale_seconds()


def read_holder(path: Path) -> Holder | None:
    try:
        info = json.loads(path.read_text())
        age = time.time() - path.stat().st_mtime
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        # Half-written by a holder killed between create and write: judge it by its age alone.
        try:
            return Holder({}, time.time() - path.stat().st_mtime)
        except FileNotFoundError:
            return None
    return Holder(info if isinstance(info, dict) else {}, age)


class CellLock:
    """`acquire()` -> True when this process now holds the cell; `release()` removes the file;
    `mark_stopped(step)` turns it into the note a preempted cell leaves (released, not stale)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.info: dict[str, Any] = {}
        self.held = False
        self.holder: Holder | None = None  # the live holder that made acquire() fail
        self._stop = threading.Event()
        self._beat: threading.Thread | None = None

    def acquire(self, active_jobs: Mapping[str, str] | frozenset[str] | None = None) -> bool:
        pid = os.getpid()
        self.info = {
            "host": socket.gethostname(),
            "pid": pid,
            "pid_start": _pid_start(pid),
            "started": now_iso(),
            "started_unix": time.time(),
            "slurm_job_id": slurm_job_id(),
            "slurm_restart": slurm_restart(),
        }
        for _ in range(50):
            if self._create():
                self.held = True
                self._start_heartbeat()
                return True
            holder = read_holder(self.path)
            if holder is None:
                continue  # released between our create and our read: try again
            if holder.alive(active_jobs):
                self.holder = holder
                return False
            self._break(holder)
        raise RuntimeError(f"{self.path}: could not take the lock after 50 tries")

    def _create(self) -> bool:
        try:
            fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            return False
        with os.fdopen(fd, "w") as f:
            f.write(json.dumps(self.info, indent=2, sort_keys=True) + "\n")
            f.flush()
            os.fsync(f.fileno())
        return True

    def _break(self, seen: Holder) -> None:
        """Remove the stale lock `seen`, unless another process replaced it meanwhile."""
        guard = self.path.with_name(self.path.name + ".break")
        try:
            fd = os.open(guard, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            try:
                if time.time() - guard.stat().st_mtime > BREAK_STALE_SECONDS:
                    guard.unlink(missing_ok=True)
            except FileNotFoundError:
                pass
            time.sleep(0.05)
            return
        os.close(fd)
        try:
            now = read_holder(self.path)
            if now is not None and now.info == seen.info:
                # The holder's attempt is over: its time is kept for the cell's cost, under the guard
                # (one breaker) and before the unlink (a kill in between counts it again, never loses it).
                ended = now.info.get("stopped_unix", time.time() - now.age_seconds)
                how = "stopped" if now.released else "died"
                with contextlib.suppress(OSError):  # a cost record is never worth refusing the cell over
                    attempts.record(self.path.parent, now.info, float(ended), how)
                self.path.unlink(missing_ok=True)
        finally:
            guard.unlink(missing_ok=True)

    def _start_heartbeat(self) -> None:
        every = float(os.environ.get("BENCH_LOCK_HEARTBEAT_SECONDS") or HEARTBEAT_SECONDS)

        def beat() -> None:
            while not self._stop.wait(every):
                try:
                    os.utime(self.path)
                except OSError:
                    return

        self._beat = threading.Thread(target=beat, name="cell-lock-heartbeat", daemon=True)
        self._beat.start()

    def _stop_heartbeat(self) -> None:
        self._stop.set()
        if self._beat is not None:
            self._beat.join(timeout=5)

    def mark_stopped(self, step: int) -> None:
        """Stopped on request with a checkpoint: leave a note (SLURM requeues and status reads it)."""
        self._stop_heartbeat()
        if self.held:
            note = {"stopped": now_iso(), "stopped_unix": time.time(), "stopped_at_step": step}
            fs.atomic_write_json(self.path, {**self.info, **note})
            self.held = False

    def release(self) -> None:
        self._stop_heartbeat()
        if self.held:
            self.path.unlink(missing_ok=True)
            self.held = False
