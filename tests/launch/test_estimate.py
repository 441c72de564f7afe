"""The dry run's cost estimate: calibrated from a few timed steps, or read from finished cells."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from bench.grid import load_grid
from bench.launch.estimate import (
    ESTIMATE_FILE,
    Estimate,
    GroupEstimate,
    estimate,
    read_recorded,
    record_at_start,
    record_estimate,
    total_steps,
)
from bench.storage import files as store


def _label(c) -> str:
    return f"{c.model} z{c.latent_size}"


@pytest.fixture
def grid(write_grid):
    return load_grid(str(write_grid(seeds=[0, 1])))


def test_calibration_scales_with_the_budget(grid, tmp_path: Path) -> None:
    est = estimate(grid.cells, tmp_path, store.is_finished, store.read_result, _label)
    assert {g.label for g in est.groups} == {"mlp_vae z4", "dcgan z4"}
    for g in est.groups:
        assert g.cells == 2 and g.to_run == 2
        assert g.source.startswith("calibration (24 steps")
        assert g.seconds_per_cell > 0 and g.device_hours == pytest.approx(2 * g.seconds_per_cell / 3600)
    assert est.total_hours == pytest.approx(sum(g.device_hours for g in est.groups))
    assert est.device.startswith("cpu")
    # `bench run` records the dry run's figures when it starts, from the cached calibration: nothing
    # is timed again, and the report finds them in <out>/estimate.json.
    path = record_at_start(grid.cells, tmp_path)
    assert path == tmp_path / ESTIMATE_FILE
    recorded = read_recorded(tmp_path)
    for g in est.groups:
        entry = recorded[g.group]
        assert entry["device_seconds_per_cell"] == pytest.approx(g.seconds_per_cell)
        assert entry["source"].startswith("calibration (24 steps") and "cached" in entry["source"]
        assert entry["to_run"] == 2 and entry["device"] == est.device


def test_finished_cells_are_preferred_and_done_cells_cost_nothing(grid, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("BENCH_CACHE", str(tmp_path / "cache"))  # no calibration cached from another test
    vae = [c for c in grid.cells if c.model == "mlp_vae"]
    done = tmp_path / vae[0].cell_id
    done.mkdir()
    (done / store.CONFIG).write_text(vae[0].model_dump_json())
    result = {"status": "done", "wall_seconds": 999.0, "cost": {"device_seconds": 36.0}}
    (done / store.RESULT).write_text(json.dumps(result))
    est = estimate(
        grid.cells, tmp_path, store.is_finished, store.read_result, _label, calibrate_missing=False
    )
    by = {g.label: g for g in est.groups}
    assert by["mlp_vae z4"].source == "finished cells (n=1)"
    assert by["mlp_vae z4"].to_run == 1
    assert by["mlp_vae z4"].device_hours == pytest.approx(36.0 / 3600)
    assert by["dcgan z4"].seconds_per_cell is None and est.unknown == 2


def test_epoch_budgets_use_the_split_size(write_grid) -> None:
    path = write_grid(train={"epochs": 2, "batch_size": 16})
    cell = load_grid(str(path)).cells[0]
    # digits' training split: 1,437 images -> 89 full batches of 16 per epoch
    assert total_steps(cell, 1437) == 2 * (1437 // 16)
    assert total_steps(cell, 0) is None
    assert yaml.safe_load(path.read_text())["train"]["epochs"] == 2


def test_the_first_estimate_of_a_group_is_kept(tmp_path: Path) -> None:
    first = Estimate([GroupEstimate("a", "g1", 3, 3, 10.0, "calibration (x)")], device="cpu")
    record_estimate(first, tmp_path)
    # A later run: g1 now estimated from its own finished cells (it must not overwrite), g2 is new,
    # g3 has nothing left to run (not recorded).
    later = Estimate(
        [
            GroupEstimate("a", "g1", 3, 1, 99.0, "finished cells (n=2)"),
            GroupEstimate("b", "g2", 2, 2, None, "not estimated"),
            GroupEstimate("c", "g3", 2, 0, 0.0, "all done"),
        ],
        device="cpu",
    )
    record_estimate(later, tmp_path)
    recorded = read_recorded(tmp_path)
    assert set(recorded) == {"g1", "g2"}
    assert recorded["g1"]["device_seconds_per_cell"] == 10.0 and recorded["g1"]["source"] == "calibration (x)"
    assert recorded["g2"]["device_seconds_per_cell"] is None
    assert not list(tmp_path.glob(".*.tmp")), "written through a temp file renamed into place"
    assert read_recorded(tmp_path / "nothing") == {}
