"""Submit a grid to SLURM as job arrays: one array task per cell, each run with `srun` (and torchrun for
cells of several processes), preemption-safe. With `cells_per_task` K > 1, one task runs K single-process
cells at once on its GPU (bench.launch.packed: persistent workers, CUDA MPS where the node has it).

The batch script is rendered from the top-level `slurm/array.sbatch`. Values that reach an `#SBATCH`
line (which SLURM parses itself, not the shell) are validated against strict patterns; values in the
script body are shell-quoted; the sbatch command is an argument list. A re-run submits only cells that
are neither finished nor still queued or running (job ids from `squeue`, recorded per cell in
queued.json), so submitting a grid twice never trains a cell twice.
"""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from bench import fs
from bench.config import SlurmConfig, validate
from bench.errors import BenchError
from bench.grid import Grid
from bench.launch.base import Launcher, LaunchPlan, LaunchSummary
from bench.launch.cells import archive_failed, materialize
from bench.launch.squeue import active_jobs
from bench.storage import files as store
from bench.storage.cell_dir import CellDir

__all__ = ["SlurmConfig", "SlurmLauncher", "active_jobs", "plan", "slurm_config", "submit"]

TEMPLATE = Path(__file__).resolve().parents[2] / "slurm" / "array.sbatch"
SUBMISSIONS = ".slurm"  # under --out: one folder per submitted array (cells list, script, sbatch logs)
PATH_CHARS = re.compile(r"\A[A-Za-z0-9_./+-]+\Z", re.ASCII)


def slurm_config(grid: Grid, flags: dict[str, Any]) -> SlurmConfig:
    """The grid's `slurm:` mapping with the flags that were given laid over it, validated."""
    raw = {**(getattr(grid, "slurm", None) or {}), **{k: v for k, v in flags.items() if v is not None}}
    return validate(SlurmConfig, raw, "slurm")  # type: ignore[return-value]


@dataclass(frozen=True)
class ArrayJob:
    """One sbatch job array: cells that share a resource shape (their `train.processes`); task i runs
    cells [i * per_task, (i + 1) * per_task)."""

    cells: list[Path]
    processes: int
    script: str
    command: list[str]
    folder: Path
    per_task: int = 1

    def task_of(self, index: int) -> int:
        return index // self.per_task


def cells_per_task(cfg: SlurmConfig, processes: int) -> int:
    """Cells one task runs at once: `cells_per_task` for single-process cells; a cell of several
    processes has its task (and its devices) to itself."""
    return cfg.cells_per_task if processes == 1 else 1


def _resources(cfg: SlurmConfig, processes: int) -> list[str]:
    if processes % cfg.nodes:
        raise BenchError(f"slurm.nodes: {cfg.nodes} does not divide train.processes={processes}")
    per_node = processes // cfg.nodes
    packed = cells_per_task(cfg, processes)  # K cells at once: K processes' CPUs, the GPU(s) shared
    lines = [
        f"--nodes={cfg.nodes}",
        "--ntasks-per-node=1",  # one launcher per node; torchrun starts the processes
        f"--cpus-per-task={cfg.cpus_per_process * per_node * packed}",
        f"--time={cfg.time}",
    ]
    if cfg.gpus_per_process:
        lines.append(f"--gpus-per-node={cfg.gpus_per_process * per_node}")
    for key in ("mem", "partition", "account", "qos"):
        if getattr(cfg, key) is not None:
            lines.append(f"--{key}={getattr(cfg, key)}")
    return ["#SBATCH " + line for line in lines]


