"""`bench data fetch NAME [--root DIR]`: download a dataset into the data root, on a machine with internet.
`bench data check [NAME ...] [--root DIR]`: judge the files in the data root without training.

Offline compute nodes then read it from the shared root; see bench/datasets/fetch.py for why a download
that is interrupted never leaves a folder that later reads as a dataset, and bench/datasets/integrity.py
for what a check accepts (official files, and copies that differ but read correctly).
"""

from __future__ import annotations

import os
from pathlib import Path

import typer
from rich.console import Console

from bench.errors import BenchError

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


@data_app.command()
def check(
    names: list[str] | None = typer.Argument(
        None, help="datasets of `bench list datasets`; default: every dataset with files to download"
    ),
    root: Path | None = typer.Option(None, "--root", help="data root; default: BENCH_DATA"),
) -> None:
    """Check the files of each dataset as `bench run` does before training (present, official MD5 or
    readable with the right shapes, every listed image there) and print one line per dataset: ok, ok
    with warnings, absent, or what is wrong. Exit code 2 when any named dataset (or any dataset that
    is partly there) is bad."""
    from bench.datasets import DATASETS
    from bench.datasets.source import DataContext, DatasetSource, cache_root

    ctx = DataContext(data_root=_root(root, "data check"), cache_dir=cache_root() / "data")
    chosen: dict[str, DatasetSource] = {}
    for name in names or []:
        cls = DATASETS.get(name, "data check")
        if cls.example_args and not hasattr(cls, "remote"):
            raise BenchError(
                f"data check: {name} reads your own folders; name it in a grid and run `bench run`"
            )
        chosen[name] = cls(cls.Args(**cls.example_args))
    if not names:  # one entry per downloadable dataset (celeba_domains reads celeba's files)
        seen: set[str] = set()
        for name, cls in DATASETS.items():
            remote = getattr(cls, "remote", None)
            if remote is not None and remote.name not in seen and not cls.example_args:
                seen.add(remote.name)
                chosen[name] = cls(cls.Args())

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
