"""The size rules of the metrics: one text each, used by config validation (through the metric registry),
the evaluation and the torch-fidelity wrappers, so a too-small N reads the same wherever it is caught.
Each returns None when the sizes are fine, else the problem as "<setting>: <what is wrong>"."""

from __future__ import annotations


def kid_size_problem(subset_size: int, n: int, n_real: int) -> str | None:
    if subset_size <= min(n, n_real):
        return None
    return (
        f"kid_subset_size: {subset_size} is larger than the {min(n, n_real)} images available "
        f"({n} generated, {n_real} real); lower kid_subset_size or raise N"
    )


def isc_size_problem(splits: int, n: int) -> str | None:
    if n >= 2 * splits:
        return None
    return (
        f"isc_splits: {splits} splits need at least {2 * splits} generated images, got {n}; "
        "lower isc_splits or raise N"
    )


def prc_size_problem(neighborhood: int, n: int, n_real: int) -> str | None:
    if min(n, n_real) > neighborhood:
        return None
    return (
        f"prc_neighborhood: {neighborhood} nearest neighbours need more than {neighborhood} images on each "
        f"side, got {n} generated and {n_real} real"
    )
