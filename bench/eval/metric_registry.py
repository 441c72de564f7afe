"""The one registry of metrics: what `eval.metrics` accepts and what every result key means.

A metric (`register_metric`) is one name a grid writes in `eval.metrics` (fd, kid, fid ...). It
declares the extractor whose features it is computed on, the result keys it writes (templates over the
extractor's key: `fd_{key}` -> fd_digits; `fid` on Inception), per key whether lower is better and
whether it is a headline column, the size rules it needs (checked before any image is generated), the
settings besides the common protocol that change its value (they go into its fingerprint), and its
compute function. Everything else reads this module: config validation, the size checks, the
evaluation loop, the curve summary, `bench eval`, `bench list metrics`.

Result keys that models and the evaluation write besides metrics (a VAE's recon_mse, a conditional
model's fd_<ds>_class<c>, the curve's curve_<name>_best ...) are registered with `register_output`, so
`output_info(key)` answers for every key a result.json holds.

Adding a metric is one `register_metric` call (README, "Adding a metric"). Like torch-fidelity's
`register_*` functions, registration validates its arguments and refuses a name or a result key that
is already taken. This module imports no torch-fidelity (bench.config reads it); compute functions
import what they need when called.
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
from bench.metrics.size_rules import isc_size_problem, kid_size_problem, prc_size_problem

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

    def output_names(self, key: str) -> tuple[str, ...]:
        return tuple(o.name(key) for o in self.outputs)


_METRICS: dict[str, MetricDef] = {}
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
    _METRICS[name] = spec
    METRIC_NAMES.append(name)
    return spec


def _drop_outputs(metric: str) -> None:
    _OUTPUTS[:] = [t for t in _OUTPUTS if t[2].metric != metric]


def unregister_metric(name: str) -> None:
    """Remove a metric and its result keys (for tests that register an example)."""
    _METRICS.pop(name)
    METRIC_NAMES.remove(name)
    _drop_outputs(name)


def metric_names() -> list[str]:
    """What eval.metrics accepts, in registration order."""
    return list(_METRICS)


def get_metric(name: str) -> MetricDef:
    try:
        return _METRICS[name]
    except KeyError:
        raise BenchError(f"unknown metric {name!r}; allowed: {', '.join(_METRICS)}") from None


def metrics() -> list[MetricDef]:
    return list(_METRICS.values())


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


def fingerprint_settings(name: str, ev: EvalConfig) -> dict[str, Any]:
    """The settings of metric `name` that go into its fingerprint besides the common protocol."""
    return {s: getattr(ev, s) for s in get_metric(name).settings}


def _kid_rule(ev: EvalConfig, n: int, n_real: int) -> str | None:
    return kid_size_problem(ev.kid_subset_size, n, n_real)


def _isc_rule(ev: EvalConfig, n: int, n_real: int) -> str | None:
    return isc_size_problem(ev.isc_splits, n)


def _prc_rule(ev: EvalConfig, n: int, n_real: int) -> str | None:
    return prc_size_problem(ev.prc_neighborhood, n, n_real)


# ---- compute functions of the built-in metrics (torch-fidelity's arithmetic, imported when used) ----


def _fd(x: MetricInput) -> tuple[float, ...]:
    # float64 torch on the features' device (bench/metrics/torch_stats.py); torch-fidelity's NumPy
    # `fid_statistics_to_metric` gives the same value within 1e-6 relative (tests/eval/test_eval_device.py).
    from bench.metrics.torch_stats import feature_statistics, frechet_distance

    mu, sigma = feature_statistics(x.fake_fd)
    return (frechet_distance(mu, sigma, x.real.stats["mu"], x.real.stats["sigma"]),)


def _kid(x: MetricInput) -> tuple[float, ...]:
    # torch-fidelity's subsets and formula in float64 torch on the features' device (torch_stats.kid),
    # behind the size check of `kernel_distance`.
    from bench.features.fidelity import kernel_distance

    return kernel_distance(x.fake_fd, x.real_fd, x.ev.kid_subsets, x.ev.kid_subset_size, x.ev.seed)


def _isc(x: MetricInput) -> tuple[float, ...]:
    from bench.features.fidelity import inception_score

    return inception_score(x.fake[x.extractor.logits_layer], x.ev.isc_splits, x.ev.seed)


def _prc(x: MetricInput) -> tuple[float, ...]:
    from bench.features.fidelity import precision_recall

    return precision_recall(x.fake_fd, x.real_fd, x.ev.prc_neighborhood)


def _coverage(x: MetricInput) -> tuple[float, ...] | None:
    from bench.features.fidelity import mode_coverage

    if x.real.labels is None or x.num_classes == 0:
        return None  # coverage needs the classes of a labelled reference
    layer = x.extractor.logits_layer
    cov = mode_coverage(x.fake[layer], x.real.labels, x.num_classes, x.real.features.get(layer))
    return cov["coverage"], cov["class_kl"], cov["recognised"], cov["confident_coverage"]


def _fd_outputs() -> tuple[Output, ...]:
    return (
        Output(
            "fd_{key}",
            True,
            headline=True,
            description="Frechet distance of feature Gaussians",
            aliases=(("inception", "fid"),),
        ),
    )


def _kid_outputs() -> tuple[Output, ...]:
    return (
        Output("kid_{key}", True, headline=True, description="kernel (MMD, cubic) distance, subset mean"),
        Output("kid_{key}_std", True, hidden=True, description="KID's std over subsets"),
    )


def _prc_outputs() -> tuple[Output, ...]:
    return (
        Output("precision_{key}", False, description="improved precision (k nearest neighbours)"),
        Output(
            "recall_{key}", False, description="improved recall (k nearest neighbours)", diversity="recall"
        ),
    )


_TF = "torch-fidelity"
# FD and KID: features from torch-fidelity's extractors, the statistic in float64 torch on their device
# (bench/metrics/torch_stats.py, equal to torch-fidelity's NumPy formulas within 1e-6 relative).
_TS = "torch-fidelity features, bench float64 statistic"
register_metric(
    "fd", "fd", "domain", _fd_outputs(), _fd, description="FD on the domain classifier", computed_by=_TS
)
register_metric(
    "kid",
    "kid",
    "domain",
    _kid_outputs(),
    _kid,
    sizes=(_kid_rule,),
    settings=("kid_subsets", "kid_subset_size"),
    description="KID on the domain classifier",
    computed_by=_TS,
)
register_metric(
    "coverage",
    "coverage",
    "domain",
    (
        Output(
            "coverage_{key}",
            False,
            headline=True,
            description="share of classes the classifier finds among samples (>= 10% of fair share)",
            diversity="coverage",
        ),
        Output(
            "class_kl_{key}",
            True,
            description="KL(generated class histogram || real), nats",
            diversity="class_kl",
        ),
        # Coverage and class KL also fall for complete but unreadable samples; these two tell a missing
        # class (missing among the confidently recognised samples too) from unrecognisable samples.
        Output(
            "recognised_{key}",
            False,
            description="share of samples the classifier is as sure of as of 90% of the real images",
            diversity="recognised",
        ),
        Output(
            "confident_coverage_{key}",
            False,
            description="coverage among the recognised samples only (a class missing there is missing)",
            diversity="confident_coverage",
        ),
    ),
    _coverage,
    description="mode coverage and class KL on the domain classifier",
)
register_metric(
    "prc_domain",
    "prc",
    "domain",
    _prc_outputs(),
    _prc,
    sizes=(_prc_rule,),
    settings=("prc_neighborhood",),
    description="precision/recall on the domain classifier",
    computed_by=_TF,
)
register_metric(
    "fid", "fd", "inception", _fd_outputs(), _fd, description="FID: FD on InceptionV3 2048-d", computed_by=_TS
)
register_metric(
    "kid_inception",
    "kid",
    "inception",
    _kid_outputs(),
    _kid,
    sizes=(_kid_rule,),
    settings=("kid_subsets", "kid_subset_size"),
    description="KID on InceptionV3 features",
    computed_by=_TS,
)
register_metric(
    "isc",
    "isc",
    "inception",
    (
        Output(
            "isc_{key}",
            False,
            headline=True,
            description="Inception Score, mean over splits",
            aliases=(("inception", "isc"),),
        ),
        Output(
            "isc_{key}_std",
            True,
            hidden=True,
            description="Inception Score's std over splits",
            aliases=(("inception", "isc_std"),),
        ),
    ),
    _isc,
    sizes=(_isc_rule,),
    settings=("isc_splits",),
    description="Inception Score over eval.isc_splits splits",
    computed_by=_TF,
)
# Precision/recall as torch-fidelity's `prc` and Kynkaanniemi et al. compute it: on VGG16 fc2 features.
register_metric(
    "prc",
    "prc",
    "vgg16",
    _prc_outputs(),
    _prc,
    sizes=(_prc_rule,),
    settings=("prc_neighborhood",),
    description="precision/recall on VGG16 fc2 features (torch-fidelity's default, as the paper)",
    computed_by=_TF,
)
# Before VGG16 became `prc`, `prc` was this one; its result keys (precision_inception ...) keep reading.
register_metric(
    "prc_inception",
    "prc",
    "inception",
    _prc_outputs(),
    _prc,
    sizes=(_prc_rule,),
    settings=("prc_neighborhood",),
    description="precision/recall on InceptionV3 features (not comparable with published `prc`)",
    computed_by=_TF,
)
register_metric(
    "fd_dinov2",
    "fd",
    "dinov2",
    _fd_outputs(),
    _fd,
    description="FD on DINOv2 ViT-S/14 CLS features (384-d)",
    computed_by=_TS,
)


# ---- metrics bench computes itself on any extractor's features (bench/metrics/knn.py, fd_infinity.py) ----

DC_NEIGHBORHOOD = 5  # k of Naeem et al. 2020 (their recommended value), fixed: part of the code's protocol
FD_INF_MIN_N = 100  # the smallest of the fit's 15 subset sizes is a tenth of N


def _dc(x: MetricInput) -> tuple[float, ...]:
    from bench.metrics.knn import density_coverage

    dc = density_coverage(x.real_fd, x.fake_fd, k=DC_NEIGHBORHOOD)
    return dc["density"], dc["coverage"]


def _fd_inf(x: MetricInput) -> tuple[float, ...]:
    from bench.metrics.fd_infinity import fd_infinity, fd_infinity_sizes

    out = fd_infinity(
        x.fake_fd, (x.real.stats["mu"], x.real.stats["sigma"]), fd_infinity_sizes(len(x.fake_fd)), x.ev.seed
    )
    return float(out["fd_inf"]), float(out["r2"])


def _dc_rule(ev: EvalConfig, n: int, n_real: int) -> str | None:
    if min(n, n_real) <= DC_NEIGHBORHOOD:
        k, got = DC_NEIGHBORHOOD, min(n, n_real)
        return f"n_samples: density/coverage need more than k={k} images per side, got {got}"
    return None


def _fd_inf_rule(ev: EvalConfig, n: int, n_real: int) -> str | None:
    if n < FD_INF_MIN_N:
        return (
            f"n_samples: FD-infinity fits FD at 15 subset sizes and needs >= {FD_INF_MIN_N} images, got {n}"
        )
    return None


for _ext, _suffix in (("domain", "_domain"), ("inception", "_inception")):
    register_metric(
        f"dc{_suffix}",
        "dc",
        _ext,
        (
            Output(
                "density_{key}",
                False,
                description="density (Naeem 2020): mean real k-NN balls per sample / k",
            ),
            Output("knn_coverage_{key}", False, description="coverage (Naeem 2020): share of real balls hit"),
        ),
        _dc,
        sizes=(_dc_rule,),
        description=f"density and coverage, k={DC_NEIGHBORHOOD} nearest real neighbours ({_ext} features)",
    )
    register_metric(
        f"fd_inf{_suffix}",
        "fd_inf",
        _ext,
        (
            Output(
                "fd_inf_{key}", True, description="FD extrapolated to N -> infinity (Chong & Forsyth 2020)"
            ),
            Output("fd_inf_{key}_r2", False, hidden=True, description="R^2 of the FD(N) = a + b/N fit"),
        ),
        _fd_inf,
        sizes=(_fd_inf_rule,),
        settings=("seed",),
        description=f"bias-free FD: FD at 15 subset sizes, linear in 1/N, intercept ({_ext} features)",
    )


# ---- memorisation: generated samples against the generators' training split (bench/metrics/knn.py) ----

# The rule and its settings are fixed here, so every mem_* score of one code version means the same.
MEM_CELLS = 5  # k-means cells of Meehan et al.'s C_T (few: each keeps enough test samples at small N)
MEM_MIN_FAKE_PER_CELL = 20  # the paper's tau: a cell enters C_T with at least this many samples
MEM_Z_THRESHOLD = -3.0  # copies when C_T < -3: a one-sided p of about 0.0013 for a Z score ...
MEM_AUTHENTICITY_RATIO = 0.5  # ... or when the authentic share is below half the test split's
MEM_SEED = 0  # k-means of the training features: one partition per training split, whatever eval.seed
# Metrics whose compute function reads MetricInput.real.training (the evaluation loads it for them).
TRAINING_METRICS: set[str] = set()


def training_extractors(names: list[str] | tuple[str, ...]) -> set[str]:
    """The extractors ("domain"/"inception") on which `names` need the training split's features."""
    return {get_metric(m).extractor for m in names if m in TRAINING_METRICS}


