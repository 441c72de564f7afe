"""The dry run's calibration predicts what cells then cost: on a small grid run for real, each group's
estimated device-seconds per cell lands within 0.5-2x of the device-seconds its cell recorded.

The domain classifier is trained before (a one-off per dataset, cached, which the estimate says apart),
so the comparison is of what every cell pays: set-up, training, the curve and the final evaluation."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from rich.console import Console

from bench.grid import load_grid
from bench.launch.estimate import estimate, record_estimate
from bench.launch.local import run_local
from bench.storage import files as store


# Opt-in, and known to fail today: on a quiet 2-core CPU a 60-step mlp_vae cell recorded 2.3 s against an
# estimate of 0.9 s (0.39x), since the calibration leaves out each cell's fixed cost (set-up, checkpoints,
# figures); under load the dcgan's calibration read 3.4x. Kept so that the fix can be measured.
@pytest.mark.slow
@pytest.mark.skipif(
    os.environ.get("BENCH_CHECK_ESTIMATE") != "1", reason="opt-in: BENCH_CHECK_ESTIMATE=1 (issue 23)"
)
def test_the_estimate_lands_within_half_to_twice_the_recorded_cost(
    write_grid, tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.setenv("BENCH_CACHE", str(tmp_path / "cache"))  # no calibration cached by another test
    quiet = Console(file=open("/dev/null", "w"))  # noqa: SIM115
    # Budgets where training is most of a cell, as in the quick grid (25-50 s cells of 160-1500 steps).
    train = {"steps": 60, "batch_size": 32, "log_every": 20, "checkpoint_every": 0}
    ev = {"n_samples": 200, "kid_subset_size": 50, "kid_subsets": 5, "batch_size": 100, "curve_every": 30}
    models = ["mlp_vae", {"dcgan": {"g_width": 16, "d_width": 16}}]
    grid = load_grid(str(write_grid(models=models, train=train, eval=ev)))
    warm = load_grid(str(write_grid("warm.yaml", models=["mlp_vae"], train={"steps": 2}, eval=ev)))
    run_local(warm, tmp_path / "warm", quiet, in_process=True)  # the classifier: trained once, cached

    out = tmp_path / "out"
    est = estimate(grid.cells, out, store.is_finished, store.read_result, lambda c: c.model)
    record_estimate(est, out)
    run_local(grid, out, quiet, in_process=True)
    for g in est.groups:
        (cell,) = [c for c in grid.cells if c.group_id == g.group]
        recorded = store.read_result(out / cell.cell_id)["cost"]["device_seconds"]
        ratio = g.seconds_per_cell / recorded
        print(
            f"{g.label}: estimated {g.seconds_per_cell:.1f} s, recorded {recorded:.1f} s, ratio {ratio:.2f}"
        )
        assert 0.5 <= ratio <= 2.0, (
            f"{g.label}: {g.source}; estimated {g.seconds_per_cell:.1f} s vs {recorded:.1f}"
        )
