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
from bench.datasets.base import DatasetInfo, ImageSplit
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

    Optional hooks, each a no-op by default, so the runner never asks which family it holds:
    begin(total_steps)   before training; families whose phases change over the budget (an encoder
                         trained after its GAN) read `self.total_steps`.
    finalize(train, g)   after the last step, before sampling: fits that are not gradient steps (a
                         Gaussian-mixture prior over VQ codes). State it keeps must live in `self.nets`
                         (buffers count) so checkpoints carry it.
    sample_given(y, g)   class-conditioned samples, for `conditional` families.
    test_metrics(test, batch_size, g)  the family's own metrics on the test split (reconstruction,
                         codebook use, cycle error ...), as name -> float.
    Latent-space hooks, for the analyses (traversal, interpolation, attribute arithmetic); a family
    that has the notion implements them, the others raise NotImplementedError:
    prior(n, g) -> z     draws from the latent prior, (n, latent_size).
    decode(z, y=None)    latent codes -> images in [-1, 1] (y: labels for conditional families).
    encode(x, y=None)    images in [-1, 1] -> latent codes (a VAE's posterior mean; a GAN's encoder).
    translate(x, direction)  image-to-image families: "AB" or "BA".
    """

    Config: ClassVar[type[StrictModel]]
    family: ClassVar[str]  # "vae", "gan", ...
    paper: ClassVar[str]
    uses_latent: ClassVar[bool] = True
    default_latent_size: ClassVar[int] = 64
    conditional: ClassVar[bool] = False  # sample_given(labels, generator) exists
    needs_labels: ClassVar[bool] = False  # validation refuses unlabeled datasets
    needs_pairing: ClassVar[str] = "none"  # "paired" / "unpaired": the dataset must provide targets
    # The keys of optimizers(), declared so validation can tell single-optimizer families (which
    # DeepSpeed ZeRO can train) from adversarial ones; None = undeclared, treated as not single.
    optimizer_phases: ClassVar[tuple[str, ...] | None] = None

    def __init__(self, cfg: StrictModel, info: DatasetInfo, latent_size: int | None) -> None:
        self.cfg, self.info, self.latent_size = cfg, info, latent_size
        self.nets: dict[str, nn.Module] = {}
        self.total_steps = 0

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

    def begin(self, total_steps: int) -> None:
        self.total_steps = total_steps

    def finalize(self, train: ImageSplit, generator: torch.Generator) -> None:
        return None

    def sample_given(self, labels: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        raise NotImplementedError(f"{type(self).__name__} is not class-conditional")

    @torch.no_grad()
    def test_metrics(self, test: ImageSplit, batch_size: int, generator: torch.Generator) -> dict[str, float]:
        return {}

    def prior(self, n: int, generator: torch.Generator) -> torch.Tensor:
        raise NotImplementedError(f"{type(self).__name__} has no latent prior")

    def decode(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        raise NotImplementedError(f"{type(self).__name__} cannot decode latent codes")

    def encode(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        raise NotImplementedError(f"{type(self).__name__} has no encoder")

    def translate(self, x: torch.Tensor, direction: str) -> torch.Tensor:
        raise NotImplementedError(f"{type(self).__name__} does not translate images")

    @property
    def device(self) -> torch.device:
        return next(next(iter(self.nets.values())).parameters()).device

    def num_parameters(self) -> int:
        return sum(p.numel() for net in self.nets.values() for p in net.parameters())

    def train(self, mode: bool = True) -> None:
        for net in self.nets.values():
            net.train(mode)


MODELS: Registry[type[GenerativeModel]] = Registry("model")


def unwrap(net: nn.Module) -> nn.Module:
    """The plain module behind DDP or torch.compile wrappers: its state dict loads anywhere, and its
    buffers and submodules are reachable by name."""
    while True:
        inner = getattr(net, "module", None) or getattr(net, "_orig_mod", None)
        if inner is None:
            return net
        net = inner


def image_shape(info: DatasetInfo) -> tuple[int, int, int]:
    return (info.channels, info.resolution, info.resolution)


def require_resolution(info: DatasetInfo, allowed: Sequence[int], where: str) -> None:
    if info.resolution not in allowed:
        raise BenchError(
            f"{where}: resolution {info.resolution} is not supported; allowed: {', '.join(map(str, allowed))}"
        )
