"""The one registry of metrics: what `eval.metrics` accepts and what every result key means.

Import this module, not its parts: it holds the mechanism's public names (bench/eval/metric_core.py:
register_metric, register_output, output_info, ...) and registers the built-in metrics by importing
the modules that declare them, in a fixed order (the order `bench list metrics` shows):
- bench/eval/builtin_fidelity.py: FD/FID, KID, IS, precision/recall, mode coverage;
- bench/eval/builtin_knn.py: density/coverage, FD-infinity, memorisation;
- bench/eval/builtin_outputs.py: the result keys families and the evaluation write besides metrics.

Adding a metric is one `register_metric` call in a module imported below (README, "Adding a metric").
Everything else reads this module: config validation, the size checks, the evaluation loop, the curve
summary, `bench eval`, `bench list metrics`.
"""

from __future__ import annotations

from bench.eval import builtin_fidelity, builtin_knn, builtin_outputs
from bench.eval.builtin_knn import DC_NEIGHBORHOOD, FD_INF_MIN_N
from bench.eval.metric_core import (
    EXTRACTORS,
    PLACEHOLDERS,
    RENAMED,
    Compute,
    MetricDef,
    MetricInput,
    Output,
    OutputInfo,
    SizeRule,
    _drop_outputs,
    as_scored,
    check_sizes,
    fingerprint_settings,
    get_metric,
    metric_names,
    metrics,
    needed_extractors,
    other_outputs,
    output_info,
    register_metric,
    register_output,
    training_extractors,
    unregister_metric,
)

BUILTIN_MODULES = (builtin_fidelity, builtin_knn, builtin_outputs)

__all__ = [
    "BUILTIN_MODULES",
    "DC_NEIGHBORHOOD",
    "EXTRACTORS",
    "FD_INF_MIN_N",
    "PLACEHOLDERS",
    "RENAMED",
    "Compute",
    "MetricDef",
    "MetricInput",
    "Output",
    "OutputInfo",
    "SizeRule",
    "_drop_outputs",
    "as_scored",
    "check_sizes",
    "fingerprint_settings",
    "get_metric",
    "metric_names",
    "metrics",
    "needed_extractors",
    "other_outputs",
    "output_info",
    "register_metric",
    "register_output",
    "training_extractors",
    "unregister_metric",
]
