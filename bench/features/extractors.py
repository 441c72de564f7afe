"""The one registry of feature extractors: which kinds a metric may be computed on, and how each is built.

A kind (`register_extractor`) is what a metric names as its `extractor` (bench/eval/metric_registry.py):
"domain" (the dataset's own classifier), "inception" (torch-fidelity's TF-compatible InceptionV3),
"vgg16" (torch-fidelity's VGG16, for precision/recall as Kynkaanniemi et al. compute it), "dinov2"
(DINOv2 ViT-S/14). Each kind declares the fixed key its metrics' result keys carry (None: the
dataset's name, as fd_digits), a label for messages, and a factory that builds the `Extractor` from an
`ExtractorContext`. Kinds with weight files name them in the asset manifest (bench/features/assets.json,
by `extractor`); `prepare` runs after `bench assets fetch` (DINOv2 lays out its torch hub cache).

Like metric_registry, this module imports no torch-fidelity: bench.config reads the metric registry,
which reads this one. Factories import what they need when called.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from bench.errors import BenchError

if TYPE_CHECKING:
    from bench.datasets.base import DatasetInfo, ImageSplit
    from bench.features.extractor import Extractor

_KIND = re.compile(r"^[a-z][a-z0-9_]*$")


@dataclass(frozen=True)
class ExtractorContext:
    """What a factory may use: the dataset (for the domain classifier) and the weights folder."""

    info: DatasetInfo | None = None  # None for a folder reference
    train: ImageSplit | None = None  # what the domain classifier trains on
    test: ImageSplit | None = None  # what it is scored on
    cache_dir: Path | None = None
    assets_dir: Path | None = None  # None: BENCH_ASSETS (bench.features.assets.assets_dir)


Factory = Callable[[ExtractorContext], "Extractor"]


@dataclass(frozen=True)
class ExtractorKind:
    kind: str
    factory: Factory
    key: str | None  # the result-key suffix of every metric on it; None: the dataset's name
    label: str  # "the domain classifier", "VGG16" (messages)
    prepare: Callable[[Path], object] | None = None  # after `bench assets fetch`, given the assets folder


_KINDS: dict[str, ExtractorKind] = {}
# kind -> fixed key, the view metric_registry.EXTRACTORS is (one dict, filled here).
EXTRACTOR_KEYS: dict[str, str | None] = {}


def register_extractor(
    kind: str,
    factory: Factory,
    key: str | None = None,
    label: str = "",
    prepare: Callable[[Path], object] | None = None,
) -> ExtractorKind:
    """Make `kind` an extractor metrics may name; refuses a kind or a fixed key already taken."""
    if not isinstance(kind, str) or not _KIND.match(kind):
        raise ValueError(f"extractor kind must match {_KIND.pattern}, got {kind!r}")
    if kind in _KINDS:
        raise ValueError(f"extractor {kind!r} is already registered")
    if not callable(factory) or (prepare is not None and not callable(prepare)):
        raise ValueError(f"extractor {kind!r}: factory and prepare must be callable")
    if key is not None and (not _KIND.match(key) or key in EXTRACTOR_KEYS.values()):
        raise ValueError(f"extractor {kind!r}: key {key!r} is invalid or already used")
    spec = ExtractorKind(kind, factory, key, label or kind, prepare)
    _KINDS[kind] = spec
    EXTRACTOR_KEYS[kind] = key
    return spec


def unregister_extractor(kind: str) -> None:
    """Remove a kind (for tests that register an example)."""
    _KINDS.pop(kind)
    EXTRACTOR_KEYS.pop(kind)


def extractor_kinds() -> list[str]:
    return list(_KINDS)


def get_extractor(kind: str) -> ExtractorKind:
    try:
        return _KINDS[kind]
    except KeyError:
        raise BenchError(f"unknown extractor {kind!r}; allowed: {', '.join(_KINDS)}") from None


def build_extractors(kinds: set[str] | list[str], ctx: ExtractorContext) -> dict[str, Extractor]:
    """kind -> Extractor for each kind, built by its registered factory, in registration order."""
    for k in kinds:
        get_extractor(k)  # an unknown kind: one error line before anything is built
    return {k: _KINDS[k].factory(ctx) for k in _KINDS if k in kinds}


# ---- the built-in kinds (their modules are imported when one is built) ----


def domain(info: DatasetInfo, train: ImageSplit, test: ImageSplit | None, cache_dir: Path) -> Extractor:
    """The dataset's own classifier as an extractor (trained once, cached under BENCH_CACHE)."""
    from bench.features.domain.classifier import domain_extractor
    from bench.features.extractor import DOMAIN_RESIZE, Extractor
    from bench.features.fidelity import DOMAIN_EXTRACTOR

    f = domain_extractor(info, train, test, cache_dir)
    return Extractor(
        key=f.name,
        fidelity_name=DOMAIN_EXTRACTOR,
        description=f.description,
        weights=f.path,
        sha256=f.sha256,
        layers=("features", "logits"),
        fd_layer="features",
        logits_layer="logits",
        resize=DOMAIN_RESIZE,
        test_accuracy=f.test_accuracy,
        facts=f.facts(),
    )


def inception(directory: Path | None = None) -> Extractor:
    """torch-fidelity's TF-compatible InceptionV3 from BENCH_ASSETS, after checking its SHA-256."""
    from bench.features import assets
    from bench.features.extractor import inception_extractor

    (asset,) = [a for a in assets.load_manifest().values() if a.extractor == "inception"]
    path = assets.verify(asset, assets.assets_dir(directory))
    return inception_extractor(path, asset.sha256)


def _domain(ctx: ExtractorContext) -> Extractor:
    return domain(ctx.info, ctx.train, ctx.test, ctx.cache_dir)


def _inception(ctx: ExtractorContext) -> Extractor:
    return inception(ctx.assets_dir)


def _vgg16(ctx: ExtractorContext) -> Extractor:
    from bench.features.vgg16 import vgg16_extractor

    return vgg16_extractor(ctx.assets_dir)


def _dinov2(ctx: ExtractorContext) -> Extractor:
    from bench.features.dinov2 import dinov2_extractor

    return dinov2_extractor(ctx.assets_dir)


def _dinov2_prepare(assets_dir: Path) -> object:
    from bench.features.dinov2 import lay_out

    return lay_out(assets_dir)


register_extractor("domain", _domain, None, "the domain classifier")
register_extractor("inception", _inception, "inception", "Inception")
register_extractor("vgg16", _vgg16, "vgg16", "VGG16")
register_extractor("dinov2", _dinov2, "dinov2", "DINOv2", prepare=_dinov2_prepare)
