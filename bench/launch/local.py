"""Run the cells of a grid on this machine, one after another or several at once (`jobs`).

Each slot runs its cells in a long-lived worker process by default (bench.launch.worker: imports,
datasets and extractors stay loaded; `worker="fresh"` starts a new process per cell instead). Either
way a cell that crashes hard (segfault, out-of-memory kill) or hangs past `cell_timeout` is recorded as
failed and the grid goes on; a cell with `train.processes` > 1 runs under torchrun. The child reports
progress as `@progress PHASE DONE TOTAL [LOSS=VALUE ...]` lines on stdout (bench.train.progress_log),
which GridLog turns into rich progress bars: the phase (loading data, training the extractor, training,
evaluating), the step and recent losses of each running cell, and the grid's cells done and ETA.
SIGTERM or SIGUSR1 sent to this process is passed on to the
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

from bench.cell.launch_env import SHARING_ENV, THREADS_ENV, WORKER_ENV
from bench.errors import BenchError
from bench.grid import Grid
from bench.launch.base import Launcher, LaunchPlan, LaunchSummary
from bench.launch.cells import load_cell, materialize, record_crash
from bench.launch.command import TORCHRUN_ENV, cell_command
from bench.launch.worker import Worker
from bench.storage.cell_dir import CellDir, CellResult
from bench.storage.cell_lock import CELL_BUSY_EXIT
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
        if signum == signal.SIGINT and self.asked:
            raise KeyboardInterrupt  # Ctrl-C twice: stop now; the cells' last checkpoints still stand
        self.asked.append(signum)
        # Ctrl-C stops like SIGTERM: each cell checkpoints and exits PREEMPTED_EXIT (75), which a cell
        # started in its own session would never hear from the terminal.
        forwarded = signal.SIGTERM if signum == signal.SIGINT else signum
        with self.lock:
            for proc in self.procs:
                proc.send_signal(forwarded)

    @contextmanager
    def forwarding(self) -> Iterator[Children]:
        if threading.current_thread() is not threading.main_thread():  # only it may set handlers
            yield self
            return
        signals = (signal.SIGTERM, signal.SIGUSR1, signal.SIGINT)
        previous = {sig: signal.signal(sig, self.forward) for sig in signals}
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

    def __init__(
        self,
        console: Console,
        in_process: bool = False,
        jobs: int = 1,
        worker: str = "persistent",
        cell_timeout: float | None = None,
    ) -> None:
        self.console, self.in_process, self.jobs = console, in_process, jobs
        self.worker, self.cell_timeout = worker, cell_timeout

    def plan(self, grid: Grid, out: Path) -> LaunchPlan:
        dirs = [out / c.cell_id for c in grid.cells]
        finished = [d for d in dirs if CellDir(d).is_finished()]
        elsewhere = [d for d in dirs if d not in finished and _held_elsewhere(CellDir(d))]
        todo = [d for d in dirs if d not in finished and d not in elsewhere]
        return LaunchPlan(self.name, todo, finished, elsewhere)

    def submit(self, grid: Grid, out: Path) -> LaunchSummary:
        return run_local(grid, out, self.console, self.in_process, self.jobs, self.worker, self.cell_timeout)

    def summary(self, outcome: LaunchSummary) -> list[str]:
        busy = [c for c, s in outcome.states.items() if s == "busy"]
        lines = [f"ran {len(outcome.ran)} cell(s), skipped {len(outcome.skipped)} already finished"]
        if busy:
            lines.append(f"{len(busy)} cell(s) left to the other process(es) running them: {', '.join(busy)}")
        return lines


def _held_elsewhere(cell: CellDir) -> bool:
    holder = cell.lock_holder()
    return holder is not None and holder.alive(None)


def usable_cores() -> int:
    """Cores this process may use: SLURM's allocation (SLURM_CPUS_PER_TASK), else its CPU affinity."""
    allotted = os.environ.get("SLURM_CPUS_PER_TASK", "")
    if allotted.isdigit() and int(allotted) > 0:
        return int(allotted)
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        return os.cpu_count() or 1


