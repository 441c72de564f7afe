"""`bench report` on a fabricated results folder: failed, diverged, one-seed and mixed-protocol rows."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
import typer
import yaml
from typer.testing import CliRunner

from bench.commands import report as report_command
from bench.errors import BenchError
from bench.grid import expand
from bench.reporting.report import write_report
from tests.helpers.report_fixtures import fabricate


def run_command(*args: str):
    """`bench report ARGS` through a Typer app registered the way bench/cli.py registers it."""
    app = typer.Typer()
    report_command.register(app)
    app.command("noop")(lambda: None)  # a second command, so `report` is a sub-command as in bench
    return CliRunner().invoke(app, ["report", *args])


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict]:
    out = tmp_path_factory.mktemp("results")
    cells = fabricate(out)
    res = run_command("--out", str(out))
    assert res.exit_code == 0, res.output
    assert f"wrote {out / 'report' / 'index.html'}" in " ".join(res.output.split())
    return out, out / "report", cells


def images(html: str) -> list[str]:
    return re.findall(r'<img src="([^"]+)"', html)


def test_files_are_self_contained(built, tmp_path: Path) -> None:
    out, folder, _ = built
    assert folder == out / "report"
    html = (folder / "index.html").read_text()
    srcs = images(html)
    assert len(srcs) >= 8
    assert all(not s.startswith(("/", "http")) for s in srcs) and "<script src" not in html
    copy = tmp_path / "copied"
    shutil.copytree(folder, copy)  # the report alone, away from the results
    assert all((copy / s).is_file() and (copy / s).stat().st_size > 0 for s in srcs)
    assert any(s.startswith("samples/") for s in srcs) and "analyses/" in html
    assert not list(out.glob(".report.*")), "the temporary folder was renamed into place"
    md = (folder / "report.md").read_text()
    assert "No cell has a closest_pairs.png." in md and "No cell has a tb/ folder." in md
    assert "**copies**" not in md


def test_sections_per_protocol_with_statistics(built) -> None:
    _, folder, _ = built
    md = (folder / "report.md").read_text()
    html = (folder / "index.html").read_text()
    for text in (md, html):
        assert "digits: fd_digits (lower is better)" in text
        assert "digits: fd_digits@00000200 (lower is better)" in text  # wgan_gp, scored at N=200
        assert "rows were scored at different N (fd_digits at N=120, fd_digits@00000200 at N=200)" in text
        # ... and names the rows at each N.
        assert "N=200 (vs 360 real): wgan_gp z8." in text
        assert "N=120 (vs 360 real): mlp_vae z8, mlp_vae z4, dcgan[d_width=8,g_width=8] z4" in text
        assert "± 0 " not in text and "sorted by None" not in text
    # mlp_vae z8 (30, one seed) ranks first; mlp_vae z4 (mean 41) and dcgan z4 (41.2) cannot be told apart.
    # (eval std and the seed std net of it: "-" for rows without evaluation repeats)
    # One seed: no interval, and its rank set is every place (1-5: nothing is known against it).
    assert "| mlp_vae | 8 | 1 | 30 | n=1, spread unknown | - | - | n=1, no interval | 1-5 |" in md
    # t interval of {40, 41, 42}: 41 ± 4.303 * 1 / sqrt(3) = [38.52, 43.48].
    assert "| mlp_vae | 4 | 3 | 41 | 1 | - | - | [38.52, 43.48] (t, 2 df) | 1-4 |" in md
    assert "- mlp_vae z8 on fd_digits: one seed, so its spread and its separation" in md
    assert (
        "- mlp_vae z4 and dcgan[d_width=8,g_width=8] z4 cannot be told apart on fd_digits with 3 and 2 seeds"
        in md
    )
    # Six comparisons in the Holm family (four rows with two seeds or more); a separable pair in words.
    assert "- mlp_vae z4 is better than dcgan[d_width=8,g_width=8] z8 on fd_digits (difference -41.33" in md
    assert "Holm over 6 comparisons" in md
    # dcgan z8 carries evaluation repeats: their spread is shown beside the seeds' one.
    assert "| std | eval std | seed std net of eval | 95% CI of mean |" in md
    # Repeats 79-81, 84-86, 81-83: eval std 1; seed means 80, 85, 82 (var 6.33) net of 1/3: 2.45.
    assert "| dcgan[d_width=8,g_width=8] | 8 | 3 | 82.33 | 2.5 | 1 | 2.4 | [" in md
    assert "(t, 2 df; seeds of 3 eval repeats)" in md and "Student's t" in md
    assert "17 cells in 6 rows" in md and "13 done, 1 failed, 1 diverged, 1 pending, 1 running." in md


def test_family_tables_stability_and_flagged_cells(built) -> None:
    out, folder, cells = built
    md = (folder / "report.md").read_text()
    assert "### vae" in md and "bpd" in md.split("### vae")[1].split("##")[0]
    gan = md.split("### gan")[1].split("\n## ")[0]
    assert "| n | cond_accuracy_digits | fd_digits_class_mean |" in gan
    assert (
        "| cond_dcgan[d_width=8,g_width=8] | digits | 4 | 2 | 0.8 (all 2 seeds equal) | 52.5 ± 2.1 |" in gan
    )
    assert "| wgan_gp |" not in gan  # rows without the family's own metrics are left out
    # FD per class, mean over the two seeds: class c of seed s is 50 or 52, + c + s.
    assert "fd_digits per class (mean over seeds):" in gan
    assert "| cond_dcgan[d_width=8,g_width=8] | digits | 4 | 51.5 | 52.5 | 53.5 |" in gan
    cost = md.split("## Cost")[1].split("\n## ")[0]
    assert (
        "| dcgan[d_width=8,g_width=8] | digits | 8 | 3 | 2 | 3000 | - | 1 GiB (max allocated) | NVIDIA H200 |"
        in cost
    )
    failed = cells[("dcgan", 4)][2].cell_id
    vanished = cells[("dcgan", 8)][1].cell_id
    diverged = cells[("wgan_gp", 8)][1].cell_id
    flagged = md.split("### Flagged cells")[1].split("##")[0]
    assert f"`{failed}`" in flagged and "**failed**: RuntimeError: boom" in flagged
    assert f"`{diverged}`" in flagged and "**diverged**: d/loss became nan" in flagged
    assert f"`{vanished}`" in flagged and "**vanishing-gradient**" in flagged and "**d-loss-zero**" in flagged
    assert f"[cell.log](../{failed}/cell.log)" in flagged
    healthy = [c.cell_id for c in cells[("mlp_vae", 4)]] + [cells[("dcgan", 8)][0].cell_id]
    assert not any(h in flagged for h in healthy)
    assert "| mlp_vae | digits | 4 | 3 | 0% | 0% | 0 |" in md
    assert "| dcgan[d_width=8,g_width=8] | digits | 4 | 3 | 33% | 0% | 0 |" in md


def test_reproduce_grids_expand_to_exactly_the_rows_cells(built) -> None:
    out, folder, cells = built
    html = (folder / "index.html").read_text()
    for (model, z), cfgs in cells.items():
        # The seeds that have a result: mlp_vae z8 has one, the other rows all three.
        wanted = {cfgs[0].cell_id} if (model, z) == ("mlp_vae", 8) else {c.cell_id for c in cfgs}
        ids = set()
        for grid in (folder / "reproduce").glob("*.yaml"):
            expanded = {c.cell_id for c in expand(yaml.safe_load(grid.read_text()), str(grid)).cells}
            if expanded & wanted:
                ids = expanded
                assert f"bench run --grid {out / 'report' / 'reproduce' / grid.name} --out {out}" in html
        assert ids == wanted, (model, z)


def test_metric_option_and_bad_input(built, tmp_path: Path) -> None:
    out, _, _ = built
    copy = shutil.copytree(out, tmp_path / "results", ignore=shutil.ignore_patterns("report"))
    md = (write_report(copy, "kid_digits", models=["mlp_vae", "dcgan*"]) / "report.md").read_text()
    assert "## digits: kid_digits (lower is better)" in md and "## digits: fd_digits (" not in md
    # --model keeps the rows it matches (a pattern, so not cond_dcgan), in every table of the report.
    assert "| dcgan[d_width=8,g_width=8] | digits | 8 |" in md
    assert "wgan_gp" not in md and "cond_dcgan" not in md
    with pytest.raises(BenchError, match="--metric: 'nope' is no score"):
        write_report(out, "nope")
    with pytest.raises(BenchError, match="no cell folders"):
        write_report(tmp_path / "empty")
    res = run_command("--out", str(out), "--metric", "nope")
    assert isinstance(res.exception, BenchError)  # bench's main() turns it into one line and exit 2
