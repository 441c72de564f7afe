"""Typed, strict configuration of one cell's training and evaluation.

Every key is checked: an unknown key, a wrong type or an out-of-range value is refused with one line
naming the key, the value and what is allowed (see `format_validation_error`).
"""

from __future__ import annotations

import reprlib
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PositiveFloat,
    PositiveInt,
    ValidationError,
    field_validator,
    model_validator,
)

from bench.errors import BenchError
from bench.fs import short_hash


class StrictModel(BaseModel):
    """Base for every config: unknown keys and silent type coercions are errors."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


# Documented upper bounds (README "Limits"): larger values are typos or units mix-ups that would
# otherwise be accepted here and fail (or run for ever) at run time.
MAX_STEPS = 10**8
MAX_EPOCHS = 10**5
MAX_BATCH = 65_536
MAX_THREADS = 1024
MAX_PROCESSES = 4096
MAX_SAMPLES = 10**6  # generated or real images of one evaluation
MAX_SEED = 2**31 - 1


class TrainConfig(StrictModel):
    steps: PositiveInt | None = Field(
        None, le=MAX_STEPS, description="generator/optimizer steps; exclusive with epochs"
    )
    epochs: PositiveFloat | None = Field(
        None, le=MAX_EPOCHS, description="passes over the training split at one batch per step"
    )
    batch_size: PositiveInt = Field(64, le=MAX_BATCH)
    log_every: PositiveInt = Field(
        50, le=MAX_STEPS, description="steps between flushes of per-step losses (one host sync each)"
    )
    checkpoint_every: int = Field(
        0, ge=0, le=MAX_STEPS, description="steps between checkpoints; 0 = only at the end"
    )
    device: Literal["auto", "cpu", "cuda"] = "auto"
    mixed_precision: Literal["auto", "no", "bf16"] = Field(
        "auto", description="auto = bf16 on GPU, fp32 on CPU"
    )
    threads: PositiveInt | None = Field(
        None, le=MAX_THREADS, description="torch intra-op threads; default: all cores"
    )
    # Several processes (devices) may train one cell together; see bench/train/distributed.py.
    processes: PositiveInt = Field(
        1, le=MAX_PROCESSES, description="processes that train this cell together, one per device"
    )
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
    # Fast paths of the step (bench/train/compile.py, bench/train/cuda_graphs.py). They change the
    # arithmetic slightly (fused kernels, other reduction orders), so they are part of the cell's id.
    compile: Literal["none", "default", "max-autotune"] = Field(
        "none", description="torch.compile the trained nets with this mode; none = eager"
    )
    cuda_graphs: bool = Field(
        False, description="capture the whole training step as one CUDA graph (GPU, one process)"
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


# Names of the registered metrics, in registration order. bench/eval/metric_registry.py appends to it as
# it registers each metric: it imports this module and this module never imports it, so the import graph
# has no cycle; bench/__init__.py imports the registry, so the list is full whenever a config validates.
METRIC_NAMES: list[str] = []


def _registered_metric(name: str) -> str:
    if name not in METRIC_NAMES:
        quoted = [repr(n) for n in METRIC_NAMES]
        allowed = ", ".join(quoted[:-1]) + f" or {quoted[-1]}" if len(quoted) > 1 else "".join(quoted)
        raise ValueError(f"input should be {allowed}")
    return name


# A name registered in bench/eval/metric_registry.py (`bench list metrics`): fd, kid, coverage,
# prc_domain on the domain classifier; fid, kid_inception, isc, prc on torch-fidelity's InceptionV3.
Metric = Annotated[str, AfterValidator(_registered_metric)]


class EvalConfig(StrictModel):
    # [] is allowed only for families with metrics of their own (grid validation checks it).
    metrics: list[Metric] = Field(default_factory=lambda: ["fd", "kid", "coverage"])
    extractor: str = Field("auto", description="feature extractor; auto = the dataset's domain extractor")
    n_samples: PositiveInt = Field(1000, le=MAX_SAMPLES, description="generated images")
    n_real: PositiveInt | None = Field(
        None, le=MAX_SAMPLES, description="real images; default: the whole split"
    )
    split: str = "test"
    kid_subset_size: PositiveInt = Field(1000, le=MAX_SAMPLES)
    kid_subsets: PositiveInt = Field(100, le=10_000)
    batch_size: PositiveInt = Field(
        250, le=MAX_BATCH, description="feature extraction batch; does not change the samples"
    )
    sample_block: PositiveInt = Field(
        250,
        le=MAX_BATCH,
        description="samples drawn per seeded generator: sample i comes from block i // sample_block",
    )
    seed: int = Field(0, ge=0, le=MAX_SEED)
    repeats: PositiveInt = Field(
        1, le=1000, description="independent sample sets (seeds derived from seed); metrics are their mean"
    )
    isc_splits: PositiveInt = Field(10, le=1000)
    prc_neighborhood: PositiveInt = Field(3, le=1000)
    precision: Literal["fp32", "bf16"] = Field(
        "fp32", description="sampling and feature extraction; bf16 is recorded in the fingerprint"
    )
    curve_every: int = Field(
        0, ge=0, le=MAX_STEPS, description="steps between metrics during training; 0 = none"
    )
    curve_n_samples: PositiveInt = Field(
        200, le=MAX_SAMPLES, description="generated (and at most real) images per point"
    )
    curve_metrics: list[Metric] = Field(default_factory=lambda: ["fd"], min_length=1)

    @field_validator("metrics", "curve_metrics")
    @classmethod
    def _no_repeats(cls, value: list[str]) -> list[str]:
        repeated = sorted({m for m in value if value.count(m) > 1})
        if repeated:
            raise ValueError(f"{repeated[0]!r} is listed twice")
        return value


# Settings that do not change a cell's trained weights. They are kept out of its id, so changing them
# re-uses the trained cell: evaluation settings are recorded per score (its protocol) instead, and a
# finished cell asked for other evaluation settings is evaluated again from its final checkpoint.
NOT_TRAINING = {"eval": None, "train": ("log_every", "checkpoint_every")}
# Training settings added after cells were first recorded: at their default they are left out of the
# identity, so a finished cell keeps its id (its weights were trained exactly so); any other value is
# part of it.
OMITTED_AT_DEFAULT = {"train": {"compile": "none", "cuda_graphs": False}}


class CellConfig(StrictModel):
    """The resolved configuration of one grid cell; the hash of its training part is the cell's id."""

    model: str
    model_args: dict[str, Any]
    dataset: str
    dataset_args: dict[str, Any]
    latent_size: PositiveInt | None
    seed: int
    train: TrainConfig
    eval: EvalConfig

    def training_identity(self) -> dict[str, Any]:
        """Everything that determines the trained weights (NOT_TRAINING left out)."""
        dump = self.model_dump(mode="json")
        for section, keys in NOT_TRAINING.items():
            if keys is None:
                dump.pop(section)
            else:
                for key in keys:
                    dump[section].pop(key)
        for section, defaults in OMITTED_AT_DEFAULT.items():
            for key, default in defaults.items():
                if dump[section].get(key) == default:
                    dump[section].pop(key)
        return dump

    @property
    def cell_id(self) -> str:
        digest = short_hash(self.training_identity())
        z = f"_z{self.latent_size}" if self.latent_size is not None else ""
        return f"{self.model}_{self.dataset}{z}_s{self.seed}_{digest}"

    @property
    def group_id(self) -> str:
        """Cells that differ only by seed share it: the unit the leaderboard aggregates over."""
        dump = self.training_identity()
        dump.pop("seed")
        return short_hash(dump)


