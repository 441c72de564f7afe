"""The leaderboard's files: leaderboard.md, leaderboard.csv and leaderboard.json."""

from __future__ import annotations

import csv
import io
import json
import statistics
from pathlib import Path
from typing import Any

from bench import fs
from bench.eval import result_keys as cols
from bench.reporting import comparison as cmp
from bench.reporting import stats
from bench.reporting.leaderboard.model import Leaderboard, Pair, RankSet, Row, Section
from bench.reporting.leaderboard.protocol import (
    describe_protocol,
    different_n_by_dataset,
    scored_at_different_n,
)
from bench.reporting.leaderboard.tables import all_metrics_table, md_table, section_table, unscored_words
from bench.reporting.markdown import no_raw_html

# How every interval, rank and verdict is made, in two sentences (docs/statistics.md says it in full;
# the report's statistics note is this text).
STATS_METHOD = (
    "A row's 95% CI is Student's t over its seed scores (a seed's score is the mean of its evaluation "
    "repeats, so the CI holds that noise once; the IQM's interval is BCa, from "
    f"{stats.BCA_MIN_N} seeds on), and two rows are separable when Welch's t-test of their means, "
    "Holm-adjusted over every comparison of the table, gives p < 0.05; a row's rank set is "
    "[1 + rows significantly better, K - rows significantly worse] by those same tests (Mogstad, "
    "Romano, Shaikh & Wilhelm 2024). For a pair that is not separable, the seeds per row that would "
    "separate a difference of the observed size with 80% power at the Bonferroni level 0.05/m "
    "(conservative for Holm) come from the noncentral t; the exact permutation test, Hedges' g and the "
    "probability of improvement U/(nm) are shown as a check and as descriptions, not as the verdict."
)


def what_it_says(s: Section) -> list[str]:
    """The heading line and sentences of a section's conclusions (shown pairs; which ones, said)."""
    sentences = s.conclusions()
    if not sentences:
        return []
    which = "every pair" if s.all_pairs else "neighbours in the ranking and the group that may be first"
    return [
        f"What these rows show ({which}; {s.comparisons} comparisons in the table):",
        *(f"- {t}" for t in sentences),
    ]


def to_markdown(lb: Leaderboard) -> str:
    lines = ["# Leaderboard", ""]
    lines.append(
        "Per dataset and protocol of the main metric; rows sorted by their mean over seeds of done cells. "
        + STATS_METHOD
    )
    different_n = different_n_by_dataset(lb)
    for s in lb.sections:
        lines += ["", f"## {s.title}", "", md_table(*section_table(s)), ""]
        said = what_it_says(s)
        if said:
            lines += [*said, ""]
        lines += [describe_protocol(s.protocol, s.main), ""]
        if s.dataset in different_n:
            lines += [f"Scored at different N: {different_n[s.dataset]}", ""]
        lines += ["All metrics (mean ± std over seeds):", "", md_table(*all_metrics_table(s))]
    for text in scored_at_different_n(lb):
        lines += ["", text]
    if lb.unscored:
        lines += ["", "## Rows without scores", ""]
        lines += [f"- {unscored_words(r)}" for r in lb.unscored]
    lines += ["", "## Protocols", ""]
    lines += [
        f"- {describe_protocol(p, c)}" for c, p in lb.protocols.items() if cols.direction(c) is not None
    ]
    return no_raw_html("\n".join(lines) + "\n")  # user text (paths, names, reasons) never raw HTML


STAT_FIELDS = ("mean", "std", "n", "ci_low", "ci_high", "ci_method", "median", "iqm", "min", "max")


def _stat_values(s: stats.Summary | None) -> list[Any]:
    if s is None:
        return ["", "", 0, "", "", "", "", "", "", ""]
    ci = s.ci or ("", "")
    std = "" if s.std is None else s.std
    return [s.mean, std, s.n, ci[0], ci[1], s.ci_method, s.median, _blank(s.iqm), s.min, s.max]


def _blank(x: float | None) -> Any:
    return "" if x is None else x


