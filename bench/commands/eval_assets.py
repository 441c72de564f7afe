"""`bench eval` (any images against any reference) and `bench assets fetch|verify` (weight files)."""

from __future__ import annotations

import sys
from enum import Enum
from pathlib import Path

import typer
from rich.console import Console

from bench.errors import BenchError

assets_app = typer.Typer(
    help="Download (on a machine with internet) and verify the weight files evaluation needs.",
    no_args_is_help=True,
)
console = Console()


def _metrics_help() -> str:
    """--metrics' help, listing every registered metric kind and name (the registry is the one list)."""
    from bench.eval import metric_registry as registry

    kinds = list(dict.fromkeys(m.kind for m in registry.metrics()))
    names = [n for n in registry.metric_names() if n not in kinds]
    return (
        f"comma list of metric kinds, taken on --extractor ({', '.join(kinds)}), or registered names "
        f"({', '.join(names)}; `bench list metrics`); default: a cell's own, else fd,kid"
    )


def _extractor_help() -> str:
    from bench.eval import metric_registry as registry

    return (
        f"auto, {', '.join(registry.EXTRACTORS)}: domain is the dataset's own extractor; the others need "
        "`bench assets fetch`; auto: the one extractor the named metrics use (fd_dinov2: dinov2), "
        "inception for fid/isc or a folder reference, else domain"
    )


class Precision(str, Enum):
    fp32 = "fp32"
    bf16 = "bf16"


def eval_command(
    fake: str = typer.Option(
        ..., "--fake", help="a folder of PNG/JPG images, or a cell folder to sample from"
    ),
    real: str | None = typer.Option(
        None,
        "--real",
        help="a built-in dataset (`bench list datasets`; its --split) or a folder of images; default for "
        "a cell: its own dataset",
    ),
    metrics: str | None = typer.Option(None, "--metrics", help=_metrics_help()),
    extractor: str = typer.Option("auto", "--extractor", help=_extractor_help()),
    n: int | None = typer.Option(None, "--n", min=1, help="generated images (default: all / the cell's N)"),
    n_real: int | None = typer.Option(None, "--n-real", min=1, help="real images (default: the whole split)"),
    split: str | None = typer.Option(None, "--split", help="split of the reference dataset (default test)"),
    batch_size: int | None = typer.Option(
        None, "--batch-size", min=1, help="feature extraction batch (does not change the samples)"
    ),
    sample_block: int | None = typer.Option(
        None, "--sample-block", min=1, help="samples per seeded generator (changes the samples; default 250)"
    ),
    seed: int | None = typer.Option(None, "--seed", help="sampling and KID/IS subset seed"),
    repeats: int | None = typer.Option(None, "--repeats", min=1, help="independent sample sets; their mean"),
    kid_subsets: int | None = typer.Option(None, "--kid-subsets", min=1, help="KID: subsets (default 100)"),
    kid_subset_size: int | None = typer.Option(
        None,
        "--kid-subset-size",
        min=1,
        help="KID: images per subset (default: a cell's, else N/2, at most 1000)",
    ),
    isc_splits: int | None = typer.Option(None, "--isc-splits", min=1, help="IS: mean and std over splits"),
    prc_neighborhood: int | None = typer.Option(
        None, "--prc-neighborhood", min=1, help="precision/recall: k nearest neighbours (default 3)"
    ),
    precision: Precision | None = typer.Option(None, "--precision", help="sampling and feature extraction"),
    device: str = typer.Option(
        "auto", "--device", help="auto (a cell's recorded device kind, else cuda if present), cpu, cuda"
    ),
    assets: Path | None = typer.Option(None, "--assets", help="weights folder (default: BENCH_ASSETS)"),
    data_root: Path | None = typer.Option(
        None, "--data-root", help="where datasets live (as for bench run); default: BENCH_DATA"
    ),
) -> None:
    """Metrics for any set of images against any reference; prints JSON with values and fingerprints.

    `bench eval --fake CELL_DIR` alone re-scores the cell under its recorded protocol: the numbers are
    the ones in its result.json. Every other option overrides one recorded setting.
    """
    from bench.commands.eval_images import dumps, run_eval
    from bench.datasets.root import export_root

    export_root(data_root)  # the data root's error messages advise --data-root: it is accepted here too
    kinds = None
    if metrics is not None:
        kinds = [m.strip() for m in metrics.split(",") if m.strip()]
        if not kinds:
            raise BenchError("--metrics: give at least one metric (see `bench list metrics`)")
    out = run_eval(
        fake,
        real,
        kinds,
        extractor=extractor,
        n=n,
        n_real=n_real,
        split=split,
        batch_size=batch_size,
        seed=seed,
        kid_subset_size=kid_subset_size,
        isc_splits=isc_splits,
        precision=precision.value if precision is not None else None,
        assets_dir=assets,
        kid_subsets=kid_subsets,
        prc_neighborhood=prc_neighborhood,
        sample_block=sample_block,
        repeats=repeats,
        device=device,
    )
    sys.stdout.write(dumps(out))


DIR = typer.Option(None, "--dir", help="weights folder (default: BENCH_ASSETS, else ~/.cache/bench/assets)")
ONLY = typer.Option(
    None, "--only", help="comma list of extractors (inception, vgg16, dinov2); default: every file"
)


def _selected(only: str | None) -> list:
    """The manifest's assets, or those of the extractors in --only (refusing an unknown one)."""
    from bench.features import assets
    from bench.features.extractors import extractor_kinds

    entries = list(assets.load_manifest().values())
    if only is None:
        return entries
    kinds = [k.strip() for k in only.split(",") if k.strip()]
    with_files = sorted({a.extractor for a in entries})
    bad = [k for k in kinds if k not in extractor_kinds() or k not in with_files]
    if not kinds or bad:
        raise BenchError(
            f"--only: {', '.join(bad) or 'nothing'} given; extractors with files: {', '.join(with_files)}"
        )
    return [a for a in entries if a.extractor in kinds]


@assets_app.command("fetch")
def fetch_command(directory: Path | None = DIR, only: str | None = ONLY) -> None:
    """Download every file of the manifest that is missing, verifying each SHA-256; then lay out what an
    extractor needs besides (DINOv2's torch hub cache under <dir>/torch/hub)."""
    from bench.features import assets
    from bench.features.extractors import get_extractor

    d = assets.assets_dir(directory)
    selected = _selected(only)
    for a in selected:
        state = assets.fetch(a, d)
        console.print(f"{state}: {d / a.file} (sha256 {a.sha256})", highlight=False)
    for kind in sorted({a.extractor for a in selected}):
        prepare = get_extractor(kind).prepare
        if prepare is not None:
            prepare(d)
            console.print(f"laid out: {kind} under {d}", highlight=False)


@assets_app.command("verify")
def verify_command(directory: Path | None = DIR, only: str | None = ONLY) -> None:
    """Check every file of the manifest (or of --only's extractors) by SHA-256; exit 2 naming the first
    bad one."""
    from bench.features import assets

    d = assets.assets_dir(directory)
    for a in _selected(only):
        path = assets.verify(a, d)
        console.print(f"ok: {path} (sha256 {a.sha256})", highlight=False)


def register(app: typer.Typer) -> None:
    app.command("eval")(eval_command)
    app.add_typer(assets_app, name="assets")
