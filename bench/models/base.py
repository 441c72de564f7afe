"""The contract every model family implements, and the registry that finds them by name.

The runner owns everything generic: devices, mixed precision, backward, optimizer steps, logging,
checkpoints. A family owns what makes it itself: its nets, its optimizers, the phases of one training
step (a GAN's critic steps, for example) and the loss of each phase, and how to sample.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import ClassVar

import torch
from torch import nn

from bench.config import StrictModel
from bench.datasets.base import DatasetInfo
from bench.datasets.batches import Batch
from bench.errors import BenchError
from bench.registry import Registry


class GenerativeModel(ABC):
    """One family of generative model.

    nets:       every trainable network by name; the runner prepares (device, DDP) and checkpoints them
                and puts the prepared ones back, so always call them through `self.nets[...]`.
    optimizers: one optimizer per phase name, built once from the nets' parameters.
    phases:     the phases of training step `step`, in order; each phase gets a fresh batch, one
                backward of its "loss" and one step of its optimizer.
    training_step: the losses of one phase; "loss" is minimised, other entries are logged.
    sample:     n images as float NCHW in [-1, 1].
    """

    Config: ClassVar[type[StrictModel]]
    family: ClassVar[str]  # "vae", "gan", ...
    paper: ClassVar[str]
    uses_latent: ClassVar[bool] = True
    default_latent_size: ClassVar[int] = 64

    def __init__(self, cfg: StrictModel, info: DatasetInfo, latent_size: int | None) -> None:
        self.cfg, self.info, self.latent_size = cfg, info, latent_size
        self.nets: dict[str, nn.Module] = {}

    @classmethod
    def check(cls, cfg: StrictModel, info: DatasetInfo, latent_size: int | None, where: str) -> None:
        """Refuse, at validation time, a dataset or latent size this family cannot train on."""
        return None

    @abstractmethod
    def optimizers(self) -> dict[str, torch.optim.Optimizer]: ...

    def phases(self, step: int) -> Sequence[str]:
        return ("main",)

    @abstractmethod
    def training_step(self, batch: Batch, phase: str) -> dict[str, torch.Tensor]: ...

    @abstractmethod
    def sample(self, n: int, generator: torch.Generator) -> torch.Tensor: ...

    @property
    def device(self) -> torch.device:
        return next(next(iter(self.nets.values())).parameters()).device

    def num_parameters(self) -> int:
        return sum(p.numel() for net in self.nets.values() for p in net.parameters())

    def train(self, mode: bool = True) -> None:
        for net in self.nets.values():
            net.train(mode)


MODELS: Registry[type[GenerativeModel]] = Registry("model")


def image_shape(info: DatasetInfo) -> tuple[int, int, int]:
    return (info.channels, info.resolution, info.resolution)


def require_resolution(info: DatasetInfo, allowed: Sequence[int], where: str) -> None:
    if info.resolution not in allowed:
        raise BenchError(
            f"{where}: resolution {info.resolution} is not supported; allowed: {', '.join(map(str, allowed))}"
        )
