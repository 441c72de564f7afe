"""Readers of the published file formats (MNIST idx, CIFAR-10 pickles, SVHN .mat, CelebA tables) that
check what they read and name the file when it is not what the format says.

torchvision's classes refuse any file whose MD5 differs from the published one, with "Dataset not
found or corrupted", naming no file. Users' copies are often re-pickled or re-saved and still hold
the same arrays, so bench reads the files itself, the way torchvision does (same pickle encoding,
same transposes, same relabelling), and judges a copy by its contents: shapes, dtypes, label ranges.
A file that cannot be parsed raises `BadFile` with the reason; the caller adds the path and the fix.
"""

from __future__ import annotations

import gzip
import struct
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from bench.datasets import safe_pickle


class BadFile(ValueError):
    """A dataset file that does not parse as its format: the message says what is wrong."""


# ---------------------------------------------------------------- MNIST (idx)

_IDX_DTYPES = {0x08: np.uint8}  # MNIST's images and labels are both unsigned bytes


def read_idx(path: Path) -> np.ndarray:
    """An idx file (gzip-compressed when its name ends in .gz): big-endian magic 0x0000TTDD (type, dims),
    the dims as uint32, then the data. Images (N, 28, 28), labels (N,)."""
    try:
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rb") as f:
            blob = f.read()
    except (OSError, EOFError, zlib.error) as err:  # truncated or not gzip
        raise BadFile(f"cannot decompress ({err})") from None
    if len(blob) < 4 or blob[:2] != b"\0\0" or blob[2] not in _IDX_DTYPES:
        raise BadFile("not an idx file of unsigned bytes (bad magic number)")
    ndim = blob[3]
    if len(blob) < 4 + 4 * ndim:
        raise BadFile("idx header is cut short")
    shape = struct.unpack(f">{ndim}I", blob[4 : 4 + 4 * ndim])
    need = int(np.prod(shape))
    have = len(blob) - 4 - 4 * ndim
    if have != need:
        raise BadFile(f"idx header announces {shape} = {need:,} bytes of data, the file holds {have:,}")
    return np.frombuffer(blob, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)


def check_mnist_images(path: Path) -> str:
    x = read_idx(path)
    if x.ndim != 3 or x.shape[1:] != (28, 28):
        raise BadFile(f"holds an array of shape {x.shape}, not (N, 28, 28) images")
    return f"{x.shape[0]:,} images 28x28"


def check_mnist_labels(path: Path) -> str:
    y = read_idx(path)
    if y.ndim != 1 or (len(y) and int(y.max()) > 9):
        raise BadFile(
            f"holds shape {y.shape} with maximum {int(y.max()) if y.size else '-'}, not labels 0..9"
        )
    return f"{len(y):,} labels"


# ---------------------------------------------------------------- CIFAR-10 (Python pickles)


def _unpickle(path: Path) -> dict[str, Any]:
    try:
        with open(path, "rb") as f:
            # The published batches are Python 2 pickles; only arrays and containers are rebuilt, so a
            # batch whose pickle names a command is refused before anything runs.
            entry = safe_pickle.load(f, encoding="latin1")
    except safe_pickle.UnsafePickle as err:
        raise BadFile(f"is refused: {err}") from None
    except Exception as err:  # a truncated pickle raises any of several types
        raise BadFile(f"cannot be unpickled ({type(err).__name__}: {err})") from None
    if not isinstance(entry, dict):
        raise BadFile(f"holds a {type(entry).__name__}, not the dict of a CIFAR batch")
    # A Python 3 re-pickle may carry bytes keys (b"data"); the contents are the same.
    return {k.decode("latin1") if isinstance(k, bytes) else k: v for k, v in entry.items()}