def thread_share(jobs: int) -> dict[str, str]:
    """Environment that gives each of `jobs` concurrent cells max(1, cores // jobs) CPU threads, so
    they do not oversubscribe the cores (a cell's own `train.threads` still wins)."""
    if jobs <= 1:
        return {}
    n = str(max(1, usable_cores() // jobs))
    return {THREADS_ENV: n, "OMP_NUM_THREADS": n, "MKL_NUM_THREADS": n}


def slot_env(slot: int, jobs: int, gpus: list[str], worker: str) -> dict[str, str]:
    """What the cell of one of `jobs` slots is given: its GPU (slot k: GPU k mod #GPUs), its share of
    the cores, and what result.json records of how it shared its device (bench.launch.command)."""
    env = {WORKER_ENV: worker, **thread_share(jobs)}
    if gpus:
        env["CUDA_VISIBLE_DEVICES"] = gpus[slot % len(gpus)]
        env[SHARING_ENV] = str(sum(1 for s in range(jobs) if s % len(gpus) == slot % len(gpus)))
    else:
        env[SHARING_ENV] = str(jobs)  # the CPU is the device they share
    return env


WORKER_MODES = ("persistent", "fresh")  # a long-lived worker per slot, or a new process per cell


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
        """The callback a running cell reports to (bench.cell.run.Progress): (phase, done, total[,
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
        from bench.eval import result_keys as columns

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
    grid: Grid,
    out: Path,
    console: Console,
    in_process: bool = False,
    jobs: int = 1,
    worker: str = "persistent",
    cell_timeout: float | None = None,
) -> LaunchSummary:
    """Run every cell of the grid not yet done (see `run_cells`)."""
    dirs = materialize(grid, out, say=lambda line: console.print(line, highlight=False))
    return run_cells(dirs, grid.name, console, in_process, jobs, worker, cell_timeout)


def run_cells(
    dirs: list[Path],
    name: str,
    console: Console,
    in_process: bool = False,
    jobs: int = 1,
    worker: str = "persistent",
    cell_timeout: float | None = None,
) -> LaunchSummary:
    """Run every cell folder of `dirs` not yet done. `jobs` > 1: that many single-process cells at once;
    with GPUs, slot k runs on GPU k mod (number of GPUs), so more jobs than GPUs puts several small cells
    on one GPU. Cells of several processes then run one at a time on all GPUs, under torchrun.

    worker "persistent": each slot runs its cells one after another in one long-lived worker process
    (bench.launch.worker); "fresh": a new process per cell. A cell whose process dies, or that runs past
    `cell_timeout` seconds (then it is killed), is recorded as failed and the next cell gets a fresh
    process. A cell another live process is training (its lock, bench.storage.cell_lock) is left to it."""
    if worker not in WORKER_MODES:
        raise BenchError(f"--worker: {worker!r} is not one of {', '.join(WORKER_MODES)}")
    summary = LaunchSummary("local")
    children = Children()
    workers: dict[int, Worker] = {}
    with Progress(*bar_columns(), console=console, transient=False) as bars, children.forwarding():
        grid_bar = bars.add_task(f"grid {name}", total=len(dirs))
        todo = []
        for cell_dir in dirs:
            result = CellDir(cell_dir).read_result()
            if result is not None and CellDir(cell_dir).is_finished():
                summary.skipped.append(cell_dir.name)
                summary.states[cell_dir.name] = result.status.value
                bars.advance(grid_bar)
            else:
                todo.append(cell_dir)
        log = GridLog(console, name, len(dirs), len(dirs) - len(todo), bars, grid_bar)
        together = [d for d in todo if jobs > 1 and load_cell(d).train.processes == 1]
        gpus = visible_gpus() if together else []

        def say(line: str) -> None:
            console.print(line, markup=False, highlight=False)

        def one(cell_dir: Path, slot: int | None = None) -> None:
            if children.stopping:
                return
            cid = cell_dir.name
            log.start(cid)
            progress = log.progress(cid)
            single = load_cell(cell_dir).train.processes == 1
            if in_process and jobs == 1 and single:
                from bench.cell.run import run_cell

                ended: bool | str = run_cell(cell_dir, progress).status
            elif worker == "persistent" and single:
                k = slot or 0
                if k not in workers:
                    env = {**os.environ, "PYTHONUNBUFFERED": "1", **slot_env(k, jobs, gpus, "persistent")}
                    workers[k] = Worker(env, children)
                ended = _run_in_worker(cell_dir, workers[k], progress, say, children, cell_timeout)
            else:
                env = (
                    slot_env(slot, jobs, gpus, "fresh")
                    if slot is not None
                    else {WORKER_ENV: "fresh", SHARING_ENV: "1"}
                )
                ended = _run_subprocess(cell_dir, progress, console, children, env, cell_timeout)
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

        try:
            if together:
                _run_together(together, jobs, one)
            for cell_dir in todo:
                if cell_dir not in together:
                    one(cell_dir)
        finally:
            for w in workers.values():
                w.close()
    summary.lines = LocalLauncher(console).summary(summary)
    return summary


def _run_together(dirs: list[Path], jobs: int, one) -> None:
    """`one(cell_dir, slot)` for every cell, `jobs` at a time; a slot is free again when its cell ends."""
    slots: queue.Queue[int] = queue.Queue()
    for k in range(jobs):
        slots.put(k)

    def in_slot(cell_dir: Path) -> None:
        k = slots.get()
        try:
            one(cell_dir, k)
        finally:
            slots.put(k)

    with ThreadPoolExecutor(max_workers=jobs) as pool:
        for future in [pool.submit(in_slot, d) for d in dirs]:
            future.result()


def _timed_out_reason(seconds: float) -> str:
    return f"timed out: no end within {seconds:g} s (--cell-timeout); the process was killed"


def _after_death(cell_dir: Path, returncode: int, children: Children, timeout: float | None) -> bool | str:
    """The cell's process is gone: "ended" when it left a result, "busy" when another live process holds
    the cell, True when it stopped on request, else the crash (or hang) is recorded: "ended"."""
    cell = CellDir(cell_dir)
    if cell.read_result() is not None and not cell.reevaluation_due():  # a due one is the old result
        return "ended"
    holder = cell.lock_holder()
    # Our child has exited: a live holder is another process (under torchrun, which exits 1 whatever
    # ended it, this is how a busy cell is told from a crash).
    if returncode == CELL_BUSY_EXIT or (holder is not None and holder.alive(None)):
        return "busy"
    # Stopped on request: PREEMPTED_EXIT, or under torchrun the note the cell leaves in its lock.
    if timeout is None and (
        returncode == PREEMPTED_EXIT or children.stopping or (holder is not None and holder.released)
    ):
        return True
    record_crash(cell_dir, returncode, reason=_timed_out_reason(timeout) if timeout is not None else None)
    return "ended"


def _run_in_worker(
    cell_dir: Path,
    worker: Worker,
    progress,
    say,
    children: Children,
    timeout: float | None,
) -> bool | str:
    """One cell in the slot's persistent worker: its status ("preempted", "busy", "finished", "ended")."""
    end = worker.run(cell_dir, progress, say, timeout)
    if end.kind == "ended" and end.status == "failed":
        # What failed may have left the process unusable (a sticky CUDA error, a half-initialised
        # library): the next cell gets a fresh worker, as after a crash.
        worker.close()
    if end.kind == "ended":
        return end.status if end.status in ("preempted", "busy", "finished") else "ended"
    if end.kind == "timeout":
        return _after_death(cell_dir, -9, children, timeout)
    return _after_death(cell_dir, end.returncode if end.returncode is not None else 1, children, None)


def _run_subprocess(
    cell_dir: Path,
    progress,
    console: Console,
    children: Children,
    env_extra: dict[str, str],
    timeout: float | None = None,
) -> bool | str:
    """Run one cell in its own process(es). True when it stopped on request (checkpointed, not done);
    "busy" when another live process holds the cell; False when it ended (with a result)."""
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
    ended = _after_death(cell_dir, returncode, children, timeout if hung else None)
    return False if ended == "ended" else ended
