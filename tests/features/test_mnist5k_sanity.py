"""The evaluation's sanity on real MNIST digits (mnist5k), through the path a cell's scores take
(`evaluate_samples` on the domain extractor at its default recipe): two real sets are close (FD < 2),
FD grows with every step of pixel noise and of blur, coverage falls when half the classes are missing,
and replayed training images are flagged by the memorisation check while held-out ones are not.

The extractor trains once per session (about 300 steps on 4,000 digits) and is cached under the
session's BENCH_CACHE, as every evaluation caches it.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch
from threadpoolctl import threadpool_limits
from torchvision.transforms.functional import gaussian_blur

from bench.config import EvalConfig
from bench.datasets import DATASETS, DataContext
from bench.datasets.batches import to_uint8, to_unit_range
from bench.eval.evaluate import domain, evaluate_samples

NOISE = (0.1, 0.2, 0.4)  # std of Gaussian pixel noise, on images scaled to [0, 1]
BLUR = (0.5, 1.0, 2.0)  # sigma of a 9x9 Gaussian blur, in pixels


@pytest.fixture(scope="session")
def mnist():
    """(info, train, test, domain extractor, cache dir): trained once, one thread (2 shared cores)."""
    source = DATASETS.get("mnist5k")(DATASETS.get("mnist5k").Args())
    ctx = DataContext.from_env()
    train, test = source.load("train", ctx), source.load("test", ctx)
    cache = Path(os.environ["BENCH_CACHE"])
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with threadpool_limits(limits=1):
            ext = domain(source.info(), train, test, cache)
    finally:
        torch.set_num_threads(threads)
    return source.info(), train, test, ext, cache


def score(mnist, images: torch.Tensor, metrics: list[str], reference: str) -> dict[str, float]:
    """The metrics of `images` (uint8, replayed in order) against the `reference` split."""
    info, train, test, ext, cache = mnist
    real = {"train": train, "test": test}[reference]
    ev = EvalConfig(metrics=metrics, n_samples=len(images), sample_block=250, batch_size=500)

    def replay(j: int, size: int, g: torch.Generator) -> torch.Tensor:
        return to_unit_range(images[j * ev.sample_block : j * ev.sample_block + size])

    scores, _, _ = evaluate_samples(
        replay,
        torch.device("cpu"),
        real,
        {"dataset": "mnist5k", "dataset_args": {}, "split": reference},
        ev,
        metrics,
        {"domain": ext},
        cache,
        False,
        n=len(images),
        num_classes=info.num_classes,
        train=train,
        train_identity={"dataset": "mnist5k", "dataset_args": {}, "split": "train"},
    )
    return scores


def noisy(images: torch.Tensor, sigma: float) -> torch.Tensor:
    g = torch.Generator().manual_seed(1)
    return to_uint8(to_unit_range(images) + 2 * sigma * torch.randn(images.shape, generator=g))


def blurred(images: torch.Tensor, sigma: float) -> torch.Tensor:
    return to_uint8(gaussian_blur(to_unit_range(images), 9, sigma))


@pytest.mark.usefixtures("one_blas_thread")
def test_fd_is_small_between_real_sets_and_grows_with_noise_and_blur(mnist) -> None:
    test = mnist[2].images
    fd = lambda x: score(mnist, x, ["fd"], "train")["fd_mnist5k"]  # noqa: E731
    real = fd(test)
    by_noise = [fd(noisy(test, s)) for s in NOISE]
    by_blur = [fd(blurred(test, s)) for s in BLUR]
    assert real < 2, real
    assert by_noise == sorted(by_noise) and len(set(by_noise)) == 3, by_noise
    assert by_blur == sorted(by_blur) and len(set(by_blur)) == 3, by_blur
    assert min(by_noise[0], by_blur[0]) > 2 * real, (real, by_noise, by_blur)


@pytest.mark.usefixtures("one_blas_thread")
def test_coverage_falls_when_half_the_classes_are_missing(mnist) -> None:
    test = mnist[2]
    every = score(mnist, test.images, ["coverage"], "train")["coverage_mnist5k"]
    half = score(mnist, test.images[test.labels < 5], ["coverage"], "train")["coverage_mnist5k"]
    assert every >= 0.9 and half <= 0.6, (every, half)


@pytest.mark.usefixtures("one_blas_thread")
def test_replayed_training_digits_are_flagged_and_held_out_ones_are_not(mnist) -> None:
    train, test = mnist[1], mnist[2]
    copies = score(mnist, train.images[: len(test)], ["mem_domain"], "test")
    honest = score(mnist, test.images, ["mem_domain"], "test")
    assert copies["mem_copies_mnist5k"] == 1.0 and copies["mem_ct_mnist5k"] < -3, copies
    assert honest["mem_copies_mnist5k"] == 0.0 and abs(honest["mem_ct_mnist5k"]) < 3, honest
