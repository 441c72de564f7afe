"""The metric registry: what every result key means, validation reads it, registration validates its
arguments, and a metric registered by one call is computed by an evaluation."""

from __future__ import annotations

import pytest
import torch

from bench.config import EvalConfig, validate
from bench.datasets import DATASETS, DataContext
from bench.datasets.batches import to_unit_range
from bench.errors import BenchError
from bench.eval import metric_registry as registry
from bench.eval.evaluate import domain, evaluate_samples
from bench.eval.metric_registry import MetricInput, Output, output_info, register_metric

# key -> (metric, lower is better, headline, hidden)
EXPECTED = {
    "fd_digits": ("fd", True, True, False),
    "fd_digits@0123abcd": ("fd", True, True, False),
    "fid": ("fid", True, True, False),
    "kid_digits": ("kid", True, True, False),
    "kid_digits_std": ("kid", True, False, True),
    "kid_inception": ("kid_inception", True, True, False),
    "kid_inception_std": ("kid_inception", True, False, True),
    "isc": ("isc", False, True, False),
    "isc_std": ("isc", True, False, True),
    "coverage_cifar10": ("coverage", False, True, False),
    "class_kl_celeba_domains": ("coverage", True, False, False),
    "precision_digits": ("prc_domain", False, False, False),
    "recall_inception": ("prc_inception", False, False, False),  # result.json files from before VGG16
    "precision_vgg16": ("prc", False, False, False),
    "recall_vgg16": ("prc", False, False, False),
    "fd_dinov2": ("fd_dinov2", True, True, False),
    "cond_accuracy_digits": ("cond_accuracy", False, False, False),
    "fd_digits_class3": ("fd_class", True, False, True),
    "fd_digits_class_mean": ("fd_class", True, False, False),
    "fd_digits_ema": ("fd", True, False, False),
    "isc_ema": ("isc", False, False, False),
    "curve_fd_digits_best": ("fd", True, False, False),
    "curve_isc_final": ("isc", False, False, False),
    "curve_coverage_digits_best_step": ("coverage", False, False, True),
    "recon_mse": ("recon_mse", True, False, False),
    "elbo": ("elbo", False, False, False),
    "bpd": ("bpd", True, False, False),
    "psnr": ("psnr", False, False, False),
    "ssim": ("ssim", False, False, False),
    "codebook_usage": ("codebook_usage", False, False, False),
    "perplexity": ("perplexity", False, False, False),
    "denoise_mse": ("denoise_mse", True, False, False),
    "cycle_l1_ABA": ("cycle_l1", True, False, False),
    "l1": ("l1", True, False, False),
    "eval_seconds": ("eval_seconds", True, False, True),
    "mem_copies_digits": ("mem_domain", True, False, False),
    "mem_authentic_test_digits": ("mem_domain", False, False, True),
    "mem_ct_inception": ("mem_inception", False, False, False),
}


@pytest.mark.parametrize("key", list(EXPECTED))
def test_every_result_key_has_its_meaning(key: str) -> None:
    info = output_info(key)
    assert info is not None, key
    assert (info.metric, info.lower_is_better, info.headline, info.hidden) == EXPECTED[key]
    assert info.name == key.split("@")[0] and info.description


def test_unknown_keys_are_unknown() -> None:
    assert output_info("loss") is None and output_info("curve_loss_best") is None


def test_config_validation_reads_the_registry() -> None:
    assert registry.metric_names() == [
        "fd",
        "kid",
        "coverage",
        "prc_domain",
        "fid",
        "kid_inception",
        "isc",
        "prc",
        "prc_inception",
        "fd_dinov2",
        "dc_domain",
        "fd_inf_domain",
        "dc_inception",
        "fd_inf_inception",
        "mem_domain",
        "mem_inception",
    ]
    with pytest.raises(BenchError) as err:
        validate(EvalConfig, {"curve_metrics": ["fd", "fdi"]}, "eval")
    assert str(err.value) == (
        "eval.curve_metrics.1: input should be 'fd', 'kid', 'coverage', 'prc_domain', 'fid', "
        "'kid_inception', 'isc', 'prc', 'prc_inception', 'fd_dinov2', 'dc_domain', 'fd_inf_domain', "
        "'dc_inception', 'fd_inf_inception', 'mem_domain' or 'mem_inception' (got 'fdi')"
    )


