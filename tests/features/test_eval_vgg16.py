"""Precision/recall on VGG16 (`prc`), as torch-fidelity's `prc` computes it: the manifest entry, a
fabricated weight file in the real format (a full-size VGG16 state dict saved by torch.save), features
identical to torch-fidelity's own extractor on the same file, and weights read with weights_only=True."""

from __future__ import annotations

import hashlib
import json
import math
import pickle
from collections import OrderedDict
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision
from torch_fidelity.feature_extractor_vgg16 import FeatureExtractorVGG16

from bench.errors import BenchError
from bench.eval.metric_registry import get_metric, output_info
from bench.features import assets
from bench.features.vgg16 import VGG16_EXTRACTOR, BenchVGG16, vgg16_extractor

FILE = "vgg16-397923af.pth"


@pytest.fixture(scope="module")
def fabricated(tmp_path_factory) -> tuple[Path, str]:
    """torchvision's VGG16 state dict (every key and shape of the published file), random values,
    in the published file's serialisation."""
    d = tmp_path_factory.mktemp("vgg-assets")
    with torch.device("meta"):
        shapes = {k: v.shape for k, v in torchvision.models.vgg16().state_dict().items()}
    g = torch.Generator().manual_seed(0)
    # Small weights keep 16 layers of activations finite and non-zero through the ReLUs.
    state = {
        k: torch.randn(s, generator=g) * (0.02 if k.endswith("weight") else 0.01) for k, s in shapes.items()
    }
    path = d / FILE
    # The published file (torchvision's VGG weights since 2017) predates the zip format of PyTorch 1.6:
    # the legacy serialisation, which weights_only=True must read as well.
    torch.save(OrderedDict(state), path, _use_new_zipfile_serialization=False)
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 24), b""):
            h.update(chunk)
    return path, h.hexdigest()


def _manifest(tmp_path: Path, sha: str, url: str = "https://example.invalid/vgg16.pth") -> Path:
    m = tmp_path / "manifest.json"
    entry = {"name": "vgg16-imagenet1k-v1", "extractor": "vgg16", "file": FILE, "url": url, "sha256": sha}
    m.write_text(json.dumps({"assets": [entry]}))
    return m


def test_the_package_manifest_pins_torchvisions_vgg16_file() -> None:
    a = assets.load_manifest()["vgg16-imagenet1k-v1"]
    assert a.url == torchvision.models.VGG16_Weights.IMAGENET1K_V1.url  # what torch-fidelity downloads
    assert a.extractor == "vgg16" and a.file == FILE and len(a.sha256) == 64
    assert a.sha256.startswith("397923af")  # torch.hub's convention: the name carries the hash prefix
    assert a.bytes == 553433881


def test_prc_is_vgg16_and_the_inception_variant_has_its_own_name() -> None:
    assert get_metric("prc").extractor == "vgg16" and get_metric("prc").output_names("vgg16") == (
        "precision_vgg16",
        "recall_vgg16",
    )
    assert get_metric("prc_inception").extractor == "inception"
    assert get_metric("prc_domain").extractor == "domain"
    # Keys result.json files wrote before VGG16 became `prc` keep their meaning, in the leaderboard too.
    from bench.eval import result_keys as columns

    assert output_info("precision_inception").metric == "prc_inception"
    assert output_info("recall_inception").diversity == output_info("recall_vgg16").diversity == "recall"
    assert columns.extractor("precision_inception") == "inception" and columns.is_kind(
        "recall_inception", "prc"
    )
    assert columns.extractor("precision_vgg16") == "vgg16" and columns.uses_setting(
        "recall_vgg16", "prc_neighborhood"
    )


def test_a_cell_scored_when_prc_meant_inception_is_rescored_as_it_was() -> None:
    from bench.eval.metric_registry import as_scored

    old = {"fd_digits": 3.0, "precision_inception": 0.5, "recall_inception": 0.4}
    assert as_scored(["fd", "prc"], old) == ["fd", "prc_inception"]
    new = {"precision_vgg16": 0.5, "recall_vgg16": 0.4, "precision_inception": 0.5}
    assert as_scored(["prc", "prc_inception"], new) == ["prc", "prc_inception"]
    assert as_scored(["prc"], {}) == ["prc"]  # not scored yet: today's meaning


