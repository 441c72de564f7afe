"""The data root of a run, and the check `bench run` makes before anything is written.

The root is `--data-root`, else `BENCH_DATA`, else the grid's `data: {root: ...}` (the usual order of a
flag over the environment over a file). It reaches cells through `BENCH_DATA`, which local
subprocesses and SLURM jobs inherit, never through the cell config: moving the data changes no id.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.datasets.source import DATASETS, DataContext, DataSettings, cache_root
from bench.fs import canonical_json


def export_root(cli_root: Path | None) -> None:
    """Make `--data-root` the BENCH_DATA of this process and of every cell process it starts."""
    if cli_root is not None:
        os.environ["BENCH_DATA"] = str(cli_root.expanduser().resolve())


def resolve_root(cli_root: Path | None, settings: DataSettings | None) -> Path | None:
    if cli_root is not None:
        return cli_root.expanduser()
    env = os.environ.get("BENCH_DATA")
    if env:
        return Path(env).expanduser()
    if settings is not None and settings.root:
        return Path(settings.root)
    return None


def prepare(
    grid: Any,
    cli_root: Path | None = None,
    download: bool | None = None,
    say: Callable[[str], None] = lambda _: None,
) -> DataContext:
    """Check (or fetch, with download) the files of every dataset the grid names; raise one BenchError
    naming what is missing or unreadable and how to fix it, and `say` a warning for each file that is
    not byte-identical to the official one but reads correctly. Exports the root for the cells'
    processes."""
    settings: DataSettings | None = grid.data
    root = resolve_root(cli_root, settings)
    fetch = download if download is not None else bool(settings and settings.download)
    ctx = DataContext(data_root=root, cache_dir=cache_root() / "data", download=fetch)
    seen: set[tuple[str, str]] = set()
    for cell in grid.cells:
        key = (cell.dataset, canonical_json(cell.dataset_args))
        if key in seen:
            continue
        seen.add(key)
        cls = DATASETS.get(cell.dataset)
        report = cls(cls.Args.model_validate(cell.dataset_args)).check(ctx)
        report.raise_if_bad()
        for warning in report.warnings:  # copies that differ from the official files but read correctly
            say(f"warning: {warning}")
    if root is not None:
        os.environ["BENCH_DATA"] = str(root.resolve())
        say(f"data root: {root}")
    return ctx
