"""One training step's phases, run eagerly: what `fit` does every step and what a CUDA graph records.

For each phase the model names, in order: compute its losses under autocast, clear that phase's
gradients, backward its "loss", step its optimizer, and update the EMA of the sampling nets after their
phase. Batches are drawn before the phases run (`draw_batches`), so a captured step can take them from
static buffers instead.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager

import torch

from bench.datasets.batches import Batch, BatchStream
from bench.models.base import GenerativeModel
from bench.train.ema import EMAUpdate

Backward = Callable[[str, torch.Tensor], None]  # (phase, loss) -> gradients in place
Autocast = Callable[[], AbstractContextManager]
PhaseOutputs = list[tuple[str, dict[str, torch.Tensor]]]


def draw_batches(model: GenerativeModel, phases: Sequence[str], stream: BatchStream) -> list[Batch | None]:
    """A fresh batch for each phase that uses one (`model.phase_uses_batch`), so the recorded epochs
    count batches really trained on; None for the others."""
    return [stream.next() if model.phase_uses_batch(phase) else None for phase in phases]


def run_phases(
    model: GenerativeModel,
    optimizers: dict[str, torch.optim.Optimizer],
    phases: Sequence[str],
    batches: Sequence[Batch | None],
    autocast: Autocast,
    backward: Backward,
    ema: EMAUpdate | None,
    step: int,
) -> PhaseOutputs:
    """Train the phases of step `step` on `batches`; the outputs of each phase, in order."""
    outs: PhaseOutputs = []
    for phase, batch in zip(phases, batches, strict=True):
        with autocast():
            out = model.training_step(batch, phase)
        opt = optimizers[phase]
        # Zeroing right before backward also clears gradients another phase left on these
        # parameters (a generator step back-propagates through the discriminator).
        opt.zero_grad(set_to_none=True)
        backward(phase, out["loss"])
        opt.step()
        if ema is not None:
            ema.after_step(phase, step)
        outs.append((phase, out))
    return outs
