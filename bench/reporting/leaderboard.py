"""The leaderboard: one row per model x dataset x latent size config, statistics over its seeds.

Scores are only put in one column when they were measured under the same protocol: a metric's column
is its name plus a fingerprint of the protocol (extractor, its weight hash, N, split, KID settings,
seed). When a results folder mixes protocols, the minority columns get the fingerprint as a suffix.

Rows are compared within a section: one dataset and one protocol of its main metric, sorted by that
metric in its own direction (never by another dataset's score). Per row the statistics come from
bench/reporting/stats.py: mean, std, the bootstrap CI of the mean, the rank interval and P(rank 1);
per pair of rows the probability of improvement and whether the two are separable at all.
"""

from __future__ import annotations

import csv
import fnmatch
import io
import json
import re
import statistics
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from bench import fs
from bench.errors import BenchError
from bench.eval import result_keys as cols
from bench.fs import short_hash
from bench.reporting import stats
from bench.reporting.markdown import no_raw_html
from bench.reporting.sort_order import SortBy


def protocol_fingerprint(protocol: dict[str, Any], metric: str | None = None) -> str:
    """The fingerprint evaluation stored for `metric` (bench.eval.protocol: extractor, weight hash, N
    generated, N real, split, resize, torch-fidelity version, seed, precision), else the cell's; results
    from before fingerprints were stored get a hash of their whole protocol."""
    stored = protocol.get("fingerprints", {}).get(metric) or protocol.get("fingerprint")
    if stored:
        return stored
    core = {k: v for k, v in protocol.items() if k not in ("versions", "extractor_test_accuracy")}
    return short_hash(core)


def collect(out: Path) -> list[dict[str, Any]]:
    """result.json of every cell folder under `out` as plain data (cells without one are not results yet)."""
    from bench.storage.cell_dir import collect_results

    return [r.model_dump(mode="json") for r in collect_results(out)]


def device_seconds(result: dict[str, Any]) -> float | None:
    """Device time a cell used: cost.device_seconds when recorded, else (training + evaluation
    seconds, else wall seconds) x processes."""
    cost = result.get("cost") or {}
    if cost.get("device_seconds") is not None:
        return float(cost["device_seconds"])
    train = result.get("train") or {}
    processes = int(cost.get("processes") or train.get("processes") or 1)
    seconds = cost.get("train_seconds", train.get("seconds"))
    if seconds is not None:
        ev = cost.get("eval_seconds", (result.get("metrics") or {}).get("eval_seconds", 0.0)) or 0.0
        return (float(seconds) + float(ev)) * processes
    wall = result.get("wall_seconds")
    return float(wall) * processes if wall is not None else None


@dataclass
class Row:
    model: str  # the model's label: its name plus the arguments that differ from the defaults
    dataset: str  # likewise, e.g. cifar10[classes=cat+dog]
    latent_size: int | None
    group: str = ""  # config hash without the seed (bench.storage.identity); "" for old results
    counts: Counter = field(default_factory=Counter)
    values: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    wall: list[float] = field(default_factory=list)
    device: list[float] = field(default_factory=list)  # device seconds of each done cell
    eval_repeats: dict[str, list[list[float]]] = field(default_factory=lambda: defaultdict(list))
    # Per column, aligned with `values`: each seed's evaluation repeats, None where none were recorded.
    seed_repeats: dict[str, list[list[float] | None]] = field(default_factory=lambda: defaultdict(list))
    results: list[dict[str, Any]] = field(default_factory=list)  # every cell's result.json, any status

    @property
    def label(self) -> str:
        """`dcgan z8`: the model and latent size (the dataset is the section's)."""
        return self.model if self.latent_size is None else f"{self.model} z{self.latent_size}"

    @property
    def key(self) -> tuple:
        return (self.model, self.dataset, self.latent_size, self.group)

    def summary(self, column: str) -> stats.Summary | None:
        return self._summaries.get(column) if column in self.values else None

    @cached_property
    def _summaries(self) -> dict[str, stats.Summary]:
        return {c: stats.summarize(v, self.repeats(c)) for c, v in self.values.items() if v}

    def repeats(self, column: str) -> list[list[float] | None] | None:
        """Each seed's evaluation repeats of `column`, aligned with values[column]; None when no seed
        has any (stats then bootstraps the seeds alone)."""
        reps = self.seed_repeats.get(column)
        return reps if reps and any(r is not None for r in reps) else None

    def stat(self, column: str) -> tuple[float, float | None] | None:
        """(mean, std over seeds); std is None for one seed (its spread is unknown, not 0)."""
        s = self.summary(column)
        return None if s is None else (s.mean, s.std)

    def eval_std(self, column: str) -> float | None:
        return stats.pooled_eval_std(self.eval_repeats.get(column, []))


