"""Analyses of adversarial and image-to-image cells: attribute arithmetic, translation grids, D diagnostics.

Cells are built by hand (config.json, checkpoint.pt, metrics.jsonl as the runner writes them), so the
analyses are tested without training runs; what they compute is checked against hand computations."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from bench.analysis.arithmetic import ArithmeticOptions, Term, arithmetic_grid, members, parse_expression
from bench.cli import app
from bench.config import CellConfig, EvalConfig, TrainConfig
from bench.datasets.base import DatasetInfo, ImageSplit
from bench.errors import BenchError
from bench.models import MODELS
from bench.models.adversarial import GRAD_NORM_KEY
from bench.storage.checkpoint import save_checkpoint

FACES = DatasetInfo(
    name="faces",
    resolution=8,
    channels=1,
    num_classes=0,
    splits={"train": 8, "test": 8},
    source="test",
    licence="test",
    factors={"Male": 2, "Eyeglasses": 2},
)


def make_cell(root: Path, model: str, dataset: str, dataset_args: dict, latent: int | None, **args) -> Path:
    """A cell folder as the runner leaves it: config.json, checkpoint.pt and metrics.jsonl."""
    from bench.datasets import DATASETS

    family = MODELS.get(model)
    cfg = CellConfig(
        model=model,
        model_args=family.Config(**args).model_dump(mode="json"),
        dataset=dataset,
        dataset_args=dataset_args,
        latent_size=latent,
        seed=0,
        train=TrainConfig(steps=4),
        eval=EvalConfig(),
    )
    cell = root / cfg.cell_id
    cell.mkdir(parents=True)
    (cell / "config.json").write_text(cfg.model_dump_json())
    source = DATASETS.get(dataset)(DATASETS.get(dataset).Args.model_validate(dataset_args))
    torch.manual_seed(0)
    m = family(family.Config(**args), source.info(), latent)
    if family.needs_pairing != "none":
        m.finalize(source.load("train", _ctx()), torch.Generator().manual_seed(0))
    save_checkpoint(cell / "checkpoint.pt", m.nets, m.optimizers(), 4, {"epoch": 0, "position": 0})
    rows = [{"step": s, "d/loss": 1.0, "g/loss": 2.0, f"g/{GRAD_NORM_KEY}": 0.5 / (s + 1)} for s in range(4)]
    if model.endswith("wgan_gp"):
        rows = [r | {"d/gp": 0.1 * (s + 1)} for s, r in enumerate(rows)]
    (cell / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return cell


def _ctx():
    from bench.datasets import DataContext

    return DataContext.from_env()


def analyze(*args: str):
    return CliRunner().invoke(app, ["analyze", *args], catch_exceptions=True)


def png_size(path: Path) -> tuple[int, int]:
    with Image.open(path) as im:
        im.verify()
        return Image.open(path).size


# ---------------------------------------------------------------- arithmetic


def test_expression_parses_into_signed_attribute_groups() -> None:
    terms = parse_expression("Male=1,Eyeglasses=0 + Eyeglasses=1 - Eyeglasses=0", FACES)
    assert terms == [
        Term(1, (("Male", 1), ("Eyeglasses", 0))),
        Term(1, (("Eyeglasses", 1),)),
        Term(-1, (("Eyeglasses", 0),)),
    ]
    assert parse_expression("- Male=1 + Male=0", FACES)[0].sign == -1


@pytest.mark.parametrize(
    ("expr", "message"),
    [
        ("Smiling=1 + Male=1", "unknown attribute 'Smiling' for faces; allowed: Male, Eyeglasses"),
        ("Male + Eyeglasses=1", "'Male' in 'Male + Eyeglasses=1' is not ATTRIBUTE=INTEGER"),
        ("label=1", "unknown attribute 'label'"),  # FACES has no classes
    ],
)
def test_bad_expressions_are_refused_with_the_reason(expr: str, message: str) -> None:
    with pytest.raises(BenchError, match=re.escape(message)):
        parse_expression(expr, FACES)


def test_groups_are_the_images_matching_every_condition() -> None:
    factors = torch.tensor([[1, 0], [1, 1], [0, 1], [0, 0], [1, 0]])
    split = ImageSplit(torch.zeros(5, 1, 8, 8, dtype=torch.uint8), factors=factors)
    assert members(split, FACES, Term(1, (("Male", 1), ("Eyeglasses", 0)))).tolist() == [0, 4]
    assert members(split, FACES, Term(1, (("Eyeglasses", 1),))).tolist() == [1, 2]


class PixelCodes:
    """encode = flatten, decode = reshape: latent arithmetic is then pixel arithmetic, known by hand."""

    conditional = False
    device = torch.device("cpu")

    def encode(self, x: torch.Tensor, y=None) -> torch.Tensor:
        return x.flatten(1)

    def decode(self, z: torch.Tensor, y=None) -> torch.Tensor:
        return z.view(-1, 1, 8, 8)


def test_latent_and_pixel_arithmetic_by_hand() -> None:
    # Men without glasses: 40; with glasses: 200; without glasses: 10 (flat images, uint8).
    values = [40, 40, 40, 200, 200, 200, 10, 10, 10]
    factors = [[1, 0]] * 3 + [[0, 1]] * 3 + [[0, 0]] * 3
    images = torch.tensor(values, dtype=torch.uint8).view(9, 1, 1, 1).expand(9, 1, 8, 8).contiguous()
    split = ImageSplit(images, factors=torch.tensor(factors))
    terms = parse_expression("Male=1,Eyeglasses=0 + Eyeglasses=1 - Eyeglasses=0", FACES)
    opts = ArithmeticOptions(n_avg=6, cols=3, noise=0.0)  # n_avg covers every member of each group
    grid, labels = arithmetic_grid(PixelCodes(), split, FACES, terms, opts)
    assert grid.shape == (3 + 3, 3, 1, 8, 8)
    assert labels == ["+ Male=1,Eyeglasses=0", "+ Eyeglasses=1", "- Eyeglasses=0", "= z means", "= pixels",
                      "= re-encoded"]  # fmt: skip
    unit = lambda v: v / 127.5 - 1  # noqa: E731
    # Group 'without glasses' contains the men without glasses too: (3 x 40 + 3 x 10) / 6 = 25.
    expected = unit(40) + unit(200) - unit(25)
    assert torch.allclose(grid[3], torch.full_like(grid[3], expected), atol=1e-5)
    # Pixel column j: j-th members combined, clamped to the image range.
    pixel = grid[4, 1:]
    assert pixel.min() >= -1 and pixel.max() <= 1
    assert torch.allclose(grid[5, 1:], pixel)  # identity encoder/decoder


# ---------------------------------------------------------------- the commands on cells


@pytest.fixture(scope="module")
def cells(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("cells")
    domains = root / "data" / "glasses"
    for split, n in (("train", 6), ("test", 4)):
        for dom, value in (("A", 40), ("B", 220)):
            d = domains / f"{split}{dom}"
            d.mkdir(parents=True)
            for i in range(n):
                Image.fromarray(torch.full((28, 28), value + i, dtype=torch.uint8).numpy()).save(
                    d / f"{i}.png"
                )
    unpaired = {"path": str(domains), "resolution": 28, "channels": 1}
    return {
        "encoder": make_cell(root, "dcgan_encoder", "digits", {}, 16, g_width=8, d_width=8),
        "cyclegan": make_cell(
            root,
            "cyclegan",
            "folder_unpaired",
            unpaired,
            None,
            g_width=4,
            d_width=4,
            d_hidden=8,
            sample_pool=4,
        ),  # fmt: skip
        "wgan": make_cell(root, "cond_wgan_gp", "digits", {}, 16, g_width=8, d_width=8),
        "vae": make_cell(root, "mlp_vae", "digits", {}, 4),
    }


def test_arithmetic_writes_one_grid_per_expression(cells: dict[str, Path]) -> None:
    r = analyze(str(cells["encoder"]), "--what", "arithmetic", "--opt",
                'expr=["label=1 + label=7 - label=1", "label=3 - label=3"]', "--opt", "n_avg=8")  # fmt: skip
    assert r.exit_code == 0, r.output
    pngs = sorted(cells["encoder"].glob("arithmetic_*.png"))
    assert [p.name for p in pngs] == [
        "arithmetic_label=1_plus_label=7_minus_label=1.png",
        "arithmetic_label=3_minus_label=3.png",
    ]
    w, h = png_size(pngs[0])
    assert w > 8 * 28 and h > 6 * 28  # 6 rows of 8 images, with labels around them


def test_arithmetic_refuses_a_model_without_an_encoder(cells: dict[str, Path]) -> None:
    r = analyze(str(cells["wgan"]), "--what", "arithmetic")
    assert r.exit_code != 0
    assert "needs the model hook(s) encode" in str(r.exception) + r.output


def test_translate_writes_both_directions_with_cycle_rows(cells: dict[str, Path]) -> None:
    r = analyze(str(cells["cyclegan"]), "--what", "translate", "--opt", "n=3")
    assert r.exit_code == 0, r.output
    for name in ("translate_AB.png", "translate_BA.png"):
        w, h = png_size(cells["cyclegan"] / name)
        assert w > 3 * 28 and h > 3 * 28


def test_grad_norms_plots_the_logged_norm_and_penalty(cells: dict[str, Path]) -> None:
    for key in ("wgan", "encoder"):
        r = analyze(str(cells[key]), "--what", "grad-norms")
        assert r.exit_code == 0, r.output
        assert png_size(cells[key] / "grad_norms.png")[1] > 200
    # Two panels (norm and penalty) make the WGAN-GP figure taller than the one-panel DCGAN figure.
    assert png_size(cells["wgan"] / "grad_norms.png")[1] > png_size(cells["encoder"] / "grad_norms.png")[1]


def test_grad_norms_refuses_a_non_adversarial_model(cells: dict[str, Path]) -> None:
    r = analyze(str(cells["vae"]), "--what", "grad-norms")
    assert r.exit_code != 0
    assert "for adversarial models" in str(r.exception) + r.output
