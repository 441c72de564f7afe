"""Load a trained cell for analysis: the model rebuilt from config.json with its checkpoint's weights."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from bench.config import CellConfig
from bench.datasets import DATASETS, DataContext
from bench.datasets.base import DatasetInfo, ImageSplit
from bench.datasets.source import DatasetSource
from bench.errors import BenchError
from bench.models import MODELS
from bench.models.base import GenerativeModel
from bench.results import store
from bench.train.checkpoint import load_checkpoint, restore_nets


@dataclass
class LoadedCell:
    dir: Path
    cfg: CellConfig
    info: DatasetInfo
    model: GenerativeModel
    source: DatasetSource

    def split(self, name: str | None = None) -> ImageSplit:
        """A split of the cell's dataset (default: the split it was evaluated on)."""
        return self.source.load(name or self.cfg.eval.split, DataContext.from_env())


def read_config(cell_dir: Path) -> CellConfig:
    path = cell_dir / store.CONFIG
    if not path.is_file():
        raise BenchError(f"{cell_dir}: no {store.CONFIG} here; not a cell folder")
    return CellConfig.model_validate_json(path.read_text())


def load_cell(cell_dir: Path, device: str | torch.device | None = None) -> LoadedCell:
    """(config, dataset info, model in eval mode with the trained weights, dataset source)."""
    cfg = read_config(cell_dir)
    ckpt = cell_dir / store.CHECKPOINT
    if not ckpt.is_file():
        raise BenchError(f"{cell_dir}: no {store.CHECKPOINT}; train the cell first (bench run)")
    source_cls = DATASETS.get(cfg.dataset)
    source = source_cls(source_cls.Args.model_validate(cfg.dataset_args))
    info = source.info()
    family = MODELS.get(cfg.model)
    model = family(family.Config.model_validate(cfg.model_args), info, cfg.latent_size)
    restore_nets(load_checkpoint(ckpt), model.nets)
    dev = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    for net in model.nets.values():
        net.to(dev)
    model.train(False)
    return LoadedCell(cell_dir, cfg, info, model, source)


def finished_cells(out: Path) -> list[Path]:
    """Cell folders under `out` that finished training (status done) and hold a checkpoint."""
    cells = []
    for d in sorted(p for p in out.iterdir() if p.is_dir()):
        result = store.read_result(d)
        if result and result.get("status") == "done" and (d / store.CHECKPOINT).is_file():
            cells.append(d)
    return cells
