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
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from accelerate import Accelerator
from accelerate.state import AcceleratorState
from accelerate.utils import set_seed
from pydantic import ValidationError

from bench import fs
from bench.cell.evaluate import CellEvaluation
from bench.cell.launch_env import THREADS_ENV, launch_record
from bench.config import CellConfig, TrainConfig
from bench.datasets import DataContext
from bench.datasets.batches import BatchStream
from bench.errors import BenchError
from bench.eval.evaluate import cell_extractors, versions
from bench.models.base import AdamKernel
from bench.plots import plot_losses
from bench.storage import attempts
from bench.storage import files as store
from bench.storage.cell_dir import CellDir, CellResult, CellStatus, CorruptCheckpoint, load_checkpoint_checked
from bench.storage.cell_lock import CellLock, now_iso, slurm_job_id
from bench.storage.checkpoint import (
    load_shard,
    prune_shards,
    restore_nets,
    save_checkpoint,
    save_shard,
    set_rng_state,
)
from bench.storage.identity import cell_identity
from bench.train import tensorboard
from bench.train.compile import compile_nets
from bench.train.cost import device_name, images_seen, peak_memory
from bench.train.distributed import batch_plan, prepare_deepspeed, prepare_net, scale_learning_rates
from bench.train.ema import add_ema_scores
from bench.train.loop import fit
from bench.train.numerics import set_device_numerics
from bench.train.preempt import Preempted, StopRequest, stop_check
from bench.train.progress_log import BarSink, ProgressLog
from bench.train.sample_sheet import save_samples
from bench.train.step import Backward
from bench.train.steplog import Diverged, StepLog

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


def _build(cfg: CellConfig, cell: CellDir, accelerator: Accelerator, state: dict[str, Any] | None):
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


def _plain_nets(nets: dict[str, torch.nn.Module], accelerator: Accelerator) -> dict[str, torch.nn.Module]:
    """The nets without their DDP wrappers, for what follows training.

    A DDP net with buffers (BatchNorm) broadcasts them from rank 0 in every forward, a collective:
    sampling that differs between processes (the first one also draws samples.png) would wait for
    the others forever. The buffers are made equal once, here, and the plain modules used after."""
    if accelerator.num_processes > 1:
        for net in nets.values():
            for buffer in accelerator.unwrap_model(net).buffers():
                torch.distributed.broadcast(buffer, src=0)
    return {k: accelerator.unwrap_model(net, keep_torch_compile=False) for k, net in nets.items()}


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


def _metric_rows(path: Path, before_step: int) -> list[str] | None:
    """The rows of steps 0 .. before_step-1, exactly; None when the log cannot give them. A torn last
    line (a kill in the middle of an append) is dropped: it lies after the checkpoint anyway."""
    if not path.exists():
        return [] if before_step == 0 else None
    lines = path.read_text(errors="replace").splitlines()
    rows = []
    for i, line in enumerate(lines):
        try:
            step = json.loads(line)["step"]
        except (ValueError, KeyError, TypeError):
            if i == len(lines) - 1 and i > 0:
                logging.info("%s: dropped a torn last line", path)
                break
            return None
        if step < before_step:
            rows.append(line)
    steps = [json.loads(r)["step"] for r in rows]
    return rows if steps == list(range(before_step)) else None


def _resume_point(cell: CellDir, main: bool) -> tuple[dict[str, Any] | None, list[str]]:
    """(checkpoint state, metrics rows to keep), or (None, []) to start from scratch. A checkpoint or
    a metrics log that cannot be read is moved aside as `<name>.corrupt-N` and the cell starts over."""
    if not cell.checkpoint_path.exists():
        return None, []
    try:
        state = load_checkpoint_checked(cell.checkpoint_path)
    except CorruptCheckpoint as err:
        if main:
            moved = cell.archive_corrupt(cell.checkpoint_path)
            _say(f"{cell.name}: {err}; moved it to {moved.name} and starting the cell over")
        return None, []
    rows = _metric_rows(cell.metrics_path, int(state["step"])) if main else []
    if rows is None:
        moved = cell.archive_corrupt(cell.metrics_path)
        ckpt = cell.archive_corrupt(cell.checkpoint_path)
        _say(
            f"{cell.name}: {store.METRICS} cannot be read up to the checkpoint's step {state['step']}; "
            f"moved it to {moved.name} (and the checkpoint to {ckpt.name}) and starting the cell over"
        )
        return None, []
    return state, rows


