"""Run the cells of a grid on this machine, one after another.

Each cell runs in its own Python process by default, so a cell that crashes hard (segfault,
out-of-memory kill) is recorded as failed and the grid goes on. The child reports progress as
`@progress PHASE DONE TOTAL` lines on stdout, which this process turns into rich progress bars.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass, field
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
from bench.launch.cells import archive_failed, load_cell, materialize
from bench.results import store

PROGRESS_PREFIX = "@progress "


@dataclass
class RunSummary:
    ran: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    states: dict[str, str] = field(default_factory=dict)


def _record_crash(cell_dir: Path, returncode: int) -> None:
    """The child died without writing result.json: record why, with the end of its log."""
    cfg = load_cell(cell_dir)
    log = cell_dir / store.LOG
    tail = log.read_text().splitlines()[-20:] if log.exists() else []
    if returncode < 0:
        import signal

        reason = f"process killed by {signal.Signals(-returncode).name}"
    else:
        reason = f"process exited with code {returncode}"
    store.atomic_write_json(
        cell_dir / store.RESULT,
        {
            "cell_id": cfg.cell_id,
            "status": "failed",
            "reason": reason,
            "model": cfg.model,
            "dataset": cfg.dataset,
            "latent_size": cfg.latent_size,
            "seed": cfg.seed,
            "log": str(log),
            "log_tail": tail,
        },
    )
    (cell_dir / store.LOCK).unlink(missing_ok=True)


def run_local(grid: Grid, out: Path, console: Console, in_process: bool = False) -> RunSummary:
    dirs = materialize(grid, out)
    summary = RunSummary()
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console, transient=False) as bars:
        grid_bar = bars.add_task(f"grid {grid.name}", total=len(dirs))
        for cell_dir in dirs:
            cid = cell_dir.name
            if store.is_finished(cell_dir):
                summary.skipped.append(cid)
                bars.advance(grid_bar)
                continue
            archive_failed(cell_dir)
            cell_bar = bars.add_task(f"  {cid} train", total=None)

            def progress(phase: str, done: int, total: int, _bar: int = cell_bar, _cid: str = cid) -> None:
                bars.update(_bar, description=f"  {_cid} {phase}", completed=done, total=total)

            if in_process:
                from bench.train.cell import run_cell

                run_cell(cell_dir, progress)
            else:
                _run_subprocess(cell_dir, progress, console)
            bars.remove_task(cell_bar)
            result = store.read_result(cell_dir) or {}
            summary.ran.append(cid)
            summary.states[cid] = result.get("status", "failed")
            if result.get("status") != "done":
                console.print(f"[yellow]{cid}: {result.get('status')}[/] {result.get('reason') or ''}")
            bars.advance(grid_bar)
    return summary


def _run_subprocess(cell_dir: Path, progress, console: Console) -> None:
    cmd = [sys.executable, "-m", "bench", "cell", str(cell_dir), "--progress-lines"]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, env=env) as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            if line.startswith(PROGRESS_PREFIX):
                phase, done, total = line[len(PROGRESS_PREFIX) :].split()
                progress(phase, int(done), int(total))
            else:
                console.print(line.rstrip("\n"), markup=False, highlight=False)
        returncode = proc.wait()
    if store.read_result(cell_dir) is None:
        _record_crash(cell_dir, returncode)
