"""Files missing on an offline machine, interrupted downloads, and where the data root comes from."""

from __future__ import annotations

import gzip
import shutil
import subprocess
import sys
from pathlib import Path
from unittest import mock

import pytest
import torch
import yaml
from typer.testing import CliRunner

from bench.cli import app
from bench.datasets import DATASETS, DataContext
from bench.datasets.fabricate import write_mnist
from bench.datasets.fetch import fetch
from bench.datasets.root import prepare
from bench.errors import BenchError
from bench.grid import load_grid

MNIST_GZ = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)


def mnist():
    cls = DATASETS.get("mnist")
    return cls(cls.Args())


def fake_server(tmp_path: Path, fail_at: int | None = None, error: type[BaseException] = RuntimeError):
    """A stand-in for torchvision's downloader that serves fabricated MNIST files (and extracts them,
    as the real one does), raising on the `fail_at`-th file: a connection dropped mid-download."""
    served = tmp_path / "server"
    write_mnist(served)
    calls = []

    def download_and_extract_archive(url: str, download_root: str, filename: str, md5: str) -> None:
        calls.append(filename)
        if fail_at is not None and len(calls) >= fail_at:
            raise error(f"connection reset while fetching {url}")
        shutil.copy(served / "MNIST" / "raw" / filename, Path(download_root) / filename)
        with gzip.open(Path(download_root) / filename) as src:
            (Path(download_root) / filename.removesuffix(".gz")).write_bytes(src.read())

    return mock.patch("torchvision.datasets.mnist.download_and_extract_archive", download_and_extract_archive)


def test_missing_files_are_one_error_naming_the_files_and_the_fetch_command(tmp_path: Path) -> None:
    root = tmp_path / "data"
    ctx = DataContext(data_root=root, cache_dir=tmp_path / "cache")
    with pytest.raises(BenchError) as err:
        mnist().load("train", ctx)
    text = str(err.value)
    assert "\n" not in text
    for name in MNIST_GZ:
        assert f"MNIST/raw/{name}.gz" in text
    assert f"bench data fetch mnist --root {root}" in text
    with pytest.raises(BenchError, match="no data root; give --data-root DIR, set BENCH_DATA"):
        mnist().require(DataContext(data_root=None))


