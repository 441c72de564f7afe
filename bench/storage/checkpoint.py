"""Checkpoints that hold everything needed to continue a cell exactly where it stopped.

Nets, optimizers, the step, the data stream's position and the RNG state of every library, stored
with plain tensors and Python scalars only, so they load with `torch.load(weights_only=True)`. The EMA
copies of a family's sampling nets are nets of their own ("G_ema", see bench/train/ema.py), so they
are saved and restored with the others and a resumed run continues the average bitwise.

A cell trained by several processes also writes one shard per process beside the checkpoint: that
process's RNG states (each draws its own noise) and its part of sharded optimizer state (DeepSpeed
ZeRO). Shards carry the step in their name and are written before the main file, so a kill between
two writes never pairs a main checkpoint with shards of another step.
"""

from __future__ import annotations

import errno
import os
import random
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from bench.fs import atomic_write
from bench.models.base import unwrap


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
    extra: dict[str, Any] | None = None,
) -> None:
    """`extra`: more plain state to carry (processes, a metric curve kept in memory ...)."""
    state = {
        "step": step,
        "nets": {k: unwrap(net).state_dict() for k, net in nets.items()},
        "optimizers": {k: opt.state_dict() for k, opt in optimizers.items()},
        "stream": stream_state,
        "rng": rng_state(),
        "extra": extra or {},
    }
    atomic_write(path, lambda f: _save(state, f, path), binary=True)


def _save(state: dict[str, Any], f: Any, path: Path) -> None:
    """torch.save, whose failed write on a full disk reads "[enforce fail at inline_container.cc]":
    that is said as the OSError it is (ENOSPC, naming the file), in result.json and on the terminal."""
    try:
        torch.save(state, f)
    except RuntimeError as err:
        if "inline_container" not in str(err):
            raise
        full = shutil.disk_usage(path.parent).free < (64 << 20)
        code = errno.ENOSPC if full else errno.EIO
        raise OSError(code, f"{os.strerror(code)} while writing the checkpoint", str(path)) from None


def shard_path(path: Path, rank: int, step: int) -> Path:
    return path.with_name(f"{path.stem}.rank{rank}.step{step}{path.suffix}")


def save_shard(path: Path, rank: int, step: int, optimizers: dict[str, Any]) -> None:
    """This process's RNG states and sharded optimizer states (already state_dicts)."""
    state = {"step": step, "rng": rng_state(), "optimizers": optimizers}
    target = shard_path(path, rank, step)
    atomic_write(target, lambda f: _save(state, f, target), binary=True)


def load_shard(path: Path, rank: int, step: int) -> dict[str, Any] | None:
    p = shard_path(path, rank, step)
    return torch.load(p, map_location="cpu", weights_only=True) if p.exists() else None


def prune_shards(path: Path, keep_step: int) -> None:
    """Remove shards of other steps; called after the main checkpoint of `keep_step` is in place."""
    for p in path.parent.glob(f"{path.stem}.rank*.step*{path.suffix}"):
        if not p.name.endswith(f".step{keep_step}{path.suffix}"):
            p.unlink(missing_ok=True)


def load_checkpoint(path: Path) -> dict[str, Any]:
    return torch.load(path, map_location="cpu", weights_only=True)


def restore(
    state: dict[str, Any], nets: dict[str, nn.Module], optimizers: dict[str, torch.optim.Optimizer]
) -> None:
    restore_nets(state, nets)
    for k, opt in optimizers.items():
        opt.load_state_dict(state["optimizers"][k])
    set_rng_state(state["rng"])


def restore_nets(state: dict[str, Any], nets: dict[str, nn.Module]) -> None:
    for k, net in nets.items():
        unwrap(net).load_state_dict(state["nets"][k])
