"""`bench eval --fake CELL_DIR` alone re-scores a trained cell under its own recorded protocol and prints
the numbers of its result.json, for every metric the domain extractor offers and a conditional model's
metrics; an option overrides one recorded setting."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from rich.console import Console

from bench.cli import app
from bench.commands.eval_images import run_eval
from bench.errors import BenchError
from bench.eval import metric_registry as registry
from bench.grid import load_grid
from bench.launch.local import run_local
from bench.storage import files as store

QUIET = Console(file=open("/dev/null", "w"))  # noqa: SIM115


def bench(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "bench", *args], capture_output=True, text=True, timeout=600)


def same(key: str, a: float | None, b: float | None) -> bool:
    """Scores torch-fidelity computes are equal to the bit. Bench's own float64 statistics (FD and KID in
    torch, FD-infinity's 15 FDs) round with the thread count, which differs between the cell's process and
    `bench eval`'s: equal within 1e-6 relative."""
    info = registry.output_info(key)
    registered = info is not None and info.metric in registry.metric_names()
    # torch-fidelity's own numbers (IS, precision/recall) are bitwise; bench's statistics (FD, KID, the
    # per-class FD of conditional families, FD-infinity) within 1e-6.
    ours = info is not None and not (
        registered and registry.get_metric(info.metric).computed_by == "torch-fidelity"
    )
    if a is None or b is None or not ours:
        return a == b
    return abs(a - b) <= 1e-6 * max(abs(a), abs(b), 1e-12)


def test_a_cell_is_rescored_under_its_recorded_protocol(write_grid, tmp_path: Path) -> None:
    domain_metrics = [m.name for m in registry.metrics() if m.extractor == "domain"]
    assert {"fd", "kid", "coverage", "prc_domain"} <= set(domain_metrics)
    grid = write_grid(
        models=[{"cond_dcgan": {"g_width": 8, "d_width": 8}}],
        eval={
            "n_samples": 120,
            "kid_subset_size": 50,
            "kid_subsets": 5,
            "batch_size": 60,
            "sample_block": 40,
            "metrics": domain_metrics,
            "repeats": 2,
        },
    )
    out = tmp_path / "out"
    run_local(load_grid(str(grid)), out, QUIET, in_process=True)
    (cell,) = out.iterdir()
    result = store.read_result(cell)
    assert result["status"] == "done"

    assert result["protocol"]["reproduce"] == f"bench eval --fake {cell}"
    run = bench("eval", "--fake", str(cell))
    assert run.returncode == 0, run.stderr[-3000:]
    again = json.loads(run.stdout)
    recorded = result["metrics"]
    # Every evaluation key of result.json (the registered metrics, the conditional ones), same number.
    keys = set(again["metrics"])
    assert {"fd_digits", "kid_digits", "coverage_digits", "precision_digits", "recall_digits"} <= keys
    assert {"cond_accuracy_digits", "fd_digits_class_mean"} <= keys
    for k in keys:
        assert same(k, again["metrics"][k], recorded[k]), k
    assert again["protocol"]["fingerprints"] == result["protocol"]["fingerprints"]
    reps, rec = again["protocol"]["eval_repeats"], result["protocol"]["eval_repeats"]
    assert reps["seeds"] == rec["seeds"] and set(reps["values"]) == set(rec["values"])
    for k, values in reps["values"].items():
        assert all(same(k, a, b) for a, b in zip(values, rec["values"][k], strict=True)), k

    # The extraction batch size changes nothing; the seed changes the samples, hence FD and fingerprint.
    # (in this process: a second interpreter start costs more than the evaluation)
    moved = run_eval(str(cell), batch_size=7, seed=3, kinds=["fd"])
    assert set(moved["metrics"]) >= {"fd_digits"} and "kid_digits" not in moved["metrics"]
    assert moved["metrics"]["fd_digits"] != recorded["fd_digits"]
    assert moved["protocol"]["seed"] == 3 and moved["protocol"]["batch_size"] == 7
    assert moved["protocol"]["fingerprints"]["fd_digits"] != result["protocol"]["fingerprints"]["fd_digits"]

    with pytest.raises(BenchError, match="eval.kid_subset_size: 500 is larger than the 120 images"):
        app(["eval", "--fake", str(cell), "--kid-subset-size", "500"], standalone_mode=False)
