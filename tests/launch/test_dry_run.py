"""`bench run --dry-run` checks the data and weight files a grid needs, as a real run would before
training: every problem is one line naming the file and the fix, the exit code is 2, nothing is written."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from rich.console import Console

from bench.commands.run import StudyOptions, run_study
from bench.features import assets

GRID = {
    "name": "dry",
    "train": {"steps": 4, "batch_size": 8},
    "eval": {"n_samples": 100, "metrics": ["fd", "fid"]},
    "datasets": ["cifar10", "digits"],
    "latent_sizes": [4],
    "seeds": [0],
    "models": ["mlp_vae"],
}


def _dry_run(tmp_path: Path, grid: dict, root: Path) -> int:
    path = tmp_path / "grid.yaml"
    path.write_text(yaml.safe_dump(grid))
    opts = StudyOptions(grid=str(path), out=tmp_path / "out", dry_run=True, data_root=root, estimate=False)
    return run_study(opts, Console(file=open("/dev/null", "w")))  # noqa: SIM115


@pytest.fixture
def weights_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    d = tmp_path / "assets"
    d.mkdir()
    monkeypatch.setenv("BENCH_ASSETS", str(d))
    return d


def _errors(capsys: pytest.CaptureFixture[str]) -> list[str]:
    return [line for line in capsys.readouterr().err.splitlines() if line.startswith("error: ")]


def test_missing_data_and_weights_are_each_one_line_with_the_fix(
    tmp_path: Path, weights_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "data"
    root.mkdir()
    assert _dry_run(tmp_path, GRID, root) == 2
    data, weights = _errors(capsys)
    assert data.startswith("error: cifar10: ") and "cifar-10-batches-py/data_batch_1" in data
    assert f"bench data fetch cifar10 --root {root}" in data
    inception = next(a for a in assets.load_manifest().values() if a.extractor == "inception")
    assert str(weights_dir / inception.file) in weights and "is missing" in weights
    assert f"bench assets fetch --dir {weights_dir}" in weights
    assert not (tmp_path / "out").exists()


def test_a_wrong_weight_file_and_an_unreadable_data_file_are_named(
    tmp_path: Path, weights_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "data"
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch", "batches.meta"]:
        (folder / name).write_bytes(b"not a pickle")
    inception = next(a for a in assets.load_manifest().values() if a.extractor == "inception")
    (weights_dir / inception.file).write_bytes(b"truncated")
    assert _dry_run(tmp_path, GRID, root) == 2
    errors = _errors(capsys)
    assert any(str(folder / "data_batch_1") in e for e in errors), errors
    (weights,) = [e for e in errors if "weight file" in e]
    assert f"expected {inception.sha256}; delete it and run `bench assets fetch" in weights
    assert not (tmp_path / "out").exists()


def test_a_grid_whose_files_are_all_there_passes(
    tmp_path: Path, weights_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    grid = {**GRID, "datasets": ["digits"], "eval": {"n_samples": 100, "metrics": ["fd"]}}
    assert _dry_run(tmp_path, grid, tmp_path) == 0
    assert _errors(capsys) == []
    assert not (tmp_path / "out").exists()
