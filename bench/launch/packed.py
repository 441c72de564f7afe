"""One SLURM array task that runs several single-process cells at once on its GPU (`slurm.cells_per_task`).

    python -m bench.launch.packed [--cell-timeout SECONDS] -- CELL_DIR...

run by slurm/array.sbatch under srun. Each cell gets its own slot: a persistent worker process
(bench.launch.worker) with its share of the task's CPUs (bench.launch.resources.thread_share). Where the
node has CUDA MPS (`nvidia-cuda-mps-control` on the PATH) and the task was given a GPU, the task starts
its own MPS control daemon first, with its pipe and log folders under the job's temporary folder, so the
cells' kernels run side by side instead of time-sliced, and stops it on the way out; result.json's
`cost` records `cells_sharing_device` and `mps`. A cell that fails, crashes or hangs is recorded as
failed and the others go on. SIGUSR1/SIGTERM (the batch script forwards SLURM's USR1 through srun)
make every running cell checkpoint; the task then exits 75 and the batch script requeues it, and the
next attempt skips the finished cells and continues the others from their checkpoints.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

from rich.console import Console

from bench.cell.launch_env import MPS_ENV
from bench.launch.base import EXIT_OK, EXIT_STOPPED
from bench.launch.local import run_cells
from bench.launch.resources import visible_gpus

MPS_CONTROL = "nvidia-cuda-mps-control"


def mps_folder() -> Path:
    """Pipe and log folders of this task's MPS daemon: under the job's own temporary folder."""
    job = os.environ.get("SLURM_JOB_ID") or str(os.getpid())
    return Path(os.environ.get("TMPDIR") or tempfile.gettempdir()) / f"bench-mps-{job}"


@contextlib.contextmanager
def mps_daemon(say: Callable[[str], None]) -> Iterator[bool]:
    """Within the block, an MPS control daemon of this task serves its GPU(s) when the node allows it
    (the daemon binary is there and a GPU was allocated); yields whether it does. Cells started inside
    inherit CUDA_MPS_PIPE_DIRECTORY, which makes their CUDA contexts clients of this daemon."""
    control = shutil.which(MPS_CONTROL)
    if control is None or not visible_gpus():
        yield False
        return
    base = mps_folder()
    dirs = {"CUDA_MPS_PIPE_DIRECTORY": base / "pipe", "CUDA_MPS_LOG_DIRECTORY": base / "log"}
    for d in dirs.values():
        d.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, **{k: str(v) for k, v in dirs.items()}}
    try:
        started = subprocess.run([control, "-d"], env=env, capture_output=True, text=True, timeout=60)
        ok = started.returncode == 0
        why = (started.stderr or started.stdout).strip()
    except (OSError, subprocess.SubprocessError) as err:
        ok, why = False, str(err)
    if not ok:
        say(f"CUDA MPS could not start ({why or 'no reason given'}); the cells time-share the GPU")
        shutil.rmtree(base, ignore_errors=True)
        yield False
        return
    say(f"CUDA MPS control daemon started (pipe {dirs['CUDA_MPS_PIPE_DIRECTORY']})")
    saved = {k: os.environ.get(k) for k in dirs}
    os.environ.update({k: str(v) for k, v in dirs.items()})
    try:
        yield True
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            subprocess.run([control], input="quit\n", env=env, text=True, capture_output=True, timeout=60)
        shutil.rmtree(base, ignore_errors=True)


def run_task(cell_dirs: list[Path], console: Console, cell_timeout: float | None = None) -> int:
    """Run the task's cells side by side; 75 when stopped with checkpoints (requeue), else 0 (each cell
    has its result: done, failed or diverged; one left to another live run keeps its own)."""
    task = "_".join(os.environ[k] for k in ("SLURM_ARRAY_JOB_ID", "SLURM_ARRAY_TASK_ID") if os.environ.get(k))

    def say(line: str) -> None:
        console.print(line, markup=False, highlight=False)

    with mps_daemon(say) as mps:
        os.environ[MPS_ENV] = "1" if mps else "0"
        summary = run_cells(
            cell_dirs,
            f"task {task or os.getpid()}",
            console,
            jobs=len(cell_dirs),
            worker="persistent",
            cell_timeout=cell_timeout,
        )
    for line in summary.lines:
        say(line)
    return EXIT_STOPPED if "interrupted" in summary.states.values() else EXIT_OK


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.launch.packed", description=__doc__.split("\n")[0])
    ap.add_argument("--cell-timeout", type=float, default=None, help="seconds before a cell is killed")
    ap.add_argument("cells", nargs="+", type=Path, help="cell folders holding config.json")
    args = ap.parse_args(argv)
    if "DS_ACCELERATOR" not in os.environ:  # as `bench cell` does (bench.cli._quiet_deepspeed)
        import torch

        if not torch.cuda.is_available():
            os.environ["DS_ACCELERATOR"] = "cpu"
    return run_task(args.cells, Console(), args.cell_timeout)


if __name__ == "__main__":
    sys.exit(main())