def _agreed_resume(cell: CellDir, accelerator: Accelerator) -> tuple[dict[str, Any] | None, list[str]]:
    """The resume point, decided by process 0 (which alone reads and repairs the files) for all."""
    if accelerator.num_processes == 1:
        return _resume_point(cell, True)
    decision = [None]
    if accelerator.is_main_process:
        state, rows = _resume_point(cell, True)
        decision = [state is not None]
    accelerator.wait_for_everyone()
    torch.distributed.broadcast_object_list(decision, src=0)
    if accelerator.is_main_process:
        return state, rows
    return (load_checkpoint_checked(cell.checkpoint_path) if decision[0] else None), []


def _say(line: str) -> None:
    """One line for the user (the launcher shows the cell's stderr) and the same in cell.log."""
    logging.warning(line)
    print(line, file=sys.stderr, flush=True)


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


def train_and_evaluate(
    cfg: CellConfig, cell_dir: Path, progress: Progress | None = None, stop: StopRequest | None = None
) -> dict[str, Any]:
    """Train the cell (continuing from its checkpoint), evaluate it; the outcome part of its result."""
    cell = CellDir(cell_dir)
    ctx = DataContext.from_env()
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
    main = accelerator.is_main_process
    if progress and main:
        progress("data", 0, 0)
    plan = batch_plan(cfg.train)
    ckpt_path, metrics_path = cell.checkpoint_path, cell.metrics_path
    state, kept_rows = _agreed_resume(cell, accelerator)
    source, info, model, optimizers, backward = _build(cfg, cell, accelerator, state)
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
        if main:  # drop rows a crashed run logged after its last checkpoint: they are logged again
            fs.atomic_write_text(metrics_path, "".join(r + "\n" for r in kept_rows))
    elif main:
        metrics_path.unlink(missing_ok=True)
    mean = (lambda t: accelerator.reduce(t, reduction="mean")) if accelerator.num_processes > 1 else None
    # TensorBoard events and a progress line every 30 s in cell.log (and, under SLURM, on stderr, which
    # the batch script sends to slurm.log): what a user watching a live run reads.
    sinks = []
    if main:
        under_slurm = bool(os.environ.get("SLURM_JOB_ID"))
        sinks = [
            tensorboard.TensorBoardSink(cell_dir, purge_step=start),
            ProgressLog(total, start, prefix=cfg.cell_id, stream=sys.stderr if under_slurm else None),
            *([BarSink(progress, total)] if progress else []),  # recent losses on the launcher's bar
        ]
    log = StepLog(metrics_path if main else None, reduce=mean, sinks=sinks)
    # Checks every weight file the metrics need now, before any training; draws the curve on flushes.
    evaluation = CellEvaluation(cfg, source, info, train_split, ctx, accelerator, cell_dir, start)
    _train_extractors(cfg, evaluation, model.conditional, progress if main else None)
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
        cuda_graphs=cfg.train.cuda_graphs,
    )
    if reached < total:
        checkpoint(reached)
        accelerator.wait_for_everyone()
        logging.info("stopped by %s at step %d; checkpoint saved", stop.signal_name, reached)
        raise Preempted(reached, stop.signal_name or "a signal")
    seen = images_seen(stream)
    model.nets = _plain_nets(model.nets, accelerator)
    model.finalize(train_split, torch.Generator(model.device).manual_seed(cfg.seed))
    train_seconds = time.perf_counter() - t0
    accelerator.wait_for_everyone()
    checkpoint(total)
    steps_per_second = (total - start) / train_seconds if train_seconds > 0 else None

    result: dict[str, Any] = {
        "train": {
            "steps": total,
            "resumed_from": start,
            "seconds": train_seconds,
            "steps_per_second": steps_per_second,
            "epochs": total * plan.global_batch / len(train_split),
            "processes": accelerator.num_processes,
            **plan.record(cfg.train),
            "device": accelerator.device.type,
            "mixed_precision": accelerator.mixed_precision,
            "compile": cfg.train.compile,
            "cuda_graphs": cfg.train.cuda_graphs,
            **model.adam_kernel.record(),
            **numerics,
        },
        "num_parameters": model.num_parameters(),
    }
    if progress and main:
        progress("eval", 0, 1)
    t_eval = time.perf_counter()
    metrics, protocol = evaluation.final(model)  # every process generates its share of the samples
    add_ema_scores(evaluation, model, metrics, protocol)  # EMA families: the scores again, as <name>_ema
    if not main:
        return result
    model.train(False)
    test_split = evaluation.test_split()
    # The family's grid: samples, or an image-to-image model's inputs, translations and targets.
    grid = model.sample_grid(torch.Generator(model.device).manual_seed(cfg.eval.seed), test_split)
    z = f", latent {cfg.latent_size}" if cfg.latent_size is not None else ""
    title = f"{cfg.model} on {cfg.dataset}{z}, seed {cfg.seed}  ({cfg.cell_id})"
    save_samples(grid, cell_dir / "samples.png", title=title)
    plot_losses(metrics_path, cell_dir / "losses.png", f"{cfg.cell_id}")
    gen = torch.Generator(model.device).manual_seed(cfg.eval.seed)
    metrics.update(model.test_metrics(test_split, cfg.eval.batch_size, gen))
    if progress:
        progress("eval", 1, 1)
    peak, peak_kind = peak_memory(accelerator.device)
    cost = {
        "train_seconds": train_seconds,
        "eval_seconds": time.perf_counter() - t_eval,
        "images_seen": seen,
        "steps_per_second": steps_per_second,
        "peak_memory_bytes": peak,
        "peak_memory_kind": peak_kind,
        "device_name": device_name(accelerator.device),
        "processes": accelerator.num_processes,
    }
    result.update(metrics=metrics, protocol=protocol, cost=cost)
    return result


