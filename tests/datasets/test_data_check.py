"""Data checks before training: users' copies that differ from the official files but read correctly are
used (with a warning), unreadable or incomplete ones are refused naming the file and the fix, and
torchvision's "Dataset not found or corrupted" never reaches the user. Files are fabricated in each
dataset's true on-disk format; nothing here patches torchvision's MD5 check."""

from __future__ import annotations

import gzip
import pickle
from pathlib import Path
from unittest import mock

import numpy as np
import pytest
import scipy.io
import torch

from bench.datasets import DATASETS, DataContext
from bench.datasets.fabricate import write_celeba, write_cifar10, write_mnist, write_svhn, write_tiny_imagenet
from bench.datasets.integrity import md5_of
from bench.errors import BenchError


def source(name: str, **args):
    cls = DATASETS.get(name)
    return cls(cls.Args(**args))


@pytest.fixture
def ctx(tmp_path: Path) -> DataContext:
    return DataContext(data_root=tmp_path / "data", cache_dir=tmp_path / "cache")


def truncate(path: Path, keep: float = 0.5) -> None:
    blob = path.read_bytes()
    path.write_bytes(blob[: int(len(blob) * keep)])


def test_cifar10_official_md5s_come_from_torchvision_and_a_repickled_copy_is_used(ctx: DataContext) -> None:
    from torchvision.datasets import CIFAR10 as TV

    written = write_cifar10(ctx.data_root)
    folder = ctx.data_root / "cifar-10-batches-py"
    # With torchvision's list naming these very bytes, the files are official: no warning.
    md5s = {f: md5_of(folder / f) for f in [*(f"data_batch_{i}" for i in range(1, 6)), "test_batch"]}
    with (
        mock.patch.object(TV, "train_list", [[f, md5s[f]] for f in md5s if f != "test_batch"]),
        mock.patch.object(TV, "test_list", [["test_batch", md5s["test_batch"]]]),
        mock.patch.dict(TV.meta, {"md5": md5_of(folder / "batches.meta")}),
    ):
        report = source("cifar10").check(ctx)
    assert (
        report.ok
        and report.warnings == []
        and "7 of 7 checked files match the official MD5s" in report.summary
    )
    # A Python 3 re-pickle with bytes keys (torchvision: KeyError 'data') holds the same arrays: used, said.
    data, labels = written["train"][0][20:30], written["train"][1][20:30]
    with open(folder / "data_batch_3", "wb") as f:
        pickle.dump({b"data": data, b"labels": labels, b"batch_label": b"x"}, f, protocol=4)
    report = source("cifar10").check(ctx)
    assert report.ok and len(report.warnings) == 1
    assert "not byte-identical to the official ones" in report.warnings[0]
    assert "data_batch_3 (10 images 3x32x32)" in report.warnings[0]
    train = source("cifar10").load("train", ctx)
    assert torch.equal(train.images, torch.from_numpy(written["train"][0].reshape(-1, 3, 32, 32)))


def test_cifar10_truncated_batch_is_refused_by_name_before_and_during_loading(tmp_path: Path) -> None:
    ctx = DataContext(data_root=tmp_path / "data", cache_dir=tmp_path / "cache")
    write_cifar10(ctx.data_root)
    bad = ctx.data_root / "cifar-10-batches-py" / "data_batch_3"
    truncate(bad)
    report = source("cifar10").check(ctx)
    assert not report.ok and len(report.problems) == 1
    text = report.problems[0]
    assert text.startswith(f"cifar10: {bad} cannot be unpickled")
    assert "is not the official file (its MD5 differs)" in text
    assert f"bench data fetch cifar10 --root {ctx.data_root}" in text
    with pytest.raises(BenchError, match=f"cifar10: {bad} cannot be unpickled") as err:
        source("cifar10").require(ctx)
    assert "\n" not in str(err.value)
    # A cell that loads without the pre-check gets the same file named, never torchvision's message.
    with pytest.raises(BenchError, match=f"{bad} cannot be unpickled"):
        source("cifar10").load("train", ctx)
    assert source("cifar10").load("test", ctx).images.shape == (20, 3, 32, 32)  # other files are fine


