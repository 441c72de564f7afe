"""Checkpoints that hold everything needed to continue a cell exactly where it stopped.

Nets, optimizers, the step, the data stream's position and the RNG state of every library, stored
with plain tensors and Python scalars only, so they load with `torch.load(weights_only=True)`.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from bench.results.store import atomic_write


def rng_state() -> dict[str, Any]:
    np_state = np.random.get_state()
    state = {
        "python": random.getstate(),
        "numpy": {
            "keys": torch.from_numpy(np_state[1].astype(np.int64)),
            "pos": int(np_state[2]),
            "has_gauss": int(np_state[3]),
            "cached_gaussian": float(np_state[4]),
        },
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    random.setstate(_as_tuple(state["python"]))
    n = state["numpy"]
    np.random.set_state(
        ("MT19937", n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["cached_gaussian"])
    )
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _as_tuple(x: Any) -> Any:
    return tuple(_as_tuple(v) for v in x) if isinstance(x, list | tuple) else x


def save_checkpoint(
    path: Path,
    nets: dict[str, nn.Module],
    optimizers: dict[str, torch.optim.Optimizer],
    step: int,
    stream_state: dict[str, int],
) -> None:
    state = {
        "step": step,
        "nets": {k: _unwrap(net).state_dict() for k, net in nets.items()},
        "optimizers": {k: opt.state_dict() for k, opt in optimizers.items()},
        "stream": stream_state,
        "rng": rng_state(),
    }
    atomic_write(path, lambda f: torch.save(state, f), binary=True)


def load_checkpoint(path: Path) -> dict[str, Any]:
    return torch.load(path, map_location="cpu", weights_only=True)


def restore(
    state: dict[str, Any], nets: dict[str, nn.Module], optimizers: dict[str, torch.optim.Optimizer]
) -> None:
    for k, net in nets.items():
        _unwrap(net).load_state_dict(state["nets"][k])
    for k, opt in optimizers.items():
        opt.load_state_dict(state["optimizers"][k])
    set_rng_state(state["rng"])


def _unwrap(net: nn.Module) -> nn.Module:
    """The plain module behind DDP or torch.compile wrappers, so checkpoints load anywhere."""
    while True:
        inner = getattr(net, "module", None) or getattr(net, "_orig_mod", None)
        if inner is None:
            return net
        net = inner
