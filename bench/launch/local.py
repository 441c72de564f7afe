"""Run the cells of a grid on this machine, one after another or several at once (`jobs`).

Each cell runs in its own Python process by default, so a cell that crashes hard (segfault,
out-of-memory kill) is recorded as failed and the grid goes on; a cell with `train.processes` > 1 runs
under torchrun. The child reports progress as `@progress PHASE DONE TOTAL` lines on stdout, which this
process turns into rich progress bars. SIGTERM or SIGUSR1 sent to this process is passed on to the
running cell, which checkpoints and stops; the grid then stops too, and the next run continues it.
"""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from bench.grid import Grid
from bench.launch.base import Launcher, LaunchPlan, LaunchSummary
from bench.launch.cells import load_cell, materialize, record_crash
from bench.launch.command import THREADS_ENV, TORCHRUN_ENV, cell_command
from bench.results.cell_dir import CellDir, CellResult
from bench.results.cell_lock import CELL_BUSY_EXIT
from bench.train.preempt import PREEMPTED_EXIT

PROGRESS_PREFIX = "@progress "


RunSummary = LaunchSummary  # the name callers used before launchers shared one interface


class Children:
    """The cells' running processes. SIGTERM/SIGUSR1 sent to this launcher go on to all of them (each
    checkpoints and stops) and no further cell starts."""

    def __init__(self) -> None:
        self.procs: set[subprocess.Popen] = set()
        self.asked: list[int] = []
        self.lock = threading.Lock()

    @property
    def stopping(self) -> bool:
        return bool(self.asked)

    def forward(self, signum: int, frame: object) -> None:
        self.asked.append(signum)
        with self.lock:
            for proc in self.procs:
                proc.send_signal(signum)

    @contextmanager
    def forwarding(self) -> Iterator[Children]:
        if threading.current_thread() is not threading.main_thread():  # only it may set handlers
            yield self
            return
        previous = {sig: signal.signal(sig, self.forward) for sig in (signal.SIGTERM, signal.SIGUSR1)}
        try:
            yield self
        finally:
            for sig, old in previous.items():
                signal.signal(sig, old)


def visible_gpus() -> list[str]:
    """GPU ids a child may be given through CUDA_VISIBLE_DEVICES; empty on a CPU machine."""
    listed = os.environ.get("CUDA_VISIBLE_DEVICES")
    if listed is not None:
        return [g for g in listed.split(",") if g.strip()]
    import torch

    return [str(i) for i in range(torch.cuda.device_count())]


class LocalLauncher(Launcher):
    """Cells on this machine: one after another, or `jobs` single-process cells at once."""

    name = "local"

    def __init__(self, console: Console, in_process: bool = False, jobs: int = 1) -> None:
        self.console, self.in_process, self.jobs = console, in_process, jobs

    def plan(self, grid: Grid, out: Path) -> LaunchPlan:
        dirs = [out / c.cell_id for c in grid.cells]
        finished = [d for d in dirs if CellDir(d).is_finished()]
        elsewhere = [d for d in dirs if d not in finished and _held_elsewhere(CellDir(d))]
        todo = [d for d in dirs if d not in finished and d not in elsewhere]
        return LaunchPlan(self.name, todo, finished, elsewhere)

    def submit(self, grid: Grid, out: Path) -> LaunchSummary:
        return run_local(grid, out, self.console, self.in_process, self.jobs)

    def summary(self, outcome: LaunchSummary) -> list[str]:
        busy = [c for c, s in outcome.states.items() if s == "busy"]
        lines = [f"ran {len(outcome.ran)} cell(s), skipped {len(outcome.skipped)} already finished"]
        if busy:
            lines.append(f"{len(busy)} cell(s) left to the other process(es) running them: {', '.join(busy)}")
        return lines


def _held_elsewhere(cell: CellDir) -> bool:
    holder = cell.lock_holder()
    return holder is not None and holder.alive(None)