@dataclass
class Pair:
    a: Row  # ranked above b
    b: Row
    p_improvement: float  # P(a better than b)
    p_ci: tuple[float, float] | None
    separation: stats.Separation


@dataclass
class Section:
    """Rows of one dataset scored under one protocol of the main metric, best first."""

    dataset: str
    main: str  # the column (metric name, plus @fingerprint for a minority protocol)
    lower: bool
    rows: list[Row]
    columns: list[str]
    protocol: dict[str, Any]
    ranks: dict[tuple, stats.RankStats] = field(default_factory=dict)
    pairs: list[Pair] = field(default_factory=list)
    ranked: list[Row] = field(default_factory=list)  # best first, whatever order `rows` is shown in

    @property
    def title(self) -> str:
        return f"{self.dataset}: {self.main} ({'lower' if self.lower else 'higher'} is better)"

    def not_separable(self, adjacent_only: bool = False, labels: dict[str, str] | None = None) -> list[str]:
        """Sentences for pairs whose difference of means is not told apart from 0, then one for each
        row with a single seed (its differences are unknown); `labels` maps model labels to the ones
        to print (the terminal's short labels)."""
        labels = labels or {}

        def name(r: Row) -> str:
            short = labels.get(r.model, r.model)
            return short if r.latent_size is None else f"{short} z{r.latent_size}"

        order = {id(r): i for i, r in enumerate(self.ranked or self.rows)}
        out = []
        for p in self.pairs:
            if p.separation.verdict != "not separable":
                continue
            if adjacent_only and abs(order[id(p.a)] - order[id(p.b)]) != 1:
                continue
            out.append(stats.separation_sentence(name(p.a), name(p.b), self.main, p.separation))
        if len(self.rows) > 1:
            out += [
                f"{name(r)} on {self.main}: one seed, so its spread and its separation from the other rows "
                "are unknown"
                for r in self.rows
                if len(r.values[self.main]) == 1
            ]
        return out


@dataclass
class Leaderboard:
    rows: list[Row]
    columns: list[str]
    main: str | None  # the first section's main metric (None when nothing was scored)
    protocols: dict[str, dict[str, Any]]  # column -> protocol
    sections: list[Section] = field(default_factory=list)
    unscored: list[Row] = field(default_factory=list)  # rows with no done cell


def _names(values: list[str] | tuple[str, ...] | None) -> list[str]:
    """Repeatable and comma-separated option values as one list: ["a,b", "c"] -> ["a", "b", "c"]."""
    return [v.strip() for x in values or () for v in x.split(",") if v.strip()]


def _matches(patterns: list[str], *names: str) -> bool:
    return any(fnmatch.fnmatchcase(n, p) for p in patterns for n in names if n)


