"""The metric registry's mechanism: what a metric declares, how it is registered, how keys are looked up.

bench/eval/metric_registry.py is the face every caller imports: it re-exports these names and imports
the modules that register the built-in metrics (bench/eval/builtin_*.py). This module registers none,
so a built-in module can import it without a cycle.

A metric (`register_metric`) is one name a grid writes in `eval.metrics` (fd, kid, fid ...). It
declares the extractor whose features it is computed on, the result keys it writes (templates over the
extractor's key: `fd_{key}` -> fd_digits; `fid` on Inception), per key whether lower is better and
whether it is a headline column, the size rules it needs (checked before any image is generated), the
settings besides the common protocol that change its value (they go into its fingerprint), and its
compute function. Result keys that models and the evaluation write besides metrics are declared with
`register_output`, so `output_info(key)` answers for every key a result.json holds.

Like torch-fidelity's `register_*` functions, registration validates its arguments and refuses a name
or a result key that is already taken. No torch-fidelity is imported here (bench.config reads the
registry); compute functions import what they need when called.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bench.config import METRIC_NAMES, EvalConfig
from bench.errors import BenchError
from bench.features.extractors import EXTRACTOR_KEYS
from bench.registry import Registry

if TYPE_CHECKING:
    import torch

    from bench.eval.reference import Reference
    from bench.features.extractor import Extractor

# The extractors a metric may ask for, kind -> fixed key (bench/features/extractors.py registers and builds
# them: the dataset's own classifier, torch-fidelity's InceptionV3, VGG16, DINOv2).
# None: the key is the dataset's name (fd_digits); else every metric on it writes that fixed key.
EXTRACTORS = EXTRACTOR_KEYS
# Placeholders a result-key template may use, and what they match.
PLACEHOLDERS = {"key": r"[A-Za-z0-9_]+?", "c": r"\d+", "direction": r"[A-Z]+"}
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_FINGERPRINT = re.compile(r"@[0-9a-f]+$")


@dataclass(frozen=True)
class OutputInfo:
    """What one result key means."""

    name: str  # the result key, e.g. "fd_digits", "kid_digits_std", "fd_digits_ema"
    metric: str  # the registered metric / family metric it belongs to, e.g. "fd"
    lower_is_better: bool
    headline: bool  # shown in the terminal leaderboard
    hidden: bool  # kept in files, no leaderboard column (per-class FD, *_best_step, *_std)
    description: str
    # What a mode-collapse check reads it as: "coverage" (share of modes found, low = collapse),
    # "class_kl" (divergence of the class histogram, high = collapse), "recall"; None for other keys.
    diversity: str | None = None
    shared: bool = False  # computed by a registered metric for every family (not a family's own key)


@dataclass(frozen=True)
class Output:
    """One result key a metric writes, as a template over the extractor key."""

    template: str  # "fd_{key}"
    lower_is_better: bool
    headline: bool = False
    hidden: bool = False
    description: str = ""
    aliases: tuple[tuple[str, str], ...] = ()  # (extractor key, fixed name): (("inception", "fid"),)
    diversity: str | None = None  # see OutputInfo.diversity

    def name(self, key: str) -> str:
        return dict(self.aliases).get(key) or self.template.format(key=key)


@dataclass(frozen=True)
class MetricInput:
    """What a compute function gets: one extractor's features of the generated and the real images."""

    fake: dict[str, torch.Tensor]  # layer -> (N, D) features of the generated images
    real: Reference  # features, FD statistics and labels of the real images
    extractor: Extractor  # fd_layer / logits_layer name the layers
    ev: EvalConfig  # the protocol (seed, KID subsets, IS splits ...)
    num_classes: int  # 0: the reference has no classes

    @property
    def fake_fd(self) -> torch.Tensor:
        return self.fake[self.extractor.fd_layer]

    @property
    def real_fd(self) -> torch.Tensor:
        return self.real.features[self.extractor.fd_layer]


# (eval config, N generated, N real) -> None, or the problem as "<setting>: <what is wrong>"
SizeRule = Callable[["EvalConfig", int, int], "str | None"]
# -> one value per output, in the order of `outputs`; None when the metric does not apply (no labels)
Compute = Callable[[MetricInput], "tuple[float, ...] | None"]


