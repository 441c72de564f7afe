"""The extractor registry: registration validates its arguments, a kind registered by one call is what
cell_extractors and the metric registry use (no if-chain to extend), and `bench assets fetch --only`
selects files by extractor."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from bench.errors import BenchError
from bench.eval import metric_registry as registry
from bench.eval.evaluate import cell_extractors
from bench.eval.metric_registry import Output, register_metric, unregister_metric
from bench.features import assets
from bench.features.extractors import (
    EXTRACTOR_KEYS,
    ExtractorContext,
    build_extractors,
    extractor_kinds,
    get_extractor,
    register_extractor,
    unregister_extractor,
)


def test_the_built_in_kinds_and_their_keys() -> None:
    assert extractor_kinds() == ["domain", "inception", "vgg16", "dinov2"]
    assert registry.EXTRACTORS is EXTRACTOR_KEYS  # one table: metrics read the extractor registry
    assert EXTRACTOR_KEYS == {"domain": None, "inception": "inception", "vgg16": "vgg16", "dinov2": "dinov2"}
    assert get_extractor("dinov2").prepare is not None and get_extractor("vgg16").prepare is None
    # Every kind with files in the package manifest is a registered kind.
    assert {a.extractor for a in assets.load_manifest().values()} == {"inception", "vgg16", "dinov2"}


def test_registration_refuses_bad_or_taken_names() -> None:
    with pytest.raises(ValueError, match="already registered"):
        register_extractor("vgg16", lambda ctx: None, "vgg16b")
    with pytest.raises(ValueError, match="must match"):
        register_extractor("Bad-Name", lambda ctx: None)
    with pytest.raises(ValueError, match="key 'inception' is invalid or already used"):
        register_extractor("other", lambda ctx: None, "inception")
    with pytest.raises(ValueError, match="must be callable"):
        register_extractor("other", "not a function")
    assert "other" not in extractor_kinds()
    with pytest.raises(BenchError, match="unknown extractor 'nope'; allowed: domain, inception"):
        get_extractor("nope")


def test_a_kind_registered_by_one_call_is_built_for_its_metrics(tmp_path: Path) -> None:
    seen: list[ExtractorContext] = []

    def factory(ctx: ExtractorContext) -> str:
        seen.append(ctx)
        return "the toy extractor"

    register_extractor("toy", factory, "toy", "a toy")
    try:
        register_metric("fd_toy", "fd", "toy", (Output("fd_{key}", True),), lambda x: (0.0,))
        try:
            assert registry.needed_extractors(["fd_toy"]) == {"toy"}
            assert registry.output_info("fd_toy").metric == "fd_toy"
            out = cell_extractors(["fd_toy"], info=None, train=None, test=None, cache_dir=tmp_path)
            assert out == {"toy": "the toy extractor"}
            assert seen[0].cache_dir == tmp_path
            assert build_extractors({"toy"}, ExtractorContext()) == {"toy": "the toy extractor"}
        finally:
            unregister_metric("fd_toy")
    finally:
        unregister_extractor("toy")
    with pytest.raises(ValueError, match="unknown extractor 'toy'"):
        register_metric("fd_toy", "fd", "toy", (Output("fd_{key}", True),), lambda x: (0.0,))


def _file(folder: Path, name: str, data: bytes) -> dict:
    folder.mkdir(exist_ok=True)
    (folder / name).write_bytes(data)
    return {"file": name, "url": (folder / name).as_uri(), "sha256": hashlib.sha256(data).hexdigest()}


def test_fetch_only_selects_files_by_extractor(tmp_path: Path, monkeypatch) -> None:
    from bench.cli import app

    src = tmp_path / "published"
    entries = [
        {"name": "inception-v3-compat", "extractor": "inception", **_file(src, "inc.pth", b"inception")},
        {"name": "vgg16-imagenet1k-v1", "extractor": "vgg16", **_file(src, "vgg.pth", b"vgg")},
    ]
    (tmp_path / "m.json").write_text(json.dumps({"assets": entries}))
    monkeypatch.setattr(assets, "MANIFEST", tmp_path / "m.json")
    dest = tmp_path / "assets"
    app(["assets", "fetch", "--dir", str(dest), "--only", "vgg16"], standalone_mode=False)
    assert sorted(p.name for p in dest.iterdir()) == ["vgg.pth"]
    app(["assets", "verify", "--dir", str(dest), "--only", "vgg16"], standalone_mode=False)
    with pytest.raises(BenchError, match="inc.pth .* is missing"):
        app(["assets", "verify", "--dir", str(dest)], standalone_mode=False)
    with pytest.raises(
        BenchError, match="^--only: domain, nope given; extractors with files: inception, vgg16$"
    ):
        app(["assets", "fetch", "--dir", str(dest), "--only", "domain,nope"], standalone_mode=False)


def test_bench_list_metrics_shows_the_new_metrics_with_their_extractors() -> None:
    from bench.commands import catalog

    _, header, rows = catalog.listing("metrics")
    by_name = {r[0]: dict(zip(header, r, strict=True)) for r in rows if r[0] != "-"}
    assert by_name["prc"]["extractor"] == "vgg16" and by_name["prc"]["result keys"] == (
        "precision_vgg16, recall_vgg16"
    )
    assert by_name["prc_inception"]["result keys"] == "precision_inception, recall_inception"
    assert (
        by_name["fd_dinov2"]["extractor"] == "dinov2" and by_name["fd_dinov2"]["result keys"] == "fd_dinov2"
    )
    assert by_name["fd_dinov2"]["better"] == "lower"
