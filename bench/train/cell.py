"""Run one cell from its folder: train, checkpoint, draw, evaluate, and record the outcome.

The cell folder holds config.json (written by the launcher). This module writes everything else, and
result.json last, atomically, so a cell without result.json is a cell to (re)do. Whatever happens the
outcome is recorded: done, diverged (a loss became NaN/inf) or failed (with the reason), and the rest
of the grid goes on. Interrupts record nothing: the cell is simply not done, and its last checkpoint
lets the next run continue it. Asked to stop (SIGUSR1 before a SLURM time limit or preemption, SIGTERM,
a first Ctrl-C; see bench/train/preempt.py), it checkpoints at the next step boundary first, so the
continued run ends bitwise identical to one never stopped.
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
from bench.eval.cell_eval import CellEvaluation
from bench.eval.evaluate import versions
from bench.models import MODELS
from bench.models.base import GenerativeModel
from bench.results import store
from bench.results.identity import cell_identity
from bench.results.plots import plot_losses, save_image_grid
from bench.train.checkpoint import (
    load_checkpoint,
    load_shard,
    prune_shards,
    restore_nets,
    save_checkpoint,
    save_shard,
    set_rng_state,
)
from bench.train.distributed import Backward, batch_plan, prepare_deepspeed, scale_learning_rates
from bench.train.loop import fit
from bench.train.preempt import Preempted, StopRequest, stop_check
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


def _build(cfg: CellConfig, accelerator: Accelerator, ctx: DataContext, state: dict[str, Any] | None):
    source = DATASETS.get(cfg.dataset)(DATASETS.get(cfg.dataset).Args.model_validate(cfg.dataset_args))
    info = source.info()
    family = MODELS.get(cfg.model)
    set_seed(cfg.seed)
    model: GenerativeModel = family(family.Config.model_validate(cfg.model_args), info, cfg.latent_size)
    if state is not None:  # before wrapping: DeepSpeed copies its fp32 master weights when it starts
        restore_nets(state, model.nets)
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
    # Only the nets go through accelerate (device placement, DDP). Its optimizer wrapper adds nothing
    # the loop uses (gradient accumulation, fp16 loss scaling) and costs a filesystem lookup on every
    # step (accelerate 1.x checks `is_lomo_available()` in `step`): ~0.4 ms per phase on a CPU.
    model.nets = {name: accelerator.prepare_model(net) for name, net in model.nets.items()}
    return source, info, model, optimizers, backward


def _plain_nets(nets: dict[str, torch.nn.Module], accelerator: Accelerator) -> dict[str, torch.nn.Module]:
    """The nets without their DDP wrappers, for what follows training.

    A DDP net with buffers (BatchNorm) broadcasts them from rank 0 in every forward, a collective:
    sampling that differs between processes (the first one also draws samples.png) would wait for
    the others forever. The buffers are made equal once, here, and the plain modules used after."""
    if accelerator.num_processes > 1:
        for net in nets.values():
            for buffer in accelerator.unwrap_model(net).buffers():
                torch.distributed.broadcast(buffer, src=0)
    return {k: accelerator.unwrap_model(net) for k, net in nets.items()}


def _restore_run_state(
    state: dict[str, Any], ckpt_path: Path, optimizers: dict[str, Any], accelerator: Accelerator
) -> None:
    """Optimizers and RNG states; with several processes each reads its own shard of the same step."""
    step, n = int(state["step"]), accelerator.num_processes
    saved_n = int(state.get("extra", {}).get("processes", 1))
    shard = load_shard(ckpt_path, accelerator.process_index, step) if n > 1 else None
    sharded = [k for k, opt in optimizers.items() if getattr(opt, "sharded", False)]
    if saved_n != n and (sharded or n > 1):
        raise BenchError(
            f"{ckpt_path}: written by {saved_n} process(es), this run has {n}; "
            "run it with the processes it started with, or remove the checkpoint to start over"
        )
    if n > 1 and shard is None:
        raise BenchError(f"{ckpt_path}: the shard of process {accelerator.process_index} is missing")
    for k, opt in optimizers.items():
        opt.load_state_dict(shard["optimizers"][k] if k in sharded else state["optimizers"][k])
    set_rng_state(shard["rng"] if shard is not None else state["rng"])


def _truncate_metrics(path: Path, before_step: int) -> None:
    """Drop rows a crashed run logged after its last checkpoint: the resumed run logs them again."""
    if not path.exists():
        return
    rows = [line for line in path.read_text().splitlines() if json.loads(line)["step"] < before_step]
    store.atomic_write_text(path, "".join(r + "\n" for r in rows))


def train_and_evaluate(
    cfg: CellConfig, cell_dir: Path, progress: Progress | None = None, stop: StopRequest | None = None
) -> dict[str, Any]:
    ctx = DataContext.from_env()
    if cfg.train.threads:
        torch.set_num_threads(cfg.train.threads)
    accelerator = make_accelerator(cfg.train)
    if accelerator.num_processes != cfg.train.processes:
        raise BenchError(
            f"train.processes: the cell asks for {cfg.train.processes} process(es) but runs in "
            f"{accelerator.num_processes}; start it through `bench run`, which launches torchrun"
        )
    main = accelerator.is_main_process
    plan = batch_plan(cfg.train)
    ckpt_path, metrics_path = cell_dir / store.CHECKPOINT, cell_dir / store.METRICS
    state = load_checkpoint(ckpt_path) if ckpt_path.exists() else None
    source, info, model, optimizers, backward = _build(cfg, accelerator, ctx, state)
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
        _restore_run_state(state, ckpt_path, optimizers, accelerator)
        stream.load_state_dict(state["stream"])
        start = int(state["step"])
        logging.info("resuming from step %d", start)
        if main:
            _truncate_metrics(metrics_path, start)
    elif main:
        metrics_path.unlink(missing_ok=True)
    mean = (lambda t: accelerator.reduce(t, reduction="mean")) if accelerator.num_processes > 1 else None
    log = StepLog(metrics_path if main else None, reduce=mean)
    # Checks every weight file the metrics need now, before any training; draws the curve on flushes.
    evaluation = CellEvaluation(cfg, source, info, train_split, ctx, accelerator, cell_dir, start)
    last_ckpt = start

    def checkpoint(step: int) -> None:
        """Called on every process at the same step: shards first, then the main file on rank 0."""
        sharded = {k for k, opt in optimizers.items() if getattr(opt, "sharded", False)}
        if accelerator.num_processes > 1:
            shard = {k: optimizers[k].state_dict() for k in sharded}
            save_shard(ckpt_path, accelerator.process_index, step, shard)
            accelerator.wait_for_everyone()
        if main:
            plain = {k: opt for k, opt in optimizers.items() if k not in sharded}
            extra = {"processes": accelerator.num_processes}
            save_checkpoint(ckpt_path, model.nets, plain, step, stream.state_dict(), extra)
            prune_shards(ckpt_path, step)

    def on_flush(step: int) -> None:
        nonlocal last_ckpt
        evaluation.on_flush(step, model)
        every = cfg.train.checkpoint_every
        if every and step - last_ckpt >= every and step < total:
            checkpoint(step)
            last_ckpt = step

    model.begin(total)
    t0 = time.perf_counter()
    reached = fit(
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
        stop=stop_check(stop, accelerator) if stop is not None else None,
        backward=backward,
    )
    if reached < total:
        checkpoint(reached)
        accelerator.wait_for_everyone()
        logging.info("stopped by %s at step %d; checkpoint saved", stop.signal_name, reached)
        raise Preempted(reached, stop.signal_name or "a signal")
    model.nets = _plain_nets(model.nets, accelerator)
    model.finalize(train_split, torch.Generator(model.device).manual_seed(cfg.seed))
    train_seconds = time.perf_counter() - t0
    accelerator.wait_for_everyone()
    checkpoint(total)

    result: dict[str, Any] = {
        "train": {
            "steps": total,
            "resumed_from": start,
            "seconds": train_seconds,
            "steps_per_second": (total - start) / train_seconds if train_seconds > 0 else None,
            "epochs": total * plan.global_batch / len(train_split),
            "processes": accelerator.num_processes,
            **plan.record(cfg.train),
            "device": accelerator.device.type,
            "mixed_precision": accelerator.mixed_precision,
        },
        "num_parameters": model.num_parameters(),
    }
    if progress and main:
        progress("eval", 0, 1)
    metrics, protocol = evaluation.final(model)  # every process generates its share of the samples
    from bench.train.ema import add_ema_scores  # EMA families: the same scores again, as <name>_ema

    add_ema_scores(evaluation, model, metrics, protocol)
    if not main:
        return result
    model.train(False)
    grid = model.sample(64, torch.Generator(model.device).manual_seed(cfg.eval.seed))
    save_image_grid(grid, cell_dir / "samples.png")
    plot_losses(metrics_path, cell_dir / "losses.png", f"{cfg.cell_id}")
    test_split = evaluation.test_split()
    gen = torch.Generator(model.device).manual_seed(cfg.eval.seed)
    metrics.update(model.test_metrics(test_split, cfg.eval.batch_size, gen))
    if progress:
        progress("eval", 1, 1)
    result.update(metrics=metrics, protocol=protocol)
    return result


def run_cell(
    cell_dir: Path, progress: Progress | None = None, stop: StopRequest | None = None
) -> dict[str, Any]:
    """Run the cell in `cell_dir` and write its result.json; returns the result.

    With `stop` (set by signals, see bench/train/preempt.py) the cell may end early with a checkpoint
    and no result.json; the returned dict then has status "preempted" and the step reached.
    """
    cfg = CellConfig.model_validate_json((cell_dir / store.CONFIG).read_text())
    handler = logging.FileHandler(cell_dir / store.LOG)
    rank = f" [rank {os.environ['RANK']}]" if int(os.environ.get("WORLD_SIZE", "1")) > 1 else ""
    handler.setFormatter(logging.Formatter(f"%(asctime)s %(levelname)s{rank} %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    lock = cell_dir / store.LOCK
    lock_info = {
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "started": _now(),
        "slurm_job_id": _slurm_job_id(),
    }
    if _is_main_process():
        store.atomic_write_json(lock, lock_info)
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
        outcome = train_and_evaluate(cfg, cell_dir, progress, stop)
        status, reason = "done", None
    except Preempted as err:
        # Not an outcome: the cell continues from its checkpoint when it runs next (SLURM requeues it).
        if _is_main_process():
            store.atomic_write_json(lock, {**lock_info, "stopped": _now(), "stopped_at_step": err.step})
        return {"cell_id": cfg.cell_id, "status": "preempted", "reason": str(err), "step": err.step}
    except Diverged as err:
        outcome, status, reason = {}, "diverged", str(err)
    except (Exception, torch.cuda.OutOfMemoryError) as err:  # noqa: B014  (OOM named for the reader)
        logging.error("cell failed:\n%s", traceback.format_exc())
        outcome, status, reason = {}, "failed", f"{type(err).__name__}: {err}"
    finally:
        root.removeHandler(handler)
        handler.close()
    result = {
        **cell_identity(cfg),
        "status": status,
        "reason": reason,
        "wall_seconds": time.perf_counter() - started,
        "finished": _now(),
        "host": socket.gethostname(),
        "slurm_job_id": _slurm_job_id(),
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