@dataclass(frozen=True)
class MetricDef:
    name: str  # as eval.metrics writes it
    kind: str  # what `bench eval --metrics` calls it on any extractor: fd, kid, isc, prc, coverage
    extractor: str  # one of EXTRACTORS
    outputs: tuple[Output, ...]
    compute: Compute
    sizes: tuple[SizeRule, ...] = ()
    settings: tuple[str, ...] = ()  # EvalConfig fields that change its value beyond the common ones
    description: str = ""
    computed_by: str = "bench"
    # Its compute function reads MetricInput.real.training (the evaluation loads the training split).
    needs_training: bool = False

    def output_names(self, key: str) -> tuple[str, ...]:
        return tuple(o.name(key) for o in self.outputs)


_METRICS: Registry[MetricDef] = Registry("metric")
_OUTPUTS: list[tuple[re.Pattern[str], int, OutputInfo]] = []  # (pattern, literal length, info template)


def _pattern(template: str) -> tuple[re.Pattern[str], int]:
    parts = re.split(r"\{(\w+)\}", template)
    rx, literal = "", 0
    for i, part in enumerate(parts):
        if i % 2:
            if part not in PLACEHOLDERS:
                raise ValueError(f"output template {template!r}: unknown placeholder {{{part}}}")
            rx += f"(?:{PLACEHOLDERS[part]})"
        else:
            rx += re.escape(part)
            literal += len(part)
    return re.compile(f"^{rx}$"), literal


def _add_output(template: str, info: OutputInfo) -> None:
    pattern, literal = _pattern(template)
    for other, _, known in _OUTPUTS:
        if other.pattern == pattern.pattern:
            raise ValueError(f"result key {template!r} is already registered by {known.metric!r}")
    _OUTPUTS.append((pattern, literal, info))
    # Most specific first: fd_{key}_class{c} before fd_{key}, kid_{key}_std before kid_{key}.
    _OUTPUTS.sort(key=lambda t: -t[1])


def register_output(
    template: str,
    metric: str,
    lower_is_better: bool,
    headline: bool = False,
    hidden: bool = False,
    description: str = "",
) -> None:
    """Declare a result key that is not computed by a registered metric (a family's test metric).

    template may use {key} (an extractor key), {c} (a class index), {direction} (AB, ABA ...).
    """
    if not isinstance(template, str) or not template:
        raise ValueError(f"output template must be a non-empty string, got {template!r}")
    if not isinstance(lower_is_better, bool):
        raise ValueError(f"{template}: lower_is_better must be True or False")
    _add_output(template, OutputInfo(template, metric, lower_is_better, headline, hidden, description))


def register_metric(
    name: str,
    kind: str,
    extractor: str,
    outputs: list[Output] | tuple[Output, ...],
    compute: Compute,
    sizes: list[SizeRule] | tuple[SizeRule, ...] = (),
    settings: list[str] | tuple[str, ...] = (),
    description: str = "",
    computed_by: str = "bench",
    needs_training: bool = False,
) -> MetricDef:
    """Make `name` a metric grids can list in eval.metrics; returns its definition."""
    if not isinstance(name, str) or not _NAME.match(name):
        raise ValueError(f"metric name must match {_NAME.pattern}, got {name!r}")
    if name in _METRICS:
        raise ValueError(f"metric {name!r} is already registered")
    if extractor not in EXTRACTORS:
        raise ValueError(
            f"metric {name!r}: unknown extractor {extractor!r}; allowed: {', '.join(EXTRACTORS)}"
        )
    if not outputs or not all(isinstance(o, Output) for o in outputs):
        raise ValueError(f"metric {name!r}: outputs must be a non-empty list of Output")
    if not callable(compute) or not all(callable(s) for s in sizes):
        raise ValueError(f"metric {name!r}: compute and every size rule must be callable")
    unknown = [s for s in settings if s not in EvalConfig.model_fields]
    if unknown:
        raise ValueError(f"metric {name!r}: settings {unknown} are not eval settings")
    spec = MetricDef(
        name,
        kind,
        extractor,
        tuple(outputs),
        compute,
        tuple(sizes),
        tuple(settings),
        description,
        computed_by,
        needs_training,
    )
    fixed = EXTRACTORS[extractor]
    added: list[OutputInfo] = []
    try:
        for o in outputs:
            # On an extractor with a fixed key the result key is concrete ("kid_inception"); it wins over
            # a template ("kid_{key}") because output_info tries the most specific pattern first.
            template = o.name(fixed) if fixed else o.template
            info = OutputInfo(
                template, name, o.lower_is_better, o.headline, o.hidden, o.description, o.diversity, True
            )
            _add_output(template, info)
            added.append(info)
    except ValueError:
        # Only what this call added: a family key of the same metric name (register_output) stays.
        _OUTPUTS[:] = [t for t in _OUTPUTS if not any(t[2] is a for a in added)]
        raise
    _METRICS.register(name)(spec)
    METRIC_NAMES.append(name)
    return spec


