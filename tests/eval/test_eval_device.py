"""Evaluation on the device: uint8 samples go straight to the extractor (no DataLoader, no host copy),
the features equal torch-fidelity's DataLoader path bit for bit, and the registered FD/KID (float64
torch, bench/metrics/torch_stats.py) equal torch-fidelity's NumPy functions within 1e-6 relative."""

from __future__ import annotations

import pytest
import torch
import torch.utils.data
from torch.utils.data import Dataset
from torch_fidelity.metric_fid import KEY_METRIC_FID, fid_features_to_statistics, fid_statistics_to_metric
from torch_fidelity.metric_kid import KEY_METRIC_KID_MEAN, KEY_METRIC_KID_STD, kid_features_to_metric
from torch_fidelity.utils import get_featuresdict_from_dataset

from bench.config import EvalConfig
from bench.datasets import DATASETS, DataContext
from bench.eval import reference
from bench.eval.evaluate import domain, evaluate_samples
from bench.eval.generate import generated_features
from bench.features import fidelity
from bench.features.fidelity import extract_features, uses_channels_last

IDENTITY = {"dataset": "digits", "split": "test"}


class _OldUInt8Images(Dataset):
    """The Dataset the evaluation fed torch-fidelity's DataLoader before (grayscale repeated)."""

    def __init__(self, images: torch.Tensor) -> None:
        self.images = images

    def __len__(self) -> int:
        return self.images.shape[0]

    def __getitem__(self, i: int) -> torch.Tensor:
        x = self.images[i]
        return x.expand(3, -1, -1) if x.shape[0] == 1 else x


@pytest.fixture(scope="module")
def digits():
    src = DATASETS.get("digits")(DATASETS.get("digits").Args())
    ctx = DataContext.from_env()
    train, test = src.load("train", ctx), src.load("test", ctx)
    return domain(src.info(), train, test, ctx.cache_dir.parent), test, ctx.cache_dir.parent


def _noise_sampler(j: int, size: int, g: torch.Generator) -> torch.Tensor:
    return torch.rand(size, 1, 28, 28, generator=g) * 2 - 1


def test_features_equal_the_dataloader_path_bit_for_bit(digits) -> None:
    ext, test, _ = digits
    images = test.images[:100]
    new = extract_features(images, ext.fidelity_name, ext.weights, 32, False, ext.layers)
    fe = fidelity._feature_extractor(ext.fidelity_name, ext.weights, ext.layers, False, False)
    old = get_featuresdict_from_dataset(_OldUInt8Images(images), fe, 32, False, True, False)
    for layer in ext.layers:
        assert new[layer].dtype == torch.float32
        assert torch.equal(new[layer], old[layer].float()), layer


def test_evaluation_uses_no_dataloader(digits, monkeypatch: pytest.MonkeyPatch) -> None:
    ext, test, cache = digits

    def refused(*args, **kwargs):
        raise AssertionError("a DataLoader was built")

    monkeypatch.setattr(torch.utils.data, "DataLoader", refused)
    monkeypatch.setattr("torch_fidelity.utils.DataLoader", refused)
    ev = EvalConfig(metrics=["fd"], n_samples=120, batch_size=50, sample_block=50)
    scores, _, _ = evaluate_samples(
        _noise_sampler, torch.device("cpu"), test, IDENTITY, ev, ["fd"], {"domain": ext}, cache, False
    )
    assert scores["fd_digits"] > 0


@pytest.mark.usefixtures("one_blas_thread")
def test_registered_fd_and_kid_equal_torch_fidelity_numpy(digits) -> None:
    ext, test, cache = digits
    ev = EvalConfig(
        metrics=["fd", "kid"], n_samples=300, kid_subsets=7, kid_subset_size=100, batch_size=100, seed=3
    )
    scores, _, refs = evaluate_samples(
        _noise_sampler, torch.device("cpu"), test, IDENTITY, ev, ["fd", "kid"], {"domain": ext}, cache, False
    )
    fake = generated_features(
        _noise_sampler, torch.device("cpu"), 300, ev.sample_block, 100, 3, [ext], False
    )[ext.key][ext.fd_layer].double()
    real = refs[ext.key].features[ext.fd_layer].double()
    want_fd = fid_statistics_to_metric(
        fid_features_to_statistics(fake), fid_features_to_statistics(real), verbose=False
    )[KEY_METRIC_FID]
    want_kid = kid_features_to_metric(
        fake, real, kid_subsets=7, kid_subset_size=100, rng_seed=3, verbose=False
    )
    assert abs(scores["fd_digits"] - want_fd) <= 1e-6 * abs(want_fd)
    assert abs(scores["kid_digits"] - want_kid[KEY_METRIC_KID_MEAN]) <= 1e-6 * abs(
        want_kid[KEY_METRIC_KID_MEAN]
    )
    assert abs(scores["kid_digits_std"] - want_kid[KEY_METRIC_KID_STD]) <= 1e-6 * want_kid[KEY_METRIC_KID_STD]
    # The cached reference statistics are float64 torch tensors (FORMAT 2), equal to NumPy's covariance.
    stats = refs[ext.key].stats
    assert stats["sigma"].dtype == torch.float64
    torch.testing.assert_close(
        stats["sigma"], torch.from_numpy(fid_features_to_statistics(real)["sigma"]), rtol=1e-10, atol=1e-12
    )


def test_bf16_is_channels_last_on_cuda_only_and_a_separate_reference(digits) -> None:
    ext, test, _ = digits
    assert uses_channels_last(True, "bf16") and not uses_channels_last(False, "bf16")
    assert not uses_channels_last(True, "fp32")
    images = test.images[:10]
    keys = {
        (precision, cuda): reference.reference_key(IDENTITY, ext, images, None, precision, cuda)
        for precision in ("fp32", "bf16")
        for cuda in (False, True)
    }
    # fp32 features are the same protocol on either device kind; bf16 on CUDA (channels_last) is not
    # the same as bf16 on the CPU (autocast only), and neither is fp32.
    assert keys[("fp32", False)] == keys[("fp32", True)]
    assert len({keys[("fp32", False)], keys[("bf16", False)], keys[("bf16", True)]}) == 3


def test_grayscale_and_rgb_images_on_the_extractor(digits) -> None:
    ext, test, _ = digits
    gray = test.images[:20]
    rgb = gray.expand(-1, 3, -1, -1).contiguous()
    a = extract_features(gray, ext.fidelity_name, ext.weights, 8, False, ext.layers)
    b = extract_features(rgb, ext.fidelity_name, ext.weights, 8, False, ext.layers)
    assert torch.equal(a["features"], b["features"])
    with pytest.raises(TypeError, match="uint8"):
        extract_features(gray.float(), ext.fidelity_name, ext.weights, 8, False, ext.layers)
