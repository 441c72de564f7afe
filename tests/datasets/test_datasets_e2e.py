"""A grid on a real dataset format, end to end: fabricated MNIST files under --data-root, one cell
trained and evaluated through `bench run`, exactly as a user on a cluster would run it."""

from __future__ import annotations

from pathlib import Path

import yaml
from typer.testing import CliRunner

from bench.cli import app
from bench.datasets.fabricate import write_mnist
from bench.storage import files as store


def test_bench_run_trains_and_evaluates_a_cell_on_fabricated_mnist(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("BENCH_DATA", "")  # unset; restored after whatever `bench run` exports
    root, out = tmp_path / "data", tmp_path / "out"
    write_mnist(root, n_train=160, n_test=80)
    grid = tmp_path / "mnist.yaml"
    grid.write_text(
        yaml.safe_dump(
            {
                "name": "mnist-e2e",
                "train": {"steps": 6, "batch_size": 16, "log_every": 3},
                "eval": {"n_samples": 60, "kid_subset_size": 20, "kid_subsets": 2, "batch_size": 30},
                "datasets": [{"mnist": {"classes": [0, 1, 2, 3, 4, 5, 6, 7]}}],
                "models": ["mlp_vae"],
                "latent_sizes": [4],
            }
        )
    )
    args = ["run", "--grid", str(grid), "--out", str(out), "--in-process", "--data-root", str(root)]
    res = CliRunner().invoke(app, args, standalone_mode=False)
    assert res.exception is None, res.output
    (cell,) = [d for d in out.iterdir() if (d / "config.json").is_file()]  # besides report/
    result = store.read_result(cell)
    assert result["status"] == "done", result.get("reason")
    # The subset is its own extractor (8 classes), evaluated on the fabricated test split's 64 images.
    assert "fd_mnist_0-1-2-3-4-5-6-7" in result["metrics"]
    assert result["protocol"]["n_real"] == 64
