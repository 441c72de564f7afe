"""Several processes training one cell: batch sizes, the learning-rate rule, and DeepSpeed ZeRO.

Batch semantics are explicit (`train.batch_size_per`): with "global" (the default) `batch_size` is the
number of images one optimizer step sees over all processes, so a cell trains the same whether it runs
in 1 process or 4, and learning rates stay as configured. With "device" every process takes
`batch_size` images, the global batch grows with the processes, and `train.lr_scaling` says how the
learning rates follow: none, linear (Goyal et al. 2017) or sqrt, each times global batch / batch_size.
Both numbers and the factor are recorded in result.json.

DDP goes through Accelerate. DeepSpeed ZeRO 1/2 is driven directly (Accelerate's DeepSpeed path
requires `transformers`): one engine around all of a family's nets and its single optimizer, so only
families with one optimizer phase qualify; adversarial families (a G phase backpropagates through D,
whose gradients a ZeRO-2 engine would reduce and shard under another optimizer) are refused at
validation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from bench.config import TrainConfig
from bench.errors import BenchError
from bench.train.step import Backward


@dataclass(frozen=True)
class BatchPlan:
    per_device: int
    global_batch: int
    lr_scale: float

    def record(self, train: TrainConfig) -> dict[str, Any]:
        """What result.json keeps about how the cell was split over processes."""
        return {
            "batch_size_per": train.batch_size_per,
            "batch_size_per_device": self.per_device,
            "batch_size_global": self.global_batch,
            "lr_scaling": train.lr_scaling,
            "lr_scale": self.lr_scale,
            "distributed": train.distributed if train.processes > 1 else "none",
            "zero_stage": train.zero_stage if train.distributed == "deepspeed" else None,
        }


def batch_plan(train: TrainConfig) -> BatchPlan:
    n = train.processes
    if train.batch_size_per == "global":
        per_device, global_batch = train.batch_size // n, train.batch_size
    else:
        per_device, global_batch = train.batch_size, train.batch_size * n
    ratio = global_batch / train.batch_size
    scale = {"none": 1.0, "linear": ratio, "sqrt": math.sqrt(ratio)}[train.lr_scaling]
    return BatchPlan(per_device, global_batch, scale)


def scale_learning_rates(optimizers: dict[str, torch.optim.Optimizer], factor: float) -> None:
    if factor != 1.0:
        for opt in optimizers.values():
            for group in opt.param_groups:
                group["lr"] = group["lr"] * factor


def prepare_net(accelerator: Any, net: nn.Module) -> nn.Module:
    """Device placement and (with several processes) DDP through accelerate, without the autocast that
    accelerate also wraps around the forward under mixed precision.

    That wrapper is a second autocast inside the loop's own (bench/train/step.py) plus a cast of every
    output to float32: two context switches and extra kernels per call, on every process. Evaluation
    sets its own precision (eval.precision); with the wrapper gone that is the precision samples are
    drawn in. The plain forward is the class's, which accelerate kept as `_original_forward`."""
    prepared = accelerator.prepare_model(net)
    inner = prepared.module if isinstance(prepared, nn.parallel.DistributedDataParallel) else prepared
    if inner.__dict__.pop("_original_forward", None) is not None:
        inner.__dict__.pop("forward", None)
    return prepared


def check_distributed(family: Any, train: TrainConfig, where: str) -> None:
    """Refuse, before anything runs, a distributed setting the family cannot train under."""
    if train.distributed != "deepspeed":
        return
    if train.compile != "none" and train.processes > 1:
        raise BenchError(
            f"{where}: train.compile: {train.compile} is not supported with distributed: 'deepspeed' "
            "(the engine owns the nets); use distributed: ddp or compile: none"
        )
    phases = getattr(family, "optimizer_phases", None)
    if phases is None:
        detail = f"{family.__name__} does not declare its optimizer phases"
    elif len(phases) > 1:
        detail = f"{family.__name__} is adversarial, with {len(phases)} optimizers ({', '.join(phases)})"
    else:
        return
    raise BenchError(
        f"{where}: train.distributed: 'deepspeed' needs a family with one optimizer; {detail}; "
        "use distributed: ddp"
    )


class EnginePhase:
    """One DeepSpeed engine behind the optimizer interface the loop and checkpoints use.

    `state_dict` is this rank's ZeRO partition of the optimizer state (plain tensors, so it loads with
    weights_only=True); the fp32 master weights are rebuilt from the nets, which are restored before
    the engine is built.
    """

    sharded = True

    def __init__(self, engine: Any) -> None:
        self.engine = engine

    @property
    def param_groups(self) -> list[dict[str, Any]]:
        return self.engine.optimizer.optimizer.param_groups

    def zero_grad(self, set_to_none: bool = True) -> None:
        self.engine.zero_grad()

    def backward(self, loss: torch.Tensor) -> None:
        self.engine.backward(loss)

    def step(self) -> None:
        self.engine.step()

    def state_dict(self) -> dict[str, Any]:
        return self.engine.optimizer.optimizer.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.engine.optimizer.optimizer.load_state_dict(state)


def prepare_deepspeed(
    nets: dict[str, nn.Module],
    optimizers: dict[str, torch.optim.Optimizer],
    train: TrainConfig,
    plan: BatchPlan,
    bf16: bool,
) -> tuple[dict[str, EnginePhase], Backward]:
    """Wrap all nets and the one optimizer in a ZeRO engine; the nets stay callable as they are."""
    import deepspeed  # heavy, and only needed here

    if len(optimizers) != 1:
        raise BenchError(
            f"train.distributed: 'deepspeed' needs one optimizer; this family has {', '.join(optimizers)}"
        )
    ((phase, optimizer),) = optimizers.items()
    config = {
        "train_micro_batch_size_per_gpu": plan.per_device,
        "gradient_accumulation_steps": 1,
        "zero_optimization": {"stage": train.zero_stage},
        "steps_per_print": 2**31 - 1,  # DeepSpeed's own progress lines would flood cell.log
        "wall_clock_breakdown": False,
    }
    if bf16:
        config["bf16"] = {"enabled": True}
    engine, _, _, _ = deepspeed.initialize(model=nn.ModuleDict(nets), optimizer=optimizer, config=config)
    phases = {phase: EnginePhase(engine)}
    return phases, lambda p, loss: phases[p].backward(loss)
