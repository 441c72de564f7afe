"""How a machine's devices and cores are shared among the cells that run on it at once (`--jobs`).

Slot k of `jobs` gets GPU k mod #GPUs (several small cells may share one GPU), max(1, cores // jobs)
CPU threads, and the record of how it shared its device that result.json's `cost` keeps.
"""

from __future__ import annotations

import os

from bench.cell.launch_env import SHARING_ENV, THREADS_ENV, WORKER_ENV


def visible_gpus() -> list[str]:
    """GPU ids a child may be given through CUDA_VISIBLE_DEVICES; empty on a CPU machine."""
    listed = os.environ.get("CUDA_VISIBLE_DEVICES")
    if listed is not None:
        return [g for g in listed.split(",") if g.strip()]
    import torch

    return [str(i) for i in range(torch.cuda.device_count())]


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
