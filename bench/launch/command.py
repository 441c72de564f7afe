"""The argument list that runs one cell: `python -m bench cell DIR`, under torchrun for several processes.

Always a list handed to exec, never a shell string, so a path or value can never be read as shell.
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

# torchrun's agent turns these signals into a shutdown that passes the signal on to every worker; the
# default list lacks SIGUSR1, which then kills the agent outright and leaves the workers running.
# torchrun >= 2.9 reads PET_SIGNALS_TO_HANDLE (its --signals-to-handle flag) and overwrites
# TORCHELASTIC_SIGNALS_TO_HANDLE, which older releases read: set both.
TORCHRUN_SIGNALS = ",".join(
    s.name for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1)
)
# `bench run --jobs N` gives each concurrent cell its share of the cores through this variable.
THREADS_ENV = "BENCH_CELL_THREADS"
# What result.json's `cost` records of how a cell shared its device, set by the launcher for its cells:
# how many cells it runs at once on this cell's device, in which kind of process, and whether CUDA MPS
# served the device (bench.launch.packed).
SHARING_ENV = "BENCH_CELLS_SHARING_DEVICE"
WORKER_ENV = "BENCH_WORKER"
MPS_ENV = "BENCH_MPS"
TORCHRUN_ENV = {"PET_SIGNALS_TO_HANDLE": TORCHRUN_SIGNALS, "TORCHELASTIC_SIGNALS_TO_HANDLE": TORCHRUN_SIGNALS}


def launch_record() -> dict[str, object]:
    """cost fields from the launcher's environment: cells_sharing_device, worker, mps (absent: unset)."""
    env = os.environ
    record: dict[str, object] = {}
    if env.get(SHARING_ENV, "").isdigit():
        record["cells_sharing_device"] = int(env[SHARING_ENV])
    if env.get(WORKER_ENV):
        record["worker"] = env[WORKER_ENV]
    if env.get(MPS_ENV) in ("0", "1"):
        record["mps"] = env[MPS_ENV] == "1"
    return record


def cell_command(
    cell_dir: Path, processes: int, progress_lines: bool = False, python: str | None = None
) -> list[str]:
    """One process: the cell itself. Several: torchrun on this machine (`--standalone` rendezvous)."""
    python = python or sys.executable
    tail = ["-m", "bench", "cell", str(cell_dir), *(["--progress-lines"] if progress_lines else [])]
    if processes == 1:
        return [python, *tail]
    return [python, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={processes}", *tail]
