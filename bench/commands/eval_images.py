"""`bench eval`: any set of images (a folder, or a cell that generates them) against any reference
(a built-in dataset's split, or a folder), under the same protocol and cache as the cells use.

With `--fake CELL_DIR` and no other option the cell is scored again under its own recorded protocol
(its config.json's eval section, its dataset with its arguments, its device kind), through the same
`evaluate` call the cell made, so the numbers are the ones in its result.json
(tests/eval/test_eval_reproduce.py). Every option overrides one recorded setting.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from bench.commands.eval_real import folder_hint, reference, reference_extractors, what_real
from bench.config import MAX_SAMPLES, EvalConfig, validate
from bench.datasets import DataContext
from bench.datasets.batches import to_unit_range
from bench.errors import BenchError
from bench.eval import metric_registry as registry
from bench.eval.evaluate import evaluate, evaluate_samples
from bench.eval.folder import read_images
from bench.eval.generate import Sampler
from bench.features.extractors import get_extractor
from bench.storage import files as store

# bench eval's option -> the EvalConfig field it sets
SETTINGS = {
    "n": "n_samples",
    "n_real": "n_real",
    "split": "split",
    "batch_size": "batch_size",
    "sample_block": "sample_block",
    "seed": "seed",
    "repeats": "repeats",
    "kid_subsets": "kid_subsets",
    "kid_subset_size": "kid_subset_size",
    "isc_splits": "isc_splits",
    "prc_neighborhood": "prc_neighborhood",
    "precision": "precision",
}


def extractors_choice() -> tuple[str, ...]:
    return ("auto", *registry.EXTRACTORS)


def metric_items() -> list[str]:
    """What --metrics accepts: every metric kind (fd, kid ... on the chosen extractor) and every name."""
    return list(dict.fromkeys([m.kind for m in registry.metrics()] + registry.metric_names()))


def resolve_metrics(items: list[str], extractor: str, has_domain: bool) -> list[str]:
    """--metrics items on --extractor -> eval.metrics names. A kind (fd, kid, isc, prc, coverage) is
    taken on the extractor; a name that is no kind (fid, kid_inception, prc_domain) is itself.
    `has_domain`: the reference is a dataset, so it has a domain extractor (a folder has none)."""
    allowed = metric_items()
    for k in items:
        if k not in allowed:
            raise BenchError(f"--metrics: unknown metric {k!r}; allowed: {', '.join(allowed)}")
    if extractor not in extractors_choice():
        raise BenchError(
            f"--extractor: unknown extractor {extractor!r}; allowed: {', '.join(extractors_choice())}"
        )
    kinds = {m.kind for m in registry.metrics()}
    on = {k: sorted({m.extractor for m in registry.metrics() if m.kind == k}) for k in kinds}
    forced = {registry.get_metric(k).extractor for k in items if k not in kinds}
    forced |= {on[k][0] for k in items if k in kinds and len(on[k]) == 1}
    if extractor == "auto":
        # One extractor named by the metrics (fd_dinov2 alone: dinov2); else Inception when a name asks
        # for it or the reference is no dataset, else the dataset's domain extractor.
        if len(forced) == 1:
            (extractor,) = forced
        else:
            extractor = "inception" if "inception" in forced or not has_domain else "domain"
    out = []
    for k in items:
        if k not in kinds:
            m = registry.get_metric(k)
            if m.extractor != extractor:
                raise BenchError(
                    f"--metrics: {k} is {get_extractor(m.extractor).label}'s "
                    f"{m.kind.upper()}; with --extractor {extractor} ask for {m.kind}"
                )
            out.append(k)
            continue
        name = next((m.name for m in registry.metrics() if m.kind == k and m.extractor == extractor), None)
        if name is None:
            raise BenchError(f"--metrics: {k} is not available on the {extractor} extractor")
        out.append(name)
    return list(dict.fromkeys(out))


def _describe(shape: tuple[int, ...]) -> str:
    """(C, H, W) -> "64x64 colour" / "28x28 grey"."""
    c, h, w = shape
    return f"{w}x{h} " + ("grey" if c == 1 else "colour" if c == 3 else f"{c}-channel")


def shape_warning(fake: tuple[int, ...], real: tuple[int, ...], what_real: str, hint: str = "") -> str | None:
    """One line when the scored images and the reference differ in resolution or channels: the
    extractor then resizes or converts one side, and the score compares different kinds of image."""
    if tuple(fake) == tuple(real):
        return None
    return (
        f"warning: the scored images are {_describe(fake)} but the reference ({what_real}) is "
        f"{_describe(real)}; the extractor resizes/converts them, so the score compares different images"
        f"{hint}"
    )


def _warn(say: Callable[[str], None] | None, line: str | None) -> None:
    if line is not None:
        (say or _stderr)(line)


def _stderr(line: str) -> None:
    import sys

    print(line, file=sys.stderr, flush=True)


def _device(choice: str, recorded: str | None) -> torch.device:
    if choice == "auto":
        choice = recorded or ("cuda" if torch.cuda.is_available() else "cpu")
    if choice == "cuda" and not torch.cuda.is_available():
        raise BenchError("--device: cuda was asked for (or recorded by the cell) and no GPU is available")
    return torch.device(choice)


def _cell_eval(
    path: Path,
    real: str | None,
    items: list[str] | None,
    extractor: str,
    given: dict[str, Any],
    device_choice: str,
    assets_dir: Path | None,
    say: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Score a trained cell through `evaluate`, under its recorded protocol with `given` overrides."""
    from bench.cell.evaluate import reference_identity, reference_side
    from bench.cell.restore import restore_cell
    from bench.eval.evaluate import cell_extractors

    result = store.read_result(path)
    recorded = (result or {}).get("protocol", {}).get("rng_device")
    device = _device(device_choice, recorded)
    cfg, model, source = restore_cell(path, device)
    info = source.info()
    ctx = DataContext.from_env()
    cache_dir = ctx.cache_dir.parent
    raw = cfg.eval.model_dump(mode="json") | given
    split = raw["split"]
    other = reference(real, split, ctx) if real is not None else None
    if items is not None:
        raw["metrics"] = resolve_metrics(items, extractor, other is None or other[2] is not None)
    else:  # a name that changed meaning since the cell was scored: score it as it was (old `prc`)
        raw["metrics"] = registry.as_scored(raw["metrics"], (result or {}).get("metrics") or {})
    ev = validate(EvalConfig, raw, "bench eval")
    t0 = time.perf_counter()
    if other is None:
        cell = cfg.model_copy(update={"eval": ev})
        identity = reference_identity(cell, info)
        if ev.split not in info.splits:
            allowed = ", ".join(info.splits)
            raise BenchError(f"--split: {ev.split!r} is not a split of {cfg.dataset}; allowed: {allowed}")
        test = reference_side(info, source.load(ev.split, ctx))
        train = source.load("train", ctx)
        extractors = cell_extractors(
            list(ev.metrics),
            info,
            train,
            test,
            cache_dir,
            conditional=model.conditional,
            assets_dir=assets_dir,
        )
        cuda = device.type == "cuda"
        # The training split as the cell's evaluation passes it (memorisation metrics); no gallery here.
        metrics, protocol = evaluate(
            model,
            info,
            test,
            ev,
            extractors,
            cuda,
            identity,
            cache_dir,
            train=reference_side(info, train),
            train_identity={**identity, "split": "train"},
        )
        metrics.pop("eval_seconds", None)
        about_real: dict[str, Any] = identity
    else:
        from bench.eval.generate import unconditional

        test, about_real, rinfo, train = other
        _warn(
            say,
            shape_warning(
                (info.channels, info.resolution, info.resolution),
                tuple(test.images.shape[1:]),
                what_real(about_real),
                folder_hint(about_real, (info.channels, info.resolution, info.resolution)),
            ),
        )
        extractors = reference_extractors(
            list(ev.metrics), rinfo, train, test, cache_dir, assets_dir, str(real), extractor
        )
        metrics, protocol, _ = evaluate_samples(
            unconditional(model),
            device,
            test,
            about_real,
            ev,
            list(ev.metrics),
            extractors,
            cache_dir,
            device.type == "cuda",
            num_classes=rinfo.num_classes if rinfo is not None else 0,
        )
    return {
        "metrics": metrics,
        "protocol": protocol,
        "fake": {"cell": cfg.cell_id, "step": model.total_steps},
        "real": about_real,
        "seconds": time.perf_counter() - t0,
    }