def thread_share(jobs: int) -> dict[str, str]:
    """Environment that gives each of `jobs` concurrent cells max(1, cores // jobs) CPU threads, so
    they do not oversubscribe the cores (a cell's own `train.threads` still wins)."""
    if jobs <= 1:
        return {}
    n = str(max(1, (os.cpu_count() or 1) // jobs))
    return {THREADS_ENV: n, "OMP_NUM_THREADS": n, "MKL_NUM_THREADS": n}


class GridLog:
    """Plain lines for a console that is no terminal (a pipe, a file, CI, SLURM), where rich draws no
    bars: one line when a cell starts, one when it ends (state, headline score, time), and the grid's
    progress with an ETA from the cells finished so far."""

    def __init__(self, console: Console, name: str, total: int, done: int) -> None:
        self.console, self.name, self.total, self.done = console, name, total, done
        self.on = not console.is_terminal
        self.t0, self.finished = time.monotonic(), 0
        self.lock = threading.Lock()

    def start(self, cid: str) -> None:
        if self.on:
            with self.lock:
                self.console.print(f"start  {cid}", highlight=False, soft_wrap=True)

    def end(self, cid: str, state: str, result: CellResult | None) -> None:
        if not self.on:
            return
        from bench.results import columns

        with self.lock:
            self.done, self.finished = self.done + 1, self.finished + 1
            score = ""
            if result is not None and result.metrics:
                heads = sorted((k for k in result.metrics if columns.headline(k)), key=columns.order)
                if heads and result.metrics[heads[0]] is not None:
                    score = f" {heads[0]} {result.metrics[heads[0]]:.4g}"
            took = f" in {result.wall_seconds:.0f}s" if result is not None else ""
            self.console.print(f"{state:6s} {cid}{score}{took}", highlight=False, soft_wrap=True)
            elapsed = time.monotonic() - self.t0
            left = self.total - self.done
            eta = f", ETA {_clock(elapsed / self.finished * left)}" if left and self.finished else ""
            self.console.print(
                f"grid {self.name}: {self.done}/{self.total} cells, {_clock(elapsed)} elapsed{eta}",
                highlight=False,
                soft_wrap=True,
            )


def _clock(seconds: float) -> str:
    m, s = divmod(int(seconds), 60)
    return f"{m // 60}:{m % 60:02d}:{s:02d}" if m >= 60 else f"{m}:{s:02d}"


def run_local(
    grid: Grid, out: Path, console: Console, in_process: bool = False, jobs: int = 1
) -> LaunchSummary:
    """Run every cell not yet done. `jobs` > 1: that many single-process cells at once, each in its own
    process; with GPUs, running cell k gets GPU k mod (number of GPUs), so more jobs than GPUs puts
    several small cells on one GPU. Cells of several processes then run one at a time on all GPUs.
    A cell another live process is training (its lock, bench.results.cell_lock) is left to it."""
    dirs = materialize(grid, out, say=lambda line: console.print(line, highlight=False))
    summary = LaunchSummary("local")
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    children = Children()
    with Progress(*columns, console=console, transient=False) as bars, children.forwarding():
        grid_bar = bars.add_task(f"grid {grid.name}", total=len(dirs))
        todo = []
        for cell_dir in dirs:
            result = CellDir(cell_dir).read_result()
            if result is not None and result.is_terminal:
                summary.skipped.append(cell_dir.name)
                summary.states[cell_dir.name] = result.status.value
                bars.advance(grid_bar)
            else:
                todo.append(cell_dir)
        log = GridLog(console, grid.name, len(dirs), len(dirs) - len(todo))

        def one(cell_dir: Path, gpu: str | None = None) -> None:
            if children.stopping:
                return
            cid = cell_dir.name
            log.start(cid)
            cell_bar = bars.add_task(f"  {cid} train", total=None)

            def progress(phase: str, done: int, total: int) -> None:
                bars.update(cell_bar, description=f"  {cid} {phase}", completed=done, total=total)

            if in_process and jobs == 1 and load_cell(cell_dir).train.processes == 1:
                from bench.train.cell import run_cell

                ended = run_cell(cell_dir, progress).status
            else:
                env = {"CUDA_VISIBLE_DEVICES": gpu} if gpu is not None else {}
                env.update(thread_share(jobs))
                ended = _run_subprocess(cell_dir, progress, console, children, env)
            bars.remove_task(cell_bar)
            if ended in ("preempted", True):  # True: the subprocess path's "stopped" (kept for callers)
                summary.states[cid] = "interrupted"
                console.print(f"[yellow]{cid}: stopped with a checkpoint; run again to continue[/]")
                return
            if ended == "busy":
                summary.states[cid] = "busy"
                console.print(f"[yellow]{cid}: another process is training it; left to that one[/]")
                bars.advance(grid_bar)
                return
            result = CellDir(cell_dir).read_result()
            status = result.status.value if result is not None else "failed"
            if ended == "finished":
                summary.skipped.append(cid)
            else:
                summary.ran.append(cid)
            summary.states[cid] = status
            if status != "done":
                console.print(f"[yellow]{cid}: {status}[/] {(result.reason if result else '') or ''}")
            log.end(cid, status, result)
            bars.advance(grid_bar)

        together = [d for d in todo if jobs > 1 and load_cell(d).train.processes == 1]
        if together:
            _run_together(together, jobs, one)
        for cell_dir in todo:
            if cell_dir not in together:
                one(cell_dir)
    summary.lines = LocalLauncher(console).summary(summary)
    return summary


def _run_together(dirs: list[Path], jobs: int, one) -> None:
    """`one(cell_dir, gpu)` for every cell, `jobs` at a time; a GPU slot is free again when its cell ends."""
    gpus = visible_gpus()
    slots: queue.Queue[int] = queue.Queue()
    for k in range(jobs):
        slots.put(k)

    def in_slot(cell_dir: Path) -> None:
        k = slots.get()
        try:
            one(cell_dir, gpus[k % len(gpus)] if gpus else None)
        finally:
            slots.put(k)

    with ThreadPoolExecutor(max_workers=jobs) as pool:
        for future in [pool.submit(in_slot, d) for d in dirs]:
            future.result()


def _run_subprocess(
    cell_dir: Path, progress, console: Console, children: Children, env_extra: dict[str, str]
) -> bool | str:
    """Run one cell in its own process(es). True when it stopped on request (checkpointed, not done);
    "busy" when another live process holds the cell; False when it ended (with a result)."""
    cell = CellDir(cell_dir)
    cmd = cell_command(cell_dir, cell.config.train.processes, progress_lines=True)
    env = {**os.environ, "PYTHONUNBUFFERED": "1", **TORCHRUN_ENV, **env_extra}
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, env=env) as proc:
        with children.lock:
            children.procs.add(proc)
        try:
            assert proc.stdout is not None
            for line in proc.stdout:
                if PROGRESS_PREFIX in line:  # torchrun may prefix a worker's lines
                    phase, done, total = line.split(PROGRESS_PREFIX, 1)[1].split()
                    progress(phase, int(done), int(total))
                else:
                    console.print(line.rstrip("\n"), markup=False, highlight=False)
            returncode = proc.wait()
        finally:
            with children.lock:
                children.procs.discard(proc)
    if cell.read_result() is not None:
        return False
    holder = cell.lock_holder()
    # Our child has exited: a live holder is another process (under torchrun, which exits 1 whatever
    # ended it, this is how a busy cell is told from a crash).
    if returncode == CELL_BUSY_EXIT or (holder is not None and holder.alive(None)):
        return "busy"
    # Stopped on request: PREEMPTED_EXIT, or under torchrun the note the cell leaves in its lock.
    if returncode == PREEMPTED_EXIT or children.stopping or (holder is not None and holder.released):
        return True
    record_crash(cell_dir, returncode)
    return False
