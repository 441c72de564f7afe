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
    dataset: list[str] = typer.Option(
        [], "--dataset", help="only these datasets, by name or label (repeatable, comma-separated, patterns)"
    ),
    model: list[str] = typer.Option(
        [], "--model", help="only these models, by name or label (repeatable, comma-separated, patterns)"
    ),
) -> None:
    """Write OUT/report/: leaderboards with CIs and ranks, family metrics, figures, stability, samples,
    and per row the grid file and command that reproduce it (self-contained: works offline)."""
    from bench.reporting.report import write_report

    folder = write_report(out, metric, dataset, model)
    console.print(f"wrote {folder / 'index.html'} and {folder / 'report.md'}", highlight=False)


def register(app: typer.Typer) -> None:
    app.command("report")(report_command)