@dataclass(frozen=True)
class CellRun:
    """How one `run_cell` ended. status: done, failed, diverged (a result was written); preempted
    (stopped with a checkpoint, no result); busy (another live process holds the cell; nothing
    written); finished (a result was already there: nothing to do)."""

    status: str
    result: CellResult | None = None
    reason: str | None = None
    step: int | None = None


def run_cell(cell_dir: Path, progress: Progress | None = None, stop: StopRequest | None = None) -> CellRun:
    """Run the cell in `cell_dir` under its lock and write its result.json.

    With `stop` (set by signals, see bench/train/preempt.py) the cell may end early with a checkpoint
    and no result.json (status "preempted", the step reached). A cell whose lock another live process
    holds is left alone (status "busy"); one finished meanwhile is not run again.
    """
    cell = CellDir(cell_dir)
    cell.check_no_links()  # before anything is written there: nothing goes through a link
    cfg = cell.config
    main = _is_main_process()
    lock = cell.lock()
    if main:
        if not lock.acquire():
            line = f"{cfg.cell_id}: skipped, already running elsewhere ({lock.holder.describe()})"
            print(line, file=sys.stderr, flush=True)
            return CellRun("busy", reason=line)
        # Checked again under the lock: another run may have finished the cell since the launcher looked.
        done = cell.read_result()
        if done is not None and cell.is_finished():
            lock.release()
            return CellRun("finished", done)
        cell.archive_result()  # a failed (or unreadable) attempt is kept beside the cell, then retried
    try:
        return _run_locked(cell, cfg, lock, progress, stop)
    finally:
        lock.release()  # a no-op once a preempted run has turned the lock into its stop note


