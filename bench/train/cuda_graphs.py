"""`train.cuda_graphs`: the whole training step captured once as a CUDA graph and replayed every step.

An eager step of a small model is hundreds of kernel launches, each a few microseconds of Python and
driver time, so the GPU waits on the host; a replayed graph launches them all at once. What capture
needs, and how it is met:

- static inputs: each phase that uses a batch has a fixed buffer; before each replay the step's real
  batch (drawn as the eager loop draws it, so the data order is the same) is copied into it;
- a capturable optimizer: `AdamKernel(capturable=True)` keeps Adam's step counters on the device;
- warm-up on a side stream: `WARMUP_STEPS` real (eager) steps run there first, so cuDNN autotuning,
  lazy optimizer state and the allocator settle outside the graph (the recipe of the PyTorch docs,
  "whole network capture");
- autocast without its weight cache (`cache_enabled=False`), which capture does not allow;
- the EMA update runs after each replay, outside the graph: its decay depends on the step number, a
  Python value a graph cannot see. Nothing between the sampling phase and the end of a step changes the
  sampling nets, so the result is the same.

Tested on the CPU: the driver (warm-up, one capture, static batches, outputs, EMA) with a host stand-in
for the device whose replay re-runs the recorded step, bitwise against eager; what validation refuses.
On a GPU (skipped without one): graphed against eager losses.

What cannot be captured is refused when the grid is validated (`check_cuda_graphs`): no GPU, several
processes (their gradient all-reduce), torch.compile on top, and families whose step cannot be replayed
(`GenerativeModel.capture_blocker`: a double backward, phases that change during training).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import fields, replace
from typing import Any

import torch

from bench.config import TrainConfig
from bench.datasets.batches import Batch, BatchStream
from bench.errors import BenchError
from bench.models.base import GenerativeModel
from bench.train.ema import EMAUpdate
from bench.train.step import PhaseOutputs, draw_batches, run_phases

WARMUP_STEPS = 3


def capture_refusal(family: type[GenerativeModel], model_cfg: Any, train: TrainConfig) -> str | None:
    """Why cells of `family` with these settings cannot train with cuda_graphs (None: they can)."""
    if train.device == "cpu":
        return "it needs a GPU and train.device is 'cpu'"
    if train.processes > 1:
        return f"with {train.processes} processes the {train.distributed} gradient exchange is not captured"
    if train.compile != "none":
        return f"train.compile: {train.compile} compiles the step itself; use one of the two"
    blocker = family.capture_blocker(model_cfg)
    return f"{family.__name__} cannot be captured: {blocker}" if blocker else None


def check_cuda_graphs(family: type[GenerativeModel], model_cfg: Any, train: TrainConfig, where: str) -> None:
    """Refuse, at validation, `cuda_graphs: true` where the step cannot be captured: one line, why."""
    if not train.cuda_graphs:
        return
    why = capture_refusal(family, model_cfg, train)
    if why is not None:
        raise BenchError(f"{where}: train.cuda_graphs: {why}; set cuda_graphs: false")


def _static_copy(batch: Batch | None) -> Batch | None:
    if batch is None:
        return None
    return replace(batch, **{f.name: _clone(getattr(batch, f.name)) for f in fields(batch)})


def _clone(t: torch.Tensor | None) -> torch.Tensor | None:
    return None if t is None else t.clone()  # keeps the memory format (channels_last)


def _fill(static: Batch | None, batch: Batch | None) -> None:
    if static is None or batch is None:
        return
    for f in fields(batch):
        dst, src = getattr(static, f.name), getattr(batch, f.name)
        if dst is not None:
            dst.copy_(src, non_blocking=True)


class CudaCapture:
    """The device side of `GraphedStep`: warm-up on a side stream, capture, replay. Tests put a host
    stand-in here (tests/train/test_fast_paths.py), so the driver's logic is checked without a GPU."""

    device_type = "cuda"

    def __init__(self) -> None:
        if not torch.cuda.is_available():
            raise BenchError("train.cuda_graphs: no GPU is visible")
        self.side = torch.cuda.Stream()

    def warmup(self, fn: Callable[[], PhaseOutputs]) -> PhaseOutputs:
        self.side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(self.side):
            outs = fn()
        torch.cuda.current_stream().wait_stream(self.side)
        return outs

    def capture(self, fn: Callable[[], PhaseOutputs]) -> tuple[Callable[[], None], PhaseOutputs]:
        """(replay, the outputs each replay overwrites). Capture runs no kernel: it trains nothing."""
        torch.cuda.synchronize()
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            outputs = fn()
        return graph.replay, outputs


class GraphedStep:
    """Call with the step number: trains that step and returns its phase outputs (as the eager step)."""

    def __init__(
        self,
        model: GenerativeModel,
        optimizers: dict[str, torch.optim.Optimizer],
        stream: BatchStream,
        bf16: bool,
        ema: EMAUpdate | None,
        warmup: int = WARMUP_STEPS,
        device: CudaCapture | None = None,
    ) -> None:
        self.device = device or CudaCapture()
        self.model, self.optimizers, self.stream, self.ema = model, optimizers, stream, ema
        self.bf16, self.warmup, self.warmed = bf16, warmup, 0
        self.phases: tuple[str, ...] | None = None
        self.replay: Callable[[], None] | None = None
        self.static: list[Batch | None] = []
        self.outputs: PhaseOutputs = []

    def _autocast(self) -> torch.autocast:
        kind = self.device.device_type
        return torch.autocast(kind, dtype=torch.bfloat16, enabled=self.bf16, cache_enabled=False)

    def _run(self, batches: list[Batch | None], step: int, ema: EMAUpdate | None) -> PhaseOutputs:
        assert self.phases is not None
        backward = lambda phase, loss: loss.backward()  # noqa: E731  (one process: no DDP hooks)
        return run_phases(
            self.model, self.optimizers, self.phases, batches, self._autocast, backward, ema, step
        )

    def __call__(self, step: int) -> PhaseOutputs:
        phases = tuple(self.model.phases(step))
        if self.phases is None:
            self.phases = phases
        elif phases != self.phases:
            raise BenchError(
                f"train.cuda_graphs: the phases changed at step {step} ({', '.join(phases)} after "
                f"{', '.join(self.phases)}); a captured step cannot follow them"
            )
        batches = draw_batches(self.model, phases, self.stream)
        if self.warmed < self.warmup:
            self.warmed += 1
            return self.device.warmup(lambda: self._run(batches, step, self.ema))
        if self.replay is None:
            self.static = [_static_copy(b) for b in batches]
            self.replay, self.outputs = self.device.capture(lambda: self._run(self.static, step, None))
        for static, batch in zip(self.static, batches, strict=True):
            _fill(static, batch)
        self.replay()
        if self.ema is not None:
            for phase in phases:
                self.ema.after_step(phase, step)
        # The graph writes its outputs into the same memory every replay: hand out copies.
        return [(phase, {k: v.detach().clone() for k, v in out.items()}) for phase, out in self.outputs]
