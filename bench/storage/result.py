"""result.json's schema: `CellResult`, its `CellStatus` and `CostRecord`, and its tolerant reader.

Results written by older code load too: bench.storage.migrate upgrades every older form on read. Its
`protocol` and `train` are typed too (bench.storage.records) and written back as they were read. A
file that does not parse, or parses to the wrong shape, is no result: one warning line per file
version, never a traceback. Written and read through bench.storage.cell_dir.CellDir; this module
imports nothing of bench outside bench.storage, so any module may use it.
"""

from __future__ import annotations

import json
import logging
import math
from enum import Enum
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from bench.storage.migrate import upgrade
from bench.storage.records import EvalProtocol, TrainRecord

log = logging.getLogger(__name__)


class CellStatus(str, Enum):
    """What a finished attempt ended as. done and diverged are kept by a re-run; failed is retried."""

    done = "done"
    failed = "failed"
    diverged = "diverged"

    @property
    def terminal(self) -> bool:
        return self is not CellStatus.failed


class CostRecord(BaseModel):
    """What a cell cost, recorded by the runner (bench.train.cost)."""

    model_config = ConfigDict(extra="allow")

    train_seconds: float | None = None  # training, earlier attempts (killed, stopped) included
    eval_seconds: float | None = None  # final evaluation, sample grid and test metrics
    device_seconds: float | None = None  # processes x wall time, earlier attempts included
    images_seen: int | None = None  # training images drawn over the whole cell, resumes included
    steps_per_second: float | None = None
    peak_memory_bytes: int | None = None  # of process 0
    peak_memory_kind: str | None = None  # "cuda_max_allocated" or "max_rss"
    device_name: str | None = None
    processes: int | None = None
    # How the launcher shared the device (bench.cell.launch_env.launch_record): cells it ran at once on
    # this cell's device (1: alone; N under `--jobs N` on the CPU; K in a packed SLURM task), in which
    # kind of process ("persistent" worker, "fresh" process), and whether CUDA MPS served the device.
    # device_seconds is not divided by cells_sharing_device: each packed cell reports its own wall time.
    cells_sharing_device: int | None = None
    worker: str | None = None
    mps: bool | None = None


class CellResult(BaseModel):
    """result.json. Extra keys (a field added by newer code, a family's extras) are kept as they are."""

    model_config = ConfigDict(extra="allow")

    status: CellStatus
    reason: str | None = None
    # Identity (bench.storage.identity.cell_identity)
    cell_id: str = ""
    model: str = ""
    dataset: str = ""
    latent_size: int | None = None
    seed: int = 0
    group: str = ""
    model_label: str = ""
    dataset_label: str = ""
    # Outcome
    metrics: dict[str, float | None] = Field(default_factory=dict)
    protocol: EvalProtocol = Field(default_factory=EvalProtocol)
    train: TrainRecord = Field(default_factory=TrainRecord)
    cost: CostRecord | None = None
    num_parameters: int | None = None
    versions: dict[str, str] = Field(default_factory=dict)
    # Where and when
    wall_seconds: float = 0.0
    finished: str | None = None
    host: str | None = None
    slurm_job_id: str | None = None
    log: str | None = None
    log_tail: list[str] = Field(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _migrate(cls, data: Any) -> Any:
        """Every older form of result.json, upgraded on read (bench.storage.migrate); a NaN or infinite
        score reads as a diverged cell."""
        if isinstance(data, dict):
            data = upgrade(data)
            _nonfinite_is_diverged(data)
        return data

    @property
    def is_terminal(self) -> bool:
        return self.status.terminal

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


def _nonfinite_is_diverged(data: dict[str, Any]) -> None:
    """A done result holding a NaN or infinite score (JSON allows them) is no score: the cell reads as
    diverged, with the metric named, so the leaderboard and report count it and never compute with it."""
    metrics = data.get("metrics")
    if data.get("status") != "done" or not isinstance(metrics, dict):
        return
    bad = [k for k, v in metrics.items() if isinstance(v, float) and not math.isfinite(v)]
    if bad:
        data["metrics"] = {k: v for k, v in metrics.items() if k not in bad}
        data["status"] = "diverged"
        data["reason"] = f"its result holds a non-finite score: {bad[0]} = {metrics[bad[0]]}"


_warned: set[tuple[str, int]] = set()


def _warn_once(path: Path, why: str) -> None:
    try:
        key = (str(path), path.stat().st_mtime_ns)
    except OSError:
        key = (str(path), 0)
    if key not in _warned:
        _warned.add(key)
        log.warning("%s: %s; treated as no result", path, why)


def parse_result(path: Path) -> CellResult | None:
    """The result in `path`; None when missing, unreadable or of the wrong shape (warned once)."""
    try:
        raw = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError):  # ValueError: not JSON, or not UTF-8
        _warn_once(path, "not valid JSON")
        return None
    try:
        return CellResult.model_validate(raw)
    except ValidationError as err:
        e = err.errors()[0]
        where = ".".join(str(p) for p in e["loc"]) or "the top level"
        _warn_once(path, f"not a cell result ({where}: {e['msg']})")
        return None