@pytest.mark.slow  # two VGG16 builds and forwards at 224x224 (~15 s on 2 shared cores)
def test_features_equal_torch_fidelitys_vgg16_on_the_same_file(fabricated) -> None:
    path, _ = fabricated
    x = torch.randint(0, 256, (1, 3, 32, 32), dtype=torch.uint8)
    ours = BenchVGG16(VGG16_EXTRACTOR, ["fc2", "fc2_relu"], feature_extractor_weights_path=str(path))
    theirs = FeatureExtractorVGG16("vgg16", ["fc2", "fc2_relu"], feature_extractor_weights_path=str(path))
    with torch.no_grad():
        a, b = ours(x), theirs(x)
    assert a[1].shape == (1, 4096) and torch.equal(a[1], torch.relu(a[0]))
    assert all(torch.equal(u, v) for u, v in zip(a, b, strict=True))
    assert a[1].abs().sum() > 0  # real activations, not a degenerate all-zero net


class _Payload:
    """Unpickling this runs code (os.system in a real attack); weights_only must refuse it."""

    def __reduce__(self):
        return (print, ("payload ran",))


def test_a_weight_file_with_pickled_code_is_refused(tmp_path: Path) -> None:
    path = tmp_path / FILE
    torch.save({"features.0.weight": _Payload()}, path)
    with pytest.raises(pickle.UnpicklingError, match="Weights only load failed"):
        BenchVGG16(VGG16_EXTRACTOR, ["fc2_relu"], feature_extractor_weights_path=str(path))


def test_missing_weights_fail_before_training(tmp_path, monkeypatch, fabricated) -> None:
    from types import SimpleNamespace

    from bench.cell.evaluate import preflight
    from bench.config import EvalConfig

    monkeypatch.setattr(assets, "MANIFEST", _manifest(tmp_path, fabricated[1]))
    monkeypatch.setenv("BENCH_ASSETS", str(tmp_path / "empty"))
    cell = SimpleNamespace(eval=EvalConfig(metrics=["fd", "prc"]))  # what preflight reads of a cell
    with pytest.raises(BenchError, match=f"{FILE} .* is missing; run `bench assets fetch"):
        preflight([cell])
    monkeypatch.setenv("BENCH_ASSETS", str(fabricated[0].parent))
    preflight([cell])  # the verified file: no error


def _pngs(folder: Path, n: int, seed: int) -> Path:
    from PIL import Image

    folder.mkdir()
    rng = np.random.default_rng(seed)
    for i in range(n):
        Image.fromarray((rng.random((28, 28)) * 255).astype(np.uint8)).save(folder / f"{i}.png")
    return folder


@pytest.mark.slow  # four VGG16 forwards at 224x224
def test_prc_through_bench_eval_on_vgg16(fabricated, tmp_path, monkeypatch) -> None:
    from bench.commands.eval_images import run_eval

    path, sha = fabricated
    monkeypatch.setattr(assets, "MANIFEST", _manifest(tmp_path, sha))
    monkeypatch.setenv("BENCH_ASSETS", str(path.parent))
    out = run_eval(
        str(_pngs(tmp_path / "fake", 2, 0)),
        "digits",
        ["prc"],
        extractor="vgg16",
        n_real=2,  # VGG16 at 224x224 on a shared 2-core CPU: ~2 s per image
        batch_size=2,
        prc_neighborhood=1,
    )
    m, p = out["metrics"], out["protocol"]
    assert set(m) == {"precision_vgg16", "recall_vgg16"}
    assert all(math.isfinite(v) and 0 <= v <= 1 for v in m.values())
    assert p["extractor"] == "vgg16-imagenet1k-v1" and p["extractor_sha256"] == sha
    assert p["feature_layer"] == "fc2_relu" and "224" in p["resize"]
    assert vgg16_extractor(path.parent).weights == path