def select(
    results: list[dict[str, Any]],
    datasets: list[str] | tuple[str, ...] | None = None,
    models: list[str] | tuple[str, ...] | None = None,
) -> list[dict[str, Any]]:
    """The results of the datasets and models asked for, each matched by its name or label (shell
    patterns allowed: `dcgan*`). A pattern that matches nothing is bad input: one line naming what
    the results hold. Ranks are then among the rows kept."""
    kept = results
    for flag, wanted, name, label in (
        ("--dataset", _names(datasets), "dataset", "dataset_label"),
        ("--model", _names(models), "model", "model_label"),
    ):
        if not wanted:
            continue
        known = sorted(
            {str(r.get(label) or r.get(name)) for r in results} | {str(r.get(name)) for r in results}
        )
        for w in wanted:
            if not any(_matches([w], str(r.get(name, "")), str(r.get(label) or "")) for r in results):
                raise BenchError(f"{flag}: no results match {w!r}; the results hold: {', '.join(known)}")
        kept = [r for r in kept if _matches(wanted, str(r.get(name, "")), str(r.get(label) or ""))]
    return kept


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
        # metric itself is their mean. stats uses them for the evaluation spread and the CI.
        recorded = (r.get("protocol") or {}).get("eval_repeats") or {}
        per_key = recorded.get("values") or r.get("eval_repeats") or {}
        for name, repeats in per_key.items():
            row.eval_repeats[column_of(name, r)].append([float(v) for v in repeats])
        for name, value in r.get("metrics", {}).items():
            if cols.hidden(name) or value is None:
                continue
            column = column_of(name, r)
            row.values[column].append(float(value))
            reps = per_key.get(name)
            row.seed_repeats[column].append([float(v) for v in reps] if reps else None)
            protocols.setdefault(column, r.get("protocol", {}))
    _disambiguate(list(rows.values()))
    columns = sorted({c for row in rows.values() for c in row.values}, key=_column_order)
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
            present = [c for c in columns if any(c in r.values for r in left)]
            base = _main_base(present, metric)
            same = [c for c in present if cols.base_name(c) == base]
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
    members.sort(key=lambda r: (sign * r.summary(main).mean, r.model, r.latent_size or 0))
    present = [c for c in columns if any(c in r.values for r in members)]
    section = Section(dataset, main, lower, members, present, protocols.get(main, {}), ranked=list(members))
    ranks = stats.rank_uncertainty(
        {r.key: r.values[main] for r in members}, lower, repeats={r.key: r.repeats(main) for r in members}
    )
    section.ranks = ranks
    for i, a in enumerate(members):
        for b in members[i + 1 :]:
            va, vb = a.values[main], b.values[main]
            section.pairs.append(
                Pair(
                    a,
                    b,
                    stats.prob_improvement(va, vb, lower),
                    stats.prob_improvement_ci(va, vb, lower),
                    stats.separation(va, vb, a.repeats(main), b.repeats(main)),
                )
            )
    return section


def _disambiguate(rows: list[Row]) -> None:
    """Rows whose labels read the same but whose configs differ elsewhere (budget, eval settings)
    get their group hash appended to the model label, so no two rows look alike."""
    seen = Counter((r.model, r.dataset, r.latent_size) for r in rows)
    for r in rows:
        if seen[(r.model, r.dataset, r.latent_size)] > 1 and r.group:
            r.model = f"{r.model} #{r.group}"


def _column_order(c: str) -> tuple:
    return cols.order(c)


# ---------------------------------------------------------------------------------------------------
# Formatting: one function per cell kind, shared by the files, the terminal and the report.


def num(x: float | None) -> str:
    return "-" if x is None else f"{x:.4g}"


def fmt_value(s: stats.Summary | None) -> str:
    """`40 ± 14` (mean ± std over seeds); one seed: `20 (n=1)`, never `± 0`."""
    if s is None:
        return "-"
    return f"{num(s.mean)} {spread(s)}" if s.std is None or s.std == 0 else f"{num(s.mean)} ± {s.std:.2g}"


def spread(s: stats.Summary) -> str:
    """The words for a spread that is no number: one seed, or seeds that all scored the same."""
    return "(n=1)" if s.n == 1 else f"(all {s.n} seeds equal)"


def fmt_ci(s: stats.Summary | None) -> str:
    if s is None:
        return "-"
    if s.ci is None:
        return s.ci_note()
    note = s.ci_note()
    return f"[{num(s.ci[0])}, {num(s.ci[1])}]" + (f" ({note})" if note else "")


def fmt_rank(r: stats.RankStats | None) -> str:
    if r is None:
        return "-"
    lo, hi = r.interval
    return str(lo) if lo == hi else f"{lo}-{hi}"


def hours(seconds: list[float]) -> str:
    return f"{statistics.fmean(seconds) / 3600:.3g}" if seconds else "-"


