"""Files in each dataset's real on-disk format, for the tests and benchmarks of machines that cannot
download: the loaders read them through the same code (torchvision's classes included) as real data.

Each writer lays the files out exactly where `bench data fetch` (torchvision) would put them under a
data root, and returns what it wrote so tests can compare the loaded tensors with the source pixels.
"""

from __future__ import annotations

import gzip
import pickle
import struct
from pathlib import Path

import numpy as np
from PIL import Image

from bench.datasets.celeba import ATTRIBUTES

CIFAR_NAMES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def _rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)


def write_mnist(root: Path, n_train: int = 40, n_test: int = 20) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """MNIST/raw/*-idx?-ubyte.gz: big-endian magic, sizes, then raw uint8 (as yann.lecun.com serves)."""
    raw = root / "MNIST" / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    out = {}
    for split, prefix, n in (("train", "train", n_train), ("test", "t10k", n_test)):
        images = _rng(n).integers(0, 256, (n, 28, 28), dtype=np.uint8)
        labels = (np.arange(n) % 10).astype(np.uint8)
        with gzip.open(raw / f"{prefix}-images-idx3-ubyte.gz", "wb") as f:
            f.write(struct.pack(">IIII", 2051, n, 28, 28) + images.tobytes())
        with gzip.open(raw / f"{prefix}-labels-idx1-ubyte.gz", "wb") as f:
            f.write(struct.pack(">II", 2049, n) + labels.tobytes())
        out[split] = (images, labels)
    return out


def write_cifar10(
    root: Path, per_batch: int = 10, n_test: int = 20
) -> dict[str, tuple[np.ndarray, list[int]]]:
    """cifar-10-batches-py/: pickled dicts with str keys 'data' (N, 3072 row-major CHW) and 'labels'
    (what Python 2's pickles decode to with encoding='latin1'), plus batches.meta's label_names."""
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True, exist_ok=True)
    out: dict[str, tuple[np.ndarray, list[int]]] = {}
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    for i, name in enumerate(names):
        n = n_test if name == "test_batch" else per_batch
        data = _rng(100 + i).integers(0, 256, (n, 3072), dtype=np.uint8)
        labels = [int(v) for v in (np.arange(n) + i) % 10]
        with open(folder / name, "wb") as f:
            pickle.dump({"batch_label": f"batch {i}", "data": data, "labels": labels}, f, protocol=2)
        split = "test" if name == "test_batch" else "train"
        prev = out.get(split)
        out[split] = (data, labels) if prev is None else (np.concatenate([prev[0], data]), prev[1] + labels)
    with open(folder / "batches.meta", "wb") as f:
        pickle.dump({"label_names": CIFAR_NAMES, "num_cases_per_batch": per_batch}, f, protocol=2)
    return out


def write_svhn(root: Path, sizes: dict[str, int] | None = None) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """svhn/<split>_32x32.mat: X (32, 32, 3, N) uint8, y (N, 1) with 1..10 (10 is the digit 0)."""
    import scipy.io

    folder = root / "svhn"
    folder.mkdir(parents=True, exist_ok=True)
    out = {}
    for i, (split, n) in enumerate((sizes or {"train": 30, "test": 20}).items()):
        x = _rng(200 + i).integers(0, 256, (32, 32, 3, n), dtype=np.uint8)
        y = (np.arange(n) % 10 + 1).reshape(n, 1).astype(np.uint8)
        scipy.io.savemat(folder / f"{split}_32x32.mat", {"X": x, "y": y})
        out[split] = (x, y[:, 0])
    return out


