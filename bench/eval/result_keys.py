"""What a result key means to the results code: its direction, whether it is a headline score, hidden.

Everything here asks the metric registry (`bench.eval.metric_registry.output_info`), the one place that
knows metric names; a key the registry does not know is no score (no direction, no column of its own
kind). Keys may carry an `_ema` suffix (the EMA weights' score, same direction) and an `@fingerprint`
column suffix (another protocol); the registry strips both.
"""

from __future__ import annotations

import re

from bench.eval.metric_registry import OutputInfo, get_metric, metric_names, output_info

# A score measured per class, `<score>_class<c>` (conditional families, bench/eval/conditional.py).
PER_CLASS = re.compile(r"^(.+)_class(\d+)$")


def base_name(key: str) -> str:
    """`fd_digits_ema@1a2b3c4d` -> `fd_digits`: the metric a column holds, without protocol or EMA."""
    name = key.split("@", 1)[0]
    return name[: -len("_ema")] if name.endswith("_ema") else name


def curve_metric(key: str) -> str | None:
    """`curve_fd_digits_best` -> `fd_digits` (the curve summaries' metric), else None."""
    m = re.match(r"^curve_(.+)_(best|final|best_step)$", base_name(key))
    return m.group(1) if m else None


def info(key: str) -> OutputInfo | None:
    return output_info(key)


def direction(key: str) -> bool | None:
    """True when lower is better, False when higher is better, None when the key is not a score
    (unknown, or a spread reported next to a score such as KID's std over subsets)."""
    i = output_info(key)
    if i is None or (i.hidden and base_name(key).endswith("_std")):
        return None
    return i.lower_is_better


def headline(key: str) -> bool:
    """A sample-quality score every family shares: shown in the terminal and the report's main tables."""
    i = output_info(key)
    return bool(i and i.headline)


def hidden(key: str) -> bool:
    """Kept in result.json but given no column (timings, per-class details, steps of bests)."""
    i = output_info(key)
    return bool(i and i.hidden)


def lower_is_better_words(key: str) -> str:
    d = direction(key)
    return "lower is better" if d else "higher is better" if d is False else "no direction"


def diversity_kind(key: str) -> str | None:
    """ "coverage", "class_kl" or "recall" for the scores a mode-collapse check reads, else None."""
    if curve_metric(key) is not None:
        return None
    i = output_info(key)
    return i.diversity if i else None


def shared(key: str) -> bool:
    """A score evaluation gives every family (sample quality, diversity, precision), as opposed to a
    family's own test metric (reconstruction, ELBO, codebook usage, cycle L1, conditional accuracy)."""
    i = output_info(key)
    return bool(i and i.shared and curve_metric(key) is None)


# The word that marks a memorisation metric's flag output (`mem_copies_digits`: 1.0 when the samples
# sit significantly closer to training images than held-out test images do, else 0.0).
COPIES_WORD = "copies"


def copies_flag(key: str) -> bool:
    """Whether `key` is a registered memorisation flag (1.0: copies training images)."""
    return (
        output_info(key) is not None
        and curve_metric(key) is None
        and COPIES_WORD in base_name(key).split("_")
    )


def per_class(key: str) -> tuple[str, int] | None:
    """`fd_svhn_class3` -> ("fd_svhn", 3): a score measured per class (conditional families)."""
    m = PER_CLASS.match(base_name(key))
    return (m.group(1), int(m.group(2))) if m else None


def order(key: str) -> tuple[int, str]:
    """Columns in the order their metrics were registered (FD, KID, coverage, ...), unknown keys last."""
    i = output_info(key)
    names = metric_names()
    return (names.index(i.metric) if i and i.metric in names else len(names), key)


def is_kind(key: str, kind: str) -> bool:
    """Whether `key` is written by a registered metric of this kind ("fd", "kid", ...)."""
    i = output_info(key)
    return bool(i and i.metric in metric_names() and get_metric(i.metric).kind == kind)


def uses_setting(key: str, setting: str) -> bool:
    """Whether the metric writing `key` reads the eval setting (e.g. kid_subsets)."""
    i = output_info(key)
    return bool(i and i.metric in metric_names() and setting in get_metric(i.metric).settings)


def extractor(key: str) -> str | None:
    """The extractor ("domain", "inception") of the registered metric writing `key`, else None."""
    i = output_info(key)
    return get_metric(i.metric).extractor if i and i.metric in metric_names() else None
