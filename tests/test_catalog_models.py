"""`bench list models` shows every model's arguments with their defaults; `bench.__version__` is the
installed distribution's."""

from __future__ import annotations

from importlib.metadata import version

import bench
from bench.catalog import listing


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
