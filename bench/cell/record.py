"""The record of one attempt: result.json, typed (bench.storage.result.CellResult), written last.

`record` is the one place that turns an attempt's outcome into a result: the cell's identity, how it
ended, where and when, its training record, scores and cost. An attempt that only re-evaluated a
trained cell keeps the training record and cost of the run that trained (`_carry_training`).
"""

from __future__ import annotations

import logging
import socket
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from bench.cell.final_eval import Scores
from bench.cell.launch_env import launch_record
from bench.config import CellConfig
from bench.eval.evaluate import versions
from bench.storage import attempts
from bench.storage.cell_dir import CellDir, CellResult, CellStatus, CostRecord
from bench.storage.cell_lock import now_iso, slurm_job_id
from bench.storage.identity import cell_identity


@dataclass
class CellOutcome:
    """What a finished attempt produced; empty when it failed or diverged before the end."""

    train: dict[str, Any] = field(default_factory=dict)  # result.json's `train` (bench.cell.training)
    num_parameters: int | None = None
    scores: Scores | None = None  # None on processes other than 0, and when the attempt did not finish

    def fields(self) -> dict[str, Any]:
        """The result.json fields this outcome fills (only those it has)."""
        out: dict[str, Any] = {}
        if self.train:
            out |= {"train": self.train, "num_parameters": self.num_parameters}
        if self.scores is not None:
            out |= {"metrics": self.scores.metrics, "protocol": self.scores.protocol}
        return out


def record(
    cfg: CellConfig,
    cell: CellDir,
    outcome: CellOutcome,
    status: CellStatus,
    reason: str | None,
    wall: float,
) -> CellResult:
    """The typed result of one attempt that took `wall` seconds. A value of the wrong type fails the
    attempt with the reason, never loses it silently."""
    cost = {
        "processes": cfg.train.processes,
        **launch_record(),
        **(outcome.scores.cost if outcome.scores is not None else {}),
    }
    cost["device_seconds"] = cost["processes"] * wall
    cost = attempts.add_to_cost(cell.path, cost, wall)  # attempts killed or stopped before this one
    raw = {
        **cell_identity(cfg),
        "status": status,
        "reason": reason,
        "wall_seconds": wall,
        "finished": now_iso(),
        "host": socket.gethostname(),
        "slurm_job_id": slurm_job_id(),
        "log": str(cell.log_path),
        "versions": versions(),
        "cost": cost,
        **outcome.fields(),
    }
    before = cell.evaluated_before()
    if (
        before is not None
        and outcome.train
        and outcome.train.get("resumed_from") == outcome.train.get("steps")
    ):
        raw = _carry_training(raw, before)
    try:
        return CellResult.model_validate(raw)
    except ValidationError as err:
        e = err.errors()[0]
        reason = f"result could not be recorded: {'.'.join(map(str, e['loc']))}: {e['msg']}"
        logging.error("cell %s: %s", cfg.cell_id, reason)
        keep = ("status", "reason", "metrics", "protocol", "train", "cost")
        return CellResult.model_validate(
            {**{k: v for k, v in raw.items() if k not in keep}, "status": CellStatus.failed, "reason": reason}
        )


def _carry_training(record: dict[str, Any], before: CellResult) -> dict[str, Any]:
    """This attempt only evaluated (the evaluation settings changed; the final checkpoint was there): keep
    the training record and training cost of the run that trained, add this attempt's device time, and
    keep the earlier scores with their protocol under `previous_evaluations`."""
    old = before.cost or CostRecord()
    cost = {
        **record["cost"],
        "train_seconds": old.train_seconds,
        "images_seen": old.images_seen,
        "steps_per_second": old.steps_per_second,
        "device_seconds": (old.device_seconds or 0.0) + (record["cost"].get("device_seconds") or 0.0),
        "reevaluation_seconds": record["cost"].get("eval_seconds"),
    }
    prev = before.to_json()  # the JSON form: what previous_evaluations keeps
    earlier = list((before.model_extra or {}).get("previous_evaluations") or [])
    earlier.append({"protocol": prev["protocol"], "metrics": prev["metrics"], "finished": prev["finished"]})
    return {
        **record,
        "train": prev["train"] or record.get("train"),
        "cost": cost,
        "previous_evaluations": earlier,
    }