SECTION_HEADER = ["model", "latent", "n", "mean", "std", "95% CI of mean", "rank (90%)", "P(rank 1)"]
# Shown after "std" when seeds carry evaluation repeats: the evaluation spread of one score, and the
# training-seed spread once that evaluation noise is taken out (stats.EvalNoise).
EVAL_HEADER = ["eval std", "seed std net of eval"]


def section_table(section: Section, extra: list[str] | None = None) -> tuple[list[str], list[list[str]]]:
    """The main metric's statistics per row, then `extra` columns as mean ± std, then outcomes."""
    extra = [c for c in (extra if extra is not None else section_extra(section))]
    eval_spread = any(r.eval_std(section.main) is not None for r in section.rows)
    with_iqm = any(len(r.values[section.main]) >= stats.IQM_MIN_N for r in section.rows)
    at = SECTION_HEADER.index("std") + 1
    header = [*SECTION_HEADER[:at], *(EVAL_HEADER if eval_spread else []), *SECTION_HEADER[at:]]
    header += [*(["IQM"] if with_iqm else []), *extra, "done", "failed", "diverged", "device-h/cell"]
    body = []
    for row in section.rows:
        s = row.summary(section.main)
        noise = [num(row.eval_std(section.main)), fmt_seed_net(s)] if eval_spread else []
        body.append(
            [
                row.model,
                "-" if row.latent_size is None else str(row.latent_size),
                str(s.n),
                num(s.mean),
                "n=1, spread unknown" if s.std is None else f"{s.std:.2g}" if s.std else spread(s),
                *noise,
                fmt_ci(s),
                fmt_rank(section.ranks.get(row.key)),
                f"{section.ranks[row.key].p_first:.2f}" if row.key in section.ranks else "-",
                *([num(s.iqm)] if with_iqm else []),
                *(fmt_value(row.summary(c)) for c in extra),
                str(row.counts["done"]),
                str(row.counts["failed"]),
                str(row.counts["diverged"]),
                hours(row.device),
            ]
        )
    return header, body


def fmt_seed_net(s: stats.Summary) -> str:
    """The training-seed std with the evaluation noise taken out; "-" without repeats or for one seed."""
    if s.noise is None or s.noise.seed_std is None:
        return "-"
    return f"{s.noise.seed_std:.2g}"


def section_extra(section: Section) -> list[str]:
    """The other headline scores of a section (same protocol family as the main one)."""
    return [c for c in section.columns if c != section.main and cols.headline(c)]


def all_metrics_table(section: Section) -> tuple[list[str], list[list[str]]]:
    header = ["model", "latent", *section.columns]
    body = [
        [r.model, "-" if r.latent_size is None else str(r.latent_size)]
        + [fmt_value(r.summary(c)) for c in section.columns]
        for r in section.rows
    ]
    return header, body


def table_rows(lb: Leaderboard, headline_only: bool = False) -> tuple[list[str], list[list[str]]]:
    """One flat table of every row (all sections), mean ± std per column."""
    columns = [c for c in lb.columns if cols.headline(c)] if headline_only else lb.columns
    header = ["model", "dataset", "latent", *columns, "done", "failed", "diverged", "wall s"]
    body = []
    for row in lb.rows:
        body.append(
            [
                row.model,
                row.dataset,
                "-" if row.latent_size is None else str(row.latent_size),
                *(fmt_value(row.summary(c)) for c in columns),
                str(row.counts["done"]),
                str(row.counts["failed"]),
                str(row.counts["diverged"]),
                f"{statistics.fmean(row.wall):.0f}" if row.wall else "-",
            ]
        )
    return header, body


def md_table(header: list[str], body: list[list[str]]) -> str:
    def cell(x: str) -> str:
        return x.replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(map(cell, header)) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(map(cell, r)) + " |" for r in body]
    return "\n".join(lines)


