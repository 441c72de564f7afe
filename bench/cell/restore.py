"""Rebuild a finished (or checkpointed) cell's model from its folder: config.json + checkpoint.pt."""

from __future__ import annotations

from pathlib import Path

import torch

from bench.config import CellConfig
from bench.datasets.source import DatasetSource
from bench.models.base import GenerativeModel
from bench.storage.cell_dir import CellDir


def restore_cell(
    cell_dir: Path, device: torch.device | str = "cpu"
) -> tuple[CellConfig, GenerativeModel, DatasetSource]:
    """(config, model in eval mode on `device`, dataset source) of the cell in `cell_dir`."""
    cell = CellDir(cell_dir)
    built = cell.load_trained(device)
    return cell.config, built.model, built.source
