"""docs/models.md's "Adding a model family" example, exactly as printed: written to a module, imported (which
registers it), validated as a grid line, trained a few steps through the loop, sampled with and
without EMA."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path

import pytest
import torch
import yaml
from accelerate import Accelerator

from bench.datasets.base import DatasetInfo, ImageSplit
from bench.datasets.batches import BatchStream
from bench.grid import load_grid
from bench.models import MODELS
from bench.train.loop import fit
from bench.train.steplog import StepLog

MODELS_PAGE = Path(__file__).resolve().parents[2] / "docs" / "models.md"


@pytest.fixture
def example_family(tmp_path: Path):
    text = MODELS_PAGE.read_text()
    block = re.search(
        r"<!-- example-family:begin -->\n```python\n(.*?)```\n<!-- example-family:end -->", text, re.S
    )
    assert block, "docs/models.md lost its example family"
    path = tmp_path / "example_gan.py"
    path.write_text(block.group(1))
    spec = importlib.util.spec_from_file_location("example_gan_from_docs", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)  # registers "example_gan"
    yield MODELS.get("example_gan")
    MODELS._items.pop("example_gan", None)
    sys.modules.pop(spec.name, None)


def test_the_documented_example_is_a_grid_line_and_trains(example_family, tmp_path: Path) -> None:
    grid = tmp_path / "grid.yaml"
    line = {"example_gan": {"hidden": 32, "loss": "hinge", "ema": 0.9}}
    spec = {
        "name": "ex",
        "train": {"steps": 4, "batch_size": 8},
        "eval": {"kid_subset_size": 50},
        "datasets": ["digits"],
    }
    grid.write_text(yaml.safe_dump({**spec, "latent_sizes": [4], "seeds": [0], "models": [line]}))
    (cell,) = load_grid(str(grid)).cells
    assert cell.model == "example_gan" and cell.model_args["loss"] == "hinge"

    splits = {"train": 24, "test": 8}
    info = DatasetInfo(name="fake", resolution=28, channels=1, num_classes=10, splits=splits,
                       source="test", licence="test")  # fmt: skip
    model = example_family(example_family.Config(**line["example_gan"]), info, 4)
    assert set(model.nets) == {"G", "D", "G_ema"} and model.optimizer_phases == ("d", "g")
    g = torch.Generator().manual_seed(0)
    split = ImageSplit(torch.randint(0, 256, (24, 1, 28, 28), generator=g, dtype=torch.uint8))
    stream = BatchStream(split, 8, torch.device("cpu"), seed=0)
    model.begin(4)
    fit(model, model.optimizers(), stream, Accelerator(cpu=True), StepLog(tmp_path / "m.jsonl"), 0, 4, 2)
    rows = (tmp_path / "m.jsonl").read_text().splitlines()
    assert len(rows) == 4 and '"g/d_layer1_grad_norm"' in rows[0] and '"d/d_margin"' in rows[0]
    assert (
        stream.epoch * stream.batches_per_epoch + stream.position == 4
    )  # one batch per step: the G phase reuses the D phase's fakes
    model.train(False)
    x = model.sample(3, torch.Generator().manual_seed(1))
    with model.ema_weights():
        x_ema = model.sample(3, torch.Generator().manual_seed(1))
    assert x.shape == x_ema.shape == (3, 1, 28, 28) and not torch.equal(x, x_ema)
