"""The argument list that runs one cell: `python -m bench cell DIR`, under torchrun for several processes.

Always a list handed to exec, never a shell string, so a path or value can never be read as shell.
"""

from __future__ import annotations

import signal
import sys
from pathlib import Path

from bench.cell.launch_env import MPS_ENV, SHARING_ENV, THREADS_ENV, WORKER_ENV  # noqa: F401  (set by launchers)

# torchrun's agent turns these signals into a shutdown that passes the signal on to every worker; the
# default list lacks SIGUSR1, which then kills the agent outright and leaves the workers running.
# torchrun >= 2.9 reads PET_SIGNALS_TO_HANDLE (its --signals-to-handle flag) and overwrites
# TORCHELASTIC_SIGNALS_TO_HANDLE, which older releases read: set both.
TORCHRUN_SIGNALS = ",".join(
    s.name for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1)
)
TORCHRUN_ENV = {"PET_SIGNALS_TO_HANDLE": TORCHRUN_SIGNALS, "TORCHELASTIC_SIGNALS_TO_HANDLE": TORCHRUN_SIGNALS}


def cell_command(
    cell_dir: Path, processes: int, progress_lines: bool = False, python: str | None = None
) -> list[str]:
    """One process: the cell itself. Several: torchrun on this machine (`--standalone` rendezvous)."""
    python = python or sys.executable
    tail = ["-m", "bench", "cell", str(cell_dir), *(["--progress-lines"] if progress_lines else [])]
    if processes == 1:
        return [python, *tail]
    return [python, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={processes}", *tail]
