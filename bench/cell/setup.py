"""Set-up of one cell before it trains: threads, accelerator, resume point, model, data, logging sinks,
and the evaluation (which checks every weight file the metrics need before any training).
"""

from __future__ import annotations

import logging
import math
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from accelerate import Accelerator
from accelerate.state import AcceleratorState
from accelerate.utils import set_seed

from bench import fs
from bench.cell.evaluate import CellEvaluation
from bench.cell.launch_env import THREADS_ENV
from bench.cell.resume import agreed_resume, restore_run_state
from bench.config import CellConfig, TrainConfig
from bench.datasets import DataContext
from bench.datasets.base import DatasetInfo, ImageSplit
from bench.datasets.batches import BatchStream
from bench.datasets.source import DatasetSource
from bench.errors import BenchError
from bench.eval.evaluate import cell_extractors
from bench.models.base import AdamKernel, GenerativeModel
from bench.storage.cell_dir import CellDir
from bench.storage.checkpoint import restore_nets
from bench.train import tensorboard
from bench.train.compile import compile_nets
from bench.train.distributed import (
    BatchPlan,
    batch_plan,
    prepare_deepspeed,
    prepare_net,
    scale_learning_rates,
)
from bench.train.numerics import set_device_numerics
from bench.train.progress_log import BarSink, ProgressLog
from bench.train.step import Backward
from bench.train.steplog import StepLog

# (phase, completed, total[, recent mean losses]); phases as bench.train.progress_log.PHASES, total 0
# while it is not known.
Progress = Callable[..., None]


def make_accelerator(train: TrainConfig) -> Accelerator:
    cuda = train.device == "cuda" or (train.device == "auto" and torch.cuda.is_available())
    if train.device == "cuda" and not torch.cuda.is_available():
        raise BenchError("train.device: 'cuda' was asked for but no GPU is visible")
    if train.cuda_graphs and not cuda:
        raise BenchError(
            "train.cuda_graphs: CUDA graphs need a GPU and none is visible; set cuda_graphs: false"
        )
    mixed = train.mixed_precision if train.mixed_precision != "auto" else ("bf16" if cuda else "no")
    # Several cells may run one after another in one process (tests, --in-process): accelerate keeps
    # its state in a process-wide singleton that refuses a second, different configuration.
    AcceleratorState._reset_state(reset_partial_state=False)
    return Accelerator(cpu=not cuda, mixed_precision=mixed)


def build_for_training(
    cfg: CellConfig, cell: CellDir, accelerator: Accelerator, state: dict[str, Any] | None
) -> tuple[DatasetSource, DatasetInfo, GenerativeModel, dict[str, Any], Backward | None]:
    """The cell's model from the one factory (CellDir.build_model), restored from `state` when resuming,
    its nets wrapped for this accelerator (DDP, DeepSpeed, torch.compile) and its optimizers built."""
    built = cell.build_model(cfg)  # the one factory (bench.storage.cell_dir), seeded by the cell's seed
    source, info, model = built.source, built.info, built.model
    if state is not None:  # before wrapping: DeepSpeed copies its fp32 master weights when it starts
        restore_nets(state, model.nets)
    model.adam_kernel = AdamKernel.for_device(accelerator.device, capturable=cfg.train.cuda_graphs)
    optimizers = model.optimizers()
    scale_learning_rates(optimizers, batch_plan(cfg.train).lr_scale)
    cuda = accelerator.device.type == "cuda"
    if cuda:
        for net in model.nets.values():
            net.to(memory_format=torch.channels_last)
    backward: Backward | None = None
    if cfg.train.distributed == "deepspeed" and accelerator.num_processes > 1:
        bf16 = accelerator.mixed_precision == "bf16"
        optimizers, backward = prepare_deepspeed(
            model.nets, optimizers, cfg.train, batch_plan(cfg.train), bf16
        )
        return source, info, model, optimizers, backward
    # Only the nets go through accelerate (device placement, DDP; see prepare_net). Its optimizer
    # wrapper adds nothing the loop uses (gradient accumulation, fp16 loss scaling) and costs a
    # filesystem lookup on every step (accelerate 1.x checks `is_lomo_available()` in `step`): ~0.4 ms
    # per phase on a CPU. torch.compile (train.compile) wraps the prepared nets, DDP included.
    model.nets = {name: prepare_net(accelerator, net) for name, net in model.nets.items()}
    model.nets = compile_nets(model, cfg.train.compile)
    return source, info, model, optimizers, backward


@dataclass
class CellSetup:
    """Everything the training and the evaluation of one cell share, made once by `set_up`."""

    cfg: CellConfig
    cell: CellDir
    accelerator: Accelerator
    numerics: dict[str, Any]  # the device's numeric settings, recorded with the training
    plan: BatchPlan
    source: DatasetSource
    info: DatasetInfo
    model: GenerativeModel
    optimizers: dict[str, Any]
    backward: Backward | None
    train_split: ImageSplit
    stream: BatchStream
    total: int  # the last step
    start: int  # the step it continues from (0: a fresh start)
    log: StepLog
    evaluation: CellEvaluation

    @property
    def main(self) -> bool:
        return self.accelerator.is_main_process


