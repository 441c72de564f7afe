"""`bench analyze [CELL_DIR] --what NAME [--opt key=value ...] [--out DIR]`: PNGs from trained cells.

With CELL_DIR the analysis runs on that cell and writes into its folder; without it, analyses that
compare cells (latent-stats across a latent-size sweep) run over every finished cell under --out.
"""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

from bench.errors import BenchError

console = Console()


def analyze(
    cell_dir: Path | None = typer.Argument(
        None, help="a trained cell folder; omit it to analyse every finished cell under --out"
    ),
    what: str = typer.Option(
        ..., "--what", help="the analysis (`bench list analyses`: traversal, interpolate, latent-stats, ...)"
    ),
    opts: list[str] = typer.Option([], "--opt", help="an option of the analysis, KEY=VALUE (repeatable)"),
    out: Path = typer.Option(Path("results"), "--out", help="results root, used when CELL_DIR is omitted"),
) -> None:
    """Run an analysis of trained cells and write its PNGs (and tables) beside them."""
    from bench.analysis import ANALYSES
    from bench.analysis.base import parse_options

    cls = ANALYSES.get(what, "--what")
    options = parse_options(cls.Options, opts)
    analysis = cls()
    if cell_dir is not None:
        from bench.analysis.load import load_cell

        if not cell_dir.is_dir():
            raise BenchError(f"CELL_DIR: {cell_dir} does not exist")
        cell = load_cell(cell_dir)
        analysis.check(cell.model, f"--what {what} on {cell.cfg.model}")
        written = analysis.run_cell(cell, options)
    else:
        if not out.is_dir():
            raise BenchError(f"--out: {out} does not exist")
        written = analysis.run_root(out, options)
    for path in written:
        console.print(f"wrote {path}", highlight=False, soft_wrap=True)
