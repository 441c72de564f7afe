"""THE training loop. Every family trains through `fit`; families differ only through their contract.

Per step: for each phase the model names, take a fresh batch (only for phases that use one:
`model.phase_uses_batch`, so the recorded epochs count batches really trained on), compute the phase's
losses under autocast, clear that phase's gradients, backward its "loss", step its optimizer, and
update the EMA of the sampling nets after their phase (bench/train/ema.py). Nothing here reads a
value back to the host except `StepLog.flush`, every `log_every` steps. `stop(step, flushed)` is asked
after every step (a Python flag; with several processes an all-reduce on flush steps only).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from accelerate import Accelerator

from bench.datasets.batches import BatchStream
from bench.models.base import GenerativeModel
from bench.train.ema import EMAUpdate
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
    backward: Callable[[str, torch.Tensor], None] | None = None,
) -> int:
    """Train from `start_step` to `total_steps`; returns the step reached (< total_steps when stopped).

    `on_flush(step)` runs after each flush (checkpoints). `backward(phase, loss)` replaces
    `accelerator.backward` where an engine owns the backward pass (DeepSpeed).
    """
    backward = backward or (lambda phase, loss: accelerator.backward(loss))
    model.train(True)
    ema = EMAUpdate.of(model)
    for step in range(start_step, total_steps):
        for phase in model.phases(step):
            batch = stream.next() if model.phase_uses_batch(phase) else None
            with accelerator.autocast():
                out = model.training_step(batch, phase)
            opt = optimizers[phase]
            # Zeroing right before backward also clears gradients another phase left on these
            # parameters (a generator step back-propagates through the discriminator).
            opt.zero_grad(set_to_none=True)
            backward(phase, out["loss"])
            opt.step()
            if ema is not None:
                ema.after_step(phase, step)
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
