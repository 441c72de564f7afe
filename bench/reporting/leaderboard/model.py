"""The leaderboard's data: a Row (one model x dataset x latent size config over its seeds), a Section
(the rows of one dataset and protocol of its main metric, with their comparisons), the Leaderboard.

Statistics come from bench/reporting/stats.py (per row) and pairwise.py (between rows); how they are
made is in docs/statistics.md.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from bench.fs import short_hash
from bench.reporting import comparison as cmp
from bench.reporting import stats


def protocol_fingerprint(protocol: dict[str, Any], metric: str | None = None) -> str:
    """The fingerprint evaluation stored for `metric` (bench.eval.protocol: extractor, weight hash, N
    generated, N real, split, resize, torch-fidelity version, seed, precision), else the cell's; results
    from before fingerprints were stored get a hash of their whole protocol."""
    stored = protocol.get("fingerprints", {}).get(metric) or protocol.get("fingerprint")
    if stored:
        return stored
    core = {k: v for k, v in protocol.items() if k not in ("versions", "extractor_test_accuracy")}
    return short_hash(core)


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
        if column not in self.values or not self.values[column]:
            return None
        if column not in self._summaries:
            self._summaries[column] = stats.summarize(self.values[column], self.repeats(column))
        return self._summaries[column]

    @cached_property
    def _summaries(self) -> dict[str, stats.Summary]:
        return {}  # filled on demand: a 1,000-row table summarises only the columns it shows

    def repeats(self, column: str) -> list[list[float] | None] | None:
        """Each seed's evaluation repeats of `column`, aligned with values[column]; None when no seed
        has any."""
        reps = self.seed_repeats.get(column)
        return reps if reps and any(r is not None for r in reps) else None

    def stat(self, column: str) -> tuple[float, float | None] | None:
        """(mean, std over seeds); std is None for one seed (its spread is unknown, not 0)."""
        s = self.summary(column)
        return None if s is None else (s.mean, s.std)

    def eval_std(self, column: str) -> float | None:
        return stats.pooled_eval_std(self.eval_repeats.get(column, []))


@dataclass(frozen=True)
class RankSet:
    """A row's rank confidence set [low, high] (1 = best) from the table's simultaneous tests."""

    low: int
    high: int

    @property
    def interval(self) -> tuple[int, int]:
        return (self.low, self.high)


@dataclass
class Pair:
    a: Row  # ranked above b
    b: Row
    comparison: cmp.Comparison

    @property
    def verdict(self) -> str:
        return self.comparison.verdict


@dataclass
class Section:
    """Rows of one dataset scored under one protocol of the main metric, best first."""

    dataset: str
    main: str  # the column (metric name, plus @fingerprint for a minority protocol)
    lower: bool
    rows: list[Row]
    columns: list[str]
    protocol: dict[str, Any]
    ranks: dict[tuple, RankSet] = field(default_factory=dict)
    pairs: list[Pair] = field(default_factory=list)  # the pairs shown (all of a small table, else adjacent)
    ranked: list[Row] = field(default_factory=list)  # best first, whatever order `rows` is shown in
    comparisons: int = 0  # m: the pairs in the table's Holm family
    all_pairs: bool = True  # whether `pairs` holds every pair of the table

    @property
    def title(self) -> str:
        return f"{self.dataset}: {self.main} ({'lower' if self.lower else 'higher'} is better)"

    def may_be_first(self) -> list[Row]:
        """Rows no row is significantly better than: the group that may rank first."""
        return [r for r in self.ranked if r.key in self.ranks and self.ranks[r.key].low == 1]

    def conclusions(
        self, adjacent_only: bool = False, labels: dict[str, str] | None = None, within: int | None = None
    ) -> list[str]:
        """What a reader may conclude, in words: one sentence per shown pair (only neighbours in the
        ranking when `adjacent_only`; only among the best `within` rows when given), the group that
        may be first, and each row with a single seed; `labels` maps model labels to the ones to
        print (the terminal's short labels)."""
        labels = labels or {}

        def name(r: Row) -> str:
            short = labels.get(r.model, r.model)
            return short if r.latent_size is None else f"{short} z{r.latent_size}"

        order = {id(r): i for i, r in enumerate(self.ranked or self.rows)}
        out = []
        first = self.may_be_first()
        if len(self.ranked) > 1 and first:
            shown = ", ".join(name(r) for r in first[:8]) + (
                f" and {len(first) - 8} more" if len(first) > 8 else ""
            )
            out.append(
                f"may rank first on {self.main}: {shown} (no row is significantly better than them)"
                if len(first) > 1
                else f"only {shown} can rank first on {self.main} (each other row has a significantly "
                "better one)"
            )
        for p in self.pairs:
            if p.verdict == "unknown":
                continue
            if adjacent_only and abs(order[id(p.a)] - order[id(p.b)]) != 1:
                continue
            if within is not None and max(order[id(p.a)], order[id(p.b)]) >= within:
                continue
            out.append(cmp.sentence(name(p.a), name(p.b), self.main, p.comparison))
        if len(self.rows) > 1:
            out += [
                f"{name(r)} on {self.main}: one seed, so its spread and its separation from the other rows "
                "are unknown"
                for r in (self.rows if within is None else self.ranked[:within])
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
