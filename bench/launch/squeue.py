"""What SLURM says is queued or running (squeue), for `bench status` and the SLURM launcher.

Kept apart from bench/launch/slurm.py, which imports the grid (and torch through it): `bench status`
asks squeue and reads the cell folders, and must not pay for importing torch.
"""

from __future__ import annotations

import shutil
import subprocess


def active_jobs() -> dict[str, str] | None:
    """Array task id ("123_4") or job id -> SLURM state, from squeue; None where SLURM does not answer."""
    if shutil.which("squeue") is None:
        return None
    try:
        out = subprocess.run(
            ["squeue", "--noheader", "--array", "--format=%i|%T"],
            capture_output=True,
            text=True,
            timeout=20,
            check=True,
        ).stdout
    except (subprocess.SubprocessError, OSError):
        return None
    jobs = {}
    for line in out.splitlines():
        job, _, state = line.strip().partition("|")
        if job:
            jobs[job] = state
    return jobs
