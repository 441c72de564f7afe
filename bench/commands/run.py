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
    graphed = [c.cell_id for c in grid.cells if c.train.cuda_graphs]
    if graphed and not torch.cuda.is_available():
        raise BenchError(
            f"train.cuda_graphs: {len(graphed)} cell(s) ask for CUDA graphs (e.g. {graphed[0]}) but no GPU "
            "is visible here; set cuda_graphs: false, or run them where there is one (--launcher slurm)"
        )


def dry_run_problems(grid: Grid, cli_root: Path | None, say: Any = print) -> list[str]:
    """What `bench run` would refuse before training, all of it rather than the first: for every
    dataset of the grid the check `bench data check` makes (present, official or readable), and every
    weight file the grid's metrics need. One line per problem, each naming the file and the fix;
    nothing is fetched. Warnings (copies that read correctly) go to `say`."""
    from bench.datasets.root import resolve_root
    from bench.datasets.source import DATASETS, DataContext, cache_root
    from bench.eval.metric_registry import needed_extractors
    from bench.features import assets
    from bench.fs import canonical_json

    root = resolve_root(cli_root, grid.data)
    ctx = DataContext(data_root=root, cache_dir=cache_root() / "data", download=False)
    problems: list[str] = []
    seen: set[tuple[str, str]] = set()
    for cell in grid.cells:
        key = (cell.dataset, canonical_json(cell.dataset_args))
        if key not in seen:
            seen.add(key)
            cls = DATASETS.get(cell.dataset)
            report = cls(cls.Args.model_validate(cell.dataset_args)).check(ctx)
            problems += [p for p in report.problems if p not in problems]  # celeba_domains: celeba's
            for warning in report.warnings:
                say(f"warning: {warning}")
    wanted: set[str] = set()
    for c in grid.cells:
        wanted |= set(c.eval.metrics) | (set(c.eval.curve_metrics) if c.eval.curve_every else set())
    extractors = needed_extractors(sorted(wanted))
    directory = assets.assets_dir()
    for asset in assets.load_manifest().values():
        if asset.extractor in extractors:
            try:
                assets.verify(asset, directory)
            except BenchError as err:
                problems.append(str(err))
    return problems


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
    from bench.storage.cell_dir import check_cell_links

    check_cell_links(opts.out, [c.cell_id for c in grid.cells])  # nothing written through a link
    launcher = make_launcher(opts, grid, console)
    if opts.dry_run:
        print_cells(grid, console, opts.out)
        problems = dry_run_problems(grid, opts.data_root, say=console.print)
        if problems:  # before the estimate: its calibration would train on the data found missing
            for line in problems:
                print(f"error: {line}", file=sys.stderr, flush=True)
            print(f"{len(problems)} problem(s) found; nothing was trained or written", file=sys.stderr)
            return BenchError.exit_code
        print_estimate(grid, opts.out, console, calibrate=opts.estimate)
        print_seed_advice(grid, opts.out, console)
        if launcher.name == "slurm":
            print_slurm_plan(launcher.plan(grid, opts.out).detail)
        return EXIT_OK
    if launcher.name == "local":
        check_devices(grid)
    else:  # refused before anything is written (estimate.json included)
        from bench.launch.slurm import require_squeue

        require_squeue(opts.out)
    prepare(grid, opts.data_root, opts.download, say=console.print)  # every dataset's files
    from bench.cell.evaluate import preflight

    preflight(grid.cells)  # every weight file the metrics need, checked before any cell trains
    from bench.launch.estimate import record_at_start

    record_at_start(grid.cells, opts.out)  # the dry run's estimate, for the report's estimate vs actual
    outcome = launcher.submit(grid, opts.out)
    for line in launcher.summary(outcome):
        console.print(line)
    if outcome.writes_results:
        write_leaderboard(opts.out, console)
    return outcome.exit_code


def write_leaderboard(out: Path, console: Console) -> None:
    from bench.reporting import leaderboard

    lb = leaderboard.build(leaderboard.collect(out))
    print_leaderboard(lb, console)
    paths = leaderboard.write_files(lb, out)
    console.print("wrote " + ", ".join(str(p) for p in paths))
    from bench.reporting.report import write_report

    folder = write_report(out, lb=lb)  # the same leaderboard: its comparisons are computed once
    console.print(f"report: {folder / 'index.html'} (and report.md)", highlight=False)


def print_estimate(grid: Grid, out: Path, console: Console, calibrate: bool) -> None:
    """Device-hours still to spend, per group of seeds (per block for large grids) and in total."""
    from bench.commands.dry_run import estimate_tables, total_line
    from bench.launch.estimate import estimate, group_label
    from bench.storage import files as store

    est = estimate(
        grid.cells, out, store.is_finished, store.read_result, group_label, calibrate_missing=calibrate
    )
    for table in estimate_tables(est, grid.cells):
        console.print(table)
    console.print(total_line(est), highlight=False)


def print_seed_advice(grid: Grid, out: Path, console: Console) -> None:
    """Where finished results of the grid's rows say its seeds are too few to separate them."""
    from bench.commands.dry_run import seed_advice

    for line in seed_advice(grid.cells, out):
        console.print(line, highlight=False)


def print_slurm_plan(sub: Any) -> None:
    """Each array's sbatch command and script, verbatim (no wrapping), so they can be saved and run."""
    for array in sub.arrays:
        sys.stdout.write(f"\n# {len(array.cells)} cell(s) of {array.processes} process(es); submitted as:\n")
        sys.stdout.write(f"#   {shlex.join(array.command)}\n")
        sys.stdout.write(array.script)
    sys.stdout.flush()


def print_cells(grid: Grid, console: Console, out: Path | None = None) -> None:
    """The cells, one line each (one per model x dataset block for large grids), fitting the width."""
    from bench.commands.dry_run import cell_tables
    from bench.storage import files as store

    def done(c: Any) -> bool:
        return out is not None and store.is_finished(out / c.cell_id)

    for table in cell_tables(grid.name, grid.source, grid.cells, done):
        console.print(table)


def print_leaderboard(lb: Any, console: Console) -> None:
    """One table per dataset and protocol, fitted to the terminal (short labels, a legend below)."""
    from bench.reporting.leaderboard import terminal_tables

    for table in terminal_tables(lb, console.width):
        console.print(table)
