"""Each real dataset read from files fabricated in its true on-disk format, through the registry and
`load(split, ctx)`: the path a user's grid takes."""

from __future__ import annotations

from pathlib import Path
from unittest import mock

import numpy as np
import pytest
import torch

from bench.datasets import DATASETS, DataContext
from bench.datasets.celeba import ATTRIBUTES
from bench.datasets.fabricate import (
    write_celeba,
    write_cifar10,
    write_dsprites_npz,
    write_images,
    write_mnist,
    write_svhn,
    write_tiny_imagenet,
)
from bench.errors import BenchError

# CIFAR-10, SVHN and CelebA check MD5 sums of the real files; fabricated files need the check bypassed
# (files must still exist: torchvision's own tests patch the same function).
md5_ok = mock.patch("torchvision.datasets.utils.check_md5", return_value=True)


def source(name: str, **args):
    cls = DATASETS.get(name)
    return cls(cls.Args(**args))


@pytest.fixture
def ctx(tmp_path: Path) -> DataContext:
    return DataContext(data_root=tmp_path / "data", cache_dir=tmp_path / "cache")


def test_mnist_from_idx_gz_files(ctx: DataContext) -> None:
    written = write_mnist(ctx.data_root)
    train = source("mnist").load("train", ctx)
    assert train.images.shape == (40, 1, 28, 28) and train.images.dtype == torch.uint8
    assert torch.equal(train.images[:, 0], torch.from_numpy(written["train"][0]))
    assert torch.equal(train.labels, torch.from_numpy(written["train"][1]).long())
    test = source("mnist", resolution=32).load("test", ctx)
    assert test.images.shape == (20, 1, 32, 32)
    # A class subset keeps those digits, relabelled 0..k-1 in the order given.
    sub = source("mnist", classes=[7, "3"]).load("train", ctx)
    assert sorted(set(sub.labels.tolist())) == [0, 1] and len(sub) == 8
    sevens = torch.from_numpy(written["train"][0][written["train"][1] == 7])
    assert torch.equal(sub.images[sub.labels == 0][:, 0], sevens)


def test_cifar10_from_python_pickle_batches_and_a_cat_dog_subset(ctx: DataContext) -> None:
    written = write_cifar10(ctx.data_root)
    with md5_ok:
        train = source("cifar10").load("train", ctx)
        cats_dogs = source("cifar10", classes=["cat", "dog"])
        sub = cats_dogs.load("test", ctx)
    data, labels = written["train"]
    assert train.images.shape == (50, 3, 32, 32)
    # Rows are CHW-major: 1024 red, 1024 green, 1024 blue values.
    assert torch.equal(train.images, torch.from_numpy(data.reshape(-1, 3, 32, 32)))
    assert train.labels.tolist() == labels
    test_labels = np.array(written["test"][1])
    assert len(sub) == int(np.isin(test_labels, [3, 5]).sum()) and set(sub.labels.tolist()) == {0, 1}
    info = cats_dogs.info()
    assert info.num_classes == 2 and info.class_names == ("cat", "dog")
    assert info.splits == {"train": 10000, "test": 2000}


def test_svhn_from_mat_files_maps_10_to_digit_0(ctx: DataContext) -> None:
    written = write_svhn(ctx.data_root)
    with md5_ok:
        train = source("svhn").load("train", ctx)
    x, y = written["train"]
    assert torch.equal(train.images, torch.from_numpy(x.transpose(3, 2, 0, 1).copy()))
    assert train.labels.tolist() == [v % 10 for v in y.tolist()]
    # `extra` is optional until asked for; then the same kind of message as any missing file.
    with md5_ok, pytest.raises(BenchError, match=r"extra_32x32.mat is missing.*bench data fetch svhn"):
        source("svhn", extra_in_train=True).load("train", ctx)
    write_svhn(ctx.data_root, {"extra": 15})
    with md5_ok:
        both = source("svhn", extra_in_train=True).load("train", ctx)
    assert len(both) == 45