def test_svhn_reads_both_layouts_and_names_only_the_files_the_splits_need(tmp_path: Path) -> None:
    ours = DataContext(data_root=tmp_path / "a", cache_dir=tmp_path / "cache")
    written = write_svhn(ours.data_root)
    theirs = DataContext(data_root=tmp_path / "b", cache_dir=tmp_path / "cache")
    theirs.data_root.mkdir()
    for f in (ours.data_root / "svhn").iterdir():  # torchvision's layout: the .mat files in the root
        (theirs.data_root / f.name).write_bytes(f.read_bytes())
    a, b = source("svhn").load("train", ours), source("svhn").load("train", theirs)
    assert torch.equal(a.images, b.images) and torch.equal(a.labels, b.labels)
    assert torch.equal(a.images, torch.from_numpy(written["train"][0].transpose(3, 2, 0, 1).copy()))
    assert source("svhn").check(theirs).ok and source("svhn").check(theirs).folder == theirs.data_root
    # Missing files: exactly those of the requested splits, with both layouts said.
    empty = DataContext(data_root=tmp_path / "empty", cache_dir=tmp_path / "cache")
    text = source("svhn").check(empty).problems[0]
    assert "svhn/train_32x32.mat, svhn/test_32x32.mat" in text and "extra_32x32" not in text
    assert "torchvision's layout" in text
    with pytest.raises(BenchError, match="extra_32x32.mat is missing") as err:
        source("svhn", extra_in_train=True).require(theirs)
    assert "train_32x32" not in str(err.value)


def test_svhn_resaved_mat_is_used_and_a_truncated_one_refused(ctx: DataContext) -> None:
    written = write_svhn(ctx.data_root)
    test_file = ctx.data_root / "svhn" / "test_32x32.mat"
    x, y = written["test"]
    scipy.io.savemat(test_file, {"X": x, "y": (y.reshape(-1, 1)).astype(np.float64)}, do_compression=True)
    report = source("svhn").check(ctx)
    assert report.ok and "test_32x32.mat (20 images 32x32x3)" in report.warnings[0]
    assert source("svhn").load("test", ctx).labels.tolist() == [v % 10 for v in y.tolist()]
    truncate(ctx.data_root / "svhn" / "train_32x32.mat", 0.6)
    (problem,) = source("svhn").check(ctx).problems
    assert problem.startswith(
        f"svhn: {ctx.data_root / 'svhn' / 'train_32x32.mat'} cannot be read as a MATLAB"
    )
    # An `extra` file that is there is checked even when no split reads it.
    truncate(test_file, 1.0)
    (ctx.data_root / "svhn" / "extra_32x32.mat").write_bytes(b"not a mat file")
    assert any("extra_32x32.mat" in p for p in source("svhn").check(ctx).problems)


def test_celeba_tables_and_images_are_checked_by_name(ctx: DataContext) -> None:
    write_celeba(ctx.data_root)
    folder = ctx.data_root / "celeba"
    report = source("celeba").check(ctx)
    assert report.ok and "list_attr_celeba.txt (20 faces x 40 attributes)" in report.warnings[0]
    # torchvision's class would also demand (and MD5) identity, bbox and landmark files: bench reads none.
    (folder / "identity_CelebA.txt").unlink()
    assert len(source("celeba").load("train", ctx)) == 12
    (folder / "img_align_celeba" / "000007.jpg").unlink()
    (problem,) = source("celeba").check(ctx).problems
    assert "1 of the 20 images list_eval_partition.txt names are missing" in problem
    assert "(found 19), e.g. 000007.jpg" in problem
    attr = folder / "list_attr_celeba.txt"
    attr.write_text("\n".join(attr.read_text().splitlines()[:-5]) + "\n")  # cut short
    problems = source("celeba_domains", a={"Eyeglasses": 1}, b={"Eyeglasses": 0}).check(ctx).problems
    assert any(
        p.startswith(f"celeba: {attr} line 1 announces 20 images, the file lists 15 (cut short?)")
        for p in problems
    )