def write_celeba(root: Path, partition: tuple[int, ...] = (0,) * 12 + (1,) * 4 + (2,) * 4) -> np.ndarray:
    """celeba/: img_align_celeba/NNNNNN.jpg (178x218) and the five annotation files torchvision reads.

    Each face is mid-grey with a 20-row red band at top and bottom: the 178x178 center crop removes
    the bands exactly, which is how a test sees the crop. Returns the attributes as 0/1 (N, 40)."""
    folder = root / "celeba"
    (folder / "img_align_celeba").mkdir(parents=True, exist_ok=True)
    n = len(partition)
    names = [f"{i + 1:06d}.jpg" for i in range(n)]
    attrs = _rng(7).integers(0, 2, (n, 40))
    attrs[:, ATTRIBUTES.index("Eyeglasses")] = np.arange(n) % 2  # both domains in every split
    attrs[:, ATTRIBUTES.index("Bald")] = 0  # a condition no face meets
    for name in names:
        img = np.full((218, 178, 3), 128, dtype=np.uint8)
        img[:20] = img[-20:] = (255, 0, 0)
        Image.fromarray(img).save(folder / "img_align_celeba" / name, quality=95, subsampling=0)

    def table(path: str, header: str | None, rows: list[str]) -> None:
        lines = ([str(n), header] if header is not None else []) + rows
        (folder / path).write_text("\n".join(lines) + "\n")

    # As published: the attribute header ends with a space, and values are padded to two columns.
    table(
        "list_attr_celeba.txt",
        " ".join(ATTRIBUTES) + " ",
        [f"{nm} " + " ".join(f"{2 * v - 1:2d}" for v in row) for nm, row in zip(names, attrs, strict=True)],
    )
    table("list_eval_partition.txt", None, [f"{nm} {p}" for nm, p in zip(names, partition, strict=True)])
    table("identity_CelebA.txt", None, [f"{nm} {i % 5 + 1}" for i, nm in enumerate(names)])
    table("list_bbox_celeba.txt", "image_id x_1 y_1 width height", [f"{nm} 95 71 226 313" for nm in names])
    marks = " ".join(
        f"{p}_{c}" for p in ("lefteye", "righteye", "nose", "leftmouth", "rightmouth") for c in "xy"
    )
    table(
        "list_landmarks_align_celeba.txt",
        marks,
        [f"{nm} 69 109 106 113 77 142 73 152 108 154" for nm in names],
    )
    return attrs


def write_dsprites_npz(path: Path, flat_indices: np.ndarray) -> None:
    """The official npz's keys for the given flat indices: imgs (N, 64, 64) 0/1, latents_classes and
    latents_values (N, 6) with the colour column first, and a pickled metadata dict."""
    from bench.datasets import dsprites_procedural as gen

    factors = gen.factors_of(flat_indices)
    classes = np.concatenate([np.zeros((len(factors), 1), dtype=np.int64), factors], axis=1)
    imgs = (gen.generate(flat_indices).images[:, 0].numpy() > 0).astype(np.uint8)
    metadata = {"latents_sizes": np.array([1, 3, 6, 40, 32, 32]), "title": "dSprites dataset"}
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(
        path,
        imgs=imgs,
        latents_classes=classes,
        latents_values=classes.astype(np.float64),
        metadata=np.array(metadata, dtype=object),
    )


def write_tiny_imagenet(
    root: Path, wnids: tuple[str, ...], per_class: int = 3, val_per_class: int = 2
) -> None:
    """tiny-imagenet-200/: wnids.txt, words.txt, train/<wnid>/images/<wnid>_<i>.JPEG with <wnid>_boxes.txt,
    val/images/val_<i>.JPEG with val_annotations.txt; each image a flat colour set by its class."""
    folder = root / "tiny-imagenet-200"
    (folder / "val" / "images").mkdir(parents=True, exist_ok=True)
    (folder / "wnids.txt").write_text("\n".join(wnids) + "\n")
    (folder / "words.txt").write_text("".join(f"{w}\tthing {w}\n" for w in wnids))
    for c, w in enumerate(sorted(wnids)):
        d = folder / "train" / w / "images"
        d.mkdir(parents=True)
        for i in range(per_class):
            Image.new("RGB", (64, 64), (40 * c, 10, 200)).save(d / f"{w}_{i}.JPEG", quality=95)
        (folder / "train" / w / f"{w}_boxes.txt").write_text(
            "".join(f"{w}_{i}.JPEG\t0\t0\t63\t63\n" for i in range(per_class))
        )
    lines, k = [], 0
    for c, w in enumerate(sorted(wnids)):
        for _ in range(val_per_class):
            Image.new("RGB", (64, 64), (40 * c, 10, 200)).save(folder / "val" / "images" / f"val_{k}.JPEG")
            lines.append(f"val_{k}.JPEG\t{w}\t0\t0\t63\t63")
            k += 1
    (folder / "val" / "val_annotations.txt").write_text("\n".join(lines) + "\n")


def write_images(folder: Path, names: list[str], value: int = 100, size: tuple[int, int] = (40, 30)) -> None:
    """PNG files of one flat grey value (lossless, so loaded pixels can be compared exactly)."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        Image.new("L", size, value).convert("RGB").save(folder / name)
