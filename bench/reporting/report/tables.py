"""The report's tables that are not the leaderboard's: per family, cost, estimate vs actual."""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.eval import result_keys as cols
from bench.reporting import leaderboard as lbm
from bench.reporting import stability as stab


@dataclass
class Table:
    header: list[str]
    body: list[list[str]]
    links: dict[int, list[tuple[str, str]]] = field(default_factory=dict)  # row index -> (text, href)


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-").lower()[:80] or "x"


def _family(model: str) -> str:
    from bench.models import MODELS

    try:
        return MODELS.get(model).family
    except Exception:  # a result from a model no longer registered keeps a table of its own
        return model


def _row_family(row: lbm.Row) -> str:
    return _family(row.results[0].get("model", row.model))


def family_tables(lb: lbm.Leaderboard) -> list[dict[str, Any]]:
    """Per family, its own metrics (not the shared sample-quality ones, no curve summaries), by dataset
    and latent size (or the model arguments that make the rows, e.g. the codebook size K)."""
    out = []
    by_family: dict[str, list[lbm.Row]] = defaultdict(list)
    for r in lb.rows:
        if r.values:
            by_family[_row_family(r)].append(r)
    for family, rows in sorted(by_family.items()):
        present = [c for c in lb.columns if any(c in r.values for r in rows)]
        own = [
            c
            for c in present
            if not cols.shared(c) and cols.curve_metric(c) is None and cols.direction(c) is not None
        ]
        if not own:
            continue
        rows = sorted(
            (r for r in rows if any(c in r.values for c in own)),
            key=lambda r: (r.dataset, r.model, r.latent_size or 0),
        )
        header = ["model", "dataset", "latent", "n", *own]
        body = [
            [r.model, r.dataset, "-" if r.latent_size is None else str(r.latent_size), str(r.counts["done"])]
            + [lbm.fmt_value(r.summary(c)) for c in own]
            for r in rows
        ]
        directions = ", ".join(f"{c}: {cols.lower_is_better_words(c)}" for c in own)
        out.append(
            {
                "family": family,
                "table": Table(header, body),
                "directions": directions,
                "per_class": _per_class(rows),
            }
        )
    return out


def _per_class(rows: list[lbm.Row]) -> list[dict[str, Any]]:
    """Scores measured per class (hidden from the leaderboard's columns), mean over done seeds."""
    values: dict[str, dict[tuple, dict[int, list[float]]]] = defaultdict(
        lambda: defaultdict(lambda: defaultdict(list))
    )
    for row in rows:
        for r in row.results:
            if r.get("status") != "done":
                continue
            for key, v in (r.get("metrics") or {}).items():
                if (pc := cols.per_class(key)) is not None and v is not None:
                    values[pc[0]][row.key][pc[1]].append(float(v))
    tables = []
    for metric, by_row in sorted(values.items()):
        classes = sorted({c for per in by_row.values() for c in per})
        body = []
        for row in rows:
            per = by_row.get(row.key)
            if per:
                body.append(
                    [row.model, row.dataset, "-" if row.latent_size is None else str(row.latent_size)]
                    + [lbm.num(sum(per[c]) / len(per[c])) if per.get(c) else "-" for c in classes]
                )
        header = ["model", "dataset", "latent", *(f"class {c}" for c in classes)]
        tables.append({"metric": metric, "table": Table(header, body)})
    return tables


