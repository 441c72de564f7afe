"""The `bench` command line. Thin: it parses, then calls into the modules that do the work."""

from __future__ import annotations

import sys
from enum import Enum
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

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
) -> None:
    """Expand the grid, validate every cell, then train and evaluate each cell not yet done."""
    from bench.grid import load_grid

    g = load_grid(grid, sets)  # validates everything before anything is written
    if dry_run:
        _print_cells(g)
        return
    if launcher is Launcher.slurm:
        raise BenchError("--launcher slurm: not available yet in this version; use --launcher local")
    from bench.launch.local import run_local
    from bench.results import leaderboard

    summary = run_local(g, out, console, in_process=in_process)
    console.print(f"ran {len(summary.ran)} cell(s), skipped {len(summary.skipped)} already finished")
    lb = leaderboard.build(leaderboard.collect(out))
    _print_leaderboard(lb)
    paths = leaderboard.write_files(lb, out)
    console.print("wrote " + ", ".join(str(p) for p in paths))


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
    from bench.results.status import all_states

    _require_dir(out)
    states = all_states(out)
    t = Table(title=f"{len(states)} cells in {out}")
    for col in ("cell", "model", "dataset", "latent", "seed", "state", "detail", "job"):
        t.add_column(col, overflow="fold")
    colour = {
        "done": "green",
        "failed": "red",
        "diverged": "magenta",
        "running": "cyan",
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
            s.job or "",
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

    header, body = table_rows(lb)
    t = Table(title=f"leaderboard (sorted by {lb.main}, lower is better; mean ± std over seeds)")
    for h in header:
        t.add_column(h, overflow="fold")
    for r in body:
        t.add_row(*r)
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
    from bench.train.cell import run_cell

    def report(phase: str, done: int, total: int) -> None:
        # Every 1% is plenty for a progress bar and keeps the pipe quiet.
        if done == total or done % max(1, total // 100) == 0:
            print(f"@progress {phase} {done} {total}", flush=True)

    result = run_cell(cell_dir, report if progress_lines else None)
    if result["status"] == "failed":
        raise typer.Exit(1)


def _require_dir(out: Path) -> None:
    if not out.is_dir():
        raise BenchError(f"--out: {out} does not exist")


def main() -> None:
    """Entry point: every error is one line on stderr; bad input exits with 2."""
    try:
        app(standalone_mode=False)
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
