"""The `bench` command line. Thin: it parses, then calls into the modules that do the work."""

from __future__ import annotations

import functools
import inspect
import os
import sys
import typing
from collections.abc import Callable
from enum import Enum
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from bench.commands import eval_assets
from bench.commands import report as report_cmd
from bench.commands import status as status_cmd
from bench.commands.analyze import analyze
from bench.commands.data import data_app
from bench.commands.status import require_dir as _require_dir
from bench.errors import BenchError
from bench.reporting.sort_order import SortBy

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
report_cmd.register(app)  # bench report [--out DIR] [--metric NAME]
status_cmd.register(app)  # bench status [--out DIR]


def _version(value: bool) -> None:
    if value:
        from bench import __version__

        print(f"bench {__version__}")
        raise typer.Exit(0)


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="print the version and exit"
    ),
) -> None:
    """Train and evaluate grids of generative image models under one recorded protocol."""


OUT = typer.Option(Path("results"), "--out", help="results root: one folder per cell")


class Launcher(str, Enum):
    local = "local"
    slurm = "slurm"


class WorkerMode(str, Enum):
    persistent = "persistent"
    fresh = "fresh"


class Listing(str, Enum):
    models = "models"
    datasets = "datasets"
    grids = "grids"
    metrics = "metrics"
    analyses = "analyses"


def _grid_names() -> str:
    """The built-in grids, for --grid's help (their YAML files; nothing heavy is imported)."""
    from importlib import resources

    names = sorted(
        e.name[: -len(".yaml")] for e in resources.files("bench.grids").iterdir() if e.name.endswith(".yaml")
    )
    return ", ".join(names)


class Format(str, Enum):
    table = "table"
    md = "md"
    csv = "csv"
    json = "json"


def with_slurm_flags(func: Callable[..., Any]) -> Callable[..., Any]:
    """Add one `bench run` option per field of bench.config.SlurmConfig (its flag name from the field's
    `flag`, else --<field>), handed to `func` as `slurm_flags={field: value or None}`. The schema is
    the one list of SLURM settings: a field added there is a flag here."""
    from bench.config import SlurmConfig

    base = inspect.signature(func)
    extra = []
    for name, info in SlurmConfig.model_fields.items():
        flag = (info.json_schema_extra or {}).get("flag") or "--" + name.replace("_", "-")
        kinds = [a for a in typing.get_args(info.annotation) if a is not type(None)] or [info.annotation]
        kind = typing.get_args(kinds[0])[0] if typing.get_origin(kinds[0]) is typing.Annotated else kinds[0]
        kind = int if kind is int else str
        option = typer.Option(None, flag, help=f"slurm: {info.description} (grid: slurm.{name})")
        extra.append(
            inspect.Parameter(
                f"slurm_{name}", inspect.Parameter.KEYWORD_ONLY, default=option, annotation=kind | None
            )
        )
    params = [p for p in base.parameters.values() if p.name != "slurm_flags"]

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        flags = {name: kwargs.pop(f"slurm_{name}") for name in SlurmConfig.model_fields}
        return func(*args, slurm_flags=flags, **kwargs)

    wrapper.__signature__ = base.replace(parameters=[*params, *extra])  # type: ignore[attr-defined]
    wrapper.__annotations__ = {p.name: p.annotation for p in [*params, *extra]}
    return wrapper


@app.command()
@with_slurm_flags
def run(
    grid: str = typer.Option(
        "quick", "--grid", help=f"a built-in grid ({_grid_names()}; `bench list grids`) or a YAML file"
    ),
    out: Path = OUT,
    launcher: Launcher = typer.Option(Launcher.local, "--launcher", help="where cells run"),
    dry_run: bool = typer.Option(
        False,
        "--dry-run",
        help="print the cells and their estimated device-hours, check data and weight files; train nothing",
    ),
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
    worker: WorkerMode = typer.Option(
        WorkerMode.persistent,
        "--worker",
        help="local: persistent = each slot runs its cells in one long-lived process; fresh = one per cell",
    ),
    cell_timeout: float | None = typer.Option(
        None, "--cell-timeout", min=1, help="local: seconds after which a running cell is killed (failed)"
    ),
    estimate: bool = typer.Option(
        True, "--estimate/--no-estimate", help="dry run: time a few steps of cells with no finished twin"
    ),
    slurm_flags: dict[str, Any] | None = None,
) -> int:
    """Expand the grid, validate every cell, then train and evaluate each cell not yet done.

    Exit code: 0 every cell done (SLURM: submitted), 2 bad input, 3 a cell failed or diverged, 4 a cell
    is left to another run training it, 75 stopped with checkpoints (run again to continue)."""
    from bench.commands.run import StudyOptions, run_study

    _quiet_deepspeed()
    opts = StudyOptions(
        grid=grid,
        out=out,
        launcher=launcher.value,
        dry_run=dry_run,
        sets=sets,
        in_process=in_process,
        data_root=data_root,
        download=download,
        jobs=jobs,
        worker=worker.value,
        cell_timeout=cell_timeout,
        slurm_flags=slurm_flags or {},
        estimate=estimate,
    )
    return run_study(opts, console)


@app.command("list")
def list_(what: Listing = typer.Argument(..., help="models, datasets, grids, metrics or analyses")) -> None:
    """What is registered, one row each, with the facts a user chooses by."""
    from bench.commands import catalog

    title, header, rows = catalog.listing(what.value)
    t = Table(title=title)
    for h in header:
        t.add_column(h, overflow="fold")
    for r in rows:
        t.add_row(*r)
    console.print(t)