def _run_locked(
    cell: CellDir, cfg: CellConfig, lock: CellLock, progress: Progress | None, stop: StopRequest | None
) -> CellRun:
    fs.clean_temp_files(cell.path)  # temp files a killed writer left (checkpoints, logs)
    handler = logging.FileHandler(cell.log_path)
    rank = f" [rank {os.environ['RANK']}]" if int(os.environ.get("WORLD_SIZE", "1")) > 1 else ""
    handler.setFormatter(logging.Formatter(f"%(asctime)s %(levelname)s{rank} %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.INFO)
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
        outcome = train_and_evaluate(cfg, cell.path, progress, stop)
        status, reason = CellStatus.done, None
    except Preempted as err:
        # Not an outcome: the cell continues from its checkpoint when it runs next (SLURM requeues it).
        lock.mark_stopped(err.step)
        return CellRun("preempted", reason=str(err), step=err.step)
    except Diverged as err:
        outcome, status, reason = {}, CellStatus.diverged, str(err)
    except (Exception, torch.cuda.OutOfMemoryError) as err:  # noqa: B014  (OOM named for the reader)
        logging.error("cell failed:\n%s", traceback.format_exc())
        outcome, status, reason = {}, CellStatus.failed, f"{type(err).__name__}: {err}"
    finally:
        tensorboard.close(cell.path)
        root.removeHandler(handler)
        handler.close()
    wall = time.perf_counter() - started
    cost = {"processes": cfg.train.processes, **launch_record(), **outcome.pop("cost", {})}
    cost["device_seconds"] = cost["processes"] * wall
    cost = attempts.add_to_cost(cell.path, cost, wall)  # attempts killed or stopped before this one
    record = {
        **cell_identity(cfg),
        "status": status,
        "reason": reason,
        "wall_seconds": wall,
        "finished": now_iso(),
        "host": socket.gethostname(),
        "slurm_job_id": slurm_job_id(),
        "log": str(cell.log_path),
        "versions": versions(),
        "cost": cost,
        **outcome,
    }
    before = cell.evaluated_before()
    train_rec = outcome.get("train") or {}
    if before is not None and train_rec and train_rec.get("resumed_from") == train_rec.get("steps"):
        record = _carry_training(record, before)
    try:
        result = CellResult.model_validate(record)
    except ValidationError as err:  # a value of the wrong type must not lose the whole attempt silently
        e = err.errors()[0]
        reason = f"result could not be recorded: {'.'.join(map(str, e['loc']))}: {e['msg']}"
        logging.error("cell %s: %s", cfg.cell_id, reason)
        status = CellStatus.failed
        keep = ("status", "reason", "metrics", "protocol", "train", "cost")
        result = CellResult.model_validate(
            {**{k: v for k, v in record.items() if k not in keep}, "status": status, "reason": reason}
        )
    if status is not CellStatus.done:
        logging.getLogger(__name__).warning("cell %s %s: %s", cfg.cell_id, status.value, reason)
    if _is_main_process():
        cell.write_result(result)
    return CellRun(status.value, result, reason)


def _carry_training(record: dict[str, Any], before: CellResult) -> dict[str, Any]:
    """This attempt only evaluated (the evaluation settings changed; the final checkpoint was there): keep
    the training record and training cost of the run that trained, add this attempt's device time, and
    keep the earlier scores with their protocol under `previous_evaluations`."""
    prev = before.to_json()
    old_cost = prev.get("cost") or {}
    cost = {
        **record["cost"],
        "train_seconds": old_cost.get("train_seconds"),
        "images_seen": old_cost.get("images_seen"),
        "steps_per_second": old_cost.get("steps_per_second"),
        "device_seconds": (old_cost.get("device_seconds") or 0.0)
        + (record["cost"].get("device_seconds") or 0.0),
        "reevaluation_seconds": record["cost"].get("eval_seconds"),
    }
    earlier = list(prev.get("previous_evaluations") or [])
    earlier.append(
        {"protocol": prev.get("protocol"), "metrics": prev.get("metrics"), "finished": prev.get("finished")}
    )
    return {
        **record,
        "train": prev.get("train") or record.get("train"),
        "cost": cost,
        "previous_evaluations": earlier,
    }


def _is_main_process() -> bool:
    return int(os.environ.get("RANK", "0")) == 0
