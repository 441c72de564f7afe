"""`--sort`: the order of the rows within each leaderboard section. Kept apart from the leaderboard
(which imports numpy and scipy) so the command line can list the choices without importing them."""

from __future__ import annotations

import statistics
from enum import Enum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bench.results.leaderboard import Leaderboard, Row


class SortBy(str, Enum):
    """`--sort`: the order of rows within each section (ranks and P(rank 1) do not change)."""

    metric = "metric"  # the main metric's mean, best first (the default)
    model = "model"  # model label, then latent size
    latent = "latent"  # latent size, then model label
    cost = "cost"  # mean device-hours per cell, cheapest first
    seeds = "seeds"  # most done seeds first


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