def describe_protocol(protocol: dict[str, Any], column: str) -> str:
    """The protocol of a column in words: extractor, N generated vs real, split, precision, seed."""
    if not protocol:
        return f"`{column}`: no protocol recorded"
    base = cols.base_name(column)
    fp = protocol_fingerprint(protocol, base)
    ext = protocol.get("extractor", "?")
    sha = str(protocol.get("extractor_sha256", ""))[:12]
    acc = protocol.get("extractor_test_accuracy")
    parts = [f"features of {ext}" + (f" (weights sha256 {sha}…" if sha else "")]
    if sha:
        parts[0] += f", its test accuracy {acc:.1%})" if isinstance(acc, float) else ")"
    parts.append(f"{protocol.get('n_generated', '?')} generated vs {protocol.get('n_real', '?')} real images")
    if protocol.get("real_split"):
        parts.append(f"from {protocol['real_split']}")
    if cols.uses_setting(base, "kid_subsets") and protocol.get("kid_subsets"):
        parts.append(f"KID over {protocol['kid_subsets']} subsets of {protocol.get('kid_subset_size')}")
    parts.append(f"{protocol.get('precision', 'fp32')}, seed {protocol.get('seed', '?')}")
    if protocol.get("torch_fidelity"):
        parts.append(f"torch-fidelity {protocol['torch_fidelity']}")
    return f"`{column}`: " + ", ".join(parts) + f"; fingerprint {fp}"


def scored_by_protocol(column: str, protocol: dict[str, Any]) -> bool:
    """Whether a column is a score of the evaluation protocol (it has its own fingerprint there), as
    opposed to a family's test metric (recon, ELBO) or a curve summary."""
    return cols.base_name(column) in protocol.get("fingerprints", {}) or (
        "fingerprints" not in protocol and cols.headline(column)
    )


def _n_generated(section: Section) -> int | None:
    return section.protocol.get("n_generated")


def _sizes(row: Row) -> list[tuple[Any, Any]]:
    """The (N generated, N real) each of a row's done cells was scored at."""
    sizes = []
    for r in row.results:
        p = r.get("protocol") or {}
        if r.get("status") == "done" and p.get("n_generated") is not None:
            sizes.append((p.get("n_generated"), p.get("n_real")))
    return list(dict.fromkeys(sizes))


def _size_words(n: Any, n_real: Any) -> str:
    return f"N={n}" + (f" (vs {n_real} real)" if n_real is not None else "")


def different_n_by_dataset(lb: Leaderboard) -> dict[str, str]:
    """Dataset -> one sentence naming its rows by the N they were scored at, for datasets whose rows
    were scored at more than one N (generated or real): FD is biased upward at small N and the bias
    depends on the model, so those rows are in separate sections and never compared."""
    out = {}
    for dataset in dict.fromkeys(s.dataset for s in lb.sections):
        sections = [s for s in lb.sections if s.dataset == dataset]
        by_size: dict[tuple[Any, Any], list[str]] = defaultdict(list)
        for s in sections:
            for row in s.rows:
                for size in _sizes(row):
                    if row.label not in by_size[size]:
                        by_size[size].append(row.label)
        if len(by_size) < 2:
            continue
        mains = {s.main: _n_generated(s) for s in sections if _n_generated(s) is not None}
        listed = ", ".join(f"{m} at N={n}" for m, n in mains.items())
        named = "; ".join(f"{_size_words(*size)}: {', '.join(rows)}" for size, rows in by_size.items())
        out[dataset] = (
            f"{dataset}: rows were scored at different N ({listed}); they are not compared "
            f"(FD is biased upward at small N, by an amount that depends on the model). {named}."
        )
    return out


def scored_at_different_n(lb: Leaderboard) -> list[str]:
    """Sentences for datasets whose rows were scored at several N, naming the rows at each N."""
    return list(different_n_by_dataset(lb).values())


# How every CI, rank and separation is drawn, in words (the report's protocol text says the same).
STATS_METHOD = (
    f"CI: 95% percentile bootstrap of the mean ({stats.N_BOOTSTRAP} draws, numpy seed "
    f"{stats.BOOTSTRAP_SEED}) over training seeds; with 2 or 3 seeds only 3 or 10 distinct "
    "resamples exist. Where every seed of a row was evaluated R >= 2 times (eval.repeats), the draws "
    "are two-level: seeds with replacement, then each drawn seed's R repeats with replacement, with "
    "the seed means shrunk so that the evaluation noise they already hold is not counted twice "
    "(variance over seeds = evaluation variance / R + training-seed variance: one-way variance "
    "components). eval std: the spread of one evaluation (pooled over seeds); seed std net of eval: "
    "the training-seed spread with the evaluation noise taken out. With no evaluation noise the CI is "
    "the seed bootstrap's; a row whose seeds agree more closely than its evaluation noise allows gets "
    "a wider CI than the seeds alone would give. rank (90%): 5%-95% of the rank over the same draws; "
    "P(rank 1): share of draws in which the row ranks first; two rows are separable when the CI of "
    "the difference of their means excludes 0."
)