def test_tiny_imagenet_deleted_image_is_counted_and_named(tmp_path: Path) -> None:
    ctx = DataContext(data_root=tmp_path / "data", cache_dir=tmp_path / "cache")
    wnids = ("n01443537", "n01629819")
    write_tiny_imagenet(ctx.data_root, wnids, per_class=3, val_per_class=2)
    assert len(source("tiny_imagenet").load("train", ctx)) == 6  # decoded and cached
    assert source("tiny_imagenet").check(ctx).ok
    gone = ctx.data_root / "tiny-imagenet-200" / "train" / "n01629819" / "images" / "n01629819_1.JPEG"
    gone.unlink()
    (problem,) = source("tiny_imagenet").check(ctx).problems
    assert "1 of the 10 images its listings name" in problem and "found 9" in problem and str(gone) in problem
    # The cache key changed with the listing: loading reports it instead of training on 5 images.
    with pytest.raises(BenchError, match="1 of the 10 images its listings name.*found 9"):
        source("tiny_imagenet").load("train", ctx)


def test_mnist_truncated_gz_is_refused_and_decompressed_files_are_read(ctx: DataContext) -> None:
    written = write_mnist(ctx.data_root)
    raw = ctx.data_root / "MNIST" / "raw"
    for gz in raw.glob("*.gz"):  # only the decompressed idx files, as torchvision leaves them
        gz.with_suffix("").write_bytes(gzip.decompress(gz.read_bytes()))
        gz.unlink()
    assert source("mnist").check(ctx).ok
    assert torch.equal(source("mnist").load("train", ctx).images[:, 0], torch.from_numpy(written["train"][0]))
    with gzip.open(raw / "t10k-images-idx3-ubyte.gz", "wb") as f:
        f.write((raw / "t10k-images-idx3-ubyte").read_bytes()[:-100])  # one image short of its header
    (problem,) = source("mnist").check(ctx).problems
    assert problem.startswith(f"mnist: {raw / 't10k-images-idx3-ubyte.gz'} idx header announces (20, 28, 28)")


def test_bench_data_check_prints_one_line_per_dataset_and_exits_2_when_one_is_bad(tmp_path: Path) -> None:
    root = tmp_path / "data"
    write_cifar10(root)
    write_svhn(root)
    truncate(root / "svhn" / "test_32x32.mat")

    def check(*names: str):
        from typer.testing import CliRunner

        from bench.cli import app

        result = CliRunner().invoke(app, ["data", "check", *names, "--root", str(root)])
        result.returncode = result.exit_code
        return result

    proc = check("cifar10", "svhn")
    assert proc.returncode == 2, proc.output
    lines = [ln for ln in proc.stdout.splitlines() if not ln.startswith("    ")]  # details are indented
    assert lines[0].startswith("cifar10: ok, 1 warning(s): all 7 checked files")
    assert lines[1].startswith(f"svhn: BAD: {root / 'svhn' / 'test_32x32.mat'} cannot be read")
    assert len(lines) == 2 and "Dataset not found" not in proc.output
    everything = check()  # no names: every downloadable dataset, absent ones said but not bad
    assert everything.returncode == 2
    assert any(
        ln.startswith("mnist: absent (the 4 expected files are missing")
        for ln in everything.stdout.splitlines()
    )
    assert check("cifar10").returncode == 0
    named_absent = check("mnist")
    assert named_absent.returncode == 2 and named_absent.stdout.startswith("mnist: BAD: the 4 expected files")