def read_cifar_batch(path: Path, num_classes: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """(uint8 (N, 3, 32, 32), int64 (N,)) from one batch file: 'data' (N, 3072) rows of 1024 red, 1024
    green and 1024 blue values, and 'labels'."""
    entry = _unpickle(path)
    if "data" not in entry or "labels" not in entry:
        raise BadFile(f"has keys {sorted(entry)[:6]}, not CIFAR-10's 'data' and 'labels'")
    data, labels = np.asarray(entry["data"]), np.asarray(entry["labels"])
    if data.ndim == 2 and data.shape[1] == 3072:
        data = data.reshape(-1, 3, 32, 32)
    if data.ndim != 4 or data.shape[1:] != (3, 32, 32):
        raise BadFile(f"'data' has shape {data.shape}, not (N, 3072)")
    if data.dtype != np.uint8:
        if not np.issubdtype(data.dtype, np.integer) or data.min() < 0 or data.max() > 255:
            raise BadFile(f"'data' is {data.dtype}, not bytes 0..255")
        data = data.astype(np.uint8)
    if labels.shape != (len(data),):
        raise BadFile(f"has {labels.size} labels for {len(data)} images")
    if len(labels) and (labels.min() < 0 or labels.max() >= num_classes):
        raise BadFile(f"labels span {labels.min()}..{labels.max()}, not 0..{num_classes - 1}")
    return np.ascontiguousarray(data), labels.astype(np.int64)


def check_cifar_batch(path: Path) -> str:
    data, _ = read_cifar_batch(path)
    return f"{len(data):,} images 3x32x32"


def read_cifar_names(path: Path) -> list[str]:
    names = _unpickle(path).get("label_names")
    if not isinstance(names, list) or not all(isinstance(n, str | bytes) for n in names):
        raise BadFile("has no 'label_names' list")
    return [n.decode("latin1") if isinstance(n, bytes) else n for n in names]


def check_cifar_meta(path: Path) -> str:
    return f"{len(read_cifar_names(path))} class names"


# ---------------------------------------------------------------- SVHN (MATLAB .mat)


def read_svhn_mat(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """(uint8 (N, 3, 32, 32), int64 (N,) with the digit 0 as class 0) from X (32, 32, 3, N) and y (N, 1)
    holding 1..10, 10 meaning 0 (as torchvision relabels it)."""
    import scipy.io

    try:
        mat = scipy.io.loadmat(path)
    except Exception as err:  # scipy raises OSError, ValueError, TypeError... on bad files
        raise BadFile(f"cannot be read as a MATLAB file ({type(err).__name__}: {err})") from None
    if "X" not in mat or "y" not in mat:
        raise BadFile(f"has variables {sorted(k for k in mat if not k.startswith('__'))}, not SVHN's X and y")
    x, y = np.asarray(mat["X"]), np.asarray(mat["y"]).reshape(-1)
    if x.ndim != 4 or x.shape[:3] != (32, 32, 3):
        raise BadFile(f"X has shape {x.shape}, not (32, 32, 3, N)")
    if x.dtype != np.uint8:
        raise BadFile(f"X is {x.dtype}, not uint8")
    if y.shape != (x.shape[3],):
        raise BadFile(f"y holds {y.size} labels for {x.shape[3]} images")
    if len(y) and (y.min() < 1 or y.max() > 10):
        raise BadFile(f"y spans {y.min()}..{y.max()}, not SVHN's 1..10")
    labels = y.astype(np.int64) % 10  # 10 is the digit 0
    return np.ascontiguousarray(x.transpose(3, 2, 0, 1)), labels


def check_svhn_mat(path: Path) -> str:
    x, _ = read_svhn_mat(path)
    return f"{len(x):,} images 32x32x3"


# ---------------------------------------------------------------- CelebA (text tables)


def read_celeba_attributes(path: Path, attributes: tuple[str, ...]) -> tuple[list[str], np.ndarray]:
    """(file names, 0/1 int64 (N, 40)) from list_attr_celeba.txt: a count line, the 40 names (the line
    ends with a space), then `NNNNNN.jpg` and 40 values of -1 or 1 per line."""
    lines = _text_lines(path)
    if len(lines) < 2 or tuple(lines[1].split()) != attributes:
        raise BadFile(f"line 2 does not name CelebA's {len(attributes)} attributes")
    names, rows = [], []
    for i, line in enumerate(lines[2:], start=3):
        parts = line.split()
        if not parts:
            continue
        if len(parts) != len(attributes) + 1 or any(v not in ("1", "-1") for v in parts[1:]):
            raise BadFile(f"line {i} is not a file name and {len(attributes)} values of -1 or 1")
        names.append(parts[0])
        rows.append([v == "1" for v in parts[1:]])
    _check_count(lines[0], len(names))
    return names, np.asarray(rows, dtype=np.int64).reshape(-1, len(attributes))


def read_celeba_partition(path: Path) -> dict[str, int]:
    """file name -> 0 (train), 1 (valid) or 2 (test) from list_eval_partition.txt."""
    out = {}
    for i, line in enumerate(_text_lines(path), start=1):
        parts = line.split()
        if not parts:
            continue
        if len(parts) != 2 or parts[1] not in ("0", "1", "2"):
            raise BadFile(f"line {i} is not a file name and a partition 0, 1 or 2")
        out[parts[0]] = int(parts[1])
    return out


def _text_lines(path: Path) -> list[str]:
    try:
        return path.read_text(encoding="ascii").splitlines()
    except (OSError, UnicodeDecodeError) as err:
        raise BadFile(f"cannot be read as a text table ({err})") from None


def _check_count(first_line: str, found: int) -> None:
    try:
        announced = int(first_line.strip())
    except ValueError:
        raise BadFile("line 1 is not the number of images") from None
    if announced != found:
        raise BadFile(f"line 1 announces {announced:,} images, the file lists {found:,} (cut short?)")
