"""Typed, strict configuration of one cell's training and evaluation.

Every key is checked: an unknown key, a wrong type or an out-of-range value is refused with one line
naming the key, the value and what is allowed (see `format_validation_error`).
"""

from __future__ import annotations

import hashlib
import json
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PositiveFloat,
    PositiveInt,
    ValidationError,
    model_validator,
)

from bench.errors import BenchError


class StrictModel(BaseModel):
    """Base for every config: unknown keys and silent type coercions are errors."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class TrainConfig(StrictModel):
    steps: PositiveInt | None = Field(None, description="generator/optimizer steps; exclusive with epochs")
    epochs: PositiveFloat | None = Field(
        None, description="passes over the training split at one batch per step"
    )
    batch_size: PositiveInt = 64
    log_every: PositiveInt = Field(
        50, description="steps between flushes of per-step losses (one host sync each)"
    )
    checkpoint_every: int = Field(0, ge=0, description="steps between checkpoints; 0 = only at the end")
    device: Literal["auto", "cpu", "cuda"] = "auto"
    mixed_precision: Literal["auto", "no", "bf16"] = Field(
        "auto", description="auto = bf16 on GPU, fp32 on CPU"
    )
    threads: PositiveInt | None = Field(None, description="torch intra-op threads; default: all cores")
    # Several processes (devices) may train one cell together; see bench/train/distributed.py.
    processes: PositiveInt = Field(1, description="processes that train this cell together, one per device")
    distributed: Literal["ddp", "deepspeed"] = Field(
        "ddp", description="how processes share a cell: DDP, or DeepSpeed ZeRO (single-optimizer families)"
    )
    zero_stage: Literal[1, 2] = Field(
        1, description="DeepSpeed ZeRO stage: 1 shards optimizer states, 2 also grads"
    )
    batch_size_per: Literal["global", "device"] = Field(
        "global",
        description="global: batch_size is one step's images over all processes; device: per process",
    )
    lr_scaling: Literal["none", "linear", "sqrt"] = Field(
        "none", description="scale learning rates by (global batch / batch_size), or its square root"
    )

    @model_validator(mode="after")
    def _one_budget(self) -> TrainConfig:
        if self.steps is not None and self.epochs is not None:
            raise ValueError("give steps or epochs, not both")
        if self.steps is None and self.epochs is None:
            raise ValueError("a training budget is missing: give steps or epochs")
        if self.batch_size_per == "global" and self.batch_size % self.processes:
            raise ValueError(
                f"batch_size {self.batch_size} (global) must be divisible by processes={self.processes}"
            )
        return self


def _registered_metric(name: str) -> str:
    # The registry is read when a config is validated, not when this module is imported, so the
    # registry's own import of EvalConfig (to check a metric's settings) finds it defined.
    from bench.eval.metric_registry import check_metric_name

    return check_metric_name(name)


# A name registered in bench/eval/metric_registry.py (`bench list metrics`): fd, kid, coverage,
# prc_domain on the domain classifier; fid, kid_inception, isc, prc on torch-fidelity's InceptionV3.
Metric = Annotated[str, AfterValidator(_registered_metric)]


class EvalConfig(StrictModel):
    metrics: list[Metric] = Field(default_factory=lambda: ["fd", "kid", "coverage"])
    extractor: str = Field("auto", description="feature extractor; auto = the dataset's domain classifier")
    n_samples: PositiveInt = Field(1000, description="generated images")
    n_real: PositiveInt | None = Field(None, description="real images; default: the whole split")
    split: str = "test"
    kid_subset_size: PositiveInt = 1000
    kid_subsets: PositiveInt = 100
    batch_size: PositiveInt = Field(250, description="feature extraction batch; does not change the samples")
    sample_block: PositiveInt = Field(
        250, description="samples drawn per seeded generator: sample i comes from block i // sample_block"
    )
    seed: int = 0
    repeats: PositiveInt = Field(
        1, description="independent sample sets (seeds derived from seed); metrics are their mean"
    )
    isc_splits: PositiveInt = 10
    prc_neighborhood: PositiveInt = 3
    precision: Literal["fp32", "bf16"] = Field(
        "fp32", description="sampling and feature extraction; bf16 is recorded in the fingerprint"
    )
    curve_every: int = Field(0, ge=0, description="steps between metrics during training; 0 = none")
    curve_n_samples: PositiveInt = Field(200, description="generated (and at most real) images per point")
    curve_metrics: list[Metric] = Field(default_factory=lambda: ["fd"])


class CellConfig(StrictModel):
    """The resolved configuration of one grid cell; its hash is the cell's identity."""

    model: str
    model_args: dict[str, Any]
    dataset: str
    dataset_args: dict[str, Any]
    latent_size: PositiveInt | None
    seed: int
    train: TrainConfig
    eval: EvalConfig

    @property
    def cell_id(self) -> str:
        digest = hashlib.sha256(canonical_json(self.model_dump(mode="json")).encode()).hexdigest()[:8]
        z = f"_z{self.latent_size}" if self.latent_size is not None else ""
        return f"{self.model}_{self.dataset}{z}_s{self.seed}_{digest}"

    @property
    def group_id(self) -> str:
        """Cells that differ only by seed share it: the unit the leaderboard aggregates over."""
        dump = self.model_dump(mode="json")
        dump.pop("seed")
        return hashlib.sha256(canonical_json(dump).encode()).hexdigest()[:8]


def canonical_json(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"))


def format_validation_error(err: ValidationError, where: str) -> str:
    """One line: where, the dotted key, the offending value and what is allowed."""
    e = err.errors()[0]
    loc = ".".join(str(p) for p in (where, *e["loc"]) if p != "")
    if e["type"] == "extra_forbidden":
        allowed = ""
        model = getattr(err, "_bench_model", None)
        if model is not None:
            allowed = f"; allowed: {', '.join(model.model_fields)}"
        return f"{loc}: unknown key{allowed}"
    msg = e["msg"]
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, ") :]
    value = e.get("input")
    if e["type"] == "missing":
        return f"{loc}: required key is missing"
    return f"{loc}: {msg[0].lower() + msg[1:]} (got {value!r})"


def validate(model: type[StrictModel], data: Any, where: str) -> StrictModel:
    """Build `model` from plain data or raise BenchError with one clear line."""
    if not isinstance(data, dict):
        raise BenchError(f"{where}: expected a mapping of keys, got {data!r}")
    try:
        return model.model_validate(data)
    except ValidationError as err:
        err._bench_model = model  # type: ignore[attr-defined]
        # Errors about an unknown key name the key itself, which sits in loc's last place.
        raise BenchError(format_validation_error(err, where)) from None