def _mem(x: MetricInput) -> tuple[float, ...]:
    from bench.metrics.knn import memorisation

    if x.real.training is None:
        raise BenchError("memorisation metrics need the training split's features; none were loaded")
    out = memorisation(
        x.real.training.features[x.extractor.fd_layer],
        x.real_fd,
        x.fake_fd,
        cells=MEM_CELLS,
        min_fake_per_cell=MEM_MIN_FAKE_PER_CELL,
        seed=MEM_SEED,
        z_threshold=MEM_Z_THRESHOLD,
        authenticity_ratio=MEM_AUTHENTICITY_RATIO,
    )
    return (
        out["authentic_share"],
        out["authentic_share_test"],
        out["c_t"],
        out["z_u"],
        1.0 if out["copies"] else 0.0,
    )


def _mem_rule(ev: EvalConfig, n: int, n_real: int) -> str | None:
    if min(n, n_real) < MEM_MIN_FAKE_PER_CELL:
        return (
            f"n_samples: the memorisation test needs at least {MEM_MIN_FAKE_PER_CELL} generated and test "
            f"images, got {n} and {n_real}"
        )
    return None


for _ext, _suffix in (("domain", "_domain"), ("inception", "_inception")):
    register_metric(
        f"mem{_suffix}",
        "mem",
        _ext,
        (
            Output(
                "mem_authentic_{key}",
                False,
                description="share of samples farther from their nearest training image than it is from "
                "its own nearest training neighbour (authenticity, Alaa et al. 2022)",
            ),
            Output(
                "mem_authentic_test_{key}",
                False,
                hidden=True,
                description="the same share for held-out test images: what honest samples score",
            ),
            Output(
                "mem_ct_{key}",
                False,
                description="data-copying Z (C_T, Meehan et al. 2020): << 0 copies training images, "
                ">> 0 underfits",
            ),
            Output(
                "mem_zu_{key}",
                False,
                hidden=True,
                description="Mann-Whitney Z of sample vs test distances to the training set, one cell",
            ),
            Output(
                "mem_copies_{key}",
                True,
                description=f"1.0 when C_T < {MEM_Z_THRESHOLD:g} or the authentic share is below "
                f"{MEM_AUTHENTICITY_RATIO:g} x the test split's, else 0.0",
            ),
        ),
        _mem,
        sizes=(_mem_rule,),
        description=f"memorisation: samples vs the training and test splits ({_ext} features)",
    )
    TRAINING_METRICS.add(f"mem{_suffix}")


