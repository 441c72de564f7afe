"""Stability flags on synthetic cells: a diverged run, a collapsed one, a vanished D gradient, a WGAN-GP
whose penalty stays high, and healthy runs; only the bad ones are flagged, each with its reason."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from bench.fs import atomic_write_json
from bench.reporting import stability

HEALTHY = {"fd_digits": 30.0, "coverage_digits": 1.0, "class_kl_digits": 0.02, "recall_digits": 0.6}


def cell(root: Path, name: str, status: str, metrics: dict | None, log: list[dict], curve=()) -> Path:
    d = root / name
    result = {"cell_id": name, "status": status, "seed": 0, "reason": None}
    if status == "diverged":
        result["reason"] = "g/loss became nan at step 12"
    if metrics is not None:
        result["metrics"] = metrics
    atomic_write_json(d / "result.json", result)
    (d / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in log))
    if curve:
        (d / "curve.jsonl").write_text("".join(json.dumps(r) + "\n" for r in curve))
    return d


def gan_log(grad: list[float], d_loss: float = 0.7, gp: float | None = None) -> list[dict]:
    rows = []
    for i, g in enumerate(grad):
        row = {"step": i * 10, "d/loss": d_loss, "g/loss": 1.0, "g/d_layer1_grad_norm": g}
        if gp is not None:
            row |= {"d/loss": -1.5, "d/gp": gp}
        rows.append(row)
    return rows


def test_only_the_bad_cells_are_flagged(tmp_path: Path) -> None:
    dirs = {
        "healthy_gan": cell(tmp_path, "healthy_gan", "done", HEALTHY, gan_log([5.0, 3.0, 2.0, 4.0] * 5)),
        "healthy_vae": cell(tmp_path, "healthy_vae", "done", HEALTHY, [{"step": 0, "loss": 3.0}]),
        "healthy_wgan": cell(tmp_path, "healthy_wgan", "done", HEALTHY, gan_log([2.0] * 20, gp=0.05)),
        "diverged": cell(tmp_path, "diverged", "diverged", None, gan_log([5.0, math.inf])),
        "collapsed": cell(
            tmp_path,
            "collapsed",
            "done",
            {**HEALTHY, "coverage_digits": 0.1, "class_kl_digits": 2.3},
            gan_log([5.0] * 20),
        ),
        "vanished": cell(
            tmp_path, "vanished", "done", HEALTHY, gan_log([5.0] * 5 + [1e-5] * 6 + [5.0], d_loss=0.01)
        ),
        "short_dip": cell(tmp_path, "short_dip", "done", HEALTHY, gan_log([5.0] * 5 + [1e-5] * 4 + [5.0])),
        "high_gp": cell(tmp_path, "high_gp", "done", HEALTHY, gan_log([2.0] * 20, gp=4.0)),
    }
    results = {k: json.loads((d / "result.json").read_text()) for k, d in dirs.items()}
    flags = {k: [f.kind for f in stability.cell_stability(d, results[k]).flags] for k, d in dirs.items()}
    assert flags == {
        "healthy_gan": [],
        "healthy_vae": [],
        "healthy_wgan": [],
        "diverged": ["diverged"],
        "collapsed": ["mode-collapse", "mode-collapse"],
        "vanished": ["d-loss-zero", "vanishing-gradient"],
        "short_dip": [],
        "high_gp": ["gradient-penalty"],
    }
    c = stability.cell_stability(dirs["collapsed"], results["collapsed"])
    assert [f.reason for f in c.flags] == ["class_kl_digits = 2.3 nats > 1.0", "coverage_digits = 0.1 < 0.5"]
    v = stability.cell_stability(dirs["vanished"], results["vanished"]).d_health
    assert v.longest_vanishing == 6 and v.d_loss_zero_share == 1.0
    # A WGAN critic's loss may be negative: the near-zero check does not apply to it.
    assert stability.cell_stability(dirs["high_gp"], results["high_gp"]).d_health.d_loss_zero_share is None
    assert stability.cell_stability(dirs["healthy_vae"], results["healthy_vae"]).d_health is None


def test_curve_summaries() -> None:
    points = [(0, 100.0), (50, 40.0), (100, 30.0), (150, 45.0), (200, 35.0)]
    s = stability.curve_summary("fd_digits", points, lower=True)
    assert (s.best, s.final, s.gap, s.best_step) == (30.0, 35.0, 5.0, 100)
    # Trapezoid over steps / 200: 0.25 * (70 + 35 + 37.5 + 40) = 45.625.
    assert s.auc == pytest.approx(45.625)
    # Successive differences -60, -10, 15, -10: median -10, |d - median| = 50, 0, 25, 0 -> MAD 12.5.
    assert s.volatility == pytest.approx(12.5)
    up = stability.curve_summary("coverage_digits", [(0, 0.2), (10, 0.9), (20, 0.8)], lower=False)
    assert (up.best, up.best_step, up.gap) == (0.9, 10, pytest.approx(0.1))
    assert stability.curve_summary("fd", [(5, 3.0)], lower=True).auc == 3.0


def test_row_rates_and_seed_cv(tmp_path: Path) -> None:
    cells = [
        stability.cell_stability(
            cell(tmp_path, "a", "done", HEALTHY, []), {"status": "done", "metrics": HEALTHY}
        ),
        stability.cell_stability(
            cell(tmp_path, "b", "failed", None, []), {"status": "failed", "reason": "x"}
        ),
        stability.cell_stability(tmp_path / "c", None),  # pending: no result, not finished
    ]
    row = stability.RowStability(cells, [30.0, 50.0])
    assert row.finished == 2 and row.rate("failed") == 0.5 and row.rate("diverged") == 0.0
    assert row.seed_cv == pytest.approx(14.142135 / 40, rel=1e-5) and row.unstable_across_seeds
    assert [c.cell_id for c in row.flagged] == ["b"]
    assert stability.RowStability(cells[:1], [30.0]).seed_cv is None
