"""`bench report`: the study's answer as a folder (out/report/index.html and report.md)."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

console = Console()


def report_command(
    out: Path = typer.Option(Path("results"), "--out", help="results root: one folder per cell"),
    metric: str | None = typer.Option(
        None, "--metric", help="rank by this score where a dataset has it (default: FID, else the domain FD)"
    ),
) -> None:
    """Write OUT/report/: leaderboards with CIs and ranks, family metrics, figures, stability, samples,
    and per row the grid file and command that reproduce it (self-contained: works offline)."""
    from bench.results.report import write_report

    folder = write_report(out, metric)
    console.print(f"wrote {folder / 'index.html'} and {folder / 'report.md'}", highlight=False)


def register(app: typer.Typer) -> None:
    app.command("report")(report_command)
