"""`bench analyze`: traversal, interpolation and latent statistics of trained cells, through the CLI."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from bench import fs
from bench.analysis import ANALYSES, has_hook
from bench.analysis.interpolate import lerp, slerp
from bench.analysis.load import load_cell
from bench.cli import main
from bench.config import CellConfig, EvalConfig, TrainConfig
from bench.datasets import DATASETS
from bench.datasets.batches import BatchStream, to_unit_range
from bench.models import MODELS
from bench.storage import files as store
from bench.storage.checkpoint import save_checkpoint


def make_cell(root: Path, name: str, latent: int | None, args: dict, steps: int, seed: int = 0) -> Path:
    """A finished cell folder as `bench run` leaves it (config, checkpoint, result), trained `steps`
    steps on digits without the evaluation, which analyses do not read."""
    family = MODELS.get(name)
    cfg = CellConfig(
        model=name,
        model_args=family.Config(**args).model_dump(mode="json"),
        dataset="digits",
        dataset_args={},
        latent_size=latent,
        seed=seed,
        train=TrainConfig(steps=max(steps, 1), batch_size=32),
        eval=EvalConfig(),
    )
    cell = root / cfg.cell_id
    fs.atomic_write_json(cell / store.CONFIG, cfg.model_dump(mode="json"))
    source = DATASETS.get("digits")(DATASETS.get("digits").Args())
    torch.manual_seed(seed)
    model = family(family.Config.model_validate(cfg.model_args), source.info(), latent)
    opts = model.optimizers()
    stream = BatchStream(source.load("train", None), 32, torch.device("cpu"), seed=seed)
    for step in range(steps):
        for phase in model.phases(step):
            out = model.training_step(stream.next(), phase)
            opts[phase].zero_grad(set_to_none=True)
            out["loss"].backward()
            opts[phase].step()
    save_checkpoint(cell / store.CHECKPOINT, model.nets, opts, steps, stream.state_dict())
    fs.atomic_write_json(cell / store.RESULT, {"cell_id": cfg.cell_id, "status": "done"})
    return cell


def bench(monkeypatch: pytest.MonkeyPatch, *args: str) -> int:
    """Run the real entry point in this process; returns its exit code."""
    monkeypatch.setattr(sys, "argv", ["bench", *map(str, args)])
    try:
        main()
    except SystemExit as exit_:
        return int(exit_.code or 0)
    return 0


def png(path: Path) -> Image.Image:
    assert path.is_file(), path
    img = Image.open(path)
    img.load()
    assert img.format == "PNG"
    return img


@pytest.fixture(scope="module")
def vae_cell(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_cell(tmp_path_factory.mktemp("cells"), "mlp_vae", 4, {"hidden": [64]}, steps=40)


def test_traversal_and_interpolation_write_their_pngs(vae_cell: Path, monkeypatch) -> None:
    assert (
        bench(monkeypatch, "analyze", vae_cell, "--what", "traversal", "--opt", "dims=3", "--opt", "steps=5")
        == 0
    )
    trav = png(vae_cell / "traversal.png")
    assert bench(monkeypatch, "analyze", vae_cell, "--what", "interpolate", "--opt", "pairs=2") == 0
    interp = png(vae_cell / "interpolate.png")
    # Rows and columns as asked: 3 x 5 traversal is wider than tall; 2 x 9 interpolation more so.
    assert trav.width > trav.height and interp.width / interp.height > trav.width / trav.height
    pixels = torch.tensor(np.array(trav.convert("L")), dtype=torch.float32)
    assert pixels.std() > 10  # digits drawn, not a blank canvas
    assert bench(monkeypatch, "analyze", vae_cell, "--what", "interpolate", "--opt", "source=test") == 0
    png(vae_cell / "interpolate.png")


def test_latent_stats_of_one_cell_match_its_posterior(vae_cell: Path, monkeypatch) -> None:
    assert bench(monkeypatch, "analyze", vae_cell, "--what", "latent-stats") == 0
    png(vae_cell / "latent_stats.png")
    stats = json.loads((vae_cell / "latent_stats.json").read_text())
    cell = load_cell(vae_cell, "cpu")
    test = cell.split()
    mu, logvar = cell.model.posterior(to_unit_range(test.images))
    assert stats["n_images"] == len(test) == 360 and stats["latent_size"] == 4
    assert torch.allclose(torch.tensor(stats["mean_mu"]), mu.mean(0), atol=1e-5)
    assert torch.allclose(torch.tensor(stats["mean_logvar"]), logvar.mean(0), atol=1e-5)
    assert stats["summary"]["active_units"] == int((mu.var(0) > 0.01).sum())


def test_latent_stats_across_a_latent_sweep_make_a_table(tmp_path: Path, monkeypatch) -> None:
    for z in (2, 6):
        make_cell(tmp_path, "mlp_vae", z, {"hidden": [32]}, steps=10)
    make_cell(tmp_path, "mlp_gan", 2, {}, steps=0)  # no posterior: left out of the table
    assert bench(monkeypatch, "analyze", "--out", tmp_path, "--what", "latent-stats") == 0
    table = (tmp_path / "latent_stats.md").read_text().splitlines()
    assert table[0].startswith("| model | dataset | latent | seeds | mean mu |")
    rows = [r.split(" | ") for r in table[2:]]
    assert [(r[0].strip("| "), r[2]) for r in rows] == [("mlp_vae", "2"), ("mlp_vae", "6")]
    assert rows[1][-1].endswith("/6 |")
    png(tmp_path / "latent_stats.png")
    assert len(json.loads((tmp_path / "latent_stats.json").read_text())) == 2


def test_latent_models_beyond_vaes_interpolate(tmp_path: Path, monkeypatch) -> None:
    ddpm = make_cell(
        tmp_path, "ddpm", None, {"base_channels": 8, "channel_mults": [1, 2], "sample_steps": 3}, steps=0
    )
    assert bench(monkeypatch, "analyze", ddpm, "--what", "interpolate", "--opt", "pairs=1") == 0
    png(ddpm / "interpolate.png")
    vq = make_cell(tmp_path, "vq_vae", None, {"hidden": 16, "codebook_size": 8}, steps=2)
    assert bench(monkeypatch, "analyze", vq, "--what", "interpolate", "--opt", "source=test") == 0
    png(vq / "interpolate.png")


def test_bad_requests_are_one_line_and_exit_2(vae_cell: Path, tmp_path: Path, monkeypatch, capsys) -> None:
    cases = [
        (["--what", "nope"], "unknown analysis 'nope'; allowed: "),
        (["--what", "traversal", "--opt", "dims=0"], "--opt.dims: input should be greater than 0"),
        (["--what", "traversal", "--opt", "colour=1"], "--opt.colour: unknown key"),
        (["--what", "interpolate", "--opt", "pairs"], "--opt: expected KEY=VALUE, got 'pairs'"),
        (["--what", "traversal", "--out", tmp_path], "works on one cell; give the cell folder"),
    ]
    for args, message in cases:
        cell_args = [] if "--out" in args else [vae_cell]
        assert bench(monkeypatch, "analyze", *cell_args, *args) == 2, args
        err = capsys.readouterr().err
        assert message in err and len(err.strip().splitlines()) == 1, err
    gan = make_cell(tmp_path, "mlp_gan", 2, {}, steps=0)
    assert bench(monkeypatch, "analyze", gan, "--what", "latent-stats") == 2
    assert "needs the model hook(s) posterior" in capsys.readouterr().err
    (gan / store.CHECKPOINT).unlink()
    assert bench(monkeypatch, "analyze", gan, "--what", "traversal") == 2
    assert "no checkpoint.pt; train the cell first" in capsys.readouterr().err


def test_slerp_keeps_gaussian_norms_and_hits_both_ends() -> None:
    a, b = torch.tensor([[3.0, 0.0]]), torch.tensor([[0.0, 3.0]])
    t = torch.linspace(0, 1, 5)
    path = slerp(a, b, t)[0]
    assert torch.allclose(path[0], a[0]) and torch.allclose(path[-1], b[0])
    assert torch.allclose(path.norm(dim=1), torch.full((5,), 3.0))  # lerp's midpoint has norm 2.12
    assert lerp(a, b, t)[0, 2].norm().item() == pytest.approx(3 / math.sqrt(2))
    assert torch.allclose(slerp(a, a, t)[0], a.expand(5, -1))  # parallel endpoints: no 0/0


def test_analyses_declare_hooks_the_families_provide() -> None:
    assert {"traversal", "interpolate", "latent-stats"} <= set(ANALYSES.names())
    assert has_hook(MODELS.get("conv_vae"), "posterior") and has_hook(MODELS.get("vq_vae"), "encode")
    assert not has_hook(MODELS.get("mlp_gan"), "posterior") and not has_hook(MODELS.get("ddpm"), "encode")
