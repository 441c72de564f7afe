"""The contract every model family implements, and the registry that finds them by name.

The runner owns everything generic: devices, mixed precision, backward, optimizer steps, logging,
checkpoints. A family owns what makes it itself: its nets, its optimizers, the phases of one training
step (a GAN's critic steps, for example) and the loss of each phase, and how to sample.
"""

from __future__ import annotations

import copy
from abc import ABCMeta, abstractmethod
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from pydantic import Field
from torch import nn

from bench.config import StrictModel
from bench.datasets.base import DatasetInfo, ImageSplit
from bench.datasets.batches import Batch
from bench.errors import BenchError
from bench.registry import Registry

EMA_SUFFIX = "_ema"  # the EMA copy of net "G" is the net "G_ema" (so checkpoints carry it)


class ModelConfig(StrictModel):
    """The options every family has; each family's Config inherits them."""

    ema: float | None = Field(
        None,
        gt=0,
        lt=1,
        description="decay of an exponential moving average of the sampling nets (e.g. 0.999); "
        "None = no EMA. Evaluated as its own scores, `<metric>_ema`",
    )
    ema_start: int = Field(
        0, ge=0, description="step from which the EMA averages; before it the EMA copies the weights"
    )


@dataclass(frozen=True)
class SampleGrid:
    """What samples.png and TensorBoard's `samples` image show: `images` (float NCHW in [-1, 1]) in rows
    of `nrow`, top to bottom; with `row_labels` (one per row) each row is labelled, so an image-to-image
    family can show input / output / target rows instead of outputs alone."""

    images: torch.Tensor
    nrow: int = 8
    row_labels: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        rows = -(-len(self.images) // self.nrow)
        if self.row_labels and len(self.row_labels) != rows:
            raise ValueError(f"{len(self.row_labels)} row labels for {rows} rows of {self.nrow} images")


@dataclass(frozen=True)
class AdamKernel:
    """How the update of every training optimizer runs. The runner picks it for the device and the step
    (`for_device`); families only say what to optimise, through `GenerativeModel.adam`, so this is the
    one place optimizers are configured.

    fused: one kernel for all parameters (CUDA); otherwise foreach (a few multi-tensor kernels instead
    of a loop over parameters). capturable: step counters and the update stay on the device, so a CUDA
    graph can hold the whole step (bench/train/cuda_graphs.py)."""

    fused: bool = False
    capturable: bool = False

    @classmethod
    def for_device(cls, device: torch.device, capturable: bool = False) -> AdamKernel:
        return cls(fused=device.type == "cuda", capturable=capturable)

    def options(self) -> dict[str, bool]:
        flavour = {"fused": True} if self.fused else {"foreach": True}
        return {**flavour, "capturable": self.capturable} if self.capturable else flavour

    def record(self) -> dict[str, Any]:
        """What result.json keeps about it (the training record)."""
        return {"optimizer_kernel": "fused" if self.fused else "foreach", "capturable": self.capturable}


class _ModelMeta(ABCMeta):
    """Runs `_after_init` once a family's own __init__ has built every net (the EMA copies need them)."""

    def __call__(cls, *args, **kwargs):  # type: ignore[no-untyped-def]
        obj = super().__call__(*args, **kwargs)
        obj._after_init()
        return obj


class GenerativeModel(metaclass=_ModelMeta):
    """One family of generative model.

    nets:       every trainable network by name; the runner prepares (device, DDP) and checkpoints them
                and puts the prepared ones back, so always call them through `self.nets[...]`.
    optimizers: one optimizer per phase name, built once from the nets' parameters, each through
                `self.adam(...)` (the runner's kernel: fused on CUDA, capturable for CUDA graphs).
    capture_blocker(cfg)  why the step cannot be captured as a CUDA graph (None: it can).
    phases:     the phases of training step `step`, in order; each phase gets a fresh batch (unless
                `phase_uses_batch(phase)` is False: then `training_step` gets None), one backward of
                its "loss" and one step of its optimizer.
    training_step: the losses of one phase; "loss" is minimised, other entries are logged.
    sampling_nets / sampling_phase: the nets `sample` draws with and the phase whose optimizer steps
                them; with `ema` set in the config each gets an EMA copy "<name>_ema", updated after
                every step of that phase (bench/train/ema.py), and `ema_weights()` samples with it.
    sample:     n images as float NCHW in [-1, 1].

    Optional hooks, each a no-op by default, so the runner never asks which family it holds:
    begin(total_steps)   before training; families whose phases change over the budget (an encoder
                         trained after its GAN) read `self.total_steps`.
    finalize(train, g)   after the last step, before sampling: fits that are not gradient steps (a
                         Gaussian-mixture prior over VQ codes). State it keeps must live in `self.nets`
                         (buffers count) so checkpoints carry it.
    sample_given(y, g)   class-conditioned samples, for `conditional` families.
    sample_grid(g, test) what samples.png shows: 64 samples by default; image-to-image families show
                         test inputs, their translations and the targets, in labelled rows.
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
    sampling_nets: ClassVar[tuple[str, ...]] = ()
    sampling_phase: ClassVar[str] = "main"

    def __init__(self, cfg: StrictModel, info: DatasetInfo, latent_size: int | None) -> None:
        self.cfg, self.info, self.latent_size = cfg, info, latent_size
        self.nets: dict[str, nn.Module] = {}
        self.total_steps = 0
        self.adam_kernel = AdamKernel()  # set by the runner before it calls optimizers()

    @classmethod
    def check(cls, cfg: StrictModel, info: DatasetInfo, latent_size: int | None, where: str) -> None:
        """Refuse, at validation time, a dataset or latent size this family cannot train on."""
        return None

    @classmethod
    def capture_blocker(cls, cfg: StrictModel) -> str | None:
        """Why one training step of this family (with `cfg`) cannot be captured as one CUDA graph, in a
        few words; None when it can. A captured step replays the same kernels every step: the phases
        must not change over training and nothing may branch on values."""
        return None

    def adam(
        self, params: Iterable[nn.Parameter], lr: float, betas: tuple[float, float] = (0.9, 0.999)
    ) -> torch.optim.Adam:
        """Every family builds its Adam here, with the kernel the runner chose (`self.adam_kernel`)."""
        return torch.optim.Adam(params, lr=lr, betas=betas, **self.adam_kernel.options())

    def _after_init(self) -> None:
        """Adds the EMA copies of the sampling nets (frozen; the EMA update writes them)."""
        if getattr(self.cfg, "ema", None) is None:
            return
        if not self.sampling_nets:
            raise BenchError(f"{type(self).__name__} declares no sampling nets; it cannot keep an EMA")
        for name in self.sampling_nets:
            avg = copy.deepcopy(self.nets[name]).requires_grad_(False)
            self.nets[name + EMA_SUFFIX] = avg

    @property
    def has_ema(self) -> bool:
        return bool(self.sampling_nets) and self.sampling_nets[0] + EMA_SUFFIX in self.nets

    @contextmanager
    def ema_weights(self) -> Iterator[None]:
        """Within the block the sampling nets are their EMA copies (buffers, such as BatchNorm statistics
        or a translator's sample pool, and parameters no optimizer trains are taken from the trained
        nets); the trained nets come back after."""
        if not self.has_ema:
            raise BenchError(f"{type(self).__name__} keeps no EMA (set `ema` in its config)")
        live = {name: self.nets[name] for name in self.sampling_nets}
        with torch.no_grad():
            for name, net in live.items():
                avg = unwrap(self.nets[name + EMA_SUFFIX])
                for avg_b, b in zip(avg.buffers(), unwrap(net).buffers(), strict=True):
                    avg_b.copy_(b)
                for avg_p, p in zip(avg.parameters(), unwrap(net).parameters(), strict=True):
                    if not p.requires_grad:  # fitted after training, not averaged (a VQ-VAE prior)
                        avg_p.copy_(p)
        try:
            for name in self.sampling_nets:
                self.nets[name] = self.nets[name + EMA_SUFFIX]
            yield
        finally:
            self.nets.update(live)

    @abstractmethod
    def optimizers(self) -> dict[str, torch.optim.Optimizer]: ...

    def phases(self, step: int) -> Sequence[str]:
        return ("main",)

    def phase_uses_batch(self, phase: str) -> bool:
        """False: the loop draws no batch for this phase and `training_step` gets None."""
        return True

    @abstractmethod
    def training_step(self, batch: Batch | None, phase: str) -> dict[str, torch.Tensor]: ...

    @abstractmethod
    def sample(self, n: int, generator: torch.Generator) -> torch.Tensor: ...

    def begin(self, total_steps: int) -> None:
        self.total_steps = total_steps

    def finalize(self, train: ImageSplit, generator: torch.Generator) -> None:
        return None

    def sample_given(self, labels: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        raise NotImplementedError(f"{type(self).__name__} is not class-conditional")

    @torch.no_grad()
    def sample_grid(self, generator: torch.Generator, test: ImageSplit) -> SampleGrid:
        return SampleGrid(self.sample(64, generator))

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
        """Trained parameters; EMA copies are not counted."""
        ema = {name + EMA_SUFFIX for name in self.sampling_nets}
        return sum(p.numel() for k, net in self.nets.items() if k not in ema for p in net.parameters())

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
