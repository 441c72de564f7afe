"""What every launcher offers (`plan`, `submit`, `summary`) and what `bench run` exits with.

A launcher turns a validated grid into cell folders under `out` and gets each cell run: here, one
after another or `--jobs` at a time (bench.launch.local), or as SLURM job arrays (bench.launch.slurm).
`bench.commands.run` drives one through the same steps whichever it is.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from bench.grid import Grid

# Exit codes of `bench run` (README "Exit codes"). 2 (bad input) comes from bench.errors.BenchError.
EXIT_OK = 0  # every cell of the grid is done (or, with SLURM, every cell to run was submitted)
EXIT_CELLS_FAILED = 3  # some cell ended failed or diverged
EXIT_BUSY = 4  # nothing failed, but some cell is being trained by another live process
EXIT_STOPPED = 75  # stopped on request (SIGTERM/SIGUSR1) with checkpoints: run again (EX_TEMPFAIL)


@dataclass
class LaunchPlan:
    """What a launch would do; computing it writes nothing."""

    launcher: str
    todo: list[Path]  # cells to run
    finished: list[Path]  # done or diverged: kept
    elsewhere: list[Path] = field(default_factory=list)  # queued, or running in another process
    detail: Any = None  # the launcher's own plan (SLURM: the arrays with their scripts)


@dataclass
class LaunchSummary:
    """What a launch did. `states`: cell id -> done, failed, diverged, interrupted (stopped with a
    checkpoint), busy (another process holds it), queued (submitted to SLURM), finished (kept)."""

    launcher: str
    states: dict[str, str] = field(default_factory=dict)
    ran: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)  # what to tell the user, one line each
    writes_results: bool = True  # False: cells run later elsewhere (SLURM); no leaderboard yet

    @property
    def exit_code(self) -> int:
        states = set(self.states.values())
        if "interrupted" in states:
            return EXIT_STOPPED
        if states & {"failed", "diverged"}:
            return EXIT_CELLS_FAILED
        if "busy" in states:
            return EXIT_BUSY
        return EXIT_OK


class Launcher(ABC):
    """Where the cells of a grid run."""

    name: ClassVar[str]

    @abstractmethod
    def plan(self, grid: Grid, out: Path) -> LaunchPlan:
        """The cells a launch would run and keep; writes nothing (what `--dry-run` shows)."""

    @abstractmethod
    def submit(self, grid: Grid, out: Path) -> LaunchSummary:
        """Create the cell folders and run (or queue) every cell not yet finished."""

    @abstractmethod
    def summary(self, outcome: LaunchSummary) -> list[str]:
        """Lines that tell the user what happened and what to run next."""
