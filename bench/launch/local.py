"""Run the cells of a grid on this machine, one after another or several at once (`jobs`): the slot
scheduler. The parts it uses: resources.py (GPU and core sharing), children.py (signal forwarding),
execution.py (the three ways one cell runs, one typed `Ended`), progress_ui.py (bars and lines).

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
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from rich.console import Console
from rich.progress import Progress

from bench.cell.launch_env import SHARING_ENV, WORKER_ENV
from bench.errors import BenchError
from bench.grid import Grid
from bench.launch import execution, resources
from bench.launch.base import Launcher, LaunchPlan, LaunchSummary
from bench.launch.cells import load_cell, materialize
from bench.launch.children import Children
from bench.launch.execution import Ended
from bench.launch.progress_ui import GridLog, bar_columns
from bench.launch.worker import Worker
from bench.storage.cell_dir import CellDir

__all__ = ["GridLog", "LocalLauncher", "bar_columns", "run_cells", "run_local"]
WORKER_MODES = ("persistent", "fresh")  # a long-lived worker per slot, or a new process per cell


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
        gpus = resources.visible_gpus() if together else []

        def say(line: str) -> None:
            console.print(line, markup=False, highlight=False)

        def _run_one(cell_dir: Path, slot: int | None, progress: Callable[..., None]) -> Ended:
            """The cell in this process, in the slot's persistent worker, or in a process of its own."""
            single = load_cell(cell_dir).train.processes == 1
            if in_process and jobs == 1 and single:
                return execution.run_in_process(cell_dir, progress)
            if worker == "persistent" and single:
                k = slot or 0
                if k not in workers:
                    env = {
                        **os.environ,
                        "PYTHONUNBUFFERED": "1",
                        **resources.slot_env(k, jobs, gpus, "persistent"),
                    }
                    workers[k] = Worker(env, children)
                return execution.run_in_worker(cell_dir, workers[k], progress, say, children, cell_timeout)
            env = (
                resources.slot_env(slot, jobs, gpus, "fresh")
                if slot is not None
                else {WORKER_ENV: "fresh", SHARING_ENV: "1"}
            )
            return execution.run_subprocess(cell_dir, progress, console, children, env, cell_timeout)

        def one(cell_dir: Path, slot: int | None = None) -> None:
            if children.stopping:
                return
            cid = cell_dir.name
            log.start(cid)
            ended = _run_one(cell_dir, slot, log.progress(cid))
            log.stop(cid)
            if ended is Ended.stopped:
                summary.states[cid] = "interrupted"
                console.print(f"[yellow]{cid}: stopped with a checkpoint; run again to continue[/]")
                return
            if ended is Ended.busy:
                summary.states[cid] = "busy"
                console.print(f"[yellow]{cid}: another process is training it; left to that one[/]")
                log.end(cid, "busy", None)
                return
            result = CellDir(cell_dir).read_result()
            status = result.status.value if result is not None else "failed"
            if ended is Ended.finished:
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


def _run_together(dirs: list[Path], jobs: int, one: Callable[[Path, int], None]) -> None:
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
