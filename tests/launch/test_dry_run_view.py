"""`bench run --dry-run` at 80 columns, piped: one line per cell for small grids, one line per
model x dataset block above dry_run.SUMMARY_ABOVE cells, labels shortened with a legend, no header
or value wrapped."""

from __future__ import annotations

from typer.testing import CliRunner

from bench.cli import app
from bench.commands.dry_run import SUMMARY_ABOVE


def dry_run(grid, out) -> list[str]:
    res = CliRunner().invoke(
        app,
        ["run", "--grid", str(grid), "--out", str(out), "--dry-run", "--no-estimate"],
        env={"COLUMNS": "80"},
    )
    assert res.exit_code == 0, res.output
    lines = res.output.splitlines()
    assert max(len(line) for line in lines) <= 80, max(lines, key=len)
    return lines


def header(lines: list[str], *first: str) -> list[str]:
    """The words of the table header starting with the words `first`; its next line must be the rule."""
    i = next(i for i, line in enumerate(lines) if line.split()[: len(first)] == list(first))
    assert set(lines[i + 1].strip()) == {"─"}, "a header on one line"
    return lines[i].split()


def test_small_grid_lists_every_cell(write_grid, tmp_path) -> None:
    lines = dry_run(write_grid(latent_sizes=[4, 8], seeds=[0, 1]), tmp_path / "out")
    assert "grid tiny: 8 cells" in lines[0]
    assert header(lines, "cell") == ["cell", "z", "seed", "budget", "batch", "eval", "N", "state"]
    rows = [line.split() for line in lines if "_digits_z" in line]
    assert len(rows) == 8 and all(r[-2:] == ["to", "run"] and r[3] == "24st" for r in rows), rows
    # The estimate's labels are short, and the legend spells them out.
    assert header(lines, "cells") == ["cells", "to", "run", "device-h", "from"]
    est = [line for line in lines if line.lstrip().startswith("dcgan")]
    assert est and all("d_width" not in line for line in est[:2])
    assert any("dcgan[d_width=8,g_width=8]" in line for line in lines)  # the legend


def test_large_grid_is_summarised_per_block(write_grid, tmp_path) -> None:
    seeds = list(range(SUMMARY_ABOVE // 2 + 1))  # 2 models x 21 seeds = 42 cells
    lines = dry_run(write_grid(seeds=seeds), tmp_path / "out")
    assert "grid tiny: 42 cells in 2 model x dataset blocks, seeds 0-20" in " ".join(
        " ".join(lines[:3]).split()
    )
    assert header(lines, "model") == ["model", "dataset", "done/cells", "z", "budget", "eval", "N"]
    blocks = [
        line.split() for line in lines if line.split()[:2] in (["mlp_vae", "digits"], ["dcgan~1", "digits"])
    ]
    assert [b[2] for b in blocks[:2]] == ["0/21", "0/21"] and not any(
        "_digits_z4_s" in line for line in lines
    )
    # The estimate's table is summarised per block too: 21 cells to run in each.
    assert header(lines, "model", "x") == ["model", "x", "dataset", "to", "run", "device-h", "from"]
    assert any(line.split()[:3] == ["mlp_vae", "digits", "21"] for line in lines)