# ---- result keys written besides the metrics: conditional models, model families, the evaluation ----

for _template, _metric, _lower, _hidden, _desc in (
    ("cond_accuracy_{key}", "cond_accuracy", False, False, "classifier accuracy on conditioned samples"),
    ("fd_{key}_class{c}", "fd_class", True, True, "FD of samples asked for class c vs real images of c"),
    ("fd_{key}_class_mean", "fd_class", True, False, "mean over classes of the per-class FD"),
    ("recon_mse", "recon_mse", True, False, "reconstruction MSE per pixel, [0, 1] scale (test split)"),
    ("recon_bce", "recon_bce", True, False, "reconstruction BCE per pixel, nats (test split)"),
    ("psnr", "psnr", False, False, "PSNR in dB (reconstructions, or pix2pix translations)"),
    ("elbo", "elbo", False, False, "ELBO in nats per image (one posterior sample)"),
    ("bpd", "bpd", True, False, "-ELBO in bits per dimension"),
    ("codebook_usage", "codebook_usage", False, False, "share of the VQ codebook used on the test split"),
    ("perplexity", "perplexity", False, False, "exp(entropy) of the code histogram: codes in effective use"),
    ("denoise_mse", "denoise_mse", True, False, "DDPM noise-prediction MSE on the test split"),
    ("cycle_l1_{direction}", "cycle_l1", True, False, "mean absolute cycle error per pixel ([-1, 1])"),
    ("l1", "l1", True, False, "pix2pix mean absolute error to the true targets"),
    ("ssim", "ssim", False, False, "pix2pix SSIM to the true targets (Wang et al. 2004)"),
    ("eval_seconds", "eval_seconds", True, True, "wall time of the evaluation"),
):
    register_output(_template, _metric, _lower, hidden=_hidden, description=_desc)
