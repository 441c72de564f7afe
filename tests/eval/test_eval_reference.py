"""Reference statistics are computed once per reference and reused by every later cell; a broken or
foreign cache file is never read as valid; the curve during training is written and summarised."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest
import torch
from rich.console import Console

import bench.eval.reference as reference
from bench.datasets import DATASETS, DataContext
from bench.eval.evaluate import domain
from bench.grid import load_grid
from bench.launch.local import run_local
from bench.storage import files as store

QUIET = Console(file=open("/dev/null", "w"))  # noqa: SIM115


@pytest.fixture
def counted(monkeypatch) -> list[int]:
    """Number of real images each reference extraction processed."""
    calls: list[int] = []
    real = reference.extract_features

    def counting(images, *args, **kwargs):
        calls.append(len(images))
        return real(images, *args, **kwargs)

    monkeypatch.setattr(reference, "extract_features", counting)
    return calls


def test_second_cell_on_a_dataset_extracts_no_real_features(counted, write_grid, tmp_path: Path) -> None:
    # n_real=300 and a 44-image curve are used by no other test, so the first cell finds neither
    # reference in the session's cache (a 40-image curve reference may be cached by another test).
    ev = {"n_samples": 120, "n_real": 300, "kid_subset_size": 50, "kid_subsets": 5, "batch_size": 60}
    train = {"steps": 16, "batch_size": 16, "log_every": 8, "checkpoint_every": 8}
    grid = write_grid(
        models=["mlp_vae"], seeds=[0, 1], train=train, eval={**ev, "curve_every": 8, "curve_n_samples": 44}
    )
    g = load_grid(str(grid))
    out = tmp_path / "out"
    run_local(g, out, QUIET, in_process=True)
    # Cell 1: the curve's 44-image reference and the final 300-image one; cell 2: nothing.
    assert sorted(counted) == [44, 300]
    results = [store.read_result(p.parent) for p in sorted(out.glob("*/result.json"))]
    assert [r["status"] for r in results] == ["done", "done"]
    for r in results:
        m, p = r["metrics"], r["protocol"]
        assert (
            p["n_real"] == 300
            and p["fingerprints"]["fd_digits"] == results[0]["protocol"]["fingerprints"]["fd_digits"]
        )
        # Curve: every 8 of 16 steps, on 44 images; best and final reported.
        cell = out / r["cell_id"]
        rows = [json.loads(line) for line in (cell / "curve.jsonl").read_text().splitlines()]
        assert [row["step"] for row in rows] == [8, 16]
        assert m["curve_fd_digits_final"] == rows[-1]["fd_digits"]
        assert m["curve_fd_digits_best"] == min(row["fd_digits"] for row in rows)
        assert (cell / "curve.png").is_file()


def _digits():
    src = DATASETS.get("digits")(DATASETS.get("digits").Args())
    ctx = DataContext.from_env()
    train, test = src.load("train", ctx), src.load("test", ctx)
    return domain(src.info(), train, test, ctx.cache_dir.parent), test, ctx.cache_dir.parent


def test_broken_or_foreign_cache_files_are_recomputed(counted, tmp_path: Path) -> None:
    ext, test, _ = _digits()
    images, labels, ident = test.images[:50], test.labels[:50], {"dataset": "digits", "split": "test"}
    first = reference.reference_features(images, labels, ext, ident, tmp_path, 25, False)
    assert first.computed and counted == [50]
    again = reference.reference_features(images, labels, ext, ident, tmp_path, 25, False)
    assert not again.computed and counted == [50]
    assert torch.equal(again.features["features"], first.features["features"])

    first.path.write_bytes(first.path.read_bytes()[:100])  # a writer killed mid-file (not via rename)
    assert reference.reference_features(images, labels, ext, ident, tmp_path, 25, False).computed
    blob = torch.load(first.path, weights_only=True)
    torch.save({**blob, "key": "someone else's"}, first.path)
    assert reference.reference_features(images, labels, ext, ident, tmp_path, 25, False).computed
    assert counted == [50, 50, 50]
    assert not list(first.path.parent.glob(".*.tmp"))


def test_concurrent_requests_compute_once(counted, tmp_path: Path) -> None:
    ext, test, _ = _digits()
    images, labels = test.images[:60], test.labels[:60]
    results = []

    def ask() -> None:
        results.append(
            reference.reference_features(images, labels, ext, {"dataset": "d"}, tmp_path, 30, False)
        )

    threads = [threading.Thread(target=ask) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert counted == [60] and sum(r.computed for r in results) == 1
    assert all(torch.equal(r.features["features"], results[0].features["features"]) for r in results)
