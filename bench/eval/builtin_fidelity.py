"""The built-in metrics on torch-fidelity's extractors and arithmetic: FD/FID, KID, IS, precision/recall,
mode coverage (bench/features/fidelity.py computes them; imported when a metric is computed).

Each is one `register_metric` call (bench/eval/metric_core.py); bench/eval/metric_registry.py imports this
module, so they are registered whenever the registry is.
"""

from __future__ import annotations

from bench.config import EvalConfig
from bench.eval.metric_core import MetricInput, Output, register_metric
from bench.metrics.size_rules import isc_size_problem, kid_size_problem, prc_size_problem


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
