"""THE training loop. Every family trains through `fit`; families differ only through their contract.

Per step: draw the batches of the phases the model names and run them (bench/train/step.py: losses
under autocast, backward, optimizer step, EMA) — eagerly, or by replaying the step captured as one CUDA
graph (bench/train/cuda_graphs.py, `train.cuda_graphs`). Nothing here reads a value back to the host
except `StepLog.flush`, every `log_every` steps. `stop(step, flushed)` is asked after every step (a
Python flag; with several processes an all-reduce on flush steps only).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from accelerate import Accelerator

from bench.datasets.batches import BatchStream
from bench.models.base import GenerativeModel
from bench.train.ema import EMAUpdate
from bench.train.step import Backward, draw_batches, run_phases
from bench.train.steplog import StepLog


def fit(
    model: GenerativeModel,
    optimizers: dict[str, torch.optim.Optimizer],
    stream: BatchStream,
    accelerator: Accelerator,
    log: StepLog,
    start_step: int,
    total_steps: int,
    log_every: int,
    on_step: Callable[[int], None] | None = None,
    on_flush: Callable[[int], None] | None = None,
    stop: Callable[[int, bool], bool] | None = None,
    backward: Backward | None = None,
    cuda_graphs: bool = False,
) -> int:
    """Train from `start_step` to `total_steps`; returns the step reached (< total_steps when stopped).

    `on_flush(step)` runs after each flush (checkpoints). `backward(phase, loss)` replaces
    `accelerator.backward` where an engine owns the backward pass (DeepSpeed). `cuda_graphs`: replay
    the step as one captured CUDA graph (validation checked that the family and setting allow it).
    """
    backward = backward or (lambda phase, loss: accelerator.backward(loss))
    model.train(True)
    ema = EMAUpdate.of(model)
    if cuda_graphs:
        from bench.train.cuda_graphs import GraphedStep

        graphed = GraphedStep(model, optimizers, stream, accelerator.mixed_precision == "bf16", ema)
    for step in range(start_step, total_steps):
        if cuda_graphs:
            outs = graphed(step)
        else:
            phases = model.phases(step)
            batches = draw_batches(model, phases, stream)
            outs = run_phases(model, optimizers, phases, batches, accelerator.autocast, backward, ema, step)
        for phase, out in outs:
            log.add(phase, out)
        log.end_step(step)
        if on_step is not None:
            on_step(step + 1)
        flushed = (step + 1) % log_every == 0 or step + 1 == total_steps
        if flushed:
            log.flush()
            if on_flush is not None:
                on_flush(step + 1)
        if stop is not None and step + 1 < total_steps and stop(step + 1, flushed):
            log.flush()  # the checkpoint taken now must match metrics.jsonl row for row
            return step + 1
    return total_steps