def format_validation_error(err: ValidationError, where: str) -> str:
    """One line: where, the dotted key, the offending value and what is allowed."""
    e = err.errors()[0]
    loc = ".".join([where, *map(key_text, e["loc"])] if where else map(key_text, e["loc"]))
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
    return f"{loc}: {msg[0].lower() + msg[1:]} (got {short_repr(value)})"


_REPR = reprlib.Repr()  # (keyword arguments need Python 3.12)
_REPR.maxlevel, _REPR.maxstring, _REPR.maxother, _REPR.maxlong = 3, 80, 80, 40
_REPR.maxlist = _REPR.maxdict = _REPR.maxtuple = _REPR.maxset = 8


def key_text(key: Any) -> str:
    """A key as written when it is plain (printable, short), else as a short repr: one line always."""
    if isinstance(key, str) and key.isprintable() and len(key) <= 80:
        return key
    return str(key) if isinstance(key, int) else short_repr(key)


def short_repr(value: Any) -> str:
    """repr() cut to about a line, whatever the value holds: a message never prints a whole file."""
    text = _REPR.repr(value)
    return text if len(text) <= 200 else text[:197] + "..."


def validate(model: type[StrictModel], data: Any, where: str) -> StrictModel:
    """Build `model` from plain data or raise BenchError with one clear line."""
    if not isinstance(data, dict):
        raise BenchError(f"{where}: expected a mapping of keys, got {short_repr(data)}")
    try:
        return model.model_validate(data)
    except ValidationError as err:
        err._bench_model = model  # type: ignore[attr-defined]
        # Errors about an unknown key name the key itself, which sits in loc's last place.
        raise BenchError(format_validation_error(err, where)) from None


