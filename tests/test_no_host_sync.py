"""No training step of any family forces a device -> host sync: `fit` runs a few steps of every family
under a dispatch mode that fails on the ops that read device values back to the host (.item() and
bool(tensor) are `_local_scalar_dense`; nonzero, masked_select and unique size their output from the
data; bincount reads max(input) to size its output). Outside the check: the step log's flush (the
one planned sync every `log_every` steps) and the optimizers' own step (Adam's step counters are CPU
scalars even on a GPU, so reading them is no device sync)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from accelerate import Accelerator
from recipe_cells import CELLS, LATENT, _info, _split  # tests/ is on sys.path (pytest rootdir insertion)
from torch.optim.optimizer import register_optimizer_step_post_hook, register_optimizer_step_pre_hook
from torch.utils._python_dispatch import TorchDispatchMode

from bench.datasets.batches import BatchStream
from bench.models import MODELS
from bench.train.loop import fit
from bench.train.steplog import StepLog

aten = torch.ops.aten
SYNCING = {
    aten._local_scalar_dense,
    aten.nonzero,
    aten.masked_select,
    aten.bincount,
    aten._unique2,
    aten.unique_dim,
}


class NoHostSync(TorchDispatchMode):
    def __init__(self) -> None:
        super().__init__()
        self.exempt = 0
        self.seen: list[str] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # type: ignore[no-untyped-def]
        if not self.exempt and func.overloadpacket in SYNCING:
            self.seen.append(str(func))
        return func(*args, **(kwargs or {}))


@pytest.mark.parametrize("name", sorted(CELLS))
def test_training_steps_never_read_device_values_back(tmp_path: Path, name: str, monkeypatch) -> None:
    pairing, args = CELLS[name]
    family = MODELS.get(name)
    torch.manual_seed(0)
    model = family(family.Config(**args, ema=0.9), _info(pairing), LATENT if family.uses_latent else None)
    stream = BatchStream(_split(24, pairing, 0), 8, torch.device("cpu"), seed=0, paired=pairing == "paired")
    mode = NoHostSync()

    def exempt(fn):
        def wrapped(*a, **k):
            mode.exempt += 1
            try:
                return fn(*a, **k)
            finally:
                mode.exempt -= 1

        return wrapped

    monkeypatch.setattr(StepLog, "flush", exempt(StepLog.flush))
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
    assert not mode.seen, f"{name}: host syncs in training steps: {sorted(set(mode.seen))}"
