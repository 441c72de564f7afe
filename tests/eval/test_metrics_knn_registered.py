"""Density/coverage and FD-infinity are registered metrics on both extractors, computed from the same
features as bench/metrics/knn.py and fd_infinity.py, with their size rules checked before any sampling."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from bench.config import EvalConfig
from bench.errors import BenchError
from bench.eval import metric_registry as reg
from bench.metrics.knn import density_coverage


def _input(fake: torch.Tensor, real: torch.Tensor, seed: int = 0) -> SimpleNamespace:
    r = real.double().numpy()
    stats = {"mu": r.mean(0), "sigma": np.cov(r, rowvar=False)}
    ns = SimpleNamespace(features={"f": real}, stats=stats, labels=None)
    return SimpleNamespace(fake_fd=fake, real_fd=real, real=ns, ev=EvalConfig(seed=seed))


def test_registered_on_both_extractors_with_directions() -> None:
    for name in ("dc_domain", "dc_inception", "fd_inf_domain", "fd_inf_inception"):
        assert name in reg.metric_names()
    assert reg.output_info("density_digits").lower_is_better is False
    assert reg.output_info("knn_coverage_inception").lower_is_better is False
    assert reg.output_info("fd_inf_digits").lower_is_better is True
    assert reg.output_info("fd_inf_digits_r2").hidden


def test_values_match_the_functions_and_hand_cases() -> None:
    g = torch.Generator().manual_seed(0)
    real = torch.randn(400, 8, generator=g)
    fake = torch.randn(300, 8, generator=g) + 0.5
    density, coverage = reg.get_metric("dc_domain").compute(_input(fake, real))
    want = density_coverage(real, fake, k=reg.DC_NEIGHBORHOOD)
    assert (density, coverage) == (want["density"], want["coverage"])
    # Generated = real: every real ball holds its own centre, so coverage is exactly 1.
    assert reg.get_metric("dc_domain").compute(_input(real, real))[1] == 1.0
    # Same distribution: FD-infinity is far below the finite-N FD's upward bias and near 0.
    same = torch.randn(2000, 8, generator=g)
    fd_inf, r2 = reg.get_metric("fd_inf_domain").compute(_input(same, torch.randn(4000, 8, generator=g)))
    assert abs(fd_inf) < 0.02 and 0 <= r2 <= 1


def test_size_rules_refuse_small_n_before_sampling() -> None:
    ev = EvalConfig()
    with pytest.raises(BenchError, match="FD-infinity .* needs >= 100 images, got 50"):
        reg.check_sizes(ev, ["fd_inf_domain"], 50, 360)
    with pytest.raises(BenchError, match="density/coverage need more than k=5"):
        reg.check_sizes(ev, ["dc_domain"], 5, 360)
    reg.check_sizes(ev, ["dc_domain", "fd_inf_domain"], 100, 360)
