"""The typed parts of result.json besides its top level: the evaluation protocol and the training record.

Each is a pydantic model whose known fields are typed (what code reads: fingerprints, repeats, EMA,
the reproduce command; steps, resume point, processes ...) and whose other keys (an extractor's facts,
the batch plan, the device's numerics, a key added by newer code) are kept as they are. They write
exactly what they were given: only the fields that were set, in the order they came in, so a
result.json read and written again is the same file, and readers of the JSON (the leaderboard, the
report, scripts) see the form they always saw.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, model_serializer, model_validator


class _Kept(BaseModel):
    """Known fields typed, unknown ones kept; serialised as given (set fields only, input order)."""

    model_config = ConfigDict(extra="allow")
    _order: list[str] = PrivateAttr(default_factory=list)

    @model_validator(mode="wrap")
    @classmethod
    def _remember_order(cls, data: Any, handler: Any) -> Any:
        obj = handler(data)
        if isinstance(data, dict):
            obj._order = list(data)
        return obj

    @model_serializer(mode="wrap")
    def _as_given(self, handler: Any) -> dict[str, Any]:
        data = handler(self)
        kept = self.model_fields_set | set(self.__pydantic_extra__ or {})
        first = [k for k in self._order if k in data and k in kept]
        return {k: data[k] for k in [*first, *(k for k in data if k in kept and k not in first)]}

    def get(self, key: str, default: Any = None) -> Any:
        """Read a key as from the JSON (set fields and kept keys; `default` for the others)."""
        if key in self.model_fields_set or key in (self.__pydantic_extra__ or {}):
            return getattr(self, key)
        return default

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and self.get(key, _MISSING) is not _MISSING

    def __bool__(self) -> bool:
        return bool(self.model_fields_set or self.__pydantic_extra__)


_MISSING = object()


class EvalRepeats(_Kept):
    """eval.repeats R > 1: the seed of each sample set and each key's value per set."""

    seeds: list[int] = Field(default_factory=list)
    values: dict[str, list[float | None]] = Field(default_factory=dict)


class EmaRecord(_Kept):
    """An EMA family's averaging: its `<name>_ema` scores used these weights."""

    decay: float | None = None
    start: int | None = None
    nets: list[str] = Field(default_factory=list)


class EvalProtocol(_Kept):
    """protocol in result.json: what the scores were measured under (bench/eval/evaluate.py)."""

    real_split: str | None = None
    n_generated: int | None = None
    n_real: int | None = None
    seed: int | None = None
    repeats: int | None = None
    precision: str | None = None
    extractor: str | None = None  # the first extractor's (its facts stand at the top level)
    extractors: dict[str, dict[str, Any]] | None = None
    fingerprint: str | None = None  # of the common protocol
    fingerprints: dict[str, str] = Field(default_factory=dict)  # result key -> its score's fingerprint
    eval_repeats: EvalRepeats | None = None
    ema: EmaRecord | None = None
    reproduce: str | None = None  # the command that prints these numbers again from the checkpoint
    versions: dict[str, str] | None = None


class TrainRecord(_Kept):
    """train in result.json: how the cell trained (bench/cell/training.py)."""

    steps: int | None = None
    resumed_from: int | None = None  # 0: a fresh start; == steps: this attempt only evaluated
    seconds: float | None = None
    steps_per_second: float | None = None
    epochs: float | None = None
    processes: int | None = None
    device: str | None = None
    mixed_precision: str | None = None
    compile: str | bool | None = None  # a mode ("none", "default", ...); older code wrote a flag
    cuda_graphs: bool | None = None