def to_markdown(lb: Leaderboard) -> str:
    lines = ["# Leaderboard", ""]
    lines.append(
        "Per dataset and protocol of the main metric; rows sorted by their mean over seeds of done cells. "
        + STATS_METHOD
    )
    different_n = different_n_by_dataset(lb)
    for s in lb.sections:
        lines += ["", f"## {s.title}", "", md_table(*section_table(s)), ""]
        sentences = s.not_separable()
        if sentences:
            lines += ["Not separable:", *(f"- {t}" for t in sentences), ""]
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


def unscored_words(r: Row) -> str:
    latent = "" if r.latent_size is None else f", latent {r.latent_size}"
    counts = ", ".join(f"{n} {k}" for k, n in sorted(r.counts.items()))
    return f"{r.model} on {r.dataset}{latent}: {counts}"


STAT_FIELDS = ("mean", "std", "n", "ci_low", "ci_high", "median", "iqm", "min", "max")


def _stat_values(s: stats.Summary | None) -> list[Any]:
    if s is None:
        return ["", "", 0, "", "", "", "", "", ""]
    ci = s.ci or ("", "")
    return [s.mean, "" if s.std is None else s.std, s.n, ci[0], ci[1], s.median, _blank(s.iqm), s.min, s.max]


def _blank(x: float | None) -> Any:
    return "" if x is None else x


def _placement(lb: Leaderboard) -> dict[int, tuple[Section, stats.RankStats | None]]:
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
            "p_rank1",
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
                *((rank.interval[0], rank.interval[1], rank.p_first) if rank else ("", "", "")),
            ]
        )
    return buf.getvalue()


