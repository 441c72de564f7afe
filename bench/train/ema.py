"""Exponential moving average (EMA) of a family's sampling nets, and its scores beside the raw ones.

With `ema: DECAY` in a model's config, each net the family names in `sampling_nets` (G, a VAE's
decoder, DDPM's denoiser) has a frozen copy "<name>_ema" in `model.nets` (so checkpoints carry it and
a resumed run continues it bitwise). After every optimizer step of `model.sampling_phase` the loop
calls `EMAUpdate.after_step`:

    step < ema_start:  ema <- theta                      (a copy: early weights are not worth keeping)
    otherwise:         ema <- ema + (1 - decay) (theta - ema)      (torch._foreach_lerp_)

Both are single foreach kernels on the device over every parameter: no host sync. Buffers (BatchNorm
running statistics) and parameters no optimizer trains (a prior fitted after training) are copied,
not averaged: the averaged weights are used with the trained net's statistics, and
`model.ema_weights()` copies them once more before it swaps the copies in.

`add_ema_scores` evaluates the model a second time under its EMA weights and adds every sample score
as `<name>_ema`, with the raw score's fingerprint plus "+ema" so the leaderboard keeps raw and EMA
scores in separate columns.
"""

from __future__ import annotations

from typing import Any, Protocol

import torch

from bench.models.base import EMA_SUFFIX, GenerativeModel, unwrap

FINGERPRINT_SUFFIX = "+ema"


class EMAUpdate:
    """The parameter and buffer lists of one model's sampling nets and their EMA copies, gathered once."""

    def __init__(self, model: GenerativeModel) -> None:
        self.phase = model.sampling_phase
        self.decay = float(model.cfg.ema)
        self.start = int(model.cfg.ema_start)
        self.avg: list[torch.Tensor] = []
        self.live: list[torch.Tensor] = []
        self.avg_buffers: list[torch.Tensor] = []
        self.live_buffers: list[torch.Tensor] = []
        for name in model.sampling_nets:
            live, avg = unwrap(model.nets[name]), unwrap(model.nets[name + EMA_SUFFIX])
            for p, a in zip(live.parameters(), avg.parameters(), strict=True):
                if p.requires_grad:
                    self.live.append(p.detach())
                    self.avg.append(a)
                else:  # not trained by gradients (a prior fitted after training): copied like buffers
                    self.live_buffers.append(p.detach())
                    self.avg_buffers.append(a)
            self.live_buffers += list(live.buffers())
            self.avg_buffers += list(avg.buffers())

    @classmethod
    def of(cls, model: GenerativeModel) -> EMAUpdate | None:
        return cls(model) if model.has_ema else None

    @torch.no_grad()
    def after_step(self, phase: str, step: int) -> None:
        """Called after the optimizer step of `phase` in training step `step` (0-based)."""
        if phase != self.phase:
            return
        if self.avg and step < self.start:
            torch._foreach_copy_(self.avg, self.live)
        elif self.avg:
            torch._foreach_lerp_(self.avg, self.live, 1.0 - self.decay)
        if self.avg_buffers:
            torch._foreach_copy_(self.avg_buffers, self.live_buffers)


class _Evaluation(Protocol):
    def final(self, model: GenerativeModel) -> tuple[dict[str, float], dict[str, Any]]: ...


def add_ema_scores(
    evaluation: _Evaluation, model: GenerativeModel, metrics: dict[str, float], protocol: dict[str, Any]
) -> None:
    """Evaluate again under the EMA weights; add `<name>_ema` scores and fingerprints in place.

    Curve summaries (`curve_*`, scored during training on the raw weights) and timings are not
    repeated. A model without EMA is left as it is."""
    if not model.has_ema:
        return
    with model.ema_weights():
        ema_metrics, ema_protocol = evaluation.final(model)
    fingerprints = ema_protocol.get("fingerprints", {})
    for name, value in ema_metrics.items():
        if name.startswith("curve_") or name.endswith("_seconds"):
            continue
        metrics[name + EMA_SUFFIX] = value
        if name in fingerprints:
            protocol.setdefault("fingerprints", {})[name + EMA_SUFFIX] = (
                fingerprints[name] + FINGERPRINT_SUFFIX
            )
    protocol["ema"] = {
        "decay": model.cfg.ema,
        "start": model.cfg.ema_start,
        "nets": list(model.sampling_nets),
    }