# SLURM resources live here, beside the other schemas, so that grid.py (which validates a grid's
# `slurm:` key), the SLURM launcher and the CLI (which derives its flags from these fields) all read
# one definition without importing each other.
# ASCII classes anchored at the very ends: `\d` also matches Arabic-Indic digits, and `$` also matches
# before a final newline, which would end an #SBATCH line early.
SLURM_TOKEN = r"\A[A-Za-z0-9_.+-]+\Z"  # partition, account, qos: no spaces, quotes or newlines
SLURM_TIME = r"\A([0-9]+-)?[0-9]{1,2}(:[0-9]{2}){0,2}\Z"
SLURM_MEM = r"\A[0-9]+[KMGT]?\Z"


class SlurmConfig(StrictModel):
    """Resources of each array task: the grid's `slurm:` mapping, overridden by `bench run` flags.

    Each field's `flag` (json_schema_extra) is the `bench run` option that sets it; fields without
    one get `--<field-name>`."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, regex_engine="python-re")

    partition: str | None = Field(None, pattern=SLURM_TOKEN, description="partition")
    account: str | None = Field(None, pattern=SLURM_TOKEN, description="account to charge")
    qos: str | None = Field(None, pattern=SLURM_TOKEN, description="quality of service")
    time: str = Field("04:00:00", pattern=SLURM_TIME, description="time limit per cell, [D-]HH:MM:SS")
    mem: str | None = Field(None, pattern=SLURM_MEM, description="memory per node, e.g. 32G")
    cpus_per_process: PositiveInt = Field(
        4, description="CPUs per process", json_schema_extra={"flag": "--cpus"}
    )
    gpus_per_process: int = Field(
        1, ge=0, description="GPUs per process (0: CPU partition)", json_schema_extra={"flag": "--gpus"}
    )
    nodes: PositiveInt = Field(1, description="nodes per cell; train.processes is split evenly over them")
    throttle: PositiveInt | None = Field(None, description="at most this many tasks at once (--array=0-K%M)")
    signal_seconds: PositiveInt = Field(
        120, description="USR1 (checkpoint + requeue) this long before the time limit"
    )
    cells_per_task: PositiveInt = Field(
        1,
        le=256,
        description="single-process cells one task runs at once on its GPU(s) (CUDA MPS where available)",
    )
    port: int = Field(
        29500,
        ge=1024,
        le=65535,
        description="torchrun rendezvous port on a cell's first node",
        json_schema_extra={"flag": "--rdzv-port"},
    )
