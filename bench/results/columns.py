"""What a result key means to the results code: its direction, whether it is a headline score, hidden.

The one place in bench/results that knows metric names. It asks the metric registry
(`bench.eval.metric_registry.output_info`) when that exists, and otherwise falls back to the naming
rules below. Keys may carry an `_ema` suffix (the EMA weights' score, same direction) and an
`@fingerprint` column suffix (another protocol); both are stripped before looking the name up.
"""

from __future__ import annotations

import re
from typing import Any

# Fallback rules, used only while the registry has no entry for a key.
LOWER_IS_BETTER = ("fd_", "fid", "kid_", "class_kl_", "recon_", "bpd", "l1", "cycle_l1", "denoise_mse")
HIGHER_IS_BETTER = (
    "coverage_", "isc", "precision_", "recall_", "cond_accuracy_", "psnr", "ssim", "elbo",
    "codebook_usage", "perplexity", "density_",
)  # fmt: skip
NO_DIRECTION = re.compile(r".*_std$")  # spreads reported next to a score are not scores
HIDDEN = ("eval_seconds",)
# Details kept in result.json but not worth a column each: FD per class, the step of a curve's best.
HIDDEN_PATTERN = re.compile(r".*(_class\d+|_best_step)$")
# The terminal table keeps the sample-quality scores every family shares; the files keep every column.
# (Per-class FD and its mean are a conditional family's own metrics, not headline scores.)
HEADLINE = re.compile(r"^(fid|kid_inception|isc|fd_(?!.*_class)[^@]+|kid_(?!.*_std)[^@]+|coverage_[^@]+)$")
PER_CLASS = re.compile(r"^(.+)_class(\d+)$")


def base_name(key: str) -> str:
    """`fd_digits_ema@1a2b3c4d` -> `fd_digits`: the metric a column holds, without protocol or EMA."""
    name = key.split("@", 1)[0]
    return name[: -len("_ema")] if name.endswith("_ema") else name


def curve_metric(key: str) -> str | None:
    """`curve_fd_digits_best` -> `fd_digits` (the curve summaries' metric), else None."""
    m = re.match(r"^curve_(.+)_(best|final|best_step)$", base_name(key))
    return m.group(1) if m else None


def _registry_info(key: str) -> Any | None:
    try:
        from bench.eval.metric_registry import output_info
    except ImportError:
        return None
    return output_info(base_name(key))


def direction(key: str) -> bool | None:
    """True when lower is better, False when higher is better, None when the key is not a score."""
    info = _registry_info(key)
    if info is not None:
        return info.lower_is_better
    name = curve_metric(key) or base_name(key)
    if NO_DIRECTION.match(name):
        return None
    if name.startswith(LOWER_IS_BETTER):
        return True
    if name.startswith(HIGHER_IS_BETTER):
        return False
    return None


def headline(key: str) -> bool:
    """A sample-quality score every family shares: shown in the terminal and the report's main tables."""
    info = _registry_info(key)
    if info is not None:
        return bool(info.headline)
    return bool(HEADLINE.match(base_name(key)))


def hidden(key: str) -> bool:
    """Kept in result.json but given no column (timings, per-class details, steps of bests)."""
    info = _registry_info(key)
    if info is not None and info.hidden:
        return True
    name = base_name(key)
    return name in HIDDEN or bool(HIDDEN_PATTERN.match(name))


def lower_is_better_words(key: str) -> str:
    d = direction(key)
    return "lower is better" if d else "higher is better" if d is False else "no direction"


# Kinds of diversity scores the stability checks read (bench/results/stability.py), by key prefix.
DIVERSITY_KINDS = {"coverage_": "coverage", "class_kl_": "class_kl", "recall_": "recall"}


def diversity_kind(key: str) -> str | None:
    """ "coverage", "class_kl" or "recall" for the scores a mode-collapse check reads, else None."""
    name = base_name(key)
    if name.endswith("_std") or name.startswith("curve_"):
        return None
    return next((kind for prefix, kind in DIVERSITY_KINDS.items() if name.startswith(prefix)), None)


def shared(key: str) -> bool:
    """A score evaluation gives every family (sample quality, diversity, precision), as opposed to a
    family's own test metric (reconstruction, ELBO, codebook usage, cycle L1, conditional accuracy)."""
    name = base_name(key)
    return headline(key) or diversity_kind(key) is not None or name.startswith("precision_")


def per_class(key: str) -> tuple[str, int] | None:
    """`fd_svhn_class3` -> ("fd_svhn", 3): a score measured per class (conditional families)."""
    m = PER_CLASS.match(base_name(key))
    return (m.group(1), int(m.group(2))) if m else None
