"""Offline Inception: the manifest, fetch/verify by SHA-256, `bench run`'s check before training, and
torch-fidelity's real Inception loading path on a fabricated weight file (random init, real format)."""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path
from unittest import mock

import numpy as np
import pytest
import torch
from torch_fidelity import feature_extractor_inceptionv3 as tf_inception

from bench.commands.eval_images import run_eval
from bench.errors import BenchError
from bench.features import assets


class _Skeleton(tf_inception.FeatureExtractorInceptionV3):
    """torch-fidelity's InceptionV3 with its random initialisation: the constructor's download and
    load are skipped, so state_dict() has exactly the published file's keys and shapes."""

    def load_state_dict(self, *args, **kwargs):  # noqa: D102  (the constructor's load of the download)
        return None


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def fabricated(tmp_path_factory) -> tuple[Path, str]:
    """A randomly initialised InceptionV3 state dict saved as the manifest's file name."""
    d = tmp_path_factory.mktemp("assets")
    torch.manual_seed(0)
    with mock.patch.object(tf_inception, "load_state_dict_from_url", return_value={}):
        net = _Skeleton("inception-v3-compat", ["2048"])
    path = d / "weights-inception-2015-12-05-6726825d.pth"
    torch.save(torch.nn.Module.state_dict(net), path)
    return path, _sha(path)


def _manifest(tmp_path: Path, sha: str, url: str = "https://example.invalid/w.pth") -> Path:
    m = tmp_path / "manifest.json"
    entry = {
        "name": "inception-v3-compat",
        "extractor": "inception",
        "file": "weights-inception-2015-12-05-6726825d.pth",
        "url": url,
        "sha256": sha,
        "bytes": None,
    }
    m.write_text(json.dumps({"assets": [entry]}))
    return m


@pytest.fixture
def inception_assets(fabricated, tmp_path, monkeypatch) -> tuple[Path, str]:
    path, sha = fabricated
    monkeypatch.setattr(assets, "MANIFEST", _manifest(tmp_path, sha))
    monkeypatch.setenv("BENCH_ASSETS", str(path.parent))
    return path, sha


def test_the_package_manifest_pins_torch_fidelitys_inception_file() -> None:
    a = assets.load_manifest()["inception-v3-compat"]
    assert a.url == tf_inception.URL_INCEPTION_V3
    # torch.hub's convention: the file name carries the first 8 hex digits of the SHA-256.
    assert a.file.endswith(f"-{a.sha256[:8]}.pth") and len(a.sha256) == 64


def _pngs(folder: Path, n: int, seed: int) -> Path:
    from PIL import Image

    folder.mkdir()
    rng = np.random.default_rng(seed)
    for i in range(n):
        Image.fromarray((rng.random((28, 28)) * 255).astype(np.uint8)).save(folder / f"{i}.png")
    return folder


def test_inception_metrics_through_torch_fidelitys_loading_path(inception_assets, tmp_path) -> None:
    _, sha = inception_assets
    out = run_eval(
        str(_pngs(tmp_path / "fake", 4, 0)),
        "digits",
        ["fid", "kid", "isc", "prc"],
        n_real=4,  # Inception on a shared 2-core CPU: ~1-5 images/s
        batch_size=4,
        kid_subset_size=4,
        isc_splits=2,
    )
    m, p = out["metrics"], out["protocol"]
    assert set(m) == {"fid", "kid_inception", "kid_inception_std", "isc", "isc_std"} | {
        "precision_inception",
        "recall_inception",
    }
    assert all(math.isfinite(v) for v in m.values()) and m["fid"] > 0
    assert p["extractor"] == "inception-v3-compat" and p["extractor_sha256"] == sha
    assert p["n_generated"] == 4 and p["n_real"] == 4 and p["real_split"] == "digits/test"
    assert "299" in p["resize"] and p["torch_fidelity"] == "0.4.0"
    assert p["fingerprints"]["fid"] != p["fingerprints"]["kid_inception"]  # KID adds its subset settings


def test_a_corrupted_weight_file_is_one_error_line_with_file_hash_and_fix(fabricated, tmp_path, monkeypatch):
    good, sha = fabricated
    bad = tmp_path / good.name
    data = bytearray(good.read_bytes())
    data[len(data) // 2] ^= 0xFF
    bad.write_bytes(bytes(data))
    monkeypatch.setattr(assets, "MANIFEST", _manifest(tmp_path, sha))
    with pytest.raises(BenchError) as err:
        assets.require(["inception"], tmp_path)
    msg = str(err.value)
    assert "\n" not in msg and str(bad) in msg and f"expected {sha}" in msg
    assert f"bench assets fetch --dir {tmp_path}" in msg
    bad.unlink()
    with pytest.raises(BenchError, match=f"is missing; run `bench assets fetch --dir {tmp_path}`"):
        assets.require(["inception"], tmp_path)


def test_bench_run_checks_weights_before_training_anything(fabricated, tmp_path, monkeypatch, write_grid):
    from bench.cli import app

    _, sha = fabricated
    monkeypatch.setattr(assets, "MANIFEST", _manifest(tmp_path, sha))
    monkeypatch.setenv("BENCH_ASSETS", str(tmp_path / "empty"))
    out = tmp_path / "out"
    grid = write_grid(eval={"metrics": ["fd", "fid"], "n_samples": 120, "kid_subset_size": 50})
    with pytest.raises(BenchError, match="weights-inception-2015-12-05-6726825d.pth .* is missing"):
        app(["run", "--grid", str(grid), "--out", str(out), "--in-process"], standalone_mode=False)
    assert not out.exists(), "a cell folder was written before the weights were checked"


def test_fetch_verifies_before_renaming(fabricated, tmp_path, monkeypatch) -> None:
    src, sha = fabricated
    dest = tmp_path / "assets"
    monkeypatch.setattr(assets, "MANIFEST", _manifest(tmp_path, sha, src.as_uri()))
    (a,) = assets.load_manifest().values()
    assert assets.fetch(a, dest) == "fetched" and _sha(dest / a.file) == sha
    assert assets.fetch(a, dest) == "present"
    assert assets.require(["inception"], dest) == {"inception-v3-compat": dest / a.file}

    wrong = tmp_path / "wrong"
    monkeypatch.setattr(assets, "MANIFEST", _manifest(tmp_path, "0" * 64, src.as_uri()))
    (a,) = assets.load_manifest().values()
    with pytest.raises(BenchError, match="expected 0000"):
        assets.fetch(a, wrong)
    assert list(wrong.iterdir()) == [], "a download that failed its hash was left behind"
