"""The leaderboard: one row per model x dataset x latent size, mean +- std over seeds.

Scores are only put in one column when they were measured under the same protocol: a metric's column
is its name plus a fingerprint of the protocol (extractor, its weight hash, N, split, KID settings,
seed). When a results folder mixes protocols, the minority columns get the fingerprint as a suffix.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
import statistics
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.config import canonical_json
from bench.results import store

LOWER_IS_BETTER = ("fd_", "kid_", "class_kl_")
HIDDEN = ("eval_seconds",)
# Details kept in result.json but not worth a column each: FD per class, the step of a curve's best.
HIDDEN_PATTERN = re.compile(r".*(_class\d+|_best_step)$")


def protocol_fingerprint(protocol: dict[str, Any], metric: str | None = None) -> str:
    """The fingerprint evaluation stored for `metric` (bench.eval.protocol: extractor, weight hash, N
    generated, N real, split, resize, torch-fidelity version, seed, precision), else the cell's; results
    from before fingerprints were stored get a hash of their whole protocol."""
    stored = protocol.get("fingerprints", {}).get(metric) or protocol.get("fingerprint")
    if stored:
        return stored
    core = {k: v for k, v in protocol.items() if k not in ("versions", "extractor_test_accuracy")}
    return hashlib.sha256(canonical_json(core).encode()).hexdigest()[:8]


def collect(out: Path) -> list[dict[str, Any]]:
    """result.json of every cell folder under `out` as plain data (cells without one are not results yet)."""
    from bench.results.cell_dir import collect_results

    return [r.model_dump(mode="json") for r in collect_results(out)]


@dataclass
class Row:
    model: str  # the model's label: its name plus the arguments that differ from the defaults
    dataset: str  # likewise, e.g. cifar10[classes=cat+dog]
    latent_size: int | None
    group: str = ""  # config hash without the seed (bench.results.identity); "" for old results
    counts: Counter = field(default_factory=Counter)
    values: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    wall: list[float] = field(default_factory=list)

    def stat(self, column: str) -> tuple[float, float] | None:
        v = self.values.get(column)
        if not v:
            return None
        return statistics.fmean(v), statistics.stdev(v) if len(v) > 1 else 0.0


@dataclass
class Leaderboard:
    rows: list[Row]
    columns: list[str]
    main: str | None
    protocols: dict[str, dict[str, Any]]  # column -> protocol


def build(results: list[dict[str, Any]]) -> Leaderboard:
    # Which protocol is the majority for each metric name decides which column keeps the bare name.
    fp_counts: dict[str, Counter] = defaultdict(Counter)
    for r in results:
        if r.get("status") == "done":
            for name in r.get("metrics", {}):
                fp_counts[name][protocol_fingerprint(r.get("protocol", {}), name)] += 1
    majority = {name: c.most_common(1)[0][0] for name, c in fp_counts.items()}

    rows: dict[tuple, Row] = {}
    protocols: dict[str, dict[str, Any]] = {}
    for r in results:
        key = (
            r.get("model_label", r["model"]),
            r.get("dataset_label", r["dataset"]),
            r.get("latent_size"),
            r.get("group", ""),
        )
        row = rows.setdefault(key, Row(*key))
        row.counts[r.get("status", "failed")] += 1
        if r.get("status") != "done":
            continue
        row.wall.append(float(r.get("wall_seconds", 0.0)))
        for name, value in r.get("metrics", {}).items():
            if name in HIDDEN or HIDDEN_PATTERN.match(name) or value is None:
                continue
            fp = protocol_fingerprint(r.get("protocol", {}), name)
            column = name if fp == majority[name] else f"{name}@{fp}"
            row.values[column].append(float(value))
            protocols.setdefault(column, r.get("protocol", {}))
    _disambiguate(list(rows.values()))
    columns = sorted({c for row in rows.values() for c in row.values}, key=_column_order)
    # FID when the grid measured it (comparable with published numbers), else the domain FD.
    main = next((c for c in columns if c == "fid" or (c.startswith("fd_") and "@" not in c)), None)
    main = "fid" if "fid" in columns else main or (columns[0] if columns else None)

    def sort_key(row: Row) -> tuple:
        s = row.stat(main) if main else None
        return (s is None, s[0] if s else 0.0, row.model, row.dataset, row.latent_size or 0)

    return Leaderboard(sorted(rows.values(), key=sort_key), columns, main, protocols)


def _disambiguate(rows: list[Row]) -> None:
    """Rows whose labels read the same but whose configs differ elsewhere (budget, eval settings)
    get their group hash appended to the model label, so no two rows look alike."""
    seen = Counter((r.model, r.dataset, r.latent_size) for r in rows)
    for r in rows:
        if seen[(r.model, r.dataset, r.latent_size)] > 1 and r.group:
            r.model = f"{r.model} #{r.group}"


def _column_order(c: str) -> tuple:
    prefixes = ("fd_", "kid_", "coverage_", "class_kl_")
    rank = next((i for i, p in enumerate(prefixes) if c.startswith(p)), len(prefixes))
    return (rank, c)


def _fmt(stat: tuple[float, float] | None) -> str:
    if stat is None:
        return "-"
    mean, std = stat
    return f"{mean:.4g} ± {std:.2g}"


# The terminal table keeps the sample-quality scores every family shares; the files keep every column.
HEADLINE = re.compile(r"^(fid|kid_inception|isc|fd_[^@]+|kid_(?!.*_std)[^@]+|coverage_[^@]+)(@.*)?$")


def table_rows(lb: Leaderboard, headline_only: bool = False) -> tuple[list[str], list[list[str]]]:
    columns = [c for c in lb.columns if HEADLINE.match(c)] if headline_only else lb.columns
    header = ["model", "dataset", "latent", *columns, "done", "failed", "diverged", "wall s"]
    body = []
    for row in lb.rows:
        body.append(
            [
                row.model,
                row.dataset,
                "-" if row.latent_size is None else str(row.latent_size),
                *(_fmt(row.stat(c)) for c in columns),
                str(row.counts["done"]),
                str(row.counts["failed"]),
                str(row.counts["diverged"]),
                f"{statistics.fmean(row.wall):.0f}" if row.wall else "-",
            ]
        )
    return header, body


def to_markdown(lb: Leaderboard) -> str:
    header, body = table_rows(lb)
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in body]
    lines.append("")
    lines.append(f"Sorted by {lb.main} (lower is better); mean ± std over seeds of done cells.")
    for column, protocol in lb.protocols.items():
        if column.startswith("fd_") or "@" in column:
            lines.append(
                f"- `{column}`: "
                + ", ".join(f"{k}={v}" for k, v in sorted(protocol.items()) if k != "versions")
            )
    return "\n".join(lines) + "\n"


def to_csv(lb: Leaderboard) -> str:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(
        [
            "model",
            "dataset",
            "latent_size",
            *(f"{c}_{s}" for c in lb.columns for s in ("mean", "std", "n")),
            "done",
            "failed",
            "diverged",
            "wall_seconds_mean",
        ]
    )
    for row in lb.rows:
        stats = []
        for c in lb.columns:
            s = row.stat(c)
            stats += [s[0], s[1], len(row.values[c])] if s else ["", "", 0]
        w.writerow(
            [
                row.model,
                row.dataset,
                row.latent_size if row.latent_size is not None else "",
                *stats,
                row.counts["done"],
                row.counts["failed"],
                row.counts["diverged"],
                statistics.fmean(row.wall) if row.wall else "",
            ]
        )
    return buf.getvalue()


def to_json(lb: Leaderboard) -> str:
    return json.dumps(
        {
            "main_metric": lb.main,
            "protocols": lb.protocols,
            "rows": [
                {
                    "model": r.model,
                    "dataset": r.dataset,
                    "latent_size": r.latent_size,
                    "counts": dict(r.counts),
                    "metrics": {
                        c: {"mean": s[0], "std": s[1], "n": len(r.values[c])}
                        for c in lb.columns
                        if (s := r.stat(c))
                    },
                }
                for r in lb.rows
            ],
        },
        indent=2,
    )


def write_files(lb: Leaderboard, out: Path) -> list[Path]:
    paths = []
    for name, text in (
        ("leaderboard.md", to_markdown(lb)),
        ("leaderboard.csv", to_csv(lb)),
        ("leaderboard.json", to_json(lb)),
    ):
        store.atomic_write_text(out / name, text)
        paths.append(out / name)
    return paths