def _drop_outputs(metric: str) -> None:
    _OUTPUTS[:] = [t for t in _OUTPUTS if t[2].metric != metric]


def unregister_metric(name: str) -> None:
    """Remove a metric and its result keys (for tests that register an example)."""
    _METRICS.unregister(name)
    METRIC_NAMES.remove(name)
    _drop_outputs(name)


def metric_names() -> list[str]:
    """What eval.metrics accepts, in registration order."""
    return [m.name for m in _METRICS.in_order()]


def get_metric(name: str) -> MetricDef:
    return _METRICS.get(name)


def metrics() -> list[MetricDef]:
    return _METRICS.in_order()


def other_outputs() -> list[OutputInfo]:
    """The registered result keys no metric computes (families' test metrics ...), as templates."""
    return [info for _, _, info in _OUTPUTS if info.metric not in _METRICS]


def needed_extractors(names: list[str] | tuple[str, ...]) -> set[str]:
    """The extractor kinds ("domain", "inception", "vgg16", "dinov2") the metrics `names` compute on."""
    return {get_metric(m).extractor for m in names}


def check_sizes(
    ev: EvalConfig, names: list[str] | tuple[str, ...], n: int, n_real: int, where: str = "eval"
) -> None:
    """Refuse sizes a metric cannot use, before any image is generated or any feature extracted."""
    for m in dict.fromkeys(names):
        for rule in get_metric(m).sizes:
            problem = rule(ev, n, n_real)
            if problem:
                raise BenchError(f"{where}.{problem}")


def output_info(key: str) -> OutputInfo | None:
    """What the result key `key` (optionally with a trailing "@<fingerprint>") means; None if unknown."""
    key = _FINGERPRINT.sub("", key)
    m = re.match(r"^curve_(.+)_(best_step|best|final)$", key)
    if m:
        inner = output_info(m.group(1))
        if inner is None:
            return None
        what = {"best": "best value", "final": "final value", "best_step": "step of the best value"}
        return OutputInfo(
            key,
            inner.metric,
            inner.lower_is_better,
            headline=False,
            hidden=m.group(2) == "best_step",
            description=f"{what[m.group(2)]} of {m.group(1)} during training (eval.curve_every)",
        )
    # Before the templates: fd_{key} would otherwise read fd_digits_ema as the extractor digits_ema.
    if key.endswith("_ema"):
        inner = output_info(key[: -len("_ema")])
        if inner is not None:
            return OutputInfo(
                key,
                inner.metric,
                inner.lower_is_better,
                False,
                inner.hidden,
                f"{inner.description} (EMA weights)",
                inner.diversity,
                inner.shared,
            )
    for pattern, _, info in _OUTPUTS:
        if pattern.match(key):
            return dataclasses.replace(info, name=key)
    return None


# Metric names whose meaning changed: name -> (the name its former meaning has now, a result key only
# the former meaning wrote). `prc` was precision/recall on Inception features until it became VGG16's.
RENAMED: dict[str, tuple[str, str]] = {"prc": ("prc_inception", "precision_inception")}


def as_scored(names: list[str] | tuple[str, ...], result_keys: set[str] | list[str]) -> list[str]:
    """A cell's eval.metrics `names` as the metrics that wrote its result.json keys `result_keys`: a
    cell scored before a name changed meaning is re-scored as it was (`bench eval --fake CELL`)."""
    keys = set(result_keys)
    out = []
    for name in names:
        if name in RENAMED:
            former, former_key = RENAMED[name]
            spec = get_metric(name)
            current = set(spec.output_names(EXTRACTORS[spec.extractor] or ""))
            if former_key in keys and not current & keys:
                name = former
        out.append(name)
    return list(dict.fromkeys(out))


def training_extractors(names: list[str] | tuple[str, ...]) -> set[str]:
    """The extractors ("domain"/"inception") on which `names` need the training split's features."""
    return {spec.extractor for spec in map(get_metric, names) if spec.needs_training}


def fingerprint_settings(name: str, ev: EvalConfig) -> dict[str, Any]:
    """The settings of metric `name` that go into its fingerprint besides the common protocol."""
    return {s: getattr(ev, s) for s in get_metric(name).settings}