def test_celeba_crop_attributes_partition_and_domains(ctx: DataContext) -> None:
    attrs = write_celeba(ctx.data_root)
    with md5_ok:
        train = source("celeba").load("train", ctx)
        valid = source("celeba").load("valid", ctx)
        glasses = source("celeba", where={"Eyeglasses": 1}, label="Male").load("train", ctx)
        domains = source("celeba_domains", a={"Eyeglasses": 1}, b={"Eyeglasses": 0}).load("test", ctx)
    assert train.images.shape == (12, 3, 64, 64) and len(valid) == 4
    # The 178x178 center crop drops the red bands at the top and bottom of every 178x218 face (without
    # it the first rows would be pure red, 128 away from grey; JPEG ringing at the edge stays small).
    assert (train.images.float() - 128).abs().max() < 40
    assert (train.images[:, :, 4:-4].float() - 128).abs().max() < 4
    assert torch.equal(train.factors, torch.from_numpy(attrs[:12]).long())
    eye = ATTRIBUTES.index("Eyeglasses")
    assert len(glasses) == 6 and bool((glasses.factors[:, eye] == 1).all())
    assert torch.equal(glasses.labels, glasses.factors[:, ATTRIBUTES.index("Male")])
    assert len(domains.images) == 2 and len(domains.targets) == 2 and domains.labels is None
    assert source("celeba_domains", a={"Eyeglasses": 1}, b={"Eyeglasses": 0}).info().pairing == "unpaired"
    # A condition that nothing meets is named, not an empty tensor crashing later.
    with md5_ok, pytest.raises(BenchError, match="no face of split 'test'"):
        source("celeba", where={"Eyeglasses": 1, "Bald": 1}).load("test", ctx)


def test_celeba_args_are_checked_against_the_40_attributes() -> None:
    cls = DATASETS.get("celeba_domains")
    with pytest.raises(Exception, match="unknown attribute 'Glasses'"):
        cls.Args(a={"Glasses": 1}, b={"Eyeglasses": 0})
    with pytest.raises(Exception, match="same set of faces"):
        cls.Args(a={"Male": 1}, b={"Male": 1})
    with pytest.raises(Exception, match="values are 0 or 1"):
        DATASETS.get("celeba").Args(where={"Male": -1})


def test_dsprites_reads_the_official_npz_when_present(ctx: DataContext) -> None:
    from bench.datasets import dsprites_procedural as gen

    small = source("dsprites", n_train=30, n_test=10).load("test", ctx)  # no npz: the generator
    assert torch.equal(small.images, gen.load_split("test", ctx.cache_dir / "x", 30, 10).images)
    # Splits that cover every combination, so each fabricated row lands in train or test.
    src = source("dsprites", n_train=500_000, n_test=237_280)
    wanted = np.arange(0, gen.TOTAL, 9_973)
    write_dsprites_npz(ctx.data_root / "dsprites" / "dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz", wanted)
    train, test = src.load("train", ctx), src.load("test", ctx)
    assert len(train) + len(test) == len(wanted)
    assert set(train.images.unique().tolist()) <= {0, 255} and train.images.shape[1:] == (1, 64, 64)
    # Factor classes come from latents_classes (colour column dropped), labels are the shape.
    flat = np.ravel_multi_index(train.factors.numpy().T, tuple(gen.FACTOR_SIZES.values()))
    assert set(flat.tolist()) <= set(wanted.tolist())
    assert torch.equal(train.labels, train.factors[:, 0])
    assert torch.equal(train.images, gen.generate(flat).images)


def test_tiny_imagenet_standard_tree(ctx: DataContext) -> None:
    wnids = ("n01443537", "n01629819", "n01641577")
    write_tiny_imagenet(ctx.data_root, wnids)
    train = source("tiny_imagenet").load("train", ctx)
    test = source("tiny_imagenet").load("test", ctx)
    assert train.images.shape == (9, 3, 64, 64) and test.images.shape == (6, 3, 64, 64)
    assert train.labels.tolist() == [0, 0, 0, 1, 1, 1, 2, 2, 2]
    # Labels follow the sorted wnids; each image's red channel was set by its class (40 * class).
    assert torch.allclose(test.images[:, 0].float().mean((1, 2)), test.labels.float() * 40, atol=4)
    sub = source("tiny_imagenet", classes=["n01641577", "n01443537"]).load("test", ctx)
    assert sub.labels.tolist() == [1, 1, 0, 0]
    with pytest.raises(Exception, match="wnids such as n01443537"):
        DATASETS.get("tiny_imagenet").Args(classes=["cat"])