def _summary_json(s: stats.Summary) -> dict[str, Any]:
    return {
        "mean": s.mean,
        "std": s.std,
        "n": s.n,
        "ci95": list(s.ci) if s.ci else None,
        "ci_note": s.ci_note() or None,
        "median": s.median,
        "iqm": s.iqm,
        "min": s.min,
        "max": s.max,
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
            "rank": {"interval": list(rank.interval), "p_first": rank.p_first} if rank else None,
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
                    "pairs": [
                        {
                            "a": p.a.label,
                            "b": p.b.label,
                            "p_a_better": p.p_improvement,
                            "p_ci95": list(p.p_ci) if p.p_ci else None,
                            "difference_ci95": list(p.separation.diff_ci) if p.separation.diff_ci else None,
                            "verdict": p.separation.verdict,
                        }
                        for p in s.pairs
                    ],
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


# ---------------------------------------------------------------------------------------------------
# The terminal: short labels so a table fits in 80 columns, and a legend back to the full labels.

SHORT_LABEL = 16


def short_labels(labels: list[str], limit: int = SHORT_LABEL) -> dict[str, str]:
    """Full label -> a label of at most `limit` characters: argument names abbreviated to their
    initials (`dcgan[d_width=8,g_width=8]` -> `dcgan[dw=8,gw=8]`), then numbered when still long."""
    out: dict[str, str] = {}
    numbered = 0
    for label in labels:
        short = label
        if len(short) > limit:
            short = re.sub(
                r"([a-z0-9]+(?:_[a-z0-9]+)*)=",
                lambda m: "".join(p[0] for p in m.group(1).split("_")) + "=",
                label,
            )
        if len(short) > limit or short in out.values():
            numbered += 1
            short = f"{label.split('[')[0][: limit - 4]}~{numbered}"
        out[label] = short
    return out


def terminal_tables(lb: Leaderboard, width: int = 80) -> list[Any]:
    """rich Tables for the terminal, one per section, each fitting `width` columns, plus a legend of
    shortened labels; the files keep every column and the full labels."""
    from rich import box
    from rich.table import Table
    from rich.text import Text

    labels = short_labels(list(dict.fromkeys(r.model for r in lb.rows)))
    tables: list[Any] = []
    if not lb.sections:
        tables.append(Text("no finished cells: nothing is ranked yet"))
    for s in lb.sections:
        t = Table(
            title=Text(s.title),
            caption=_caption(s, labels),
            caption_justify="left",
            box=box.SIMPLE_HEAD,
            pad_edge=False,
            padding=(0, 1),
            collapse_padding=True,
        )
        eval_sd = any(r.eval_std(s.main) is not None for r in s.rows)
        # Headers never wrap (min_width: their own length); long values fold inside their column.
        for name, kw in (
            ("model", {"overflow": "fold"}),
            ("z", {"justify": "right"}),
            ("n", {"justify": "right"}),
            ("mean ± sd", {"overflow": "fold"}),
            *((("eval sd", {"justify": "right"}),) if eval_sd else ()),
            ("95% CI", {"overflow": "fold"}),
            ("rank", {"justify": "right"}),
            ("P(1)", {"justify": "right"}),
            ("f/d", {"justify": "right"}),
        ):
            t.add_column(name, min_width=len(name), **kw)
        for r in s.rows:
            sm = r.summary(s.main)
            rank = s.ranks.get(r.key)
            ci = "spread unknown" if sm.ci is None else f"[{num(sm.ci[0])}, {num(sm.ci[1])}]"
            t.add_row(
                Text(labels[r.model]),
                "-" if r.latent_size is None else str(r.latent_size),
                str(sm.n),
                Text(fmt_value(sm)),
                *((num(r.eval_std(s.main)),) if eval_sd else ()),
                Text(ci),
                fmt_rank(rank),
                f"{rank.p_first:.2f}" if rank else "-",
                f"{r.counts['failed']}/{r.counts['diverged']}",
            )
        tables.append(t)
    if lb.unscored:
        t = Table(title="rows without scores", box=box.SIMPLE_HEAD, width=min(width, 80))
        for name in ("model", "dataset", "z", "done/failed/diverged"):
            t.add_column(name, overflow="fold")
        for r in lb.unscored:
            t.add_row(
                Text(labels[r.model]),
                Text(r.dataset),
                str(r.latent_size or "-"),
                f"{r.counts['done']}/{r.counts['failed']}/{r.counts['diverged']}",
            )
        tables.append(t)
    shortened = {full: short for full, short in labels.items() if full != short}
    if shortened:
        legend = Table(title="labels", box=box.SIMPLE_HEAD, width=min(width, 80))
        legend.add_column("short", no_wrap=True)
        legend.add_column("full label", overflow="fold")
        for full, short in shortened.items():
            legend.add_row(Text(short), Text(full))
        tables.append(legend)
    return tables


def _caption(s: Section, labels: dict[str, str]) -> Any:
    from rich.text import Text

    lines = [f"protocol {protocol_fingerprint(s.protocol, cols.base_name(s.main))}; f/d: failed/diverged"]
    if any(r.eval_std(s.main) is not None for r in s.rows):
        lines.append("eval sd: spread of one evaluation (eval.repeats); the CI holds seeds and repeats")
    lines += s.not_separable(adjacent_only=True, labels=labels)
    return Text("\n".join(lines))


def sort_rows(lb: Leaderboard, by: SortBy | str) -> Leaderboard:
    """Reorder each section's rows (and the flat row list the files follow) by `by`."""
    by = SortBy(by)
    if by is SortBy.metric:
        return lb

    def key(r: Row) -> tuple:
        latent = r.latent_size if r.latent_size is not None else -1
        cost = statistics.fmean(r.device) if r.device else float("inf")
        return {
            SortBy.model: (r.model, latent),
            SortBy.latent: (latent, r.model),
            SortBy.cost: (cost, r.model, latent),
            SortBy.seeds: (-r.counts["done"], r.model, latent),
        }[by]

    for s in lb.sections:
        s.rows.sort(key=key)
    lb.unscored.sort(key=key)
    lb.rows = [r for s in lb.sections for r in s.rows] + lb.unscored
    return lb