@app.command()
def leaderboard(
    out: Path = OUT,
    fmt: Format = typer.Option(
        Format.table,
        "--format",
        help="what to print: table, md, csv or json; md, csv and json files are written",
    ),
    dataset: list[str] = typer.Option(
        [],
        "--dataset",
        help="only these datasets, by name or label (repeatable, comma-separated, dcgan* patterns)",
    ),
    model: list[str] = typer.Option(
        [], "--model", help="only these models, by name or label (repeatable, comma-separated, patterns)"
    ),
    metric: str | None = typer.Option(
        None, "--metric", help="rank by this score where a dataset has it (default: FID, else the domain FD)"
    ),
    sort: SortBy = typer.Option(
        SortBy.metric,
        "--sort",
        help="row order in each section: metric (best first), model, latent, cost, seeds",
    ),
) -> None:
    """One row per model x dataset x latent size, aggregated over seeds; prints it and writes files.

    One section per dataset and protocol of its main metric; --sort orders the rows within each.

    With --dataset or --model the ranks are among the rows kept, and no files are written."""
    from bench.reporting import leaderboard as lbm

    _require_dir(out)
    results = lbm.collect(out)
    if not results:
        raise BenchError(f"--out: no finished cells in {out}")
    filtered = bool(dataset or model)
    lb = lbm.build(lbm.select(results, dataset, model), metric)
    lbm.check_metric(lb, metric, str(out))
    lbm.sort_rows(lb, sort)
    if fmt is Format.table:
        _print_leaderboard(lb)
    else:
        text = {"md": lbm.to_markdown, "csv": lbm.to_csv, "json": lbm.to_json}[fmt.value](lb)
        sys.stdout.write(text)
    if not filtered:
        lbm.write_files(lb, out)


def _print_leaderboard(lb) -> None:
    from bench.commands.run import print_leaderboard

    print_leaderboard(lb, console)


@app.command(hidden=True)
def cell(
    cell_dir: Path = typer.Argument(..., help="a cell folder holding config.json"),
    progress_lines: bool = typer.Option(False, "--progress-lines", help="report progress as @progress lines"),
) -> None:
    """Run one cell (used by the launchers). Exit code: 0 done or already finished, 1 failed, 73 another
    live process holds the cell (nothing written), 75 stopped with a checkpoint."""
    from bench.storage.cell_dir import CellDir

    CellDir(cell_dir).config  # noqa: B018  (not a cell folder: one line, exit 2)
    _quiet_deepspeed()
    from bench.cell.run import run_cell
    from bench.storage.cell_lock import CELL_BUSY_EXIT
    from bench.train.progress_log import progress_line

    def report(phase: str, done: int, total: int, values: dict[str, float] | None = None) -> None:
        # Every 1% is plenty for a progress bar and keeps the pipe quiet; losses come once per log flush.
        due = values or done == total or done % max(1, total // 100) == 0
        if due and int(os.environ.get("RANK", "0")) == 0:
            print(progress_line(phase, done, total, values), flush=True)

    from bench.train.preempt import PREEMPTED_EXIT, stop_on_signals

    # SIGUSR1 (SLURM, before a time limit or preemption), SIGTERM and a first Ctrl-C make the cell
    # checkpoint at the next step and exit with PREEMPTED_EXIT; the batch script then requeues it.
    with stop_on_signals() as stop:
        ended = run_cell(cell_dir, report if progress_lines else None, stop)
    codes = {"preempted": PREEMPTED_EXIT, "failed": 1, "busy": CELL_BUSY_EXIT}
    if ended.status in codes:
        raise typer.Exit(codes[ended.status])


@app.command("cell-crashed", hidden=True)
def cell_crashed(
    cell_dir: Path = typer.Argument(..., help="a cell folder"),
    code: int = typer.Option(..., "--code", help="the exit status of the cell's process"),
    log: Path | None = typer.Option(None, "--log", help="the log to quote"),
) -> None:
    """Record a cell whose process died without a result (used by the SLURM batch script); a cell
    with a result, or whose lock another live process holds, is left as it is."""
    from bench.launch.cells import record_crash
    from bench.storage.cell_dir import CellDir

    cell = CellDir(cell_dir)
    holder = cell.lock_holder()
    if cell.read_result() is None and not (holder is not None and holder.alive(None)):
        record_crash(cell_dir, code, log)


def _quiet_deepspeed() -> None:
    """accelerate imports DeepSpeed when it is installed, and DeepSpeed warns on import, in every cell,
    that it found no GPU and chose the CPU. Without a GPU that is the expected case: say it up front
    (cells inherit the environment of `bench run`)."""
    import torch

    if "DS_ACCELERATOR" not in os.environ and not torch.cuda.is_available():
        os.environ["DS_ACCELERATOR"] = "cpu"


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
        # Choices validated through pydantic carry its "Value error, " inside click's "Invalid value".
        msg = err.format_message().replace("Value error, ", "")
        err_console.print(f"[bold red]error:[/] {msg}", highlight=False, soft_wrap=True)
        sys.exit(2)
    except (typer.Abort, KeyboardInterrupt):
        err_console.print("aborted")
        sys.exit(130)
    except typer.Exit as err:
        sys.exit(err.exit_code)
    except OSError as err:  # a full disk, a read-only or unwritable folder: what to do, not a traceback
        from bench.fs import os_error_line

        line = os_error_line(err)
        if line is None:
            raise
        err_console.print(f"[bold red]error:[/] {line}", highlight=False, soft_wrap=True)
        sys.exit(BenchError.exit_code)


if __name__ == "__main__":
    main()
