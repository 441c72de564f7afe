"""`bench leaderboard` filters (--dataset, --model, --metric, --sort), one section per dataset and
protocol, and tables that fit 80 columns when piped."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from bench.cli import app
from bench.errors import BenchError
from bench.fs import atomic_write_json
from tests.helpers.report_fixtures import fabricate


@pytest.fixture(scope="module")
def out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("results")
    fabricate(out)
    return out


def leaderboard(*args: str):
    return CliRunner().invoke(app, ["leaderboard", *args], env={"COLUMNS": "80"})


def model_order(text: str, section: str) -> list[str]:
    """The model labels of one printed section, top to bottom."""
    body = text.split(section)[1].split("protocol ")[0]
    rows = [line.split() for line in body.splitlines()]
    return [r[0] for r in rows if len(r) > 2 and r[1].isdigit()]


def test_filters_and_sort(out: Path) -> None:
    res = leaderboard("--out", str(out), "--model", "dcgan*", "--dataset", "digits")
    assert res.exit_code == 0, res.output
    assert "mlp_vae" not in res.output and "wgan_gp" not in res.output
    assert "dcgan[dw=8,gw=8]" in res.output and "cond_dcgan" not in res.output  # a pattern, not a substring
    res = leaderboard("--out", str(out), "--model", "mlp_vae,wgan_gp", "--format", "md")
    assert "## digits: fd_digits (lower is better)" in res.output
    assert "## digits: fd_digits@00000200 (lower is better)" in res.output and "dcgan" not in res.output
    # Rows at different N are named, in the section and at the end.
    named = "N=120 (vs 360 real): mlp_vae z8, mlp_vae z4; N=200 (vs 360 real): wgan_gp z8."
    assert res.output.count(named) == 3
    by_metric = model_order(leaderboard("--out", str(out)).output, "fd_digits (lower")
    assert by_metric == ["mlp_vae", "mlp_vae", "dcgan[dw=8,gw=8]", "cond_dcgan~1", "dcgan[dw=8,gw=8]"]
    by_model = model_order(leaderboard("--out", str(out), "--sort", "model").output, "fd_digits (lower")
    assert by_model == ["cond_dcgan~1", "dcgan[dw=8,gw=8]", "dcgan[dw=8,gw=8]", "mlp_vae", "mlp_vae"]
    res = leaderboard("--out", str(out), "--metric", "kid_digits", "--format", "md")
    assert "## digits: kid_digits (lower is better)" in res.output


def test_bad_filters_are_one_line(out: Path) -> None:
    for args, words in (
        (("--dataset", "cifar10"), "--dataset: no results match 'cifar10'; the results hold: digits"),
        (("--model", "nope"), "--model: no results match 'nope'"),
        (("--metric", "nope"), "--metric: 'nope' is no score of the results"),
    ):
        res = leaderboard("--out", str(out), *args)
        assert isinstance(res.exception, BenchError) and words in str(res.exception), args
    res = leaderboard("--out", str(out), "--sort", "nope")
    assert res.exit_code == 2 and "metric" in res.output and "cost" in res.output  # the choices


def test_nothing_finished_says_so(tmp_path: Path) -> None:
    base = {"model": "dcgan", "dataset": "digits", "latent_size": 8, "wall_seconds": 1.0}
    for seed, status in ((0, "failed"), (1, "diverged")):
        r = base | {"cell_id": f"c{seed}", "seed": seed, "status": status, "reason": "boom"}
        atomic_write_json(tmp_path / f"c{seed}" / "config.json", {})
        atomic_write_json(tmp_path / f"c{seed}" / "result.json", r)
    res = leaderboard("--out", str(tmp_path))
    assert res.exit_code == 0, res.output
    assert "no finished cells" in res.output and "None" not in res.output
    assert "rows without scores" in res.output


def test_piped_output_fits_80_columns_without_wrapped_headers(out: Path) -> None:
    res = leaderboard("--out", str(out))  # CliRunner's stdout is no terminal: as when piped
    assert res.exit_code == 0, res.output
    lines = res.stdout.splitlines()
    assert max(len(line) for line in lines) <= 80
    header = next(line for line in lines if line.lstrip().startswith("model"))
    assert header.split() == ["model", "z", "n", "mean", "±", "sd", "eval", "sd", "95%", "CI", "rank", "f/d"]
    after = lines[lines.index(header) + 1]
    assert set(after.strip()) == {"─"}, "the header is one line, its rule right below"
    assert "dcgan[d_width=8,g_width=8]" not in "\n".join(lines[: lines.index(header) + 8])
    assert "labels" in res.stdout and "dcgan[d_width=8,g_width=8]" in res.stdout  # the legend