SamplerFor = Callable[[int], Sampler]  # sample block -> sampler


def check_counts(n: int | None, n_real: int | None) -> None:
    """--n and --n-real size memory and time (N images generated, N real encoded): bounded before
    anything is loaded or allocated (a 20-digit --n was once taken as it came)."""
    for flag, value in (("--n", n), ("--n-real", n_real)):
        if value is not None and not 0 < value <= MAX_SAMPLES:
            raise BenchError(f"{flag}: {value} is outside 1..{MAX_SAMPLES:,} (images of one evaluation)")


def run_eval(
    fake: str,
    real: str | None = None,
    kinds: list[str] | None = None,
    extractor: str = "auto",
    n: int | None = None,
    n_real: int | None = None,
    split: str | None = None,
    batch_size: int | None = None,
    seed: int | None = None,
    kid_subset_size: int | None = None,
    isc_splits: int | None = None,
    precision: str | None = None,
    assets_dir: Path | None = None,
    kid_subsets: int | None = None,
    prc_neighborhood: int | None = None,
    sample_block: int | None = None,
    repeats: int | None = None,
    device: str = "auto",
    say: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Scores of `fake` against `real` with the protocol they were measured under, as plain data.

    A setting left None is the cell's recorded one (a cell folder) or EvalConfig's default (a folder of
    images; KID's subset size then defaults to min(1000, min(N, N real) // 2), below N so that its std
    over subsets means something). `say` gets the warnings (one line each; default: stderr), e.g. when
    the images and the reference differ in size or channels.
    """
    local = locals()
    given = {field: local[opt] for opt, field in SETTINGS.items() if local[opt] is not None}
    if device not in ("auto", "cpu", "cuda"):
        raise BenchError(f"--device: unknown device {device!r}; allowed: auto, cpu, cuda")
    check_counts(n, n_real)
    path = Path(fake)
    if (path / store.CONFIG).is_file():
        return _cell_eval(path, real, kinds, extractor, given, device, assets_dir, say)
    if real is None:
        raise BenchError("--real: required unless --fake is a cell folder (which knows its dataset)")
    if not path.is_dir():
        raise BenchError(
            f"--fake: {fake!r} is neither a cell folder (with {store.CONFIG}) nor a folder of images"
        )
    t0 = time.perf_counter()
    ctx = DataContext.from_env()
    cache_dir = ctx.cache_dir.parent
    cuda = torch.cuda.is_available()
    resolve_metrics(kinds or ["fd", "kid"], extractor, True)  # refuse bad --metrics before reading data
    real_split, identity, info, train = reference(real, split or "test", ctx)
    names = resolve_metrics(kinds or ["fd", "kid"], extractor, info is not None)
    images = read_images(path, n)
    _warn(
        say,
        shape_warning(
            tuple(images.shape[1:]),
            tuple(real_split.images.shape[1:]),
            what_real(identity),
            folder_hint(identity, tuple(images.shape[1:])),
        ),
    )
    n_ref = min(n_real or len(real_split), len(real_split))
    if n is not None and n > len(images):  # clamped: said, never silent
        _warn(say, f"--n: {n:,} asked, {path} holds {len(images):,} images; all {len(images):,} are scored")
    if n_real is not None and n_real > len(real_split):
        _warn(say, f"--n-real: {n_real:,} asked, the reference holds {len(real_split):,}; all are used")
    # Below N: subsets of all N images are all the same set, so KID's std over them would print ±0.
    kid_default = max(2, min(1000, min(len(images), n_ref) // 2))
    raw = {"metrics": names, "kid_subset_size": kid_default, **given, "n_samples": len(images)}
    ev = validate(EvalConfig, raw, "bench eval")
    extractors = reference_extractors(names, info, train, real_split, cache_dir, assets_dir, real, extractor)

    def from_folder(j: int, size: int, g: torch.Generator) -> torch.Tensor:
        # Block j of a folder is simply its images j*block .. j*block+size, in path order.
        return to_unit_range(images[j * ev.sample_block : j * ev.sample_block + size])

    scores, protocol, _ = evaluate_samples(
        from_folder,
        torch.device("cpu"),
        real_split,
        identity,
        ev,
        names,
        extractors,
        cache_dir,
        cuda,
        n=len(images),
        num_classes=info.num_classes if info is not None else 0,
    )
    return {
        "metrics": scores,
        "protocol": protocol,
        "fake": {"folder": str(path.resolve())},
        "real": identity,
        "seconds": time.perf_counter() - t0,
    }


def dumps(out: dict[str, Any]) -> str:
    return json.dumps(out, indent=2, sort_keys=True) + "\n"
