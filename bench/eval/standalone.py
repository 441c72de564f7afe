"""`bench eval`: any set of images (a folder, or a cell that generates them) against any reference
(a built-in dataset's split, or a folder), under the same protocol and cache as the cells use."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from bench.config import EvalConfig, validate
from bench.datasets import DATASETS, DataContext
from bench.datasets.base import ImageSplit
from bench.datasets.batches import to_unit_range
from bench.errors import BenchError
from bench.eval.evaluate import domain, evaluate_samples, inception
from bench.eval.folder import read_images
from bench.eval.generate import Sampler, unconditional
from bench.eval.protocol import METRICS
from bench.results import store

KINDS = ("fd", "fid", "kid", "isc", "prc", "coverage")
EXTRACTORS = ("auto", "domain", "inception")


def metric_names(kinds: list[str], extractor: str) -> list[str]:
    """--metrics kinds on one extractor -> eval.metrics names (fd on inception is fid, and so on)."""
    out = []
    for k in kinds:
        kind = "fd" if k == "fid" else k
        if k == "fid" and extractor == "domain":
            raise BenchError("--metrics: fid is Inception's FD; with --extractor domain ask for fd")
        name = next((n for n, s in METRICS.items() if s.kind == kind and s.extractor == extractor), None)
        if name is None:
            raise BenchError(f"--metrics: {k} is not available on the {extractor} extractor")
        out.append(name)
    return list(dict.fromkeys(out))


def _real(
    real: str, split: str, ctx: DataContext
) -> tuple[ImageSplit, dict[str, Any], Any, ImageSplit | None]:
    """(reference images, identity, dataset info or None, train split for a domain classifier)."""
    if real in DATASETS:
        source_cls = DATASETS.get(real)
        source = source_cls(source_cls.Args())
        info = source.info()
        if split not in info.splits:
            raise BenchError(
                f"--split: {split!r} is not a split of {real}; allowed: {', '.join(info.splits)}"
            )
        identity = {"dataset": real, "dataset_args": source.args.model_dump(mode="json"), "split": split}
        return (
            source.load(split, ctx),
            identity,
            info,
            (source.load("train", ctx) if info.num_classes else None),
        )
    path = Path(real)
    if path.is_dir():
        return ImageSplit(read_images(path, flag="--real")), {"folder": str(path.resolve())}, None, None
    raise BenchError(
        f"--real: {real!r} is neither a dataset ({', '.join(DATASETS.names())}) nor a folder of images"
    )


SamplerFor = Callable[[int], Sampler]  # batch size -> sampler


def _fake(
    fake: str, n: int | None, device: torch.device
) -> tuple[SamplerFor, int, torch.device, dict[str, Any]]:
    """(sampler given the batch size, N, where samples are made, what the fake images are)."""
    path = Path(fake)
    if (path / store.CONFIG).is_file():
        from bench.train.restore_cell import restore_cell

        cfg, model, _ = restore_cell(path, device)
        about = {"cell": cfg.cell_id, "step": model.total_steps}
        return lambda bs: unconditional(model), n or cfg.eval.n_samples, device, about
    if path.is_dir():
        images = read_images(path, n)

        def from_folder(bs: int) -> Sampler:
            # Chunk j of a folder is simply its images j*bs .. j*bs+size, in path order.
            return lambda j, size, g: to_unit_range(images[j * bs : j * bs + size])

        return from_folder, len(images), torch.device("cpu"), {"folder": str(path.resolve())}
    raise BenchError(
        f"--fake: {fake!r} is neither a cell folder (with {store.CONFIG}) nor a folder of images"
    )


def run_eval(
    fake: str,
    real: str,
    kinds: list[str],
    extractor: str = "auto",
    n: int | None = None,
    n_real: int | None = None,
    split: str = "test",
    batch_size: int = 250,
    seed: int = 0,
    kid_subset_size: int | None = None,
    isc_splits: int = 10,
    precision: str = "fp32",
    assets_dir: Path | None = None,
) -> dict[str, Any]:
    """Scores of `fake` against `real` with the protocol they were measured under, as plain data."""
    t0 = time.perf_counter()
    for k in kinds:
        if k not in KINDS:
            raise BenchError(f"--metrics: unknown metric {k!r}; allowed: {', '.join(KINDS)}")
    if extractor not in EXTRACTORS:
        raise BenchError(f"--extractor: unknown extractor {extractor!r}; allowed: {', '.join(EXTRACTORS)}")
    ctx = DataContext.from_env()
    cache_dir = ctx.cache_dir.parent
    cuda = torch.cuda.is_available()
    device = torch.device("cuda" if cuda else "cpu")
    real_split, identity, info, train = _real(real, split, ctx)
    if extractor == "auto":
        labelled = info is not None and info.num_classes > 0
        extractor = "inception" if {"fid", "isc"} & set(kinds) or not labelled else "domain"
    names = metric_names(kinds, extractor)
    if extractor == "domain":
        if info is None or train is None:
            raise BenchError(f"--extractor domain: {real} has no labels to train a domain classifier on")
        extractors = {"domain": domain(info, train, real_split, cache_dir)}
    else:
        extractors = {"inception": inception(assets_dir)}
    sampler_for, n_fake, sample_device, fake_identity = _fake(fake, n, device)
    n_ref = min(n_real or len(real_split), len(real_split))
    raw = {
        "metrics": names,
        "n_samples": n_fake,
        "n_real": n_ref,
        "split": split,
        "batch_size": batch_size,
        "seed": seed,
        "precision": precision,
        "isc_splits": isc_splits,
        "kid_subset_size": kid_subset_size or min(1000, n_fake, n_ref),
    }
    ev = validate(EvalConfig, raw, "bench eval")
    scores, protocol, _ = evaluate_samples(
        sampler_for(ev.batch_size),
        sample_device,
        real_split,
        identity,
        ev,
        names,
        extractors,
        cache_dir,
        cuda,
        n=n_fake,
        num_classes=info.num_classes if info is not None else 0,
    )
    return {
        "metrics": scores,
        "protocol": protocol,
        "fake": fake_identity,
        "real": identity,
        "seconds": time.perf_counter() - t0,
    }
