"""What a launcher tells a cell through its environment, and what the cell records of it.

The launcher (bench/launch/) sets these variables; the cell (bench/cell/run.py) reads them, so the names
live here, below both.
"""

from __future__ import annotations

import os

# `bench run --jobs N` gives each concurrent cell its share of the cores through this variable.
THREADS_ENV = "BENCH_CELL_THREADS"
# What result.json's `cost` records of how a cell shared its device, set by the launcher for its cells:
# how many cells it runs at once on this cell's device, in which kind of process, and whether CUDA MPS
# served the device (bench.launch.packed).
SHARING_ENV = "BENCH_CELLS_SHARING_DEVICE"
WORKER_ENV = "BENCH_WORKER"
MPS_ENV = "BENCH_MPS"


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
