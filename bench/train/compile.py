"""`train.compile`: the trained nets through `torch.compile` (TorchInductor), in one of its modes.

Each net is compiled as the loop calls it (behind its DDP wrapper, if any, so DDP's bucketed
all-reduce still overlaps the backward), so families need nothing: they call `self.nets[...]` as
always. EMA copies are not compiled (the loop never calls them; evaluation samples with plain nets).
The first steps pay the compilation (tens of seconds cold on a CPU, cached afterwards in inductor's
on-disk cache); "max-autotune" also benchmarks kernel choices (and uses CUDA graphs on a GPU) and
compiles for longer.

Compiled kernels may sum in another order than eager ones: on the CPU the logged losses of 8 steps
were bitwise equal (MLP VAE) or within 2e-7 relative (DCGAN) (tests/train/test_fast_paths.py bounds 1e-5),
and the setting is part of the cell's id.
"""

from __future__ import annotations

import torch
from torch import nn

from bench.models.base import EMA_SUFFIX, GenerativeModel


def compile_nets(model: GenerativeModel, mode: str) -> dict[str, nn.Module]:
    """The model's nets with each trained one compiled (mode "none": the nets unchanged)."""
    if mode == "none":
        return dict(model.nets)
    averaged = {name + EMA_SUFFIX for name in model.sampling_nets}
    return {
        name: net if name in averaged else torch.compile(net, mode=mode) for name, net in model.nets.items()
    }
