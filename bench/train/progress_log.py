"""A cell's progress as text: lines in its log while it trains, so `tail -f cell.log` (or slurm.log) shows
a live run, and the `@progress` lines the local launcher turns into bars (`progress_line`, `BarSink`):

    step 1200/5000 (24%) | loss 0.1234, d/loss 0.6931 | 31.2 steps/s | ETA 2m 02s

A StepLog sink: it sees the rows of each flush (host floats, so it costs no device sync) and writes one
line through `logging` every `every` flushes, at most one per `min_interval_s` seconds, and always at
the last step. Losses are means over the steps since the previous line (less noisy than the last
step); steps/s is measured over the same stretch, and the ETA is the remaining steps at that rate.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TextIO

LOGGER = logging.getLogger("bench.progress")


def format_duration(seconds: float) -> str:
    """5s, 2m 02s, 3h 07m."""
    s = max(0, round(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m {s % 60:02d}s"
    return f"{s // 3600}h {s % 3600 // 60:02d}m"


def mean_values(rows: list[dict[str, float]], max_values: int = 6) -> dict[str, float]:
    """The mean of each logged value over `rows` (not the step), the first `max_values` in first-seen
    order: "loss" before "d/loss", as the family logs them."""
    names: list[str] = []
    for row in rows:
        names += [k for k in row if k != "step" and k not in names]
    means = {}
    for name in names[:max_values]:
        vals = [r[name] for r in rows if name in r]
        means[name] = sum(vals) / len(vals)
    return means


# A cell's progress as the launcher's bars read it, one line on stdout per report (bench cell
# --progress-lines): `@progress PHASE DONE TOTAL [NAME=VALUE ...]`. PHASE is one of PHASES; TOTAL 0
# means not known yet; the values are the recent mean losses. The first four fields never change,
# so a reader of old lines (tests watching the step) still parses new ones.
PROGRESS_PREFIX = "@progress "
PHASES = {
    "data": "loading data",
    "extractor": "training the extractor",
    "train": "training",
    "eval": "evaluating",
}


def progress_line(phase: str, done: int, total: int, values: dict[str, float] | None = None) -> str:
    extra = "".join(f" {name}={value:.4g}" for name, value in (values or {}).items() if " " not in name)
    return f"{PROGRESS_PREFIX}{phase} {done} {total}{extra}"


def parse_progress_line(line: str) -> tuple[str, int, int, dict[str, float]] | None:
    """(phase, done, total, values) of a progress line (torchrun may put a rank prefix before it);
    None for any other line, or a malformed one, which is shown as text instead."""
    if PROGRESS_PREFIX not in line:
        return None
    fields = line.split(PROGRESS_PREFIX, 1)[1].split()
    try:
        phase, done, total = fields[0], int(fields[1]), int(fields[2])
        values = {k: float(v) for k, v in (f.rsplit("=", 1) for f in fields[3:])}
    except (IndexError, ValueError):
        return None
    return phase, done, total, values


class BarSink:
    """StepLog sink: at each flush, `progress("train", step, total, means)` with the flushed steps'
    mean losses, so the launcher's bar shows recent losses (the step count comes from every step)."""

    def __init__(self, progress: Callable[..., None], total: int, max_values: int = 4) -> None:
        self.progress, self.total, self.max_values = progress, total, max_values

    def __call__(self, rows: list[dict[str, float]]) -> None:
        if rows:
            step = int(rows[-1]["step"]) + 1
            self.progress("train", step, self.total, mean_values(rows, self.max_values))


class ProgressLog:
    """StepLog sink: `StepLog(path, reduce, sinks=[ProgressLog(total, start)])`."""

    def __init__(
        self,
        total_steps: int,
        start_step: int = 0,
        every: int = 1,
        min_interval_s: float = 30.0,
        max_values: int = 6,
        logger: logging.Logger = LOGGER,
        clock: Callable[[], float] = time.perf_counter,
        stream: TextIO | None = None,
        prefix: str = "",
    ) -> None:
        """`stream` (sys.stderr under SLURM, whose slurm.log holds the task's output) gets each line
        too, after `prefix` (the cell id), since the cell's logging goes to cell.log only."""
        self.stream, self.prefix = stream, prefix
        self.total, self.every, self.min_interval = total_steps, max(1, every), min_interval_s
        self.max_values, self.logger, self.clock = max_values, logger, clock
        self._flushes = 0
        self._since: list[dict[str, float]] = []
        self._last_step, self._last_time = start_step, clock()
        self._first = True

    def __call__(self, rows: list[dict[str, float]]) -> None:
        if not rows:
            return
        self._flushes += 1
        self._since += rows
        step = int(rows[-1]["step"]) + 1  # rows hold the 0-based step index; lines count steps done
        now = self.clock()
        last = step >= self.total
        due = self._flushes % self.every == 0 and (self._first or now - self._last_time >= self.min_interval)
        if not (due or last):
            return
        line = self.line(step, now)
        self.logger.info("%s", line)
        if self.stream is not None:
            print(f"{self.prefix}{': ' if self.prefix else ''}{line}", file=self.stream, flush=True)
        self._first = False
        self._since, self._last_step, self._last_time = [], step, now

    def line(self, step: int, now: float) -> str:
        means = [f"{name} {value:.4g}" for name, value in mean_values(self._since, self.max_values).items()]
        parts = [
            f"step {step}/{self.total} ({100 * step / self.total:.0f}%)" if self.total else f"step {step}"
        ]
        if means:
            parts.append(", ".join(means))
        elapsed = now - self._last_time
        done = step - self._last_step
        if elapsed > 0 and done > 0:
            rate = done / elapsed
            parts.append(f"{rate:.3g} steps/s")
            if step < self.total:
                parts.append(f"ETA {format_duration((self.total - step) / rate)}")
        return " | ".join(parts)
