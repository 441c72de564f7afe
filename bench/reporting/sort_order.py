"""`--sort`: the choices of row order within each leaderboard section. Kept apart from the leaderboard
(which imports numpy and scipy) so the command line can list the choices without importing them; the
leaderboard's `sort_rows` applies them."""

from __future__ import annotations

from enum import Enum


class SortBy(str, Enum):
    """`--sort`: the order of rows within each section (ranks and P(rank 1) do not change)."""

    metric = "metric"  # the main metric's mean, best first (the default)
    model = "model"  # model label, then latent size
    latent = "latent"  # latent size, then model label
    cost = "cost"  # mean device-hours per cell, cheapest first
    seeds = "seeds"  # most done seeds first
