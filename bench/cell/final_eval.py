"""The evaluation of one trained cell: the final scores (every process generates its share of the
samples), the EMA weights' scores, then on process 0 the sample sheet, the loss plot, the family's
test metrics and the cost of the attempt.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import torch

from bench.cell.setup import CellSetup, Progress
from bench.cell.training import Trained
from bench.plots import plot_losses
from bench.train.cost import device_name, peak_memory
from bench.train.ema import add_ema_scores
from bench.train.sample_sheet import save_samples


@dataclass
class Scores:
    """The evaluation's part of result.json (empty on processes other than 0, which record nothing)."""

    metrics: dict[str, float | None] = field(default_factory=dict)
    protocol: dict[str, Any] = field(default_factory=dict)
    cost: dict[str, Any] = field(default_factory=dict)


def evaluate_trained(s: CellSetup, trained: Trained, progress: Progress | None) -> Scores | None:
    """Score the trained model; None on processes other than 0, once they have done their share."""
    cfg, model, main = s.cfg, s.model, s.main
    if progress and main:
        progress("eval", 0, 1)
    t_eval = time.perf_counter()
    metrics, protocol = s.evaluation.final(model)  # every process generates its share of the samples
    add_ema_scores(s.evaluation, model, metrics, protocol)  # EMA families: the scores again, as <name>_ema
    if not main:
        return None
    model.train(False)
    test_split = s.evaluation.test_split()
    # The family's grid: samples, or an image-to-image model's inputs, translations and targets.
    grid = model.sample_grid(torch.Generator(model.device).manual_seed(cfg.eval.seed), test_split)
    z = f", latent {cfg.latent_size}" if cfg.latent_size is not None else ""
    title = f"{cfg.model} on {cfg.dataset}{z}, seed {cfg.seed}  ({cfg.cell_id})"
    save_samples(grid, s.cell.samples_path, title=title)
    plot_losses(s.cell.metrics_path, s.cell.losses_path, f"{cfg.cell_id}")
    gen = torch.Generator(model.device).manual_seed(cfg.eval.seed)
    metrics.update(model.test_metrics(test_split, cfg.eval.batch_size, gen))
    if progress:
        progress("eval", 1, 1)
    peak, peak_kind = peak_memory(s.accelerator.device)
    cost = {
        "train_seconds": trained.seconds,
        "eval_seconds": time.perf_counter() - t_eval,
        "images_seen": trained.images_seen,
        "steps_per_second": trained.steps_per_second,
        "peak_memory_bytes": peak,
        "peak_memory_kind": peak_kind,
        "device_name": device_name(s.accelerator.device),
        "processes": s.accelerator.num_processes,
    }
    return Scores(metrics, protocol, cost)
