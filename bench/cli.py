"""The `bench` command line. Thin: it parses, then calls into the modules that do the work."""

from __future__ import annotations

import os
import sys
from enum import Enum
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from bench.commands import eval_assets
from bench.commands.analyze import analyze
from bench.commands.data import data_app
from bench.errors import BenchError

try:  # typer >= 0.20 vendors click; older releases use click itself
    from typer._click import exceptions as click_exceptions
except ImportError:  # pragma: no cover
    from click import exceptions as click_exceptions

app = typer.Typer(
    name="bench",
    help="Train and evaluate grids of generative image models under one recorded protocol.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console()
err_console = Console(stderr=True)
eval_assets.register(app)  # bench eval, bench assets fetch|verify
app.add_typer(data_app, name="data")  # bench data fetch NAME
app.command("analyze")(analyze)  # bench analyze [CELL_DIR] --what NAME

OUT = typer.Option(Path("results"), "--out", help="results root: one folder per cell")


class Launcher(str, Enum):
    local = "local"
    slurm = "slurm"


class Listing(str, Enum):
    models = "models"
    datasets = "datasets"
    grids = "grids"
    metrics = "metrics"


class Format(str, Enum):
    table = "table"
    md = "md"
    csv = "csv"
    json = "json"


@app.command()
def run(
    grid: str = typer.Option("quick", "--grid", help="built-in grid name or a YAML file"),
    out: Path = OUT,
    launcher: Launcher = typer.Option(Launcher.local, "--launcher", help="where cells run"),
    dry_run: bool = typer.Option(False, "--dry-run", help="print the cells and do nothing else"),
    sets: list[str] = typer.Option(
        [], "--set", help="override a setting: train.steps=100, eval.n_samples=500"
    ),
    in_process: bool = typer.Option(
        False, "--in-process", help="run cells in this process (faster start; a hard crash stops the grid)"
    ),
    data_root: Path | None = typer.Option(
        None, "--data-root", help="where datasets live; default: BENCH_DATA, then the grid's data.root"
    ),
    download: bool | None = typer.Option(
        None, "--download/--no-download", help="fetch missing datasets first; default: grid's data.download"
    ),
    jobs: int = typer.Option(
        1, "--jobs", min=1, help="local: cells at once; with GPUs, cell k runs on GPU k mod #GPUs"
    ),
    partition: str | None = typer.Option(
        None, "--partition", help="slurm: partition (grid: slurm.partition)"
    ),
    account: str | None = typer.Option(None, "--account", help="slurm: account to charge"),
    qos: str | None = typer.Option(None, "--qos", help="slurm: quality of service"),
    time_limit: str | None = typer.Option(None, "--time", help="slurm: time limit per cell, [D-]HH:MM:SS"),
    mem: str | None = typer.Option(None, "--mem", help="slurm: memory per node, e.g. 32G"),
    cpus: int | None = typer.Option(None, "--cpus", help="slurm: CPUs per process"),
    gpus: int | None = typer.Option(None, "--gpus", help="slurm: GPUs per process (0: CPU partition)"),
    nodes: int | None = typer.Option(None, "--nodes", help="slurm: nodes per cell (train.processes split)"),
    throttle: int | None = typer.Option(None, "--throttle", help="slurm: at most M tasks at once (%M)"),
    signal_seconds: int | None = typer.Option(
        None, "--signal-seconds", help="slurm: USR1 (checkpoint + requeue) this long before the time limit"
    ),
) -> None:
    """Expand the grid, validate every cell, then train and evaluate each cell not yet done."""
    from bench.datasets.root import export_root, prepare
    from bench.grid import load_grid

    _quiet_deepspeed()
    export_root(data_root)  # before validation: image folders under the root list their classes
    g = load_grid(grid, sets)  # validates everything before anything is written
    slurm_cfg = None
    if launcher is Launcher.slurm:
        from bench.launch import slurm

        flags = {
            "partition": partition,
            "account": account,
            "qos": qos,
            "time": time_limit,
            "mem": mem,
            "cpus_per_process": cpus,
            "gpus_per_process": gpus,
            "nodes": nodes,
            "throttle": throttle,
            "signal_seconds": signal_seconds,
        }
        slurm_cfg = slurm.slurm_config(g, flags)
    if dry_run:
        _print_cells(g)
        if slurm_cfg is not None:
            _print_slurm_plan(slurm.plan(g, out, slurm_cfg, dry_run=True))
        return
    if any(p.exists() and not p.is_dir() for p in (out, *out.parents)):
        raise BenchError(f"--out: {out} is a file or lies under one; give a folder")
    prepare(g, data_root, download, say=console.print)  # every dataset's files, before anything is written
    from bench.eval.cell_eval import preflight

    preflight(g.cells)  # every weight file the metrics need, checked before any cell trains
    if slurm_cfg is not None:
        sub = slurm.submit(g, out, slurm_cfg)
        for job, array in sub.jobs:
            console.print(f"submitted array job {job}: {len(array.cells)} cell(s), logs in {array.folder}")
        console.print(
            f"{sum(len(a.cells) for _, a in sub.jobs)} cell(s) submitted, {len(sub.finished)} already "
            f"finished, {len(sub.queued)} still queued or running; follow with: bench status --out {out}"
        )
        return
    from bench.launch.local import run_local
    from bench.results import leaderboard

    summary = run_local(g, out, console, in_process=in_process, jobs=jobs)
    console.print(f"ran {len(summary.ran)} cell(s), skipped {len(summary.skipped)} already finished")
    lb = leaderboard.build(leaderboard.collect(out))
    _print_leaderboard(lb)
    paths = leaderboard.write_files(lb, out)
    console.print("wrote " + ", ".join(str(p) for p in paths))


def _print_slurm_plan(sub) -> None:
    """Each array's sbatch command and script, verbatim (no wrapping), so they can be saved and run."""
    for array in sub.arrays:
        import shlex

        sys.stdout.write(f"\n# {len(array.cells)} cell(s) of {array.processes} process(es); submitted as:\n")
        sys.stdout.write(f"#   {shlex.join(array.command)}\n")
        sys.stdout.write(array.script)
    sys.stdout.flush()


def _print_cells(g) -> None:
    t = Table(title=f"grid {g.name}: {len(g.cells)} cells ({g.source})")
    t.add_column("cell", no_wrap=True)
    for col in ("model", "dataset", "latent", "seed", "budget", "eval N"):
        t.add_column(col)
    for c in g.cells:
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


@app.command("list")
def list_(what: Listing = typer.Argument(..., help="models, datasets, grids or metrics")) -> None:
    """What is registered, one row each, with the facts a user chooses by."""
    from bench import catalog

    title, header, rows = catalog.listing(what.value)
    t = Table(title=title)
    for h in header:
        t.add_column(h, overflow="fold")
    for r in rows:
        t.add_row(*r)
    console.print(t)


@app.command()
def status(out: Path = OUT) -> None:
    """Each cell's state: pending, running, interrupted, done, failed (reason), diverged."""
    from bench.launch.slurm import active_jobs
    from bench.results.status import all_states

    _require_dir(out)
    jobs = active_jobs()  # None where SLURM does not answer: states then come from the files alone
    states = all_states(out, jobs or frozenset())
    t = Table(title=f"{len(states)} cells in {out}")
    for col in ("cell", "model", "dataset", "latent", "seed", "state", "detail", "job"):
        t.add_column(col, overflow="fold")
    colour = {
        "done": "green",
        "failed": "red",
        "diverged": "magenta",
        "running": "cyan",
        "queued": "blue",
        "requeued": "blue",
        "interrupted": "yellow",
    }
    for s in states:
        c = colour.get(s.state, "white")
        t.add_row(
            s.cell_id,
            s.model,
            s.dataset,
            str(s.latent_size or "-"),
            str(s.seed),
            f"[{c}]{s.state}[/]",
            s.detail,
            f"{s.job} ({jobs[s.job]})" if s.job and jobs and s.job in jobs else (s.job or ""),
        )
    console.print(t)
    counts: dict[str, int] = {}
    for s in states:
        counts[s.state] = counts.get(s.state, 0) + 1
    console.print(", ".join(f"{n} {k}" for k, n in sorted(counts.items())) or "no cells")


@app.command()
def leaderboard(
    out: Path = OUT,
    fmt: Format = typer.Option(
        Format.table, "--format", help="what to print; md, csv and json files are written"
    ),
) -> None:
    """One row per model x dataset x latent size, aggregated over seeds; prints it and writes files."""
    from bench.results import leaderboard as lbm

    _require_dir(out)
    lb = lbm.build(lbm.collect(out))
    if not lb.rows:
        raise BenchError(f"--out: no finished cells in {out}")
    if fmt is Format.table:
        _print_leaderboard(lb)
    else:
        text = {"md": lbm.to_markdown, "csv": lbm.to_csv, "json": lbm.to_json}[fmt.value](lb)
        sys.stdout.write(text)
    lbm.write_files(lb, out)


def _print_leaderboard(lb) -> None:
    from bench.results.leaderboard import table_rows

    header, body = table_rows(lb, headline_only=True)
    t = Table(
        title=f"leaderboard (sorted by {lb.main}, lower is better; mean ± std over seeds)",
        caption="every column, family metrics included: leaderboard.md / .csv / .json",
    )
    for h in header:
        t.add_column(h, overflow="fold")
    for r in body:
        t.add_row(*map(Text, r))  # Text, not markup: labels such as dcgan[g_width=32] hold brackets
    console.print(t)


@app.command(hidden=True)
def cell(
    cell_dir: Path = typer.Argument(..., help="a cell folder holding config.json"),
    progress_lines: bool = typer.Option(False, "--progress-lines", help="report progress as @progress lines"),
) -> None:
    """Run one cell (used by the launchers)."""
    from bench.results import store

    if not (cell_dir / store.CONFIG).is_file():
        raise BenchError(f"{cell_dir}: no {store.CONFIG} here; not a cell folder")
    _quiet_deepspeed()
    from bench.train.cell import run_cell

    def report(phase: str, done: int, total: int) -> None:
        # Every 1% is plenty for a progress bar and keeps the pipe quiet.
        if (done == total or done % max(1, total // 100) == 0) and int(os.environ.get("RANK", "0")) == 0:
            print(f"@progress {phase} {done} {total}", flush=True)

    from bench.train.preempt import PREEMPTED_EXIT, stop_on_signals

    # SIGUSR1 (SLURM, before a time limit or preemption), SIGTERM and a first Ctrl-C make the cell
    # checkpoint at the next step and exit with PREEMPTED_EXIT; the batch script then requeues it.
    with stop_on_signals() as stop:
        result = run_cell(cell_dir, report if progress_lines else None, stop)
    if result["status"] == "preempted":
        raise typer.Exit(PREEMPTED_EXIT)
    if result["status"] == "failed":
        raise typer.Exit(1)


@app.command("cell-crashed", hidden=True)
def cell_crashed(
    cell_dir: Path = typer.Argument(..., help="a cell folder"),
    code: int = typer.Option(..., "--code", help="the exit status of the cell's process"),
    log: Path | None = typer.Option(None, "--log", help="the log to quote"),
) -> None:
    """Record a cell whose process died without a result (used by the SLURM batch script)."""
    from bench.launch.cells import record_crash
    from bench.results import store

    if store.read_result(cell_dir) is None:
        record_crash(cell_dir, code, log)


def _quiet_deepspeed() -> None:
    """accelerate imports DeepSpeed when it is installed, and DeepSpeed warns on import, in every cell,
    that it found no GPU and chose the CPU. Without a GPU that is the expected case: say it up front
    (cells inherit the environment of `bench run`)."""
    import torch

    if "DS_ACCELERATOR" not in os.environ and not torch.cuda.is_available():
        os.environ["DS_ACCELERATOR"] = "cpu"


def _require_dir(out: Path) -> None:
    if not out.is_dir():
        raise BenchError(f"--out: {out} does not exist")


def main() -> None:
    """Entry point: every error is one line on stderr; bad input exits with 2."""
    try:
        # Without standalone mode click returns a command's `typer.Exit` code instead of exiting.
        code = app(standalone_mode=False)
        if isinstance(code, int) and code:
            sys.exit(code)
    except BenchError as err:
        err_console.print(f"[bold red]error:[/] {err}", highlight=False, soft_wrap=True)
        sys.exit(err.exit_code)
    except click_exceptions.NoArgsIsHelpError as err:
        print(err.format_message())
        sys.exit(0)
    except click_exceptions.ClickException as err:
        msg = err.format_message().removeprefix("Value error, ")
        err_console.print(f"[bold red]error:[/] {msg}", highlight=False, soft_wrap=True)
        sys.exit(2)
    except (typer.Abort, KeyboardInterrupt):
        err_console.print("aborted")
        sys.exit(130)
    except typer.Exit as err:
        sys.exit(err.exit_code)


if __name__ == "__main__":
    main()
