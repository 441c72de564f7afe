"""Load a trained cell for analysis: the model rebuilt from config.json with its checkpoint's weights
(through bench.storage.cell_dir.CellDir, the one factory)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from bench.config import CellConfig
from bench.datasets import DataContext
from bench.datasets.base import DatasetInfo, ImageSplit
from bench.datasets.source import DatasetSource
from bench.models.base import GenerativeModel
from bench.storage.cell_dir import CellDir, CellStatus, cell_dirs


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
    return CellDir(cell_dir).config


def load_cell(cell_dir: Path, device: str | torch.device | None = None) -> LoadedCell:
    """(config, dataset info, model in eval mode with the trained weights, dataset source)."""
    cell = CellDir(cell_dir)
    built = cell.load_trained(device)
    return LoadedCell(cell_dir, cell.config, built.info, built.model, built.source)


def finished_cells(out: Path) -> list[Path]:
    """Cell folders under `out` that finished training (status done) and hold a checkpoint."""
    cells = []
    for cell in cell_dirs(out):
        result = cell.read_result()
        if result is not None and result.status is CellStatus.done and cell.checkpoint_path.is_file():
            cells.append(cell.path)
    return cells