def test_bench_run_refuses_before_writing_anything_and_dry_run_says_why(write_grid, tmp_path) -> None:
    grid = write_grid(datasets=["mnist"], models=["mlp_vae"])
    out, root = tmp_path / "out", tmp_path / "empty-root"
    args = ["run", "--grid", str(grid), "--out", str(out), "--data-root", str(root)]
    dry = CliRunner().invoke(app, [*args, "--dry-run"], standalone_mode=False)
    # The dry run lists the cells, then checks the data as the run would: the same line, exit 2.
    assert dry.exception is None and dry.return_value == 2 and "mlp_vae_mnist" in dry.stdout
    assert f"error: mnist: the 4 expected files are missing under {root}" in dry.stderr
    assert not out.exists()
    proc = subprocess.run(
        [sys.executable, "-m", "bench", *args],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 2, proc.stderr
    assert (
        proc.stderr.startswith(f"error: mnist: the 4 expected files are missing under {root}: MNIST/raw/")
        and "Traceback" not in proc.stderr
    )
    assert proc.stderr.count("\n") == 1, proc.stderr
    assert f"bench data fetch mnist --root {root}" in proc.stderr
    assert not out.exists()


def test_a_cell_hitting_missing_files_fails_with_that_message(write_grid, tmp_path, monkeypatch) -> None:
    from bench.cell.run import run_cell
    from bench.launch.cells import materialize

    monkeypatch.setenv("BENCH_DATA", str(tmp_path / "moved-away"))
    (cell_dir,) = materialize(
        load_grid(str(write_grid(datasets=["mnist"], models=["mlp_vae"]))), tmp_path / "o"
    )
    run = run_cell(cell_dir)
    assert run.status == "failed"
    assert "bench data fetch mnist --root" in run.reason and "expected files are missing" in run.reason


def test_interrupted_download_leaves_nothing_that_loads_and_the_next_fetch_works(tmp_path: Path) -> None:
    root = tmp_path / "data"
    ctx = DataContext(data_root=root, cache_dir=tmp_path / "cache")
    with (
        fake_server(tmp_path, fail_at=3),
        pytest.raises(BenchError, match="download failed.*connection reset"),
    ):
        fetch(DATASETS.get("mnist").remote, root)
    assert not (root / "MNIST").exists() and not list(root.glob(".partial-*"))
    with pytest.raises(BenchError, match="expected files are missing"):
        mnist().load("train", ctx)
    # Ctrl-C in the middle: the temporary folder goes too, and the interrupt is not swallowed.
    with fake_server(tmp_path / "b", fail_at=2, error=KeyboardInterrupt), pytest.raises(KeyboardInterrupt):
        fetch(DATASETS.get("mnist").remote, root)
    assert not (root / "MNIST").exists() and not list(root.glob(".partial-*"))
    # A hard kill leaves a .partial folder: never read as data, and removed by the next fetch.
    stale = root / ".partial-mnist-killed" / "MNIST" / "raw"
    write_mnist(stale.parent.parent)
    with pytest.raises(BenchError, match="expected files are missing"):
        mnist().require(ctx)
    with fake_server(tmp_path / "c"):
        res = CliRunner().invoke(app, ["data", "fetch", "mnist", "--root", str(root)], standalone_mode=False)
    assert res.exception is None, res.output
    assert not list(root.glob(".partial-*"))
    train = mnist().load("train", ctx)
    assert train.images.shape == (40, 1, 28, 28) and train.labels.dtype == torch.int64
    with fake_server(tmp_path / "d", fail_at=1):  # complete already: nothing is downloaded again
        fetch(DATASETS.get("mnist").remote, root)


def test_fetch_refuses_names_without_files_and_unknown_names(tmp_path: Path) -> None:
    for name, message in (("digits", "digits has no files to download"), ("imagenet", "unknown dataset")):
        res = CliRunner().invoke(app, ["data", "fetch", name, "--root", str(tmp_path)], standalone_mode=False)
        assert isinstance(res.exception, BenchError) and message in str(res.exception)


def test_grid_data_key_sets_the_root_without_changing_cell_ids(write_grid, tmp_path, monkeypatch) -> None:
    plain = load_grid(str(write_grid(datasets=["mnist"])))
    g = load_grid(
        str(write_grid("g2.yaml", datasets=["mnist"], data={"root": "rel/data", "download": False}))
    )
    assert [c.cell_id for c in g.cells] == [c.cell_id for c in plain.cells]
    assert g.data.root == str(tmp_path / "rel" / "data")  # relative to the grid file's folder
    write_mnist(tmp_path / "rel" / "data")
    monkeypatch.setenv("BENCH_DATA", "")  # unset, and restored after the test whatever prepare() exports
    assert prepare(g).data_root == tmp_path / "rel" / "data"
    # --data-root wins over BENCH_DATA, which wins over the grid.
    monkeypatch.setenv("BENCH_DATA", str(tmp_path / "env"))
    with pytest.raises(BenchError, match=f"missing under {tmp_path / 'env'}"):
        prepare(g)
    assert prepare(g, cli_root=tmp_path / "rel" / "data").data_root == tmp_path / "rel" / "data"
    bad = write_grid("g3.yaml", data={"rooot": "x"})
    with pytest.raises(BenchError, match="data.rooot: unknown key"):
        load_grid(str(bad))


def test_download_true_fetches_before_the_first_cell(write_grid, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("BENCH_DATA", "")  # unset, and restored after the test whatever prepare() exports
    root = tmp_path / "fresh"
    g = load_grid(str(write_grid(datasets=["mnist"], data={"root": str(root), "download": True})))
    with fake_server(tmp_path):
        ctx = prepare(g)
    assert ctx.download and (root / "MNIST" / "raw" / "train-images-idx3-ubyte.gz").is_file()


def test_a_grid_can_name_every_dataset_and_derived_ones_without_any_data(tmp_path: Path) -> None:
    grid = tmp_path / "all.yaml"
    labeled = [
        "mnist",
        {"cifar10": {"classes": ["cat", "dog"]}},
        {"svhn": {"extra_in_train": True}},
        {"celeba": {"label": "Eyeglasses", "where": {"Male": 1}}},
        "dsprites",
        {"tiny_imagenet": {"resolution": 32}},
    ]
    pairs = [
        {"celeba_domains": {"a": {"Male": 1, "Eyeglasses": 1}, "b": {"Male": 0, "Eyeglasses": 1}}},
        {"folder_unpaired": {"path": "horse2zebra", "resolution": 32}},
    ]
    grid.write_text(
        yaml.safe_dump(
            {
                "name": "every-dataset",
                "latent_sizes": [8],
                "train": {"steps": 10},
                "blocks": [
                    {"models": ["mlp_vae"], "datasets": labeled},
                    {
                        "models": ["cyclegan"],
                        "datasets": pairs,
                        "eval": {"extractor": "inception", "metrics": ["fid"]},
                    },
                    {
                        "models": ["pix2pix"],
                        "datasets": [{"folder_paired": {"path": "/no/such"}}],
                        "eval": {"extractor": "inception", "metrics": ["fid"]},
                    },
                ],
            }
        )
    )
    args = ["run", "--grid", str(grid), "--dry-run", "--data-root", str(tmp_path / "none")]
    res = CliRunner().invoke(app, args, standalone_mode=False)
    # Every cell validates; the dry run then names each dataset's missing files, one line each.
    assert res.exception is None and res.return_value == 2, res.exception
    missing = [line.split(":")[1].strip() for line in res.stderr.splitlines() if line.startswith("error: ")]
    assert {"mnist", "cifar10", "svhn", "celeba", "tiny_imagenet"} <= set(missing), res.stderr
    assert missing.count("celeba") == 1  # celeba_domains reads celeba's files: said once
    g = load_grid(str(grid))
    assert {c.dataset for c in g.cells} == {
        "mnist",
        "cifar10",
        "svhn",
        "celeba",
        "dsprites",
        "tiny_imagenet",
        "celeba_domains",
        "folder_unpaired",
        "folder_paired",
    }
