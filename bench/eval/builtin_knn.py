"""The built-in metrics bench computes itself on any extractor's features: density/coverage, FD-infinity
and the memorisation tests (the maths is in bench/metrics/knn.py and fd_infinity.py).

Their neighbourhood sizes and thresholds are fixed here, part of the code's protocol, so every score of
one code version means the same.
"""

from __future__ import annotations

from bench.config import EvalConfig
from bench.errors import BenchError
from bench.eval.metric_core import MetricInput, Output, register_metric

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
        needs_training=True,
    )
