"""Run the cells of a grid on this machine, one after another or several at once (`jobs`).

Each cell runs in its own Python process by default, so a cell that crashes hard (segfault,
out-of-memory kill) is recorded as failed and the grid goes on; a cell with `train.processes` > 1 runs
under torchrun. The child reports progress as `@progress PHASE DONE TOTAL [LOSS=VALUE ...]` lines on
stdout (bench.train.progress_log), which GridLog turns into rich progress bars: the phase (loading data,
training the extractor, training, evaluating), the step and recent losses of each running cell, and the
grid's cells done and ETA. SIGTERM or SIGUSR1 sent to this process is passed on to the
running cell, which checkpoints and stops; the grid then stops too, and the next run continues it.
"""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, Progress, ProgressColumn, Task, TaskID, TextColumn, TimeElapsedColumn
from rich.text import Text

from bench.grid import Grid
from bench.launch.base import Launcher, LaunchPlan, LaunchSummary
from bench.launch.cells import load_cell, materialize, record_crash
from bench.launch.command import THREADS_ENV, TORCHRUN_ENV, cell_command
from bench.results.cell_dir import CellDir, CellResult
from bench.results.cell_lock import CELL_BUSY_EXIT
from bench.train.preempt import PREEMPTED_EXIT
from bench.train.progress_log import PHASES, parse_progress_line

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


class _Field(ProgressColumn):
    """A text a task carries in its fields ("" when it has none), so one set of columns serves the grid
    bar and the cell bars."""

    def __init__(self, name: str) -> None:
        super().__init__()
        self.name = name

    def render(self, task: Task) -> Text:
        return Text(str(task.fields.get(self.name, "")))


def bar_columns() -> tuple[ProgressColumn, ...]:
    """The bars' columns: what, bar, count (cells, or the training step), elapsed, ETA, recent losses.
    No `0/?`: a count or an ETA that is not known yet is left empty."""
    return (
        TextColumn("{task.description}"),
        BarColumn(),
        _Field("count"),
        TimeElapsedColumn(),
        _Field("eta"),
        _Field("losses"),
    )


