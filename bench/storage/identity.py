"""What a result says about which cell it is: ids, the seed-free group, and readable labels.

The leaderboard aggregates cells that differ only by seed. Two grids may train the same model on
the same dataset with different arguments (a CIFAR-10 class subset, other budgets, other widths):
those are different rows, told apart by `group` (the config hash without the seed) and labelled by
the arguments that differ from their defaults, e.g. `cifar10[classes=cat+dog]`.
"""

from __future__ import annotations

from typing import Any

from pydantic_core import PydanticUndefined

from bench.config import CellConfig, StrictModel


def cell_identity(cfg: CellConfig) -> dict[str, Any]:
    from bench.datasets import DATASETS
    from bench.models import MODELS

    return {
        "cell_id": cfg.cell_id,
        "model": cfg.model,
        "dataset": cfg.dataset,
        "latent_size": cfg.latent_size,
        "seed": cfg.seed,
        "group": cfg.group_id,
        "model_label": args_label(cfg.model, cfg.model_args, MODELS.get(cfg.model).Config),
        "dataset_label": args_label(cfg.dataset, cfg.dataset_args, DATASETS.get(cfg.dataset).Args),
    }


def args_label(name: str, args: dict[str, Any], schema: type[StrictModel]) -> str:
    """`name` plus the arguments that differ from the schema's defaults, in a stable order."""
    changed = {}
    for key, value in sorted(args.items()):
        field = schema.model_fields.get(key)
        default = field.get_default(call_default_factory=True) if field is not None else PydanticUndefined
        if isinstance(default, StrictModel):
            default = default.model_dump(mode="json")
        if default is PydanticUndefined or value != default:
            changed[key] = value
    if not changed:
        return name
    return f"{name}[{','.join(f'{k}={_short(v)}' for k, v in changed.items())}]"


def _short(value: Any) -> str:
    if isinstance(value, list):
        return "+".join(_short(v) for v in value)
    if isinstance(value, dict):
        return "&".join(f"{k}:{_short(v)}" for k, v in sorted(value.items()))
    return str(value)
