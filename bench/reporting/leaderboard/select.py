"""Which results and in what order: --dataset / --model filters, and --sort."""

from __future__ import annotations

import fnmatch
import statistics
from typing import Any

from bench.errors import BenchError
from bench.reporting.leaderboard.model import Leaderboard, Row
from bench.reporting.sort_order import SortBy


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
