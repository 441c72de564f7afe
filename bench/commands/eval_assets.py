"""`bench eval` (any images against any reference) and `bench assets fetch|verify` (weight files)."""

from __future__ import annotations

import json
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


class Precision(str, Enum):
    fp32 = "fp32"
    bf16 = "bf16"


def eval_command(
    fake: str = typer.Option(
        ..., "--fake", help="a folder of PNG/JPG images, or a cell folder to sample from"
    ),
    real: str = typer.Option(..., "--real", help="a built-in dataset name (its --split), or a folder"),
    metrics: str = typer.Option("fd,kid", "--metrics", help="comma list of fd, fid, kid, isc, prc, coverage"),
    extractor: str = typer.Option(
        "auto",
        "--extractor",
        help="domain (the dataset's classifier), inception (needs `bench assets fetch`), or auto: "
        "inception for fid/isc or an unlabelled reference, else domain",
    ),
    n: int | None = typer.Option(None, "--n", min=1, help="generated images (default: all / the cell's N)"),
    n_real: int | None = typer.Option(None, "--n-real", min=1, help="real images (default: the whole split)"),
    split: str = typer.Option("test", "--split", help="split of a built-in --real dataset"),
    batch_size: int = typer.Option(250, "--batch-size", min=1, help="sampling and extraction batch"),
    seed: int = typer.Option(0, "--seed", help="sampling and KID/IS subset seed"),
    kid_subset_size: int | None = typer.Option(None, "--kid-subset-size", min=1, help="default min(1000, N)"),
    isc_splits: int = typer.Option(10, "--isc-splits", min=1, help="IS: mean and std over this many splits"),
    precision: Precision = typer.Option(
        Precision.fp32, "--precision", help="sampling and feature extraction"
    ),
    assets: Path | None = typer.Option(None, "--assets", help="weights folder (default: BENCH_ASSETS)"),
) -> None:
    """Metrics for any set of images against any reference; prints JSON with values and fingerprint."""
    from bench.eval.standalone import run_eval

    kinds = [m.strip() for m in metrics.split(",") if m.strip()]
    if not kinds:
        raise BenchError("--metrics: give at least one of fd, fid, kid, isc, prc, coverage")
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
        precision=precision.value,
        assets_dir=assets,
    )
    sys.stdout.write(json.dumps(out, indent=2, sort_keys=True) + "\n")


DIR = typer.Option(None, "--dir", help="weights folder (default: BENCH_ASSETS, else ~/.cache/bench/assets)")


@assets_app.command("fetch")
def fetch_command(directory: Path | None = DIR) -> None:
    """Download every weight file of the manifest that is missing, verifying each SHA-256."""
    from bench.eval import assets

    d = assets.assets_dir(directory)
    for a in assets.load_manifest().values():
        state = assets.fetch(a, d)
        console.print(f"{state}: {d / a.file} (sha256 {a.sha256})", highlight=False)


@assets_app.command("verify")
def verify_command(directory: Path | None = DIR) -> None:
    """Check every weight file of the manifest by SHA-256; exit 2 naming the first bad one."""
    from bench.eval import assets

    d = assets.assets_dir(directory)
    for a in assets.load_manifest().values():
        path = assets.verify(a, d)
        console.print(f"ok: {path} (sha256 {a.sha256})", highlight=False)


def register(app: typer.Typer) -> None:
    app.command("eval")(eval_command)
    app.add_typer(assets_app, name="assets")
