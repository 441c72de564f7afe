"""What the user sees of a grid while it runs on this machine: rich bars in a terminal, plain lines
elsewhere (see GridLog).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from rich.console import Console
from rich.progress import BarColumn, Progress, ProgressColumn, Task, TaskID, TextColumn, TimeElapsedColumn
from rich.text import Text

from bench.storage.cell_dir import CellResult
from bench.train.progress_log import PHASES


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