def _launch(cfg: SlurmConfig, processes: int, python: str) -> str:
    """The job step: srun on every node of the task; torchrun with SLURM's nodes as rendezvous; the
    packed runner for several single-process cells per task."""
    q = shlex.quote
    cell = ["-m", "bench", "cell", '"$cell_dir"']
    if cells_per_task(cfg, processes) > 1:
        return f'srun --ntasks=1 {q(python)} -m bench.launch.packed -- "${{todo[@]}}"'
    if processes == 1:
        return f"srun --ntasks=1 {q(python)} " + " ".join(cell)
    per_node = processes // cfg.nodes
    head = 'head=$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1)\n'
    torchrun = [
        "srun",
        "--ntasks-per-node=1",
        q(python),
        "-m",
        "torch.distributed.run",
        '--nnodes="$SLURM_NNODES"',
        f"--nproc-per-node={per_node}",
        "--rdzv-backend=c10d",
        f'--rdzv-endpoint="$head:{cfg.port}"',
        '--rdzv-id="$SLURM_JOB_ID"',
    ]
    return head + " ".join(torchrun + cell)


def _job_name(grid: Grid) -> str:
    return "bench-" + (re.sub(r"[^A-Za-z0-9_.-]", "_", grid.name) or "grid")


def render(grid: Grid, cfg: SlurmConfig, cells_file: Path, n_cells: int, processes: int, python: str) -> str:
    """The batch script of one array for `n_cells` cells: ceil(n_cells / cells per task) tasks."""
    per_task = cells_per_task(cfg, processes)
    tasks = -(-n_cells // per_task)
    array = f"0-{tasks - 1}" + (f"%{cfg.throttle}" if cfg.throttle else "")
    values = {
        "__CELLS_PER_TASK__": str(per_task),
        "__JOB_NAME__": _job_name(grid),
        "__ARRAY__": array,
        "__SIGNAL_SECONDS__": str(cfg.signal_seconds),
        "__RESOURCES__": "\n".join(_resources(cfg, processes)),
        "__CELLS_FILE__": shlex.quote(str(cells_file)),
        "__LAUNCH__": _launch(cfg, processes, python),
        "__PYTHON__": shlex.quote(python),
    }
    if not TEMPLATE.is_file():
        raise BenchError(f"--launcher slurm: the batch script template {TEMPLATE} is missing")
    text = TEMPLATE.read_text()
    for key, value in values.items():
        text = text.replace(key, value)
    left = re.findall(r"__[A-Z_]+__", text)
    if left:
        raise BenchError(f"{TEMPLATE}: unknown placeholder {left[0]}")
    return text


def _pending_cells(dirs: list[Path], jobs: dict[str, str]) -> tuple[list[Path], list[Path], list[Path]]:
    """(to submit, finished, already queued or running)."""
    todo, finished, queued = [], [], []
    for d in dirs:
        cell = CellDir(d)
        if cell.is_finished():
            finished.append(d)
            continue
        holder = cell.lock_holder()
        ids = {
            (fs.read_json(d / store.QUEUED) or {}).get("job"),
            holder.info.get("slurm_job_id") if holder is not None else None,
        }
        if ids & set(jobs):
            queued.append(d)
        else:
            todo.append(d)
    return todo, finished, queued


def _check_out_path(out: Path) -> None:
    if any(ord(c) < 32 or ord(c) == 127 for c in str(out)):
        raise BenchError(f"--out: {str(out)!r} holds a control character (a newline?)")
    if not PATH_CHARS.match(str(out)):
        raise BenchError(
            f"--out: {str(out)!r} has characters SLURM's output patterns cannot take; "
            "use letters, digits and . _ + - /"
        )


@dataclass
class Submission:
    jobs: list[tuple[str, ArrayJob]]  # (array job id, what it runs); empty on a dry run
    finished: list[Path]
    queued: list[Path]
    arrays: list[ArrayJob]


def require_squeue(out: Path | None = None) -> dict[str, str]:
    """The active jobs; BenchError when `out` cannot be given to SLURM or squeue does not answer.
    `bench run` asks before it writes anything under --out (estimate.json included)."""
    if out is not None:
        _check_out_path(out.resolve())
    jobs = active_jobs()
    if jobs is None:
        raise BenchError("--launcher slurm: squeue does not answer here; is this a SLURM login node?")
    return jobs


def plan(grid: Grid, out: Path, cfg: SlurmConfig, dry_run: bool) -> Submission:
    """The arrays to submit. A dry run writes nothing and lists every cell of the grid."""
    out = out.resolve()
    _check_out_path(out)
    python = sys.executable
    if dry_run:
        dirs = [out / c.cell_id for c in grid.cells]
        todo, finished, queued = dirs, [], []
        shapes = {out / c.cell_id: c.train.processes for c in grid.cells}
    else:
        jobs = require_squeue()
        dirs = materialize(grid, out, say=print)
        todo, finished, queued = _pending_cells(dirs, jobs)
        shapes = {d: CellDir(d).config.train.processes for d in todo}
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S")
    arrays = []
    for processes in sorted({shapes[d] for d in todo}):
        cells = [d for d in todo if shapes[d] == processes]
        folder = out / SUBMISSIONS / f"{_job_name(grid)}-{stamp}-p{processes}"
        script = render(grid, cfg, folder / "cells.txt", len(cells), processes, python)
        command = [
            "sbatch",
            "--parsable",
            f"--chdir={out}",
            f"--output={folder}/%A_%a.out",
            str(folder / "array.sbatch"),
        ]
        arrays.append(ArrayJob(cells, processes, script, command, folder, cells_per_task(cfg, processes)))
    return Submission([], finished, queued, arrays)


def submit(grid: Grid, out: Path, cfg: SlurmConfig) -> Submission:
    """Write each array's cells list and script, sbatch it, and mark its cells as queued."""
    sub = plan(grid, out, cfg, dry_run=False)
    for array in sub.arrays:
        array.folder.mkdir(parents=True, exist_ok=True)
        fs.atomic_write_text(array.folder / "cells.txt", "".join(f"{d}\n" for d in array.cells))
        fs.atomic_write_text(array.folder / "array.sbatch", array.script)
        for d in array.cells:
            archive_failed(d)  # keep a failed attempt's result beside the cell; this one retries it
        try:
            done = subprocess.run(array.command, capture_output=True, text=True, timeout=120)
        except (OSError, subprocess.SubprocessError) as err:
            raise BenchError(f"sbatch could not be run: {err}") from None
        if done.returncode != 0:
            raise BenchError(f"sbatch refused the array in {array.folder}: {done.stderr.strip()}")
        job = done.stdout.strip().split(";")[0]
        now = datetime.now(timezone.utc).isoformat(timespec="seconds")
        for i, d in enumerate(array.cells):
            fs.atomic_write_json(
                d / store.QUEUED,
                {"job": f"{job}_{array.task_of(i)}", "submitted": now, "script": str(array.folder)},
            )
        sub.jobs.append((job, array))
    return sub


class SlurmLauncher(Launcher):
    """Cells as SLURM job arrays, one task per cell; `submit` returns once sbatch accepted them."""

    name = "slurm"

    def __init__(self, cfg: SlurmConfig) -> None:
        self.cfg = cfg

    def plan(self, grid: Grid, out: Path) -> LaunchPlan:
        sub = plan(grid, out, self.cfg, dry_run=True)
        todo = [d for a in sub.arrays for d in a.cells]
        return LaunchPlan(self.name, todo, sub.finished, sub.queued, detail=sub)

    def submit(self, grid: Grid, out: Path) -> LaunchSummary:
        sub = submit(grid, out, self.cfg)
        summary = LaunchSummary(self.name, writes_results=False)
        for _, array in sub.jobs:
            summary.states.update({d.name: "queued" for d in array.cells})
            summary.ran.extend(d.name for d in array.cells)
        summary.skipped = [d.name for d in sub.finished + sub.queued]
        summary.lines = [
            f"submitted array job {job}: {len(array.cells)} cell(s)"
            + (f" in {-(-len(array.cells) // array.per_task)} task(s)" if array.per_task > 1 else "")
            + f", logs in {array.folder}"
            for job, array in sub.jobs
        ] + [
            f"{sum(len(a.cells) for _, a in sub.jobs)} cell(s) submitted, {len(sub.finished)} already "
            f"finished, {len(sub.queued)} still queued or running; follow with: bench status --out {out}"
        ]
        return summary

    def summary(self, outcome: LaunchSummary) -> list[str]:
        return outcome.lines
