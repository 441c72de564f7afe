"""Rows from result.json files, grouped into sections, with their statistics and comparisons.

Scores are only put in one column when they were measured under the same protocol: a metric's column
is its name plus a fingerprint of the protocol (extractor, its weight hash, N, split, KID settings,
seed). When a results folder mixes protocols, the minority columns get the fingerprint as a suffix.
Rows are compared within a section: one dataset and one protocol of its main metric, sorted by that
metric in its own direction (never by another dataset's score).

Every pair of a section is tested once, vectorised (pairwise.pair_tests: Welch, then Holm over the
table); the rank sets come from those tests. The extras of a pair (its CI, permutation test, Hedges'
g, seeds needed) are computed only for the pairs shown: all of a table of up to ALL_PAIRS_UP_TO rows,
else the neighbours in the ranking and the group that may be first.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from bench.errors import BenchError
from bench.eval import result_keys as cols
from bench.reporting import comparison as cmp
from bench.reporting import pairwise as pw
from bench.reporting.leaderboard.model import (
    Leaderboard,
    Pair,
    RankSet,
    Row,
    Section,
    device_seconds,
    protocol_fingerprint,
)

ALL_PAIRS_UP_TO = 10  # a table of up to this many rows shows every pair (45); larger ones, neighbours
FIRST_GROUP_PAIRS = 10  # the pairs of the top row with the rest of the group that may be first


def collect(out: Path) -> list[dict[str, Any]]:
    """result.json of every cell folder under `out` as plain data (cells without one are not results yet)."""
    from bench.storage.cell_dir import collect_results

    return [r.model_dump(mode="json") for r in collect_results(out)]


def check_metric(lb: Leaderboard, metric: str | None, where: str) -> None:
    """`--metric` must name a score some dataset was ranked by; else one line listing the scores."""
    if metric is None or any(cols.base_name(s.main) == metric for s in lb.sections):
        return
    scores = sorted({cols.base_name(c) for c in lb.columns if cols.direction(c) is not None})
    listed = ", ".join(scores) or "none (no finished cells)"
    raise BenchError(f"--metric: {metric!r} is no score of the results in {where}; scores: {listed}")


def build(results: list[dict[str, Any]], metric: str | None = None) -> Leaderboard:
    """Rows, their statistics and sections. `metric` (a metric name, e.g. kid_digits) picks the main
    metric of every dataset that has it; otherwise FID, else the domain FD, else the first score."""
    # Which protocol is the majority for each metric name decides which column keeps the bare name.
    fp_counts: dict[str, Counter] = defaultdict(Counter)
    for r in results:
        if r.get("status") == "done":
            for name in r.get("metrics", {}):
                fp_counts[name][protocol_fingerprint(r.get("protocol", {}), name)] += 1
    majority = {name: c.most_common(1)[0][0] for name, c in fp_counts.items()}

    def column_of(name: str, r: dict[str, Any]) -> str:
        fp = protocol_fingerprint(r.get("protocol", {}), name)
        return name if fp == majority.get(name, fp) else f"{name}@{fp}"

    rows: dict[tuple, Row] = {}
    protocols: dict[str, dict[str, Any]] = {}
    hidden: dict[str, bool] = {}  # cols.hidden matches the metric registry's patterns: once per name
    for r in results:
        key = (
            r.get("model_label", r["model"]),
            r.get("dataset_label", r["dataset"]),
            r.get("latent_size"),
            r.get("group", ""),
        )
        row = rows.setdefault(key, Row(*key))
        row.results.append(r)
        row.counts[r.get("status", "failed")] += 1
        if r.get("status") != "done":
            continue
        row.wall.append(float(r.get("wall_seconds", 0.0)))
        if (dev := device_seconds(r)) is not None:
            row.device.append(dev)
        # eval.repeats: each repeat's value per key (bench/eval: protocol.eval_repeats.values); the
        # metric itself is their mean. Shown as the evaluation spread beside the seed spread.
        recorded = (r.get("protocol") or {}).get("eval_repeats") or {}
        per_key = recorded.get("values") or r.get("eval_repeats") or {}
        for name, repeats in per_key.items():
            row.eval_repeats[column_of(name, r)].append([float(v) for v in repeats])
        for name, value in r.get("metrics", {}).items():
            if name not in hidden:
                hidden[name] = cols.hidden(name)
            if hidden[name] or value is None:
                continue
            column = column_of(name, r)
            row.values[column].append(float(value))
            reps = per_key.get(name)
            row.seed_repeats[column].append([float(v) for v in reps] if reps else None)
            protocols.setdefault(column, r.get("protocol", {}))
    _disambiguate(list(rows.values()))
    columns = sorted({c for row in rows.values() for c in row.values}, key=cols.order)
    sections, unscored = _sections(list(rows.values()), columns, protocols, metric)
    ordered = [r for s in sections for r in s.rows] + unscored
    return Leaderboard(
        ordered, columns, sections[0].main if sections else None, protocols, sections, unscored
    )


def _main_base(columns: list[str], metric: str | None) -> str | None:
    """The metric name (no fingerprint) a group of rows is sorted by."""
    bases = [cols.base_name(c) for c in columns if cols.direction(c) is not None]
    bases = [b for b in dict.fromkeys(bases) if cols.curve_metric(b) is None]
    if metric is not None and metric in bases:
        return metric
    # A Frechet distance: FID (comparable with published numbers) before a domain FD.
    fds = sorted((b for b in bases if cols.is_kind(b, "fd")), key=lambda b: cols.extractor(b) != "inception")
    return fds[0] if fds else next(iter(bases), None)


def _sections(
    rows: list[Row], columns: list[str], protocols: dict[str, dict[str, Any]], metric: str | None
) -> tuple[list[Section], list[Row]]:
    sections: list[Section] = []
    unscored: list[Row] = []
    for dataset in dict.fromkeys(r.dataset for r in rows):
        left = [r for r in rows if r.dataset == dataset]
        unscored += [r for r in left if not r.values]
        left = [r for r in left if r.values]
        while left:
            present = {c for r in left for c in r.values}
            base = _main_base([c for c in columns if c in present], metric)
            same = [c for c in columns if c in present and cols.base_name(c) == base]
            # The plain score's columns; the EMA weights' score only where no plain one exists.
            mains = [c for c in same if not c.split("@")[0].endswith("_ema")] or same
            placed = False
            for main in mains:
                members = [r for r in left if main in r.values]
                left = [r for r in left if main not in r.values]
                if members:
                    sections.append(_section(dataset, main, members, columns, protocols))
                    placed = True
            if not placed:  # only scores without a direction: list them, rank nothing
                unscored += left
                break
    return sections, unscored


def _section(
    dataset: str, main: str, members: list[Row], columns: list[str], protocols: dict[str, dict[str, Any]]
) -> Section:
    lower = bool(cols.direction(main))
    sign = 1.0 if lower else -1.0
    values = [np.asarray(r.values[main], dtype=np.float64) for r in members]
    means = np.array([v.mean() for v in values])
    order = sorted(
        range(len(members)), key=lambda k: (sign * means[k], members[k].model, members[k].latent_size or 0)
    )
    members = [members[k] for k in order]
    values = [values[k] for k in order]
    present_set = {c for r in members for c in r.values}
    present = [c for c in columns if c in present_set]
    section = Section(dataset, main, lower, members, present, protocols.get(main, {}), ranked=list(members))
    ns = np.array([len(v) for v in values], dtype=np.float64)
    variances = np.array([v.var(ddof=1) if len(v) > 1 else np.nan for v in values])
    tests = pw.pair_tests(means[order], variances, ns)
    k = len(members)
    low, high = pw.rank_bounds(tests, k, lower)
    section.ranks = {r.key: RankSet(int(low[i]), int(high[i])) for i, r in enumerate(members)}
    section.comparisons = int(tests.m)
    shown = _shown_pairs(k, low)
    section.all_pairs = len(shown) == k * (k - 1) // 2
    comparisons = cmp.compare_many(values, tests, shown, lower)
    section.pairs = [Pair(members[i], members[j], c) for (i, j), c in zip(shown, comparisons, strict=True)]
    return section


def _shown_pairs(k: int, low: np.ndarray) -> list[tuple[int, int]]:
    """(i, j), i ranked above j: every pair of a small table; else neighbours in the ranking and the
    top row against the others of the group that may be first."""
    if k <= ALL_PAIRS_UP_TO:
        return [(i, j) for i in range(k) for j in range(i + 1, k)]
    pairs = {(i, i + 1) for i in range(k - 1)}
    first = [j for j in range(1, k) if low[j] == 1][:FIRST_GROUP_PAIRS]
    pairs |= {(0, j) for j in first}
    return sorted(pairs)


def _disambiguate(rows: list[Row]) -> None:
    """Rows whose labels read the same but whose configs differ elsewhere (budget, eval settings)
    get their group hash appended to the model label, so no two rows look alike."""
    seen = Counter((r.model, r.dataset, r.latent_size) for r in rows)
    for r in rows:
        if seen[(r.model, r.dataset, r.latent_size)] > 1 and r.group:
            r.model = f"{r.model} #{r.group}"
