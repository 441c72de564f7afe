"""The three ways one cell runs under the local launcher, with one typed answer: in this process, in
the slot's persistent worker, or in a process of its own (under torchrun for several processes).

Whatever way it ran, a cell whose process died without a result is judged by `_after_death`: another
live process holds it (busy), it stopped on request with a checkpoint (stopped), or its crash or hang
is recorded as a failed result (ended).
"""

from __future__ import annotations

import os
import subprocess
import threading
from collections.abc import Callable
from enum import Enum
from pathlib import Path

from rich.console import Console

from bench.launch.cells import record_crash
from bench.launch.children import Children
from bench.launch.command import TORCHRUN_ENV, cell_command
from bench.launch.worker import Worker
from bench.storage.cell_dir import CellDir
from bench.storage.cell_lock import CELL_BUSY_EXIT
from bench.train.preempt import PREEMPTED_EXIT
from bench.train.progress_log import parse_progress_line


class Ended(str, Enum):
    """How one run of a cell ended, whichever way it ran."""

    ended = "ended"  # it left a result (done, failed, diverged, or its crash recorded as failed)
    stopped = "stopped"  # on request, with a checkpoint and no result: the next run continues it
    busy = "busy"  # another live process holds the cell; nothing was written
    finished = "finished"  # a result was already there when it started: nothing to do

    @classmethod
    def from_status(cls, status: str) -> Ended:
        """From a cell's CellRun / worker status: done, failed, diverged, preempted, busy, finished."""
        return {"preempted": cls.stopped, "busy": cls.busy, "finished": cls.finished}.get(status, cls.ended)


def run_in_process(cell_dir: Path, progress: Callable[..., None]) -> Ended:
    from bench.cell.run import run_cell

    return Ended.from_status(run_cell(cell_dir, progress).status)


def _timed_out_reason(seconds: float) -> str:
    return f"timed out: no end within {seconds:g} s (--cell-timeout); the process was killed"


def _after_death(cell_dir: Path, returncode: int, children: Children, timeout: float | None) -> Ended:
    """The cell's process is gone: ended when it left a result, busy when another live process holds
    the cell, stopped when it stopped on request, else the crash (or hang) is recorded: ended."""
    cell = CellDir(cell_dir)
    if cell.read_result() is not None and not cell.reevaluation_due():  # a due one is the old result
        return Ended.ended
    holder = cell.lock_holder()
    # Our child has exited: a live holder is another process (under torchrun, which exits 1 whatever
    # ended it, this is how a busy cell is told from a crash).
    if returncode == CELL_BUSY_EXIT or (holder is not None and holder.alive(None)):
        return Ended.busy
    # Stopped on request: PREEMPTED_EXIT, or under torchrun the note the cell leaves in its lock.
    if timeout is None and (
        returncode == PREEMPTED_EXIT or children.stopping or (holder is not None and holder.released)
    ):
        return Ended.stopped
    record_crash(cell_dir, returncode, reason=_timed_out_reason(timeout) if timeout is not None else None)
    return Ended.ended


def run_in_worker(
    cell_dir: Path,
    worker: Worker,
    progress: Callable[..., None],
    say: Callable[[str], None],
    children: Children,
    timeout: float | None,
) -> Ended:
    """One cell in the slot's persistent worker."""
    end = worker.run(cell_dir, progress, say, timeout)
    if end.kind == "ended" and end.status == "failed":
        # What failed may have left the process unusable (a sticky CUDA error, a half-initialised
        # library): the next cell gets a fresh worker, as after a crash.
        worker.close()
    if end.kind == "ended":
        return Ended.from_status(end.status or "")
    if end.kind == "timeout":
        return _after_death(cell_dir, -9, children, timeout)
    return _after_death(cell_dir, end.returncode if end.returncode is not None else 1, children, None)


def run_subprocess(
    cell_dir: Path,
    progress: Callable[..., None],
    console: Console,
    children: Children,
    env_extra: dict[str, str],
    timeout: float | None = None,
) -> Ended:
    """Run one cell in its own process(es), its output lines shown on `console`."""
    cell = CellDir(cell_dir)
    cmd = cell_command(cell_dir, cell.config.train.processes, progress_lines=True)
    env = {**os.environ, "PYTHONUNBUFFERED": "1", **TORCHRUN_ENV, **env_extra}
    timer, fired = None, []
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, env=env) as proc:
        with children.lock:
            children.procs.add(proc)
        if timeout:
            timer = threading.Timer(timeout, lambda: (fired.append(True), proc.kill()))
            timer.start()
        try:
            assert proc.stdout is not None
            for line in proc.stdout:
                report = parse_progress_line(line)  # torchrun may prefix a worker's lines
                if report is not None:
                    progress(*report)
                else:
                    console.print(line.rstrip("\n"), markup=False, highlight=False)
            returncode = proc.wait()
        finally:
            if timer is not None:
                timer.cancel()
            with children.lock:
                children.procs.discard(proc)
    hung = bool(fired) and returncode == -9
    return _after_death(cell_dir, returncode, children, timeout if hung else None)
