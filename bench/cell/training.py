"""Training of one set-up cell: the loop, its checkpoints, the stop on request, and what it records.

`fit` (bench/train/loop.py) runs the steps; this module gives it the checkpoint closure (every process
at the same step: shards first, then the main file on rank 0) and the flush hook (curve points,
periodic checkpoints), and turns a stop request into a checkpoint and `Preempted`.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

import torch
from accelerate import Accelerator

from bench.cell.setup import CellSetup, Progress
from bench.storage.checkpoint import prune_shards, save_checkpoint, save_shard
from bench.train.cost import images_seen
from bench.train.loop import fit
from bench.train.preempt import Preempted, StopRequest, stop_check


@dataclass(frozen=True)
class Trained:
    """What the training of one attempt leaves for the evaluation and the record."""

    seconds: float  # this attempt's training (a resumed cell: since the resume)
    images_seen: int  # over the whole cell, resumes included
    steps_per_second: float | None
    record: dict[str, Any]  # result.json's `train`


def train(s: CellSetup, progress: Progress | None, stop: StopRequest | None) -> Trained:
    """Train from s.start to s.total (Preempted when asked to stop), then finalize the model and write
    the final checkpoint."""
    cfg, accelerator, optimizers, model = s.cfg, s.accelerator, s.optimizers, s.model
    ckpt_path, main = s.cell.checkpoint_path, s.main
    last_ckpt = s.start

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
            save_checkpoint(ckpt_path, model.nets, plain, step, s.stream.state_dict(), extra)
            prune_shards(ckpt_path, step)

    def on_step(step: int) -> None:
        if progress:
            progress("train", step, s.total)
        s.evaluation.on_step(step, model)  # curve points fall on multiples of curve_every, not on flushes

    def on_flush(step: int) -> None:
        nonlocal last_ckpt
        every = cfg.train.checkpoint_every
        if every and step - last_ckpt >= every and step < s.total:
            checkpoint(step)
            last_ckpt = step

    model.begin(s.total)
    t0 = time.perf_counter()
    reached = fit(
        model,
        optimizers,
        s.stream,
        accelerator,
        s.log,
        s.start,
        s.total,
        cfg.train.log_every,
        on_step=on_step,
        on_flush=on_flush,
        stop=stop_check(stop, accelerator) if stop is not None else None,
        backward=s.backward,
        cuda_graphs=cfg.train.cuda_graphs,
    )
    if reached < s.total:
        checkpoint(reached)
        accelerator.wait_for_everyone()
        logging.info("stopped by %s at step %d; checkpoint saved", stop.signal_name, reached)
        raise Preempted(reached, stop.signal_name or "a signal")
    seen = images_seen(s.stream)
    model.nets = _plain_nets(model.nets, accelerator)
    model.finalize(s.train_split, torch.Generator(model.device).manual_seed(cfg.seed))
    seconds = time.perf_counter() - t0
    accelerator.wait_for_everyone()
    checkpoint(s.total)
    per_second = (s.total - s.start) / seconds if seconds > 0 else None
    return Trained(seconds, seen, per_second, _record(s, seconds, per_second))


def _record(s: CellSetup, seconds: float, steps_per_second: float | None) -> dict[str, Any]:
    return {
        "steps": s.total,
        "resumed_from": s.start,
        "seconds": seconds,
        "steps_per_second": steps_per_second,
        "epochs": s.total * s.plan.global_batch / len(s.train_split),
        "processes": s.accelerator.num_processes,
        **s.plan.record(s.cfg.train),
        "device": s.accelerator.device.type,
        "mixed_precision": s.accelerator.mixed_precision,
        "compile": s.cfg.train.compile,
        "cuda_graphs": s.cfg.train.cuda_graphs,
        **s.model.adam_kernel.record(),
        **s.numerics,
    }


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