def test_image_folders_unlabeled_labeled_paired_unpaired(tmp_path: Path, ctx: DataContext) -> None:
    pets = ctx.data_root / "pets"
    write_images(pets / "cat", [f"{i}.png" for i in range(5)], value=10)
    write_images(pets / "dog", [f"{i}.png" for i in range(5)], value=200)
    labeled = source("folder", path="pets", labeled=True, resolution=16)
    with mock.patch.dict("os.environ", {"BENCH_DATA": str(ctx.data_root)}):
        assert labeled.info().num_classes == 2 and labeled.info().class_names == ("cat", "dog")
    train, test = labeled.load("train", ctx), labeled.load("test", ctx)
    assert len(train) + len(test) == 10 and len(test) == 2  # 10% of each class held out
    assert train.images.shape[1:] == (3, 16, 16)
    assert torch.equal(train.images[train.labels == 1].unique(), torch.tensor([200], dtype=torch.uint8))
    plain = source("folder", path=str(pets), channels=1).load("train", ctx)  # absolute path, all images
    assert plain.labels is None and plain.images.shape[1:] == (1, 64, 64) and len(plain) == 9

    pairs = ctx.data_root / "sketch2photo"
    write_images(pairs / "train" / "A", ["x.png", "y.png"], value=30)
    write_images(pairs / "train" / "B", ["x.png", "y.png"], value=220)
    write_images(pairs / "test" / "A", ["z.png"], value=30)
    write_images(pairs / "test" / "B", ["z.png"], value=220)
    paired = source("folder_paired", path="sketch2photo", resolution=8).load("train", ctx)
    assert paired.images.shape == paired.targets.shape == (2, 3, 8, 8)
    assert int(paired.images.max()) == 30 and int(paired.targets.min()) == 220
    write_images(pairs / "train" / "B", ["w.png"])
    with pytest.raises(BenchError, match="no partner in the other domain, e.g. w"):
        source("folder_paired", path="sketch2photo").load("train", ctx)

    zebras = ctx.data_root / "horse2zebra"
    write_images(zebras / "trainA", [f"{i}.png" for i in range(3)])
    write_images(zebras / "trainB", [f"{i}.png" for i in range(5)])
    write_images(zebras / "testA", ["0.png"])
    write_images(zebras / "testB", ["0.png"])
    unpaired = source("folder_unpaired", path="horse2zebra", resolution=8).load("train", ctx)
    assert len(unpaired.images) == 3 and len(unpaired.targets) == 5

    with pytest.raises(BenchError, match="does not exist; these are your own files"):
        source("folder", path="nowhere").load("train", ctx)


def test_decoded_splits_are_cached_and_rebuilt_when_files_change(ctx: DataContext) -> None:
    write_tiny_imagenet(ctx.data_root, ("n01443537", "n01629819"))
    first = source("tiny_imagenet", resolution=32).load("train", ctx)
    with mock.patch("bench.datasets.tiny_imagenet.decode_files", side_effect=AssertionError("decoded again")):
        again = source("tiny_imagenet", resolution=32).load("train", ctx)
    assert torch.equal(first.images, again.images)
    assert len(list((ctx.cache_dir / "tiny_imagenet").glob("train-*.pt"))) == 1
    # A new image in a class folder changes that folder's identity: the split is decoded again.
    extra = ctx.data_root / "tiny-imagenet-200" / "train" / "n01443537" / "images"
    write_images(extra, ["n01443537_9.JPEG"])
    grown = source("tiny_imagenet", resolution=32).load("train", ctx)
    assert len(grown) == len(first) + 1
    assert len(list((ctx.cache_dir / "tiny_imagenet").glob("train-*.pt"))) == 2


def test_every_dataset_is_listed_with_its_facts_without_touching_the_disk() -> None:
    from bench.commands.catalog import listing

    def no_disk(*args, **kwargs):
        raise AssertionError("info() touched the disk")

    with mock.patch("os.stat", no_disk), mock.patch("pathlib.Path.iterdir", no_disk):
        _, header, rows = listing("datasets")
    by_name = {r[0].split("\n")[0]: dict(zip(header, r, strict=True)) for r in rows}
    expected = {"mnist", "cifar10", "svhn", "celeba", "celeba_domains", "dsprites", "tiny_imagenet"}
    assert expected | {"folder", "folder_paired", "folder_unpaired"} <= set(by_name)
    assert "extra 531,131" in by_name["svhn"]["splits"] and "train 162,770" in by_name["celeba"]["splits"]
    assert "40 binary attributes" in by_name["celeba"]["labels / attributes"]
    assert "unpaired" in by_name["folder_unpaired"]["labels / attributes"]
    assert by_name["tiny_imagenet"]["resolution"] == "64x64x3"
    assert all(row["licence"] and row["source"] for row in by_name.values())
