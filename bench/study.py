"""`bench run` as one pipeline: check the output folder, load the grid with its overrides, choose the
launcher, prepare the data, check the weight files and devices, launch, then the leaderboard (and the
report). Everything that can refuse the run does so before anything is written.

The CLI only parses its flags into `StudyOptions`; this module does the work and returns the exit code
(bench.launch.base: 0 every cell done, 3 some failed or diverged, 4 some left to another live run,
75 stopped with checkpoints; bad input raises BenchError, exit 2).
"""

from __future__ import annotations

import shlex
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from bench.errors import BenchError
from bench.grid import Grid
from bench.launch.base import EXIT_OK, Launcher


@dataclass
class StudyOptions:
    grid: str = "quick"
    out: Path = Path("results")
    launcher: str = "local"  # local | slurm
    dry_run: bool = False
    sets: list[str] = field(default_factory=list)
    in_process: bool = False
    data_root: Path | None = None
    download: bool | None = None
    jobs: int = 1
    worker: str = "persistent"  # local: a long-lived worker per slot, or "fresh": a process per cell
    cell_timeout: float | None = None  # local: seconds after which a running cell is killed and failed
    slurm_flags: dict[str, Any] = field(default_factory=dict)  # SlurmConfig field -> value (None: unset)
    estimate: bool = True  # dry run: calibrate cells without finished twins (a few timed steps each)


def check_out_dir(out: Path, flag: str = "--out") -> None:
    """`out` must be a folder or not exist yet, with no file on its path."""
    for p in (out, *out.parents):
        if p.exists() or p.is_symlink():
            if p.is_dir():
                return
            what = f"{out} is a file" if p == out else f"{out} lies under {p}, which is a file"
            raise BenchError(f"{flag}: {what}; give a folder")


def check_grid_arg(grid: str) -> None:
    if Path(grid).is_dir():
        raise BenchError(f"--grid: {grid} is a directory; give a built-in grid name or a YAML file")


def check_devices(grid: Grid) -> None:
    """Cells that ask for a GPU, refused before a local launch writes anything when none is visible.
    (Never on the host that submits to SLURM: the GPUs are on the compute nodes.)"""
    import torch

    wanting = [c.cell_id for c in grid.cells if c.train.device == "cuda"]
    if wanting and not torch.cuda.is_available():
        raise BenchError(
            f"train.device: {len(wanting)} cell(s) ask for cuda (e.g. {wanting[0]}) but no GPU is visible "
            "here; use train.device: auto or cpu, or run them where there is one (--launcher slurm)"
        )


def make_launcher(opts: StudyOptions, grid: Grid, console: Console) -> Launcher:
    if opts.launcher == "slurm":
        from bench.launch.slurm import SlurmLauncher, slurm_config

        return SlurmLauncher(slurm_config(grid, opts.slurm_flags))
    if opts.launcher == "local":
        from bench.launch.local import LocalLauncher

        return LocalLauncher(
            console,
            in_process=opts.in_process,
            jobs=opts.jobs,
            worker=opts.worker,
            cell_timeout=opts.cell_timeout,
        )
    raise BenchError(f"--launcher: unknown launcher {opts.launcher!r}; allowed: local, slurm")


def run_study(opts: StudyOptions, console: Console) -> int:
    """The whole `bench run`; returns its exit code."""
    from bench.datasets.root import export_root, prepare
    from bench.grid import load_grid

    check_out_dir(opts.out)
    check_grid_arg(opts.grid)
    export_root(opts.data_root)  # before validation: image folders under the root list their classes
    grid = load_grid(opts.grid, opts.sets)  # validates everything before anything is written
    launcher = make_launcher(opts, grid, console)
    if opts.dry_run:
        print_cells(grid, console)
        print_estimate(grid, opts.out, console, calibrate=opts.estimate)
        if launcher.name == "slurm":
            print_slurm_plan(launcher.plan(grid, opts.out).detail)
        return EXIT_OK
    if launcher.name == "local":
        check_devices(grid)
    prepare(grid, opts.data_root, opts.download, say=console.print)  # every dataset's files
    from bench.eval.cell_eval import preflight

    preflight(grid.cells)  # every weight file the metrics need, checked before any cell trains
    outcome = launcher.submit(grid, opts.out)
    for line in launcher.summary(outcome):
        console.print(line)
    if outcome.writes_results:
        write_leaderboard(opts.out, console)
    return outcome.exit_code


def write_leaderboard(out: Path, console: Console) -> None:
    from bench.results import leaderboard

    lb = leaderboard.build(leaderboard.collect(out))
    print_leaderboard(lb, console)
    paths = leaderboard.write_files(lb, out)
    console.print("wrote " + ", ".join(str(p) for p in paths))
    from bench.results.report import write_report

    folder = write_report(out)
    console.print(f"report: {folder / 'index.html'} (and report.md)", highlight=False)


def print_estimate(grid: Grid, out: Path, console: Console, calibrate: bool) -> None:
    """Device-hours still to spend, per group of seeds and in total (bench.launch.estimate)."""
    from bench.launch.estimate import estimate
    from bench.results import store
    from bench.results.identity import cell_identity

    def label(c: Any) -> str:
        ident = cell_identity(c)
        z = f" z{c.latent_size}" if c.latent_size is not None else ""
        return f"{ident['model_label']} {ident['dataset_label']}{z}"

    est = estimate(grid.cells, out, store.is_finished, store.read_result, label, calibrate_missing=calibrate)
    t = Table(title=f"estimated cost on {est.device}", title_justify="left")
    for col, kw in (
        ("cells", {}),
        ("to run", {"justify": "right"}),
        ("device-h", {"justify": "right"}),
        ("from", {}),
    ):
        t.add_column(col, overflow="fold", **kw)
    for g in est.groups:
        hours = "?" if g.device_hours is None else f"{g.device_hours:.3f}"
        t.add_row(g.label, str(g.to_run), hours, g.source)
    console.print(t)
    unknown = f"; {est.unknown} cell(s) not estimated" if est.unknown else ""
    console.print(
        f"total: {est.total_hours:.3f} device-hours on {est.device}{unknown} (a calibration omits data "
        "loading, feature extraction and post-training fits: a lower bound; finished cells include all)",
        highlight=False,
    )


def print_slurm_plan(sub: Any) -> None:
    """Each array's sbatch command and script, verbatim (no wrapping), so they can be saved and run."""
    for array in sub.arrays:
        sys.stdout.write(f"\n# {len(array.cells)} cell(s) of {array.processes} process(es); submitted as:\n")
        sys.stdout.write(f"#   {shlex.join(array.command)}\n")
        sys.stdout.write(array.script)
    sys.stdout.flush()


def print_cells(grid: Grid, console: Console) -> None:
    t = Table(title=f"grid {grid.name}: {len(grid.cells)} cells ({grid.source})")
    t.add_column("cell", no_wrap=True)
    for col in ("model", "dataset", "latent", "seed", "budget", "eval N"):
        t.add_column(col)
    for c in grid.cells:
        budget = f"{c.train.steps} steps" if c.train.steps else f"{c.train.epochs} epochs"
        t.add_row(
            c.cell_id,
            c.model,
            c.dataset,
            str(c.latent_size or "-"),
            str(c.seed),
            f"{budget} x {c.train.batch_size}",
            str(c.eval.n_samples),
        )
    console.print(t)


def print_leaderboard(lb: Any, console: Console) -> None:
    """One table per dataset and protocol, fitted to the terminal (short labels, a legend below)."""
    from bench.results.leaderboard import terminal_tables

    for table in terminal_tables(lb, console.width):
        console.print(table)
