"""FD on DINOv2 (`fd_dinov2`): `bench assets fetch` downloads the manifest's source archive and weights and
lays out torch.hub's cache; evaluation builds the network from it with the network off and reads the
weights with weights_only=True. The real DINOv2 is not on this machine: the files are fabricated in their
real forms (a GitHub-style source archive with a hubconf.py, a torch.save'd state dict under the
published name; test_dinov2_offline.py), and the code path that loads them is the one users run.
"""

from __future__ import annotations

import hashlib
import json
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from torch_fidelity.feature_extractor_dinov2 import FeatureExtractorDinoV2

from bench.errors import BenchError
from bench.eval.metric_registry import get_metric
from bench.features import assets
from bench.features.dinov2 import DINOV2_EXTRACTOR, BenchDinoV2, dinov2_extractor
from bench.features.dinov2_offline import HUB_REPO_DIR, WEIGHT_FILES
from bench.features.fidelity import extract_features
from tests.features import test_dinov2_offline
from tests.features.test_dinov2_offline import offline  # noqa: F401  (a fixture)


def fabricate_assets(root: Path) -> dict[str, torch.Tensor]:
    """test_dinov2_offline's archive and weights, its stand-in network returning the mean token instead
    of the CLS token (which, without attention, would not depend on the image)."""
    old = "return self.norm(t)[:, 0]"
    assert old in test_dinov2_offline.HUBCONF
    hubconf = test_dinov2_offline.HUBCONF.replace(old, "return self.norm(t).mean(1)")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(test_dinov2_offline, "HUBCONF", hubconf)
        return test_dinov2_offline.fabricate_assets(root)


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _manifest(tmp_path: Path, src: Path) -> Path:
    """The package manifest's two DINOv2 entries, pointed at the fabricated files (file:// URLs)."""
    real = assets.load_manifest()
    archive = next(src.glob("dinov2*.zip"))
    entries = []
    for name, path in (
        ("dinov2-source", archive),
        ("dinov2-vit-s-14", src / WEIGHT_FILES["dinov2-vit-s-14"]),
    ):
        entries.append(
            {
                "name": name,
                "extractor": real[name].extractor,
                "file": path.name,
                "url": path.as_uri(),
                "sha256": _sha(path),
            }
        )
    m = tmp_path / "manifest.json"
    m.write_text(json.dumps({"assets": entries}))
    return m


@pytest.fixture
def fetched(offline, tmp_path, monkeypatch) -> tuple[Path, dict[str, torch.Tensor]]:  # noqa: F811
    """`bench assets fetch` of the fabricated files into an empty assets folder."""
    from bench.cli import app

    state = fabricate_assets(tmp_path / "published")
    monkeypatch.setattr(assets, "MANIFEST", _manifest(tmp_path, tmp_path / "published"))
    dest = tmp_path / "assets"
    monkeypatch.setenv("BENCH_ASSETS", str(dest))
    app(["assets", "fetch", "--only", "dinov2"], standalone_mode=False)
    return dest, state


def test_the_package_manifest_pins_dinov2_source_and_weights() -> None:
    m = assets.load_manifest()
    src, w = m["dinov2-source"], m["dinov2-vit-s-14"]
    assert src.extractor == w.extractor == "dinov2"
    assert src.url.startswith("https://github.com/facebookresearch/dinov2/archive/") and src.file.endswith(
        ".zip"
    )
    assert src.file.startswith("dinov2")  # hub_layout finds the archive as dinov2*.zip
    assert w.url == "https://dl.fbaipublicfiles.com/dinov2/dinov2_vits14/dinov2_vits14_pretrain.pth"
    assert w.file == WEIGHT_FILES["dinov2-vit-s-14"] and len(w.sha256) == len(src.sha256) == 64
    assert get_metric("fd_dinov2").extractor == "dinov2"
    assert get_metric("fd_dinov2").output_names("dinov2") == ("fd_dinov2",)


def test_fetch_lays_out_the_hub_cache_and_evaluation_loads_it_offline(fetched, monkeypatch) -> None:
    dest, state = fetched
    hub = dest / "torch" / "hub"
    assert (hub / HUB_REPO_DIR / "hubconf.py").is_file()
    assert (hub / "checkpoints" / WEIGHT_FILES["dinov2-vit-s-14"]).is_file()
    ext = dinov2_extractor()
    assert ext.weights == hub / "checkpoints" / WEIGHT_FILES["dinov2-vit-s-14"]
    assert ext.sha256 == assets.load_manifest()["dinov2-vit-s-14"].sha256
    fe = BenchDinoV2(DINOV2_EXTRACTOR, ["dinov2"], feature_extractor_weights_path=str(ext.weights))
    loaded = fe.model.state_dict()
    assert set(loaded) == set(state) and all(torch.equal(loaded[k], v) for k, v in state.items())
    x = torch.randint(0, 256, (3, 3, 28, 28), dtype=torch.uint8)
    # The same features as torch-fidelity's own extractor reading the same cache through torch.hub.
    monkeypatch.setenv("TORCH_HOME", str(dest / "torch"))
    theirs = FeatureExtractorDinoV2("dinov2-vit-s-14", ["dinov2"])
    with torch.no_grad():
        (ours,) = fe(x)
        assert torch.equal(ours, theirs(x)[0])
    assert not torch.allclose(ours[0], ours[1])  # features depend on the image
    feats = extract_features(x, ext.fidelity_name, ext.weights, 3, False, ext.layers)
    assert feats["dinov2"].shape == (3, 8) and torch.isfinite(feats["dinov2"]).all()


class _Payload:
    def __reduce__(self):
        return (print, ("payload ran",))


