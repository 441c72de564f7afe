"""`bench data fetch NAME [--root DIR]`: download a dataset into the data root, on a machine with internet.
`bench data check [NAME|SPEC|GRID ...] [--root DIR]`: judge the files of datasets without training: built-in
ones in the data root, your folders (`'{folder: {path: DIR, labeled: true}}'`), or every dataset of a grid.

Offline compute nodes then read it from the shared root; see bench/datasets/fetch.py for why a download
that is interrupted never leaves a folder that later reads as a dataset, and bench/datasets/integrity.py
for what a check accepts (official files, and copies that differ but read correctly).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.console import Console

from bench.errors import BenchError

if TYPE_CHECKING:
    from bench.datasets.source import DatasetSource

data_app = typer.Typer(
    help="Datasets under the data root: download them once, on a machine with internet; check them.",
    no_args_is_help=True,
)
console = Console(stderr=True)


@data_app.command()
def fetch(
    name: str = typer.Argument(..., help="a dataset of `bench list datasets` that has files to download"),
    root: Path | None = typer.Option(None, "--root", help="data root; default: BENCH_DATA"),
) -> None:
    """Download NAME into the data root: to a temporary folder, verified, then renamed into place."""
    from bench.datasets import DATASETS
    from bench.datasets.fetch import fetch as fetch_remote

    cls = DATASETS.get(name, "data fetch")
    remote = getattr(cls, "remote", None)
    if remote is None:
        raise BenchError(
            f"data fetch: {name} has no files to download ({cls(cls.Args(**cls.example_args)).info().source})"
        )
    folder = fetch_remote(remote, _root(root, "data fetch"), say=console.print)
    print(folder)


def _root(root: Path | None, command: str) -> Path:
    if root is None:
        env = os.environ.get("BENCH_DATA")
        if not env:
            raise BenchError(f"{command}: give --root DIR or set BENCH_DATA=DIR")
        root = Path(env)
    return root.expanduser()


def is_grid_file(text: str) -> bool:
    """A YAML file (`--real g.yaml`, `bench data check g.yaml`): its datasets, with their arguments."""
    return text.endswith((".yaml", ".yml")) or Path(text).is_file()


def grid_datasets(name_or_path: str) -> tuple[list[tuple[str, DatasetSource]], Path | None]:
    """The distinct datasets of a grid (a file or a built-in name), bound to their arguments, and the
    grid's `data: root` (None when it has none)."""
    from bench.datasets import DATASETS
    from bench.fs import canonical_json
    from bench.grid import load_grid

    grid = load_grid(name_or_path)
    seen: dict[tuple[str, str], tuple[str, DatasetSource]] = {}
    for cell in grid.cells:
        key = (cell.dataset, canonical_json(cell.dataset_args))
        if key not in seen:
            cls = DATASETS.get(cell.dataset)
            seen[key] = (cell.dataset, cls(cls.Args.model_validate(cell.dataset_args)))
    root = grid.data.root if grid.data is not None else None
    return list(seen.values()), Path(root) if root else None


def named_datasets(text: str, where: str) -> tuple[list[tuple[str, DatasetSource]], Path | None]:
    """What one argument names: a dataset (`mnist5k`), a spec (`{folder: {path: DIR}}`), or a grid (a
    YAML file or a built-in grid's name: every dataset it trains on). Also the grid's data root."""
    from bench.datasets import DATASETS
    from bench.datasets.spec import is_inline, parse_spec
    from bench.grids import builtin_grids

    if is_inline(text) or text in DATASETS:
        return [parse_spec(text, where)], None
    if is_grid_file(text) or text in builtin_grids():
        return grid_datasets(text)
    raise BenchError(
        f"{where}: {text!r} is neither a dataset ({', '.join(DATASETS.names())}), a spec such as "
        "'{folder: {path: DIR, labeled: true}}', nor a grid file"
    )


@data_app.command()
def check(
    names: list[str] | None = typer.Argument(
        None,
        help="datasets of `bench list datasets`, specs such as '{folder: {path: DIR, labeled: true}}', or "
        "grid files (every dataset they train on); default: every dataset with files to download",
    ),
    root: Path | None = typer.Option(
        None, "--root", help="data root; default: BENCH_DATA, else a named grid's data: root"
    ),
) -> None:
    """Check the files of each dataset as `bench run` does before training (present, official MD5 or
    readable with the right shapes, every listed image there; a folder's images per split and the size
    they are read at) and print one line per dataset: ok, ok with warnings, absent, or what is wrong.
    Exit code 2 when any named dataset (or any dataset that is partly there) is bad."""
    from bench.datasets import DATASETS
    from bench.datasets.source import DataContext, cache_root

    chosen: dict[str, DatasetSource] = {}
    grid_root: Path | None = None
    for text in names or []:
        found, from_grid = named_datasets(text, "data check")
        grid_root = grid_root or from_grid
        for name, source in found:
            chosen[name if name == text else source.info().name] = source
    if not names:  # one entry per downloadable dataset (celeba_domains reads celeba's files)
        seen: set[str] = set()
        for name, cls in DATASETS.items():
            remote = getattr(cls, "remote", None)
            if remote is not None and remote.name not in seen and not cls.example_args:
                seen.add(remote.name)
                chosen[name] = cls(cls.Args())
    # The root matters to downloaded datasets only: a folder's relative path is then under the
    # working directory, and bundled data (mnist5k, digits) needs none.
    if root is None and not os.environ.get("BENCH_DATA") and grid_root is not None:
        root = grid_root
    needs_root = any(hasattr(s, "remote") for s in chosen.values())
    data_root = _root(root, "data check") if needs_root or root is not None else _env_root()
    ctx = DataContext(data_root=data_root, cache_dir=cache_root() / "data")

    def text(message: str) -> str:  # the line already starts with the dataset's name
        return message.split(": ", 1)[1] if message.startswith(f"{report.name}: ") else message

    bad = False
    for name, source in chosen.items():
        report = source.check(ctx)
        if report.absent and not names:
            print(f"{name}: absent ({text(report.problems[0]) if report.problems else report.summary})")
            continue
        if report.problems:
            bad = True
            print(f"{name}: BAD: {text(report.problems[0])}")
            details = report.problems[1:] + report.warnings
        elif report.warnings:
            print(f"{name}: ok, {len(report.warnings)} warning(s): {text(report.warnings[0])}")
            details = report.warnings[1:]
        else:
            print(f"{name}: ok ({report.summary})")
            details = []
        for line in details:
            print(f"    {text(line)}")
    if bad:
        raise typer.Exit(2)


def _env_root() -> Path | None:
    env = os.environ.get("BENCH_DATA")
    return Path(env).expanduser() if env else None