def _accelerator(cfg: CellConfig) -> tuple[Accelerator, dict[str, Any]]:
    threads = cfg.train.threads or int(os.environ.get(THREADS_ENV, "0"))
    if threads:  # the grid's setting, else the share of the cores the launcher gave this cell
        torch.set_num_threads(threads)
    accelerator = make_accelerator(cfg.train)
    numerics = set_device_numerics(accelerator.device)  # every cell: a worker may have run others before
    if accelerator.num_processes != cfg.train.processes:
        raise BenchError(
            f"train.processes: the cell asks for {cfg.train.processes} process(es) but runs in "
            f"{accelerator.num_processes}; start it through `bench run`, which launches torchrun"
        )
    return accelerator, numerics


def set_up(cfg: CellConfig, cell: CellDir, progress: Progress | None) -> CellSetup:
    """Accelerator, resume point, model, data stream, step log and evaluation of the cell, in the order
    that keeps a resumed run bitwise identical to one never stopped."""
    ctx = DataContext.from_env()
    accelerator, numerics = _accelerator(cfg)
    main = accelerator.is_main_process
    if progress and main:
        progress("data", 0, 0)
    plan = batch_plan(cfg.train)
    state, kept_rows = agreed_resume(cell, accelerator)
    source, info, model, optimizers, backward = build_for_training(cfg, cell, accelerator, state)
    train_split = source.load("train", ctx)
    stream = BatchStream(
        train_split,
        plan.per_device,
        accelerator.device,
        seed=cfg.seed,
        rank=accelerator.process_index,
        num_processes=accelerator.num_processes,
        channels_last=accelerator.device.type == "cuda",
        paired=info.pairing == "paired",
    )
    total = cfg.train.steps or math.ceil(cfg.train.epochs * stream.batches_per_epoch)
    # Noise streams differ per process (otherwise every rank draws the same z) and are fixed per seed.
    set_seed(cfg.seed * 1_000_003 + accelerator.process_index + 1)
    start = 0
    if state is not None:
        restore_run_state(state, cell.checkpoint_path, optimizers, accelerator)
        stream.load_state_dict(state["stream"])
        start = int(state["step"])
        logging.info("resuming from step %d", start)
        if main:  # drop rows a crashed run logged after its last checkpoint: they are logged again
            fs.atomic_write_text(cell.metrics_path, "".join(r + "\n" for r in kept_rows))
    elif main:
        cell.metrics_path.unlink(missing_ok=True)
    log = _step_log(cfg, cell, accelerator, total, start, progress)
    # Checks every weight file the metrics need now, before any training; draws the curve on flushes.
    evaluation = CellEvaluation(cfg, source, info, train_split, ctx, accelerator, cell.path, start)
    _train_extractors(cfg, evaluation, model.conditional, progress if main else None)
    return CellSetup(
        cfg, cell, accelerator, numerics, plan, source, info, model, optimizers, backward,
        train_split, stream, total, start, log, evaluation,
    )  # fmt: skip


def _step_log(
    cfg: CellConfig,
    cell: CellDir,
    accelerator: Accelerator,
    total: int,
    start: int,
    progress: Progress | None,
) -> StepLog:
    main = accelerator.is_main_process
    mean = (lambda t: accelerator.reduce(t, reduction="mean")) if accelerator.num_processes > 1 else None
    # TensorBoard events and a progress line every 30 s in cell.log (and, under SLURM, on stderr, which
    # the batch script sends to slurm.log): what a user watching a live run reads.
    sinks = []
    if main:
        under_slurm = bool(os.environ.get("SLURM_JOB_ID"))
        sinks = [
            tensorboard.TensorBoardSink(cell.path, purge_step=start),
            ProgressLog(total, start, prefix=cfg.cell_id, stream=sys.stderr if under_slurm else None),
            *([BarSink(progress, total)] if progress else []),  # recent losses on the launcher's bar
        ]
    return StepLog(cell.metrics_path if main else None, reduce=mean, sinks=sinks)


def _train_extractors(
    cfg: CellConfig, evaluation: CellEvaluation, conditional: bool, progress: Progress | None
) -> None:
    """Train (or load from the cache) the feature extractors the metrics need before the model trains,
    so the bars show that phase on its own and a cell that cannot be scored fails before its training.
    Under fork_rng: the classifier seeds the global RNG, and the model's training noise must not see it
    (the same cell trains identically whether the extractor was cached or not)."""
    ev = cfg.eval
    wanted = list(dict.fromkeys([*ev.metrics, *(ev.curve_metrics if ev.curve_every else [])]))
    if progress:
        progress("extractor", 0, 0)
    device = evaluation.accelerator.device
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        test = evaluation.reference()
        cell_extractors(wanted, evaluation.info, evaluation.train, test, evaluation.cache_dir, conditional)
