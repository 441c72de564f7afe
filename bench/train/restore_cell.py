"""Rebuild a finished (or checkpointed) cell's model from its folder: config.json + checkpoint.pt."""

from __future__ import annotations

from pathlib import Path

import torch

from bench.config import CellConfig
from bench.datasets import DATASETS
from bench.datasets.source import DatasetSource
from bench.errors import BenchError
from bench.models import MODELS
from bench.models.base import GenerativeModel
from bench.results import store
from bench.train.checkpoint import load_checkpoint


def restore_cell(
    cell_dir: Path, device: torch.device | str = "cpu"
) -> tuple[CellConfig, GenerativeModel, DatasetSource]:
    """(config, model in eval mode on `device`, dataset source) of the cell in `cell_dir`."""
    cfg_path, ckpt_path = cell_dir / store.CONFIG, cell_dir / store.CHECKPOINT
    if not cfg_path.is_file():
        raise BenchError(f"{cell_dir}: no {store.CONFIG} here; not a cell folder")
    if not ckpt_path.is_file():
        raise BenchError(f"{cell_dir}: no {store.CHECKPOINT} yet; the cell has not trained")
    cfg = CellConfig.model_validate_json(cfg_path.read_text())
    source_cls = DATASETS.get(cfg.dataset)
    source = source_cls(source_cls.Args.model_validate(cfg.dataset_args))
    family = MODELS.get(cfg.model)
    model = family(family.Config.model_validate(cfg.model_args), source.info(), cfg.latent_size)
    state = load_checkpoint(ckpt_path)
    for name, net in model.nets.items():
        net.load_state_dict(state["nets"][name])
        net.to(device)
    model.total_steps = int(state["step"])
    model.train(False)
    return cfg, model, source
