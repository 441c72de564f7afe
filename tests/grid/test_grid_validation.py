"""Every kind of bad grid is refused before anything runs: one line, exit code 2, nothing written."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from bench.cli import app
from bench.errors import BenchError
from bench.grid import load_grid

CASES = [
    ({"models": ["nope"]}, "unknown model 'nope'; allowed: cond_dcgan, cond_wgan_gp"),
    ({"datasets": ["imagenet9"]}, "unknown dataset 'imagenet9'; allowed: celeba, celeba_domains, cifar10"),
    ({"colour": 3}, ": colour: unknown key; allowed: name"),
    ({"train": {"stepz": 3}}, "train.stepz: unknown key; allowed: steps"),
    ({"train": {"steps": "ten"}}, "train.steps: input should be a valid integer (got 'ten')"),
    ({"train": {"batch_size": 0}}, "train.batch_size: input should be greater than 0 (got 0)"),
    ({"train": {"steps": 5, "epochs": 1.0}}, "give steps or epochs, not both"),
    (
        {"eval": {"metrics": ["fdi"]}},
        "eval.metrics.0: input should be 'fd', 'kid', 'coverage', 'prc_domain', 'fid', 'kid_inception', "
        "'isc', 'prc', 'prc_inception', 'fd_dinov2', 'dc_domain', 'fd_inf_domain', 'dc_inception', "
        "'fd_inf_inception', 'mem_domain' or 'mem_inception' (got 'fdi')",
    ),
    ({"eval": {"kid_subset_size": 5000}}, "eval.kid_subset_size: 5000 is larger than the 360 images"),
    ({"eval": {"split": "val"}}, "eval.split: 'val' is not a split of digits; allowed: train, test"),
    ({"latent_sizes": [4, 0]}, "latent_sizes: latent size must be a positive integer, got 0"),
    ({"latent_sizes": [-3]}, "latent size must be a positive integer, got -3"),
    ({"latent_sizes": ["big"]}, "latent_sizes: expected integers, got 'big'"),
    ({"seeds": [1.5]}, "seeds: expected integers, got 1.5"),
    (
        {"models": [{"dcgan": {"g_widht": 8}}]},
        "models.dcgan.g_widht: unknown key; allowed: ema, ema_start, lr, betas, loss, critic_steps, "
        "gp_weight, g_width",
    ),
    ({"models": [{"dcgan": {"lr": -1.0}}]}, "models.dcgan.lr: input should be greater than 0 (got -1.0)"),
    ({"models": "mlp_vae"}, "models: expected a non-empty list, got 'mlp_vae'"),
    (
        {"datasets": [{"dsprites": {"n_train": 0}}]},
        "datasets.dsprites.n_train: input should be greater than 0",
    ),
    ({"blocks": [{"models": ["mlp_vae"], "bogus": 1}]}, "blocks[0].bogus: unknown key"),
]


@pytest.mark.parametrize(("change", "message"), CASES, ids=[c[1][:40] for c in CASES])
def test_bad_grid_is_one_clear_line_exit_2_and_nothing_written(
    write_grid, tmp_path: Path, change, message
) -> None:
    grid = write_grid(**change)
    out = tmp_path / "out"
    res = CliRunner().invoke(app, ["run", "--grid", str(grid), "--out", str(out)], standalone_mode=False)
    assert isinstance(res.exception, BenchError), res.output
    text = str(res.exception)
    assert message in text, text
    assert "\n" not in text
    assert not out.exists(), "a refused grid must write nothing"


def test_the_real_entry_point_prints_one_line_and_exits_2(write_grid, tmp_path: Path) -> None:
    import subprocess
    import sys

    out = tmp_path / "out"
    proc = subprocess.run(
        [sys.executable, "-m", "bench", "run", "--grid", str(write_grid(models=["nope"])), "--out", str(out)],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().startswith("error: ") and proc.stderr.count("\n") == 1, proc.stderr
    assert "Traceback" not in proc.stderr and not out.exists()


@pytest.mark.parametrize("grid", ["missing.yaml", "no_such_grid"])
def test_missing_grid_file(grid: str) -> None:
    with pytest.raises(BenchError, match="does not exist|neither a built-in grid nor a file"):
        load_grid(grid)


def test_invalid_yaml(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("models: [mlp_vae\n")
    with pytest.raises(BenchError, match="is not valid YAML"):
        load_grid(str(bad))


def test_set_overrides_are_validated_and_applied(write_grid) -> None:
    g = load_grid(str(write_grid()), ["train.steps=7", "eval.seed=3"])
    assert {c.train.steps for c in g.cells} == {7} and {c.eval.seed for c in g.cells} == {3}
    with pytest.raises(BenchError, match="expected train.KEY=VALUE"):
        load_grid(str(write_grid()), ["steps=7"])
    with pytest.raises(BenchError, match="train.steps: input should be greater than 0"):
        load_grid(str(write_grid()), ["train.steps=0"])


def test_cell_ids_are_stable_and_change_with_the_config(write_grid) -> None:
    a = [c.cell_id for c in load_grid(str(write_grid())).cells]
    b = [c.cell_id for c in load_grid(str(write_grid())).cells]
    c = [c.cell_id for c in load_grid(str(write_grid()), ["train.steps=25"]).cells]
    assert a == b and len(set(a)) == len(a) == 2
    assert set(a).isdisjoint(c)
    assert a[0].startswith("mlp_vae_digits_z4_s0_")


def test_builtin_quick_grid_is_the_promised_6_configurations_x_3_seeds() -> None:
    g = load_grid("quick")
    assert len(g.cells) == 18 and {c.seed for c in g.cells} == {0, 1, 2}
    configs = {(c.model, c.latent_size) for c in g.cells}
    assert configs == {
        ("mlp_vae", 8),
        ("mlp_vae", 32),
        ("dcgan", 8),
        ("dcgan", 32),
        ("mlp_gan", 32),
        ("wgan_gp", 32),
    }
    assert all(c.eval.curve_every > 0 for c in g.cells)  # the report's training curves


def test_blocks_inherit_and_override(write_grid) -> None:
    g = load_grid(
        str(
            write_grid(
                blocks=[
                    {"models": ["mlp_vae"]},
                    {"models": ["mlp_gan"], "train": {"steps": 3}, "seeds": [1, 2]},
                ]
            )
        )
    )
    by_model = {(c.model, c.seed): c for c in g.cells}
    assert by_model[("mlp_vae", 0)].train.steps == 24
    assert by_model[("mlp_gan", 1)].train.steps == 3 and by_model[("mlp_gan", 1)].train.batch_size == 16
    assert len(g.cells) == 3
