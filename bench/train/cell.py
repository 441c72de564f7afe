"""Run one cell from its folder: train, checkpoint, draw, evaluate, and record the outcome.

The cell folder holds config.json (written by the launcher). This module writes everything else, and
result.json last, atomically, so a cell without result.json is a cell to (re)do. Whatever happens the
outcome is recorded: done, diverged (a loss became NaN/inf) or failed (with the reason), and the rest
of the grid goes on. Interrupts (Ctrl-C, SIGTERM) record nothing: the cell is simply not done, and
its last checkpoint lets the next run continue it.
"""

from __future__ import annotations

import json
import logging
import math
import os
import socket
import time
import traceback
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch
from accelerate import Accelerator
from accelerate.state import AcceleratorState
from accelerate.utils import set_seed

from bench.config import CellConfig, TrainConfig
from bench.datasets import DATASETS, DataContext
from bench.datasets.batches import BatchStream
from bench.errors import BenchError
from bench.eval.domain import domain_extractor
from bench.eval.evaluate import evaluate, versions
from bench.models import MODELS
from bench.models.base import GenerativeModel
from bench.results import store
from bench.results.plots import plot_losses, save_image_grid
from bench.train.checkpoint import load_checkpoint, restore, save_checkpoint
from bench.train.loop import fit
from bench.train.steplog import Diverged, StepLog

Progress = Callable[[str, int, int], None]  # (phase description, completed, total)


def make_accelerator(train: TrainConfig) -> Accelerator:
    cuda = train.device == "cuda" or (train.device == "auto" and torch.cuda.is_available())
    if train.device == "cuda" and not torch.cuda.is_available():
        raise BenchError("train.device: 'cuda' was asked for but no GPU is visible")
    mixed = train.mixed_precision if train.mixed_precision != "auto" else ("bf16" if cuda else "no")
    # Several cells may run one after another in one process (tests, --in-process): accelerate keeps
    # its state in a process-wide singleton that refuses a second, different configuration.
    AcceleratorState._reset_state(reset_partial_state=False)
    return Accelerator(cpu=not cuda, mixed_precision=mixed)


def _build(cfg: CellConfig, accelerator: Accelerator, ctx: DataContext):
    source = DATASETS.get(cfg.dataset)(DATASETS.get(cfg.dataset).Args.model_validate(cfg.dataset_args))
    info = source.info()
    family = MODELS.get(cfg.model)
    set_seed(cfg.seed)
    model: GenerativeModel = family(family.Config.model_validate(cfg.model_args), info, cfg.latent_size)
    optimizers = model.optimizers()
    cuda = accelerator.device.type == "cuda"
    if cuda:
        for net in model.nets.values():
            net.to(memory_format=torch.channels_last)
    prepared = accelerator.prepare(*model.nets.values(), *optimizers.values())
    n = len(model.nets)
    model.nets = dict(zip(model.nets, prepared[:n], strict=True))
    optimizers = dict(zip(optimizers, prepared[n:], strict=True))
    return source, info, model, optimizers


def _truncate_metrics(path: Path, before_step: int) -> None:
    """Drop rows a crashed run logged after its last checkpoint: the resumed run logs them again."""
    if not path.exists():
        return
    rows = [line for line in path.read_text().splitlines() if json.loads(line)["step"] < before_step]
    store.atomic_write_text(path, "".join(r + "\n" for r in rows))


