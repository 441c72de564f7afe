"""`bench status`: each cell's state (pending, queued, running, requeued, interrupted, done, failed with
its reason, diverged), one aligned row per cell, and the counts.

The rows are written as plain aligned text with the state coloured (when the console is a terminal),
not as a rich Table: measuring and wrapping a table of 5,000 rows took seconds, more than reading the
cells (bench/storage/status_index.py keeps that under a second; benchmarks/status_scale.py times both).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import typer
from rich.console import Console
from rich.style import Style

from bench.errors import BenchError

console = Console()
COLUMNS = ("cell", "model", "dataset", "latent", "seed", "state", "detail", "job")
COLOUR = {
    "done": "green",
    "failed": "red",
    "diverged": "magenta",
    "running": "cyan",
    "queued": "blue",
    "requeued": "blue",
    "interrupted": "yellow",
}


def require_dir(out: Path) -> None:
    """--out must be an existing folder: one line, exit code 2, otherwise."""
    if out.exists() and not out.is_dir():
        raise BenchError(f"--out: {out} is not a directory")
    if not out.is_dir():
        raise BenchError(f"--out: {out} does not exist")


def _painter(console: Console) -> dict[str, tuple[str, str]]:
    """state -> (ANSI prefix, suffix) for this console; empty strings where it shows no colour."""
    if not console.is_terminal or console.color_system is None:
        return {}
    marks = {}
    for state, colour in COLOUR.items():
        on, _, off = Style.parse(colour).render("\0", color_system=console.color_system).partition("\0")
        marks[state] = (on, off)
    return marks


def render(rows: list[tuple[str, ...]], console: Console) -> str:
    """The rows under a header, columns padded to their widest entry, the state column coloured."""
    table = [COLUMNS, *rows]
    widths = [max(len(r[k]) for r in table) for k in range(len(COLUMNS))]
    state_col = COLUMNS.index("state")
    marks = _painter(console)
    lines = []
    for row in table:
        cells = [v.ljust(w) for v, w in zip(row, widths, strict=True)]
        on, off = marks.get(row[state_col], ("", ""))
        cells[state_col] = f"{on}{cells[state_col]}{off}"
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)


def status_command(
    out: Path = typer.Option(Path("results"), "--out", help="results root: one folder per cell"),
) -> None:
    """Each cell's state: pending, running, interrupted, done, failed (reason), diverged."""
    from bench.launch.squeue import active_jobs  # not launch.slurm: that one imports torch
    from bench.storage.status import all_states

    require_dir(out)
    jobs = active_jobs()  # None where SLURM does not answer: states then come from the files alone
    states = all_states(out, jobs or frozenset())
    rows = [
        (
            s.cell_id,
            s.model,
            s.dataset,
            str(s.latent_size or "-"),
            str(s.seed),
            s.state.value,
            s.detail,
            f"{s.job} ({jobs[s.job]})" if s.job and jobs and s.job in jobs else (s.job or ""),
        )
        for s in states
    ]
    console.print(f"{len(states)} cells in {out}", highlight=False, markup=False, soft_wrap=True)
    if rows:
        # Written straight to the console's file: the text is final, with its own escape codes.
        console.file.write(render(rows, console) + "\n")
    counts = Counter(s.state.value for s in states)
    console.print(", ".join(f"{n} {k}" for k, n in sorted(counts.items())) or "no cells", highlight=False)


def register(app: typer.Typer) -> None:
    app.command("status")(status_command)