class GridLog:
    """What the user sees of the grid while it runs.

    In a terminal, rich bars (`bars`): the grid's (cells done of the total, known from the grid before
    any data loads, and an ETA) and one per running cell, with its phase (loading data, training the
    extractor, training, evaluating), its step and its recent mean losses. The grid's ETA counts each
    running cell's training fraction as done work, so it appears before the first cell finishes.

    Anywhere else (a pipe, a file, CI, SLURM), where rich draws no bars, plain lines: one when a cell
    starts, one when it ends (state, headline score, time), and the grid's progress with an ETA from
    the cells finished so far."""

    def __init__(
        self,
        console: Console,
        name: str,
        total: int,
        done: int,
        bars: Progress | None = None,
        grid_bar: TaskID | None = None,
        clock: Callable[[], float] = time.monotonic,  # tests pass a fake clock
    ) -> None:
        self.console, self.name, self.total, self.done = console, name, total, done
        self.on = not console.is_terminal
        self.bars, self.grid_bar, self.clock = bars, grid_bar, clock
        self.t0, self.finished = clock(), 0
        self.lock = threading.Lock()
        self.running: dict[str, float] = {}  # cell id -> fraction of its training done
        self.cell_bars: dict[str, TaskID] = {}
        self._show_grid()

    def start(self, cid: str) -> None:
        with self.lock:
            self.running[cid] = 0.0
            if self.bars is not None:
                self.cell_bars[cid] = self.bars.add_task(f"  {cid} {PHASES['data']}", total=None)
            if self.on:
                self.console.print(f"start  {cid}", highlight=False, soft_wrap=True)

    def progress(self, cid: str) -> Callable[..., None]:
        """The callback a running cell reports to (bench.train.cell.Progress): (phase, done, total[,
        recent mean losses])."""

        def report(phase: str, done: int, total: int, values: dict[str, float] | None = None) -> None:
            with self.lock:
                if phase == "train" and total:
                    self.running[cid] = done / total
                elif phase == "eval":
                    self.running[cid] = 1.0  # trained: evaluation is what is left
                bar = self.cell_bars.get(cid)
                if self.bars is None or bar is None:
                    return
                fields: dict[str, object] = {}
                if phase == "train" and total:
                    fields.update(completed=done, total=total, count=f"step {done}/{total}")
                    left = next(t for t in self.bars.tasks if t.id == bar).time_remaining
                    fields["eta"] = f"ETA {_clock(left)}" if left is not None and done < total else ""
                elif phase == "eval":
                    fields["eta"] = ""
                if values:
                    fields["losses"] = ", ".join(f"{k} {v:.4g}" for k, v in values.items())
                self.bars.update(bar, description=f"  {cid} {PHASES.get(phase, phase)}", **fields)
                self._show_grid()

        return report

    def stop(self, cid: str) -> None:
        """The cell's process ended (done, failed, stopped or busy): its bar goes."""
        with self.lock:
            self.running.pop(cid, None)
            bar = self.cell_bars.pop(cid, None)
            if self.bars is not None and bar is not None:
                self.bars.remove_task(bar)
            self._show_grid()

    def end(self, cid: str, state: str, result: CellResult | None) -> None:
        from bench.results import columns

        with self.lock:
            self.done, self.finished = self.done + 1, self.finished + 1
            self._show_grid()
            if not self.on:
                return
            score = ""
            if result is not None and result.metrics:
                heads = sorted((k for k in result.metrics if columns.headline(k)), key=columns.order)
                if heads and result.metrics[heads[0]] is not None:
                    score = f" {heads[0]} {result.metrics[heads[0]]:.4g}"
            took = f" in {result.wall_seconds:.0f}s" if result is not None else ""
            self.console.print(f"{state:6s} {cid}{score}{took}", highlight=False, soft_wrap=True)
            elapsed = self.clock() - self.t0
            left = self.total - self.done
            eta = f", ETA {_clock(elapsed / self.finished * left)}" if left and self.finished else ""
            self.console.print(
                f"grid {self.name}: {self.done}/{self.total} cells, {_clock(elapsed)} elapsed{eta}",
                highlight=False,
                soft_wrap=True,
            )

    def eta(self) -> float | None:
        """Seconds left for the grid: the time per unit of work so far (a finished cell is one unit, a
        running one its training fraction) times the units left; None before any work is done."""
        work = self.finished + sum(self.running.values())
        if work <= 0:
            return None
        left = self.total - self.done - sum(self.running.values())
        return (self.clock() - self.t0) / work * max(0.0, left)

    def _show_grid(self) -> None:
        if self.bars is None or self.grid_bar is None:
            return
        eta = self.eta() if self.done < self.total else None
        self.bars.update(
            self.grid_bar,
            completed=self.done,
            count=f"{self.done}/{self.total} cells",
            eta=f"ETA {_clock(eta)}" if eta is not None else "",
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
    children = Children()
    with Progress(*bar_columns(), console=console, transient=False) as bars, children.forwarding():
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
        log = GridLog(console, grid.name, len(dirs), len(dirs) - len(todo), bars, grid_bar)

        def one(cell_dir: Path, gpu: str | None = None) -> None:
            if children.stopping:
                return
            cid = cell_dir.name
            log.start(cid)
            progress = log.progress(cid)
            if in_process and jobs == 1 and load_cell(cell_dir).train.processes == 1:
                from bench.train.cell import run_cell

                ended = run_cell(cell_dir, progress).status
            else:
                env = {"CUDA_VISIBLE_DEVICES": gpu} if gpu is not None else {}
                env.update(thread_share(jobs))
                ended = _run_subprocess(cell_dir, progress, console, children, env)
            log.stop(cid)
            if ended in ("preempted", True):  # True: the subprocess path's "stopped" (kept for callers)
                summary.states[cid] = "interrupted"
                console.print(f"[yellow]{cid}: stopped with a checkpoint; run again to continue[/]")
                return
            if ended == "busy":
                summary.states[cid] = "busy"
                console.print(f"[yellow]{cid}: another process is training it; left to that one[/]")
                log.end(cid, "busy", None)
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
                report = parse_progress_line(line)  # torchrun may prefix a worker's lines
                if report is not None:
                    progress(*report)
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
