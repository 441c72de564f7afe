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

from tests.helpers.recipe_cells import CELLS
from tests.helpers.step_watch import ops_in_training_steps

aten = torch.ops.aten
SYNCING = {
    aten._local_scalar_dense,
    aten.nonzero,
    aten.masked_select,
    aten.bincount,
    aten._unique2,
    aten.unique_dim,
}


@pytest.mark.parametrize("name", sorted(CELLS))
def test_training_steps_never_read_device_values_back(tmp_path: Path, name: str, monkeypatch) -> None:
    seen = ops_in_training_steps(name, SYNCING, tmp_path, monkeypatch)
    assert not seen, f"{name}: host syncs in training steps: {sorted(set(seen))}"
