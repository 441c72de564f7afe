"""Which ATen ops a family's training steps dispatch, watched over two steps of `fit` on the CPU. The
no-host-sync test and the CUDA-graph eligibility test (tests/train/test_fast_paths.py) each name the ops they
forbid; what may use them is left outside the watch (the log flush, the optimizers' own step, and any
other method named)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pytest
import torch
from accelerate import Accelerator
from torch.optim.optimizer import register_optimizer_step_post_hook, register_optimizer_step_pre_hook
from torch.utils._python_dispatch import TorchDispatchMode

from bench.datasets.batches import BatchStream
from bench.models import MODELS
from bench.train.loop import fit
from bench.train.steplog import StepLog
from tests.helpers.recipe_cells import CELLS, LATENT, _info, _split


class OpWatch(TorchDispatchMode):
    """Records each op of `ops` dispatched while no exempt call is running."""

    def __init__(self, ops: Iterable[Any]) -> None:
        super().__init__()
        self.ops, self.exempt, self.seen = set(ops), 0, []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # type: ignore[no-untyped-def]
        if not self.exempt and func.overloadpacket in self.ops:
            self.seen.append(str(func))
        return func(*args, **(kwargs or {}))

    def exempting(self, fn: Callable) -> Callable:
        def wrapped(*a, **k):  # type: ignore[no-untyped-def]
            self.exempt += 1
            try:
                return fn(*a, **k)
            finally:
                self.exempt -= 1

        return wrapped


def ops_in_training_steps(
    name: str,
    ops: Iterable[Any],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    extra: dict | None = None,
    exempt: Iterable[tuple[type, str]] = (),
) -> list[str]:
    """The ops of `ops` that two training steps of family `name` (its cell in recipe_cells, EMA on, with
    `extra` config) dispatch outside StepLog.flush, the optimizers' step and the (class, method)s named."""
    pairing, args = CELLS[name]
    family = MODELS.get(name)
    torch.manual_seed(0)
    cfg = family.Config(**args, **(extra or {}), ema=0.9)
    model = family(cfg, _info(pairing), LATENT if family.uses_latent else None)
    stream = BatchStream(_split(24, pairing, 0), 8, torch.device("cpu"), seed=0, paired=pairing == "paired")
    mode = OpWatch(ops)
    for cls, method in [(StepLog, "flush"), *exempt]:
        monkeypatch.setattr(cls, method, mode.exempting(getattr(cls, method)))
    pre = register_optimizer_step_pre_hook(lambda *a: setattr(mode, "exempt", mode.exempt + 1))
    post = register_optimizer_step_post_hook(lambda *a: setattr(mode, "exempt", mode.exempt - 1))
    try:
        model.begin(2)
        opts = model.optimizers()
        with mode:
            fit(model, opts, stream, Accelerator(cpu=True), StepLog(tmp_path / "m.jsonl"), 0, 2, log_every=2)
    finally:
        pre.remove()
        post.remove()
    return mode.seen