def train_and_evaluate(cfg: CellConfig, cell_dir: Path, progress: Progress | None = None) -> dict[str, Any]:
    ctx = DataContext.from_env()
    if cfg.train.threads:
        torch.set_num_threads(cfg.train.threads)
    accelerator = make_accelerator(cfg.train)
    main = accelerator.is_main_process
    source, info, model, optimizers = _build(cfg, accelerator, ctx)
    train_split = source.load("train", ctx)
    stream = BatchStream(
        train_split,
        cfg.train.batch_size,
        accelerator.device,
        seed=cfg.seed,
        rank=accelerator.process_index,
        num_processes=accelerator.num_processes,
        channels_last=accelerator.device.type == "cuda",
        paired=info.pairing == "paired",
    )
    total = cfg.train.steps or math.ceil(cfg.train.epochs * stream.batches_per_epoch)
    ckpt_path, metrics_path = cell_dir / store.CHECKPOINT, cell_dir / store.METRICS
    # Noise streams differ per process (otherwise every rank draws the same z) and are fixed per seed.
    set_seed(cfg.seed * 1_000_003 + accelerator.process_index + 1)
    start = 0
    if ckpt_path.exists():
        state = load_checkpoint(ckpt_path)
        restore(state, model.nets, optimizers)
        stream.load_state_dict(state["stream"])
        start = int(state["step"])
        logging.info("resuming from step %d", start)
        if main:
            _truncate_metrics(metrics_path, start)
    elif main:
        metrics_path.unlink(missing_ok=True)
    log = (
        StepLog(metrics_path)
        if main
        else StepLog(cell_dir / f".metrics.rank{accelerator.process_index}.jsonl")
    )

    last_ckpt = start

    def on_flush(step: int) -> None:
        nonlocal last_ckpt
        every = cfg.train.checkpoint_every
        if every and step - last_ckpt >= every and step < total:
            if main:
                save_checkpoint(ckpt_path, model.nets, optimizers, step, stream.state_dict())
            last_ckpt = step

    model.begin(total)
    t0 = time.perf_counter()
    fit(
        model,
        optimizers,
        stream,
        accelerator,
        log,
        start,
        total,
        cfg.train.log_every,
        on_step=(lambda s: progress("train", s, total)) if progress else None,
        on_flush=on_flush,
    )
    model.finalize(train_split, torch.Generator(model.device).manual_seed(cfg.seed))
    train_seconds = time.perf_counter() - t0
    accelerator.wait_for_everyone()
    if main:
        save_checkpoint(ckpt_path, model.nets, optimizers, total, stream.state_dict())

    result: dict[str, Any] = {
        "train": {
            "steps": total,
            "resumed_from": start,
            "seconds": train_seconds,
            "steps_per_second": (total - start) / train_seconds if train_seconds > 0 else None,
            "epochs": total * cfg.train.batch_size * accelerator.num_processes / len(train_split),
            "processes": accelerator.num_processes,
            "device": accelerator.device.type,
            "mixed_precision": accelerator.mixed_precision,
        },
        "num_parameters": model.num_parameters(),
    }
    if not main:
        return result
    model.train(False)
    grid = model.sample(64, torch.Generator(model.device).manual_seed(cfg.eval.seed))
    save_image_grid(grid, cell_dir / "samples.png")
    plot_losses(metrics_path, cell_dir / "losses.png", f"{cfg.cell_id}")
    if progress:
        progress("eval", 0, 1)
    test_split = source.load(cfg.eval.split, ctx)
    extractor = domain_extractor(info, train_split, test_split, ctx.cache_dir.parent)
    metrics, protocol = evaluate(
        model, info, test_split, cfg.eval, extractor, accelerator.device.type == "cuda"
    )
    gen = torch.Generator(model.device).manual_seed(cfg.eval.seed)
    metrics.update(model.test_metrics(test_split, cfg.eval.batch_size, gen))
    if progress:
        progress("eval", 1, 1)
    result.update(metrics=metrics, protocol=protocol)
    return result


def run_cell(cell_dir: Path, progress: Progress | None = None) -> dict[str, Any]:
    """Run the cell in `cell_dir` and write its result.json; returns the result."""
    cfg = CellConfig.model_validate_json((cell_dir / store.CONFIG).read_text())
    handler = logging.FileHandler(cell_dir / store.LOG)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    lock = cell_dir / store.LOCK
    store.atomic_write_json(
        lock,
        {
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "started": _now(),
            "slurm_job_id": _slurm_job_id(),
        },
    )
    started = time.perf_counter()
    logging.info(
        "cell %s: %s on %s, latent %s, seed %d",
        cfg.cell_id,
        cfg.model,
        cfg.dataset,
        cfg.latent_size,
        cfg.seed,
    )
    try:
        outcome = train_and_evaluate(cfg, cell_dir, progress)
        status, reason = "done", None
    except Diverged as err:
        outcome, status, reason = {}, "diverged", str(err)
    except (Exception, torch.cuda.OutOfMemoryError) as err:  # noqa: B014  (OOM named for the reader)
        logging.error("cell failed:\n%s", traceback.format_exc())
        outcome, status, reason = {}, "failed", f"{type(err).__name__}: {err}"
    finally:
        root.removeHandler(handler)
        handler.close()
    result = {
        "cell_id": cfg.cell_id,
        "status": status,
        "reason": reason,
        "model": cfg.model,
        "dataset": cfg.dataset,
        "latent_size": cfg.latent_size,
        "seed": cfg.seed,
        "wall_seconds": time.perf_counter() - started,
        "finished": _now(),
        "host": socket.gethostname(),
        "log": str(cell_dir / store.LOG),
        "versions": versions(),
        **outcome,
    }
    if status != "done":
        logging.getLogger(__name__).warning("cell %s %s: %s", cfg.cell_id, status, reason)
    if _is_main_process():
        store.atomic_write_json(cell_dir / store.RESULT, result)
        lock.unlink(missing_ok=True)
    return result


def _is_main_process() -> bool:
    return int(os.environ.get("RANK", "0")) == 0


def _slurm_job_id() -> str | None:
    job, task = os.environ.get("SLURM_ARRAY_JOB_ID"), os.environ.get("SLURM_ARRAY_TASK_ID")
    return f"{job}_{task}" if job and task else os.environ.get("SLURM_JOB_ID")


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
