"""What `bench eval --real` names, and the extractors it can have.

`--real` is a dataset (`mnist5k`), a spec (`'{folder: {path: DIR, labeled: true}}'`, the form a grid's
`datasets:` list takes), a grid file that trains on one dataset, or a bare folder of images. A dataset
(your folders included) is scored against its split, with its own domain extractor trained on its train
split; a bare folder is the whole reference and has no training split, so it has Inception (or another
extractor with weights) only: its errors say so and name the spec that gives it a domain extractor.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench.datasets import DATASETS, DataContext
from bench.datasets.base import ImageSplit
from bench.errors import BenchError
from bench.eval import metric_registry as registry
from bench.eval.folder import read_images
from bench.features.extractors import ExtractorContext, build_extractors


def reference(
    real: str, split: str, ctx: DataContext
) -> tuple[ImageSplit, dict[str, Any], Any, ImageSplit | None]:
    """(reference images, identity, dataset info or None, train split for a domain classifier).

    `real` is a dataset (`mnist5k`), a spec (`{folder: {path: DIR, labeled: true}}`), a grid file
    naming one dataset, or a bare folder of images (the whole folder is the reference; it has no
    training split, so no domain extractor)."""
    from bench.commands.data import is_grid_file, named_datasets
    from bench.datasets.root import export_root
    from bench.datasets.spec import is_inline

    if is_inline(real) or real in DATASETS or (is_grid_file(real) and not Path(real).is_dir()):
        found, grid_root = named_datasets(real, "--real")
        if len(found) != 1:
            listed = ", ".join(spec_of(name, s) for name, s in found)
            raise BenchError(f"--real: {real} trains on {len(found)} datasets ({listed}); give one as --real")
        if grid_root is not None and ctx.data_root is None:
            # As `bench run` does: the grid's root for this process (a folder's info() reads its
            # class sub-folders under BENCH_DATA).
            export_root(grid_root)
            ctx = DataContext(data_root=grid_root.expanduser().resolve(), cache_dir=ctx.cache_dir)
        name, source = found[0]
        return _dataset_reference(name, source, split, ctx)
    path = Path(real)
    if path.is_dir():
        return ImageSplit(read_images(path, flag="--real")), {"folder": str(path.resolve())}, None, None
    raise BenchError(
        f"--real: {real!r} is neither a dataset ({', '.join(DATASETS.names())}), a spec such as "
        "'{folder: {path: DIR, labeled: true}}', a grid file, nor a folder of images"
    )


def _as_spec(folder: str) -> str:
    from bench.datasets.spec import spec_text

    return spec_text("folder", {"path": folder})


def spec_of(name: str, source: Any) -> str:
    """The inline spec that names `source` again: its arguments that differ from the defaults."""
    from bench.datasets.spec import spec_text

    return spec_text(name, source.args.model_dump(mode="json", exclude_defaults=True))


def _dataset_reference(
    name: str, source: Any, split: str, ctx: DataContext
) -> tuple[ImageSplit, dict[str, Any], Any, ImageSplit]:
    from bench.cell.evaluate import reference_side

    info = source.info()
    if split not in info.splits:
        raise BenchError(f"--split: {split!r} is not a split of {name}; allowed: {', '.join(info.splits)}")
    identity = {"dataset": name, "dataset_args": source.args.model_dump(mode="json"), "split": split}
    # Every dataset's domain extractor trains on its train split (a folder's own, too); a paired or
    # unpaired dataset is scored against its targets, as its cells are.
    return reference_side(info, source.load(split, ctx)), identity, info, source.load("train", ctx)


def reference_extractors(
    names: list[str],
    info: Any,
    train: ImageSplit | None,
    test: ImageSplit,
    cache_dir: Path,
    assets_dir: Path | None,
    real: str,
    extractor: str,
) -> dict:
    kinds = registry.needed_extractors(names)
    if "domain" in kinds and (info is None or train is None):
        # Blame what the user wrote: --extractor domain, or a metric that is the domain extractor's.
        cause = (
            "--extractor domain"
            if extractor == "domain"
            else "--metrics " + ",".join(m for m in names if registry.get_metric(m).extractor == "domain")
        )
        raise BenchError(
            f"{cause}: --real {real} is a bare folder of images, with no training split for a domain "
            f"extractor; give it as a dataset, --real '{_as_spec(real)}' (add labeled: true for "
            "class sub-folders), whose own extractor trains on its train split"
        )
    ctx = ExtractorContext(info=info, train=train, test=test, cache_dir=cache_dir, assets_dir=assets_dir)
    try:
        return build_extractors(kinds, ctx)
    except BenchError as err:
        if info is not None or extractor != "auto":
            raise
        # auto chose Inception for a bare folder; its weights are missing: say the offline way too.
        raise BenchError(
            f"{err}; or, offline, score against the folder's own domain extractor: --real '{_as_spec(real)}'"
        ) from None


def what_real(identity: dict[str, Any]) -> str:
    if "folder" in identity:
        return identity["folder"]
    path = (identity.get("dataset_args") or {}).get("path")
    where = f" {path}" if isinstance(path, str) else ""
    return f"{identity.get('dataset')}{where} {identity.get('split', '')}".strip()


def folder_hint(identity: dict[str, Any], fake: tuple[int, ...]) -> str:
    """For a folder dataset read at another size: the spec keys that read it as the scored images are
    (its defaults, 64x64 RGB, silently resize and colour a grey 28x28 folder)."""
    args = identity.get("dataset_args") or {}
    if "resolution" not in args or "channels" not in args or fake[1] != fake[2] or fake[0] not in (1, 3):
        return ""
    return f"; to read the folder as they are, add resolution: {fake[1]}, channels: {fake[0]} to its spec"
