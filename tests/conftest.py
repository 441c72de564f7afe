"""Shared fixtures: an isolated cache per test session and tiny grids that train in seconds."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch
import yaml

torch.set_num_threads(min(2, os.cpu_count() or 1))


@pytest.fixture(autouse=True, scope="session")
def _isolated_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Derived data (classifiers, generated datasets) goes to a session temp dir, never ~/.cache."""
    os.environ["BENCH_CACHE"] = str(tmp_path_factory.mktemp("bench-cache"))
    os.environ.pop("BENCH_DATA", None)


@pytest.fixture
def one_blas_thread():
    """One BLAS/torch thread for tests of small eigen-solves and distance blocks: on 2 shared cores a
    second thread only spins (a 256-wide FD took 6.3 s with 2 threads, 0.07 s with 1)."""
    from threadpoolctl import threadpool_limits

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    with threadpool_limits(limits=1):
        yield
    torch.set_num_threads(threads)


TINY_GRID = {
    "name": "tiny",
    "train": {"steps": 24, "batch_size": 16, "log_every": 8, "checkpoint_every": 8},
    "eval": {"n_samples": 120, "kid_subset_size": 50, "kid_subsets": 5, "batch_size": 60},
    "datasets": ["digits"],
    "latent_sizes": [4],
    "seeds": [0],
    "models": ["mlp_vae", {"dcgan": {"g_width": 8, "d_width": 8}}],
}


@pytest.fixture
def write_grid(tmp_path: Path):
    """write_grid(**changes) -> path of a YAML grid file: TINY_GRID with top-level keys replaced."""

    def write(name: str = "grid.yaml", **changes: object) -> Path:
        path = tmp_path / name
        path.write_text(yaml.safe_dump({**TINY_GRID, **changes}))
        return path

    return write
