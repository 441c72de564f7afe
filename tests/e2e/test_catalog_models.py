"""`bench list models` shows every model's arguments with their defaults, `bench list analyses` every
analysis; `--help` names the choices; `bench.__version__` is the
installed distribution's."""

from __future__ import annotations

from importlib.metadata import version

import bench
from bench.commands.catalog import listing


def test_models_listing_shows_each_models_arguments_and_defaults() -> None:
    _, header, rows = listing("models")
    by_model = {r[0]: dict(zip(header, r, strict=True)) for r in rows}
    args = by_model["wgan_gp"]["arguments (defaults)"].splitlines()
    assert "loss=wgan_gp" in args and "critic_steps=5" in args and "lr=0.0001" in args
    assert any(a.startswith("gp_weight=") for a in args)
    assert "betas=[0.0, 0.9]" in args
    assert "codebook_size=128" in by_model["vq_vae"]["arguments (defaults)"].splitlines()


def test_version_comes_from_the_installed_distribution() -> None:
    assert bench.__version__ == version("bench")


def test_analyses_listing_names_every_registered_analysis_and_its_hooks() -> None:
    from bench.analysis import ANALYSES

    _, header, rows = listing("analyses")
    assert [r[0] for r in rows] == ANALYSES.names()
    by_name = {r[0]: dict(zip(header, r, strict=True)) for r in rows}
    assert by_name["traversal"]["model hooks it needs"] == "prior, decode"


def test_help_lists_the_choices() -> None:
    from typer.testing import CliRunner

    from bench.cli import app

    out = CliRunner().invoke(app, ["run", "--help"], env={"COLUMNS": "200"}).output
    assert "a built-in grid (all, quick;" in out
    out = CliRunner().invoke(app, ["analyze", "--help"], env={"COLUMNS": "200"}).output
    assert "bench list analyses" in out