def test_weights_with_pickled_code_are_refused(fetched) -> None:
    dest, _ = fetched
    ckpt = dest / "torch" / "hub" / "checkpoints" / WEIGHT_FILES["dinov2-vit-s-14"]
    torch.save({"cls_token": _Payload()}, ckpt)
    with pytest.raises(pickle.UnpicklingError, match="Weights only load failed"):
        BenchDinoV2(DINOV2_EXTRACTOR, ["dinov2"], feature_extractor_weights_path=str(ckpt))


def test_a_wrong_or_missing_file_is_one_error_line(fetched) -> None:
    dest, _ = fetched
    w = dest / WEIGHT_FILES["dinov2-vit-s-14"]
    w.write_bytes(w.read_bytes()[:-1])
    with pytest.raises(BenchError, match="dinov2_vits14_pretrain.pth .* has sha256 .*, expected") as err:
        dinov2_extractor()
    assert "\n" not in str(err.value)
    next(dest.glob("dinov2*.zip")).unlink()
    with pytest.raises(BenchError, match=r"dinov2-.*\.zip .* is missing; run `bench assets fetch"):
        assets.require(["dinov2"])


def _images(n: int, seed: int) -> np.ndarray:
    return (np.random.default_rng(seed).random((n, 28, 28)) * 255).astype(np.uint8)


def _pngs(folder: Path, images: np.ndarray) -> Path:
    from PIL import Image

    folder.mkdir()
    for i, a in enumerate(images):
        Image.fromarray(a).save(folder / f"{i:03d}.png")
    return folder


def _hand_fd(a: np.ndarray, b: np.ndarray) -> float:
    """FD by the formula, NumPy/SciPy: |mu_a - mu_b|^2 + Tr(S_a + S_b - 2 sqrt(S_a S_b))."""
    from scipy import linalg

    ma, mb = a.mean(0), b.mean(0)
    sa, sb = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    root = linalg.sqrtm(sa @ sb).real
    return float(((ma - mb) ** 2).sum() + np.trace(sa + sb - 2 * root))


def test_fd_dinov2_through_bench_eval_equals_the_formula(fetched, tmp_path) -> None:
    from bench.commands.eval_images import run_eval
    from bench.datasets import DATASETS, DataContext

    fake = _images(12, 0)
    out = run_eval(str(_pngs(tmp_path / "fake", fake)), "digits", ["fd_dinov2"], n_real=12, batch_size=12)
    m, p = out["metrics"], out["protocol"]
    assert set(m) == {"fd_dinov2"} and p["extractors"].keys() == {"dinov2"}
    assert p["extractor"].startswith("dinov2-vit-s-14") and p["feature_layer"] == "dinov2"
    assert p["extractor_sha256"] == assets.load_manifest()["dinov2-vit-s-14"].sha256

    ext = dinov2_extractor()
    src = DATASETS.get("digits")(DATASETS.get("digits").Args())
    real = src.load("test", DataContext.from_env()).images[:12]
    f_fake = extract_features(
        torch.from_numpy(fake)[:, None], ext.fidelity_name, ext.weights, 12, False, ext.layers
    )
    f_real = extract_features(real, ext.fidelity_name, ext.weights, 12, False, ext.layers)
    expected = _hand_fd(f_fake["dinov2"].double().numpy(), f_real["dinov2"].double().numpy())
    assert expected > 0 and m["fd_dinov2"] == pytest.approx(expected, rel=1e-6, abs=1e-9)


def test_extractors_are_used_in_registration_order(fetched) -> None:
    """The first extractor's facts go to the protocol's top level (domain's, as result.json always had
    them, when a cell also asks for fd_dinov2): the order is the registry's, not alphabetical. A kind
    registered after dinov2 but sorting before it (a copy of the DINOv2 extractor under another key)
    tells the two apart without training a domain classifier."""
    import dataclasses

    from bench.config import EvalConfig, validate
    from bench.datasets import DATASETS, DataContext
    from bench.datasets.batches import to_unit_range
    from bench.eval.evaluate import cell_extractors, evaluate_samples
    from bench.eval.metric_registry import register_metric, unregister_metric
    from bench.features.extractors import register_extractor, unregister_extractor

    dino = dinov2_extractor()
    copy = dataclasses.replace(dino, key="aaa", description="a copy registered later")
    register_extractor("aaa", lambda ctx: copy, "aaa")
    register_metric("fd_aaa", "fd", "aaa", get_metric("fd_dinov2").outputs, get_metric("fd_dinov2").compute)
    try:
        src = DATASETS.get("digits")(DATASETS.get("digits").Args())
        ctx = DataContext.from_env()
        test = src.load("test", ctx)
        ev = validate(EvalConfig, {"metrics": ["fd_aaa", "fd_dinov2"], "n_samples": 20, "n_real": 20}, "eval")
        extractors = cell_extractors(list(ev.metrics), src.info(), test, test, ctx.cache_dir.parent)
        assert list(extractors) == ["dinov2", "aaa"]

        def real_images(j: int, size: int, g: torch.Generator) -> torch.Tensor:
            return to_unit_range(test.images[20 + j * ev.sample_block : 20 + j * ev.sample_block + size])

        scores, protocol, _ = evaluate_samples(
            real_images,
            torch.device("cpu"),
            test,
            {"dataset": "digits", "split": "test"},
            ev,
            list(ev.metrics),
            extractors,
            ctx.cache_dir.parent,
            False,
        )
    finally:
        unregister_metric("fd_aaa")
        unregister_extractor("aaa")
    assert scores["fd_aaa"] == scores["fd_dinov2"] > 0  # the same features under two names
    assert protocol["extractor"] == dino.description and set(protocol["extractors"]) == {"dinov2", "aaa"}