def cost_table(lb: lbm.Leaderboard) -> Table:
    """Per row, means over done cells of what the cells recorded about their cost."""
    header = [
        "model",
        "dataset",
        "latent",
        "cells",
        "device-h/cell",
        "train s",
        "steps/s",
        "peak memory",
        "device",
    ]
    body = []
    for row in lb.rows:
        done = [r for r in row.results if r.get("status") == "done"]
        if not done:
            continue
        cost = [(r.get("cost") or {}) | {"_train": r.get("train") or {}} for r in done]
        train_s = [c.get("train_seconds", c["_train"].get("seconds")) for c in cost]
        sps = [c.get("steps_per_second", c["_train"].get("steps_per_second")) for c in cost]
        peak = [c.get("peak_memory_bytes") for c in cost]
        kinds = sorted({str(c["peak_memory_kind"]) for c in cost if c.get("peak_memory_kind")})
        devices = sorted({str(c.get("device_name") or c["_train"].get("device") or "") for c in cost} - {""})
        body.append(
            [
                row.model,
                row.dataset,
                "-" if row.latent_size is None else str(row.latent_size),
                str(len(done)),
                lbm.hours(row.device),
                _mean(train_s, "{:.0f}"),
                _mean(sps, "{:.3g}"),
                _mean([p / 2**30 if p is not None else None for p in peak], "{:.3g} GiB")
                + (f" ({', '.join(kinds)})" if kinds and any(p is not None for p in peak) else ""),
                ", ".join(devices) or "-",
            ]
        )
    return Table(header, body)


def estimate_table(lb: lbm.Leaderboard, out: Path) -> Table | None:
    """Per row that `bench run` recorded an estimate for (out/estimate.json, bench/launch/estimate.py):
    the estimated device-hours of its done cells against the device-hours they recorded
    (cost.device_seconds), and the ratio; a last line sums the rows. None when nothing was recorded."""
    from bench.launch.estimate import read_recorded

    recorded = read_recorded(out)
    if not recorded:
        return None
    header = ["model", "dataset", "latent", "cells done", "estimated device-h", "actual device-h"]
    header += ["actual / estimated", "estimated from", "on"]
    body: list[list[str]] = []
    total_est = total_act = 0.0
    for row in lb.rows:
        entry = recorded.get(row.group)
        if entry is None or not row.device:
            continue
        per_cell = entry.get("device_seconds_per_cell")
        actual = sum(row.device)
        est = None if per_cell is None else float(per_cell) * len(row.device)
        if est is not None:
            total_est += est
            total_act += actual
        body.append(
            [
                row.model,
                row.dataset,
                "-" if row.latent_size is None else str(row.latent_size),
                str(len(row.device)),
                "?" if est is None else f"{est / 3600:.3g}",
                f"{actual / 3600:.3g}",
                "-" if not est else f"{actual / est:.2f}",
                str(entry.get("source", "?")),
                str(entry.get("device", "?")),
            ]
        )
    if not body:
        return None
    ratio = f"{total_act / total_est:.2f}" if total_est else "-"
    body.append(["all", "", "", "", f"{total_est / 3600:.3g}", f"{total_act / 3600:.3g}", ratio, "", ""])
    return Table(header, body)


def _mean(values: list[Any], fmt: str) -> str:
    xs = [float(v) for v in values if v is not None]
    return fmt.format(sum(xs) / len(xs)) if xs else "-"


def _natural(text: str) -> list[Any]:
    """Sort key that orders numbers by value: vq_vae[codebook_size=64] before ...=128."""
    return [int(p) if p.isdigit() else p for p in re.split(r"(\d+)", text)]


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{x:.0%}"


def _thresholds() -> list[tuple[str, str]]:
    return [
        ("COVERAGE_MIN", f"{stab.COVERAGE_MIN}"),
        ("CLASS_KL_MAX", f"{stab.CLASS_KL_MAX} nats"),
        ("RECALL_MIN", f"{stab.RECALL_MIN}"),
        ("RECOGNISED_MIN / CONFIDENT_COVERAGE_MIN", f"{stab.RECOGNISED_MIN} / {stab.CONFIDENT_COVERAGE_MIN}"),
        ("D_LOSS_NEAR_ZERO / D_LOSS_ZERO_SHARE", f"{stab.D_LOSS_NEAR_ZERO} / {stab.D_LOSS_ZERO_SHARE:.0%}"),
        ("GRAD_VANISH / VANISH_STRETCH", f"{stab.GRAD_VANISH:g} / {stab.VANISH_STRETCH} logged steps"),
        ("GP_MAX", f"{stab.GP_MAX}"),
        ("SEED_CV_MAX", f"{stab.SEED_CV_MAX}"),
    ]
