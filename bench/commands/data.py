"""`bench data fetch NAME [--root DIR]`: download a dataset into the data root, on a machine with internet.

Offline compute nodes then read it from the shared root; see bench/datasets/fetch.py for why a download
that is interrupted never leaves a folder that later reads as a dataset.
"""

from __future__ import annotations

import os
from pathlib import Path

import typer
from rich.console import Console

from bench.errors import BenchError

data_app = typer.Typer(
    help="Datasets under the data root: download them once, on a machine with internet.",
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
    if root is None:
        env = os.environ.get("BENCH_DATA")
        if not env:
            raise BenchError("data fetch: give --root DIR or set BENCH_DATA=DIR")
        root = Path(env)
    folder = fetch_remote(remote, root.expanduser(), say=console.print)
    print(folder)
