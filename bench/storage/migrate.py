"""Every older form of result.json, upgraded on read to the current one (bench.storage.result).

Old files are never rewritten: they are read through `upgrade`, so code above reads one form only.
Fields are only ever added to result.json, never renamed, so old code reads new files too. The forms:
- before labels existed: model_label / dataset_label are the model's and dataset's names;
- wall_seconds missing or null (a result written by a crash handler): 0;
- metrics, protocol, train, versions or log_tail written as null: empty;
- eval repeats at the top level (`eval_repeats`: key -> values, before the protocol held them with
  their seeds): kept there, and readers take the protocol's first (bench.reporting).
"""

from __future__ import annotations

from typing import Any

# Fields whose null means "none recorded": read as empty, as the schema's default.
_EMPTY_WHEN_NULL = {"metrics": dict, "protocol": dict, "train": dict, "versions": dict, "log_tail": list}


def upgrade(raw: dict[str, Any]) -> dict[str, Any]:
    """result.json's mapping in the current form (a new dict; `raw` is left as it is)."""
    data = dict(raw)
    data.setdefault("model_label", data.get("model", ""))
    data.setdefault("dataset_label", data.get("dataset", ""))
    if data.get("wall_seconds") is None:
        data["wall_seconds"] = 0.0
    for key, empty in _EMPTY_WHEN_NULL.items():
        if key in data and data[key] is None:
            data[key] = empty()
    return data
