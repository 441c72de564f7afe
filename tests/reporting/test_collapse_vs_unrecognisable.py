"""Mode collapse told apart from unrecognisable samples, on the real digits classifier: coverage and
class KL fall for noisy digits of every class too, but only a set whose samples are mostly recognised
(as surely as real digits) and that still misses classes among them is flagged as collapsed."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from bench.datasets import DATASETS, DataContext
from bench.eval.evaluate import domain
from bench.eval.reference import reference_features
from bench.features.fidelity import mode_coverage
from bench.reporting import stability


@pytest.fixture(scope="module")
def digits():
    src = DATASETS.get("digits")(DATASETS.get("digits").Args())
    ctx = DataContext.from_env()
    train, test = src.load("train", ctx), src.load("test", ctx)
    return domain(src.info(), train, test, ctx.cache_dir.parent), test


def _logits(ext, images: torch.Tensor, tmp: Path) -> torch.Tensor:
    tmp.mkdir(exist_ok=True)
    return reference_features(images, None, ext, {"folder": str(tmp)}, tmp, 120, False).features[
        ext.logits_layer
    ]


def _scores(ext, images: torch.Tensor, test, tmp: Path) -> dict[str, float]:
    real = _logits(ext, test.images, tmp / "real")
    cov = mode_coverage(_logits(ext, images, tmp / "fake"), test.labels, 10, real)
    return {f"{k}_digits": v for k, v in cov.items()}


def _flags(tmp: Path, metrics: dict[str, float]) -> list[str]:
    cell = stability.cell_stability(tmp, {"status": "done", "metrics": metrics})
    return [f.kind for f in cell.flags]


def test_noisy_complete_digits_are_unrecognisable_not_collapsed(digits, tmp_path: Path) -> None:
    ext, test = digits
    g = torch.Generator().manual_seed(0)
    noisy = (test.images.float() + 0.8 * 255 * torch.randn(test.images.shape, generator=g)).clamp(0, 255)
    m = _scores(ext, noisy.to(torch.uint8), test, tmp_path)
    # What the old rule read as collapse: coverage or class KL past their thresholds ...
    assert m["coverage_digits"] < stability.COVERAGE_MIN or m["class_kl_digits"] > stability.CLASS_KL_MAX
    # ... but too few samples are as recognisable as real digits to say a class is missing: the
    # classifier sends noise to a few classes, often with high softmax, so softmax alone is no proof.
    assert m["recognised_digits"] < stability.RECOGNISED_MIN
    kinds = _flags(tmp_path, m)
    assert "mode-collapse" not in kinds and kinds == ["unrecognisable"]


def test_digits_missing_half_the_classes_are_collapsed(digits, tmp_path: Path) -> None:
    ext, test = digits
    half = test.images[test.labels < 5]
    m = _scores(ext, half, test, tmp_path)
    assert m["recognised_digits"] > 0.8 and m["confident_coverage_digits"] == pytest.approx(0.5)
    assert _flags(tmp_path, m) == ["mode-collapse"]


def test_clean_digits_raise_no_flag(digits, tmp_path: Path) -> None:
    ext, test = digits
    m = _scores(ext, test.images, test, tmp_path)
    assert m["recognised_digits"] == pytest.approx(0.9, abs=0.01)  # by construction: 90% of real ones
    assert m["confident_coverage_digits"] == 1.0 and _flags(tmp_path, m) == []


def test_the_confident_view_by_hand() -> None:
    # 4 classes; 6 samples sure of classes 0 and 1, 94 unsure (nearly flat logits, all argmax class 2).
    sure = torch.tensor([[9.0, 0, 0, 0]] * 3 + [[0, 9.0, 0, 0]] * 3)
    unsure = torch.tensor([[0.0, 0, 0.1, 0]] * 94)
    out = mode_coverage(torch.cat([sure, unsure]), torch.arange(4).repeat(25), 4)
    assert out["recognised"] == pytest.approx(0.06)
    assert out["confident_coverage"] == 0.5  # classes 2 and 3 were never recognised
    assert out["coverage"] == 0.75  # argmax: 0, 1 and 2 (with 94) cover; 3 does not
