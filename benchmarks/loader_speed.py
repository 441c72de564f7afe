"""Batches per second: bench's uint8 tensor cache + BatchStream against a torchvision DataLoader.

Same dataset files, same batch size, same process, same device. Both sides deliver what a training
step consumes: a float NCHW batch in [-1, 1] on the training device. The DataLoader decodes and
normalises per sample in its workers (the usual torchvision recipe: ToTensor + Normalize, and for
CelebA CenterCrop(178) + Resize(64)); bench slices a tensor decoded once and normalises the batch on the
device. The two alternate in rounds; the ratio of the medians and of the best rounds are printed.

    python benchmarks/loader_speed.py                                  # fabricated CIFAR-10 files
    python benchmarks/loader_speed.py --dataset celeba --n 4000        # fabricated CelebA JPEGs
    python benchmarks/loader_speed.py --dataset cifar10 --root /data   # real files under a data root

On fabricated files torchvision's MD5 checks are bypassed (the files exist; their sums cannot match).
On a CPU shared with other jobs, run it with OMP_NUM_THREADS=1: intra-op threads fighting for busy cores
slow small batch ops by an order of magnitude and the numbers then measure the neighbours.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import nullcontext
from pathlib import Path
from unittest import mock

import torch
from torch.utils.data import DataLoader
from torchvision import datasets as tvd
from torchvision import transforms as T

from bench.datasets import DATASETS, DataContext
from bench.datasets.batches import BatchStream
from bench.datasets.fabricate import write_celeba, write_cifar10, write_mnist, write_svhn

NORM = {1: T.Normalize((0.5,), (0.5,)), 3: T.Normalize((0.5,) * 3, (0.5,) * 3)}

# name -> (torchvision dataset over the root's train split, writer of n fabricated training images)
TORCHVISION: dict[str, tuple[Callable[[Path], torch.utils.data.Dataset], Callable[[Path, int], None]]] = {
    "mnist": (
        lambda root: tvd.MNIST(str(root), train=True, transform=T.Compose([T.ToTensor(), NORM[1]])),
        lambda root, n: write_mnist(root, n_train=n, n_test=10),
    ),
    "cifar10": (
        lambda root: tvd.CIFAR10(str(root), train=True, transform=T.Compose([T.ToTensor(), NORM[3]])),
        lambda root, n: write_cifar10(root, per_batch=n // 5, n_test=10),
    ),
    "svhn": (
        lambda root: tvd.SVHN(
            str(root / "svhn"), split="train", transform=T.Compose([T.ToTensor(), NORM[3]])
        ),
        lambda root, n: write_svhn(root, {"train": n, "test": 10}),
    ),
    "celeba": (
        lambda root: tvd.CelebA(
            str(root),
            split="train",
            target_type="attr",
            transform=T.Compose([T.CenterCrop(178), T.Resize(64), T.ToTensor(), NORM[3]]),
        ),
        lambda root, n: write_celeba(root, partition=(0,) * n + (1, 2)),
    ),
}


def endless(loader: DataLoader) -> Iterator:
    while True:
        yield from loader


def time_batches(next_batch: Callable[[], torch.Tensor], n: int, device: torch.device) -> float:
    """Batches per second over n batches (one warm-up batch first; the device is synchronised)."""
    next_batch()
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    sync()
    t0 = time.perf_counter()
    for _ in range(n):
        x = next_batch()
    sync()
    assert x.is_floating_point() and x.device.type == device.type
    return n / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dataset", choices=sorted(TORCHVISION), default="cifar10")
    ap.add_argument("--root", type=Path, help="a data root with the real files; default: fabricate them")
    ap.add_argument("--n", type=int, default=10_000, help="fabricated training images")
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--batches", type=int, default=200, help="timed batches per round and side")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--workers", type=int, default=min(8, os.cpu_count() or 1), help="DataLoader workers")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = ap.parse_args()
    device = torch.device(args.device)

    with tempfile.TemporaryDirectory() as tmp:
        root = args.root or Path(tmp) / "data"
        if args.root is None:
            TORCHVISION[args.dataset][1](root, args.n)
        md5 = mock.patch("torchvision.datasets.utils.check_md5", return_value=True)
        with md5 if args.root is None else nullcontext():
            ctx = DataContext(data_root=root, cache_dir=Path(tmp) / "cache")
            cls = DATASETS.get(args.dataset)
            t0 = time.perf_counter()
            split = cls(cls.Args()).load("train", ctx)
            first = time.perf_counter() - t0
            t0 = time.perf_counter()
            split = cls(cls.Args()).load("train", ctx)
            cached = time.perf_counter() - t0
            stream = BatchStream(split, args.batch, device, seed=0)
            tv_dataset = TORCHVISION[args.dataset][0](root)
        loader = DataLoader(
            tv_dataset,
            batch_size=args.batch,
            shuffle=True,
            drop_last=True,
            num_workers=args.workers,
            pin_memory=device.type == "cuda",
            persistent_workers=args.workers > 0,
        )
        batches = endless(loader)

        def tv_next() -> torch.Tensor:
            return next(batches)[0].to(device, non_blocking=True)

        def cache_next() -> torch.Tensor:
            return stream.next().x

        bench_rates, tv_rates = [], []
        for _ in range(args.rounds):
            bench_rates.append(time_batches(cache_next, args.batches, device))
            tv_rates.append(time_batches(tv_next, args.batches, device))

    shape = "x".join(str(s) for s in split.images.shape[1:])
    print(
        f"{args.dataset} ({'fabricated' if args.root is None else root}): {len(split)} train images "
        f"{shape}, batch {args.batch}, {args.batches} batches x {args.rounds} rounds, device {device}, "
        f"DataLoader workers {args.workers}, torch threads {torch.get_num_threads()}"
    )
    print(f"first load (decode + cache write) {first:.2f} s; cached load {cached:.3f} s")
    for name, rates in (("tensor cache + BatchStream", bench_rates), ("torchvision DataLoader", tv_rates)):
        print(f"{name:28s} median {statistics.median(rates):10.1f} batches/s   best {max(rates):10.1f}")
    median = statistics.median(bench_rates) / statistics.median(tv_rates)
    print(f"ratio cache / DataLoader: median {median:.1f}x, best {max(bench_rates) / max(tv_rates):.1f}x")


if __name__ == "__main__":
    main()
