"""Every family's recipe against the numbers recorded in tests/train/data/recipe_baseline.json.

The baseline holds tiny seeded runs of every family (tests/helpers/recipe_cells.py) at seeds 0, 1 and
2, with the CPU model and torch build they ran on (`python tests/helpers/recipe_cells.py
tests/train/data/recipe_baseline.json` records it again). Seed 0 is trained again here and compared in
three ways, so that the test holds on any x86 CPU and torch build and still catches a 0.1 % change to
one loss:

- early losses, tightly: every logged value of the first EARLY_STEPS steps within EARLY_RTOL. Before
  the first optimizer steps have compounded, another CPU or build moves a loss by rounding only;
- final numbers, against the seeds' spread: each test metric, the samples' mean and std, and the last
  logged row within SPREAD_FRACTION of the baseline's range over its three seeds (max - min);
- bitwise, only where the baseline was recorded on the same CPU model and torch build.

Measured when the baseline was recorded (AMD EPYC, torch 2.14.1, 2026-12-08), against proxies for
another machine (the same runs with 2 threads instead of 1, and with oneDNN off) and against the
previous baseline, recorded with the same recipes on another machine and build:
- early losses (steps 0-3): at most 2e-5 relative, on values that are differences of near-equal terms
  (WGAN-GP's g/loss of 7e-6); 1.3e-6 elsewhere. Relative to each key's scale in the run (the floor
  below), at most 2e-6. A 0.1 % change to one loss moves its logged value by 1e-3 from step 0 on;
- final numbers: at most 0.07 x the seed range (conv_vae's recon_bce, oneDNN off); 0.029 x against the
  previous baseline, whose conv_vae recon_mse was 7.1e-4 relative off (the drift that failed the
  former bitwise-or-2e-4 comparison on this CPU).
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

import pytest

from bench.models import MODELS
from tests.helpers.recipe_cells import CELLS, machine, run_cell

RECORDED = json.loads((Path(__file__).parent / "data" / "recipe_baseline.json").read_text())
BASELINE = RECORDED["cells"]
EARLY_STEPS = 4
EARLY_RTOL = 1e-4  # 10x below a 0.1 % change, 50x above the rounding measured (see the docstring)
SPREAD_FRACTION = 0.25  # 3.5x the worst drift measured, a quarter of the seed-to-seed range


def test_every_registered_family_has_a_cell() -> None:
    assert set(CELLS) <= set(MODELS.names())
    missing = [n for n in MODELS.names() if n not in CELLS and not n.startswith("example_")]
    assert not missing, f"add a cell for {missing} to tests/helpers/recipe_cells.py and re-record"
    assert set(BASELINE) == set(CELLS), "re-record tests/train/data/recipe_baseline.json"
    assert all(set(runs) == {"0", "1", "2"} for runs in BASELINE.values())


def early_loss_problems(new_rows: list[dict], old_rows: list[dict]) -> list[str]:
    """Every logged value of the first EARLY_STEPS steps that moved more than rounding can explain."""
    problems = []
    if [r["step"] for r in new_rows[:EARLY_STEPS]] != [r["step"] for r in old_rows[:EARLY_STEPS]]:
        return [f"logged steps {[r['step'] for r in new_rows]} vs {[r['step'] for r in old_rows]}"]
    for new, old in zip(new_rows[:EARLY_STEPS], old_rows[:EARLY_STEPS], strict=True):
        if set(new) != set(old):
            problems.append(f"step {old['step']}: logged keys {sorted(new)} vs {sorted(old)}")
            continue
        for key in sorted(set(old) - {"step"}):
            # A key that is a difference of near-equal terms (a WGAN loss near 0) rounds far more, in
            # relative terms, than its scale in the run: the floor is EARLY_RTOL of that scale.
            scale = max(abs(r[key]) for r in old_rows if key in r)
            if abs(new[key] - old[key]) > EARLY_RTOL * max(abs(old[key]), 0.01 * scale):
                problems.append(f"step {old['step']} {key}: {new[key]!r} vs {old[key]!r}")
    return problems


def _finals(run: dict) -> dict[str, float]:
    last = {f"last {k}": v for k, v in run["rows"][-1].items() if k != "step"}
    metrics = {f"metric {k}": v for k, v in run["metrics"].items()}
    return {**last, **metrics, "samples mean": run["samples"]["mean"], "samples std": run["samples"]["std"]}


def final_problems(new_run: dict, seeds: list[dict]) -> list[str]:
    """Final numbers farther from the baseline's seed 0 than SPREAD_FRACTION of the seeds' range."""
    new, runs = _finals(new_run), [_finals(s) for s in seeds]
    if set(new) != set(runs[0]):
        return [f"final keys {sorted(new)} vs {sorted(runs[0])}"]
    problems = []
    for key, value in new.items():
        values = [r[key] for r in runs]
        spread = max(values) - min(values)
        allowed = max(SPREAD_FRACTION * spread, EARLY_RTOL * abs(values[0]))  # a range of 0: rounding only
        if abs(value - values[0]) > allowed:
            problems.append(f"{key}: {value!r} vs {values[0]!r} (seed range {spread:.3g})")
    return problems


@functools.cache
def _seed0(name: str) -> dict:
    return run_cell(name, 0)  # shared by the tolerance and the bitwise test: each family trains once


@pytest.mark.parametrize("name", sorted(CELLS))
def test_a_family_trains_as_recorded(name: str) -> None:
    new, old = _seed0(name), BASELINE[name]["0"]
    assert new["batches_drawn"] == old["batches_drawn"]
    assert len(new["rows"]) == len(old["rows"])
    problems = early_loss_problems(new["rows"], old["rows"])
    problems += final_problems(new, [BASELINE[name][s] for s in ("0", "1", "2")])
    assert not problems, f"{name} moved:\n" + "\n".join(problems)


def test_bitwise_on_the_machine_and_build_that_recorded_the_baseline() -> None:
    here, then = machine(), {k: RECORDED["recorded_on"][k] for k in ("cpu", "torch")}
    if here != then:
        pytest.skip(f"baseline recorded on {then}, this is {here}: compared within tolerances only")
    for name in sorted(CELLS):
        assert _seed0(name) == BASELINE[name]["0"], name


def test_a_change_of_one_loss_by_a_tenth_of_a_percent_is_caught(monkeypatch) -> None:
    """The KL term of the VAEs' ELBO, 0.1 % larger: the smallest recipe change that matters is caught
    by the early losses, while the unchanged run passes (test_a_family_trains_as_recorded)."""
    import bench.models.vae as vae

    kl = vae.gaussian_kl
    monkeypatch.setattr(vae, "gaussian_kl", lambda mu, logvar: kl(mu, logvar) * 1.001)
    new, old = run_cell("mlp_vae", 0), BASELINE["mlp_vae"]["0"]
    problems = early_loss_problems(new["rows"], old["rows"])
    assert any(p.startswith("step 0 kl:") for p in problems), problems


def test_a_final_number_outside_the_seed_range_is_caught() -> None:
    seeds = [BASELINE["conv_vae"][s] for s in ("0", "1", "2")]
    moved = json.loads(json.dumps(seeds[0]))
    values = [s["metrics"]["recon_mse"] for s in seeds]
    assert not final_problems(moved, seeds)
    moved["metrics"]["recon_mse"] += 0.3 * (max(values) - min(values))
    assert final_problems(moved, seeds) == [
        f"metric recon_mse: {moved['metrics']['recon_mse']!r} vs {values[0]!r} "
        f"(seed range {max(values) - min(values):.3g})"
    ]