def _placement(lb: Leaderboard) -> dict[int, tuple[Section, RankSet | None]]:
    return {id(r): (s, s.ranks.get(r.key)) for s in lb.sections for r in s.rows}


def to_csv(lb: Leaderboard) -> str:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(
        [
            "model",
            "dataset",
            "latent_size",
            *(f"{c}_{f}" for c in lb.columns for f in STAT_FIELDS),
            "done",
            "failed",
            "diverged",
            "wall_seconds_mean",
            "device_seconds_mean",
            "section_metric",
            "rank_low",
            "rank_high",
        ]
    )
    placed = _placement(lb)
    for row in lb.rows:
        section, rank = placed.get(id(row), (None, None))
        w.writerow(
            [
                row.model,
                row.dataset,
                row.latent_size if row.latent_size is not None else "",
                *(v for c in lb.columns for v in _stat_values(row.summary(c))),
                row.counts["done"],
                row.counts["failed"],
                row.counts["diverged"],
                statistics.fmean(row.wall) if row.wall else "",
                statistics.fmean(row.device) if row.device else "",
                section.main if section else "",
                *((rank.low, rank.high) if rank else ("", "")),
            ]
        )
    return buf.getvalue()


def _summary_json(s: stats.Summary) -> dict[str, Any]:
    return {
        "mean": s.mean,
        "std": s.std,
        "n": s.n,
        "ci95": list(s.ci) if s.ci else None,
        "ci_method": s.ci_method,
        "ci_note": s.ci_note(),
        "median": s.median,
        "iqm": s.iqm,
        "iqm_ci95_bca": list(s.iqm_ci) if s.iqm_ci else None,
        "min": s.min,
        "max": s.max,
    }


def _pair_json(p: Pair, metric: str) -> dict[str, Any]:
    c = p.comparison
    return {
        "a": p.a.label,
        "b": p.b.label,
        "verdict": c.verdict,
        "difference": c.diff,
        "difference_ci95_welch": list(c.ci) if c.ci else None,
        "welch_df": c.df,
        "p_welch": c.p,
        "p_holm": c.p_adj,
        "p_permutation": c.p_perm,
        "p_permutation_min": c.p_perm_min,
        "hedges_g": c.g[0] if c.g else None,
        "hedges_g_ci95": list(c.g[1]) if c.g else None,
        "probability_of_improvement": c.prob_improvement,
        "seeds_needed_each": c.seeds,
        "sentence": cmp.sentence(p.a.label, p.b.label, metric, c),
    }


def to_json(lb: Leaderboard) -> str:
    placed = _placement(lb)

    def row_json(r: Row) -> dict[str, Any]:
        section, rank = placed.get(id(r), (None, None))
        return {
            "model": r.model,
            "dataset": r.dataset,
            "latent_size": r.latent_size,
            "group": r.group,
            "counts": dict(r.counts),
            "cells": [x.get("cell_id") for x in r.results],
            "device_seconds_mean": statistics.fmean(r.device) if r.device else None,
            "metrics": {c: _summary_json(s) for c in lb.columns if (s := r.summary(c))},
            "eval_std": {c: v for c in r.eval_repeats if (v := r.eval_std(c)) is not None},
            "section": section.main if section else None,
            "rank": {"set95": [rank.low, rank.high]} if rank else None,
        }

    return json.dumps(
        {
            "main_metric": lb.main,
            "protocols": lb.protocols,
            "rows": [row_json(r) for r in lb.rows],
            "sections": [
                {
                    "dataset": s.dataset,
                    "metric": s.main,
                    "lower_is_better": s.lower,
                    "protocol": describe_protocol(s.protocol, s.main),
                    "rows": [r.label for r in s.rows],
                    "comparisons": s.comparisons,
                    "correction": "holm",
                    "all_pairs_shown": s.all_pairs,
                    "may_be_first": [r.label for r in s.may_be_first()],
                    "pairs": [_pair_json(p, s.main) for p in s.pairs],
                }
                for s in lb.sections
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
        fs.atomic_write_text(out / name, text)
        paths.append(out / name)
    return paths