def test_size_rules_are_one_text_each() -> None:
    ev = EvalConfig(metrics=["kid", "isc", "prc"], kid_subset_size=100, isc_splits=10)
    with pytest.raises(
        BenchError, match=r"^eval\.kid_subset_size: 100 is larger than the 30 images available"
    ):
        registry.check_sizes(ev, ev.metrics, 30, 500)
    with pytest.raises(BenchError, match=r"^eval\.isc_splits: 10 splits need at least 20 generated images"):
        registry.check_sizes(ev, ["isc"], 19, 500)
    with pytest.raises(BenchError, match=r"^eval\.prc_neighborhood: 3 nearest neighbours need more than 3"):
        registry.check_sizes(ev, ["prc"], 3, 500)
    registry.check_sizes(ev, ev.metrics, 100, 100)  # exactly enough


def _mean_norm(x: MetricInput) -> tuple[float, ...]:
    return (float(x.fake_fd.norm(dim=1).mean() - x.real_fd.norm(dim=1).mean()),)


def test_registration_refuses_bad_or_taken_names() -> None:
    out = (Output("mean_norm_gap_{key}", True),)
    with pytest.raises(ValueError, match="already registered"):
        register_metric("fd", "fd", "domain", out, _mean_norm)
    with pytest.raises(ValueError, match="unknown extractor 'vgg'"):
        register_metric("norm_gap", "norm_gap", "vgg", out, _mean_norm)
    with pytest.raises(ValueError, match="metric name must match"):
        register_metric("Norm Gap", "norm_gap", "domain", out, _mean_norm)
    with pytest.raises(ValueError, match="result key 'fd_{key}' is already registered by 'fd'"):
        register_metric("fd_again", "fd", "domain", (Output("fd_{key}", True),), _mean_norm)
    with pytest.raises(ValueError, match="not eval settings"):
        register_metric("norm_gap", "norm_gap", "domain", out, _mean_norm, settings=("radius",))
    with pytest.raises(ValueError, match="result key 'psnr' is already registered by 'psnr'"):
        two = (Output("psnr_{key}", False), Output("psnr", False))
        register_metric("psnr", "psnr", "domain", two, _mean_norm)
    assert output_info("psnr").metric == "psnr" and output_info("psnr_digits") is None
    assert "fd_again" not in registry.metric_names() and "norm_gap" not in registry.metric_names()
    assert output_info("fd_digits").metric == "fd"  # a refused registration leaves nothing behind


def test_a_metric_registered_by_one_call_is_computed_in_an_evaluation() -> None:
    src = DATASETS.get("digits")(DATASETS.get("digits").Args())
    ctx = DataContext.from_env()
    train, test = src.load("train", ctx), src.load("test", ctx)
    ext = domain(src.info(), train, test, ctx.cache_dir.parent)
    register_metric(
        "norm_gap",
        "norm_gap",
        "domain",
        (Output("norm_gap_{key}", True, description="mean feature norm, generated minus real"),),
        _mean_norm,
        sizes=(lambda ev, n, n_real: None if n >= 10 else f"n_samples: norm_gap needs 10 images, got {n}",),
    )
    try:
        ev = validate(EvalConfig, {"metrics": ["fd", "norm_gap"], "n_samples": 60}, "eval")
        assert output_info("norm_gap_digits").metric == "norm_gap"

        def real_images(j: int, size: int, g: torch.Generator) -> torch.Tensor:
            return to_unit_range(test.images[j * ev.sample_block : j * ev.sample_block + size])

        run = (real_images, torch.device("cpu"), test, {"dataset": "digits", "split": "test"})
        scores, protocol, refs = evaluate_samples(
            *run, ev, ["fd", "norm_gap"], {"domain": ext}, ctx.cache_dir.parent, False
        )
        feats = refs["digits"].features["features"]
        expected = float(feats[:60].norm(dim=1).mean() - feats.norm(dim=1).mean())
        assert scores["norm_gap_digits"] == pytest.approx(expected, abs=1e-4)
        assert "fd_digits" in scores and protocol["fingerprints"]["norm_gap_digits"]
        small = ev.model_copy(update={"n_samples": 5})
        with pytest.raises(BenchError, match="eval.n_samples: norm_gap needs 10 images, got 5"):
            evaluate_samples(*run, small, ["norm_gap"], {"domain": ext}, ctx.cache_dir.parent, False)
    finally:
        registry.unregister_metric("norm_gap")
    assert output_info("norm_gap_digits") is None and "norm_gap" not in registry.metric_names()
