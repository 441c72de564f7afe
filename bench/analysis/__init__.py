"""Analyses of trained cells (`bench analyze`). Importing this package registers every built-in one;
a new analysis is one module here with an `@ANALYSES.register(name)` class, imported below."""

from bench.analysis import (  # noqa: F401  (registration)
    arithmetic,
    grad_norms,
    interpolate,
    latent_stats,
    translate,
    traversal,
)
from bench.analysis.base import ANALYSES, Analysis, has_hook

__all__ = ["ANALYSES", "Analysis", "has_hook"]
