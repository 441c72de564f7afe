"""Feature extraction and distribution metrics on torch-fidelity's extractors, on the samples' device.

Images enter as uint8 NCHW tensors (grayscale repeated to 3 channels, as torch-fidelity requires),
never through JPEG files, and go to an extractor registered with torch-fidelity batch by batch where
they already are (the GPU, for generated samples): no DataLoader, no copy to the host. FD and KID are
computed in float64 with torch on the features' device (bench/metrics/torch_stats.py, equal to
torch-fidelity's NumPy functions within 1e-6 relative, tests/metrics/test_torch_stats.py); IS and
precision/recall are torch-fidelity's own functions. Caching and gathering stay under the harness's
control.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch
import torch.nn.functional as F
import torch_fidelity
from torch_fidelity.feature_extractor_base import FeatureExtractorBase
from torch_fidelity.metric_isc import KEY_METRIC_ISC_MEAN, KEY_METRIC_ISC_STD, isc_features_to_metric
from torch_fidelity.metric_prc import KEY_METRIC_PRECISION, KEY_METRIC_RECALL, prc_features_to_metric
from torch_fidelity.registry import FEATURE_EXTRACTORS_REGISTRY
from torch_fidelity.utils import create_feature_extractor

from bench.errors import BenchError
from bench.features.domain.classifier import load_classifier
from bench.metrics import torch_stats
from bench.metrics.size_rules import isc_size_problem, kid_size_problem, prc_size_problem
from bench.metrics.torch_stats import ArrayLike

DOMAIN_EXTRACTOR = "bench-domain"


class DomainFeatureExtractor(FeatureExtractorBase):
    """torch-fidelity wrapper around a `DomainClassifier` file given as feature_extractor_weights_path."""

    def __init__(self, name: str, features_list: list[str], **kwargs: object) -> None:
        super().__init__(name, features_list)
        path = kwargs.get("feature_extractor_weights_path")
        if not path:
            raise ValueError("the domain extractor needs feature_extractor_weights_path")
        self.net = load_classifier(Path(str(path)))

    @staticmethod
    def get_provided_features_list() -> tuple[str, ...]:
        return ("features", "logits")

    @staticmethod
    def get_default_feature_layer_for_metric(metric: str) -> str:
        return "logits" if metric == "isc" else "features"

    @staticmethod
    def can_be_compiled() -> bool:
        return False

    @staticmethod
    def get_dummy_input_for_compile() -> torch.Tensor:
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        x = x.float().div(127.5).sub(1.0)
        if self.net.channels == 1:
            x = x.mean(dim=1, keepdim=True)  # grayscale was repeated to 3 channels; undo it exactly
        if x.shape[-1] != self.net.resolution:
            x = F.interpolate(
                x, size=(self.net.resolution,) * 2, mode="bilinear", antialias=True, align_corners=False
            )
        feats, logits = self.net(x)
        out = {"features": feats, "logits": logits[0]}
        return tuple(out[k].float() for k in self.features_list)


if DOMAIN_EXTRACTOR not in FEATURE_EXTRACTORS_REGISTRY:
    torch_fidelity.register_feature_extractor(DOMAIN_EXTRACTOR, DomainFeatureExtractor)


# Building an extractor loads its weights (95 MB for Inception): keep one per file, layer set, device
# and memory format.
_extractors: dict[tuple, FeatureExtractorBase] = {}


def _feature_extractor(
    extractor: str, weights_path: Path | None, layers: tuple[str, ...], cuda: bool, channels_last: bool
) -> FeatureExtractorBase:
    stat = weights_path.stat() if weights_path else None
    key = (
        extractor,
        str(weights_path),
        stat and (stat.st_size, stat.st_mtime_ns),
        layers,
        cuda,
        channels_last,
    )
    if key not in _extractors:
        # torch-fidelity's Inception reads its file with torch.load(weights_only=False); callers pass
        # only files whose SHA-256 matched the manifest (bench.features.assets.verify), never arbitrary ones.
        fe = create_feature_extractor(
            extractor,
            list(layers),
            cuda=cuda,
            feature_extractor_weights_path=str(weights_path) if weights_path else None,
            verbose=False,
        )
        _extractors[key] = fe.to(memory_format=torch.channels_last) if channels_last else fe
    return _extractors[key]


def uses_channels_last(cuda: bool, precision: str) -> bool:
    """bf16 extraction on CUDA also runs the extractor channels_last (NHWC: the layout bf16 tensor-core
    convolutions want); on the CPU bf16 is autocast only, as it always was."""
    return cuda and precision == "bf16"


@torch.no_grad()
def extract_features(
    images: torch.Tensor,
    extractor: str,
    weights_path: Path | None,
    batch_size: int,
    cuda: bool,
    layers: tuple[str, ...] | None = None,
    precision: str = "fp32",
) -> dict[str, torch.Tensor]:
    """Features of uint8 NCHW images (on any device), keyed by layer: float32 on the extractor's device.

    The images go to the extractor batch by batch as they are (a slice, moved to the device only when
    they are not there yet, grayscale repeated to the 3 channels torch-fidelity's extractors take), and
    the features stay on the device: no DataLoader, no host round trip. In fp32 the features are
    bit-identical to torch-fidelity's `get_featuresdict_from_dataset` on the same images
    (tests/eval/test_eval_device.py). precision "bf16" runs the extractor under bf16 autocast (README,
    "bf16 feature extraction", for the measured effect on FD), channels_last on CUDA
    (`uses_channels_last`); the features are returned in float32 either way.
    """
    if images.dtype != torch.uint8 or images.dim() != 4 or images.shape[1] not in (1, 3):
        raise TypeError(f"images must be uint8 (N, 1 or 3, H, W), got {images.dtype} {tuple(images.shape)}")
    if layers is None:
        layers = tuple(FEATURE_EXTRACTORS_REGISTRY[extractor].get_provided_features_list())
    channels_last = uses_channels_last(cuda, precision)
    fe = _feature_extractor(extractor, weights_path, layers, cuda, channels_last)
    device = next(fe.parameters()).device
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16")
    chunks: dict[str, list[torch.Tensor]] = {k: [] for k in fe.features_list}
    for start in range(0, images.shape[0], batch_size):
        x = images[start : start + batch_size].to(device, non_blocking=True)
        x = x.expand(-1, 3, -1, -1) if x.shape[1] == 1 else x
        with autocast:
            out = fe(x.contiguous(memory_format=fmt))
        for k, v in zip(fe.features_list, out, strict=True):
            chunks[k].append(v.float())
    return {k: torch.cat(v) for k, v in chunks.items()}


def feature_statistics(features: torch.Tensor) -> dict[str, torch.Tensor]:
    """Mean and covariance (float64, on the features' device; bench.metrics.torch_stats)."""
    mu, sigma = torch_stats.feature_statistics(features)
    return {"mu": mu, "sigma": sigma}


def frechet_distance_from_stats(fake: dict[str, ArrayLike], real: dict[str, ArrayLike]) -> float:
    """FD of two {"mu", "sigma"} (tensors or torch-fidelity's NumPy arrays), on fake's device."""
    return torch_stats.frechet_distance(fake["mu"], fake["sigma"], real["mu"], real["sigma"])


def frechet_distance(fake: torch.Tensor, real: torch.Tensor) -> float:
    return frechet_distance_from_stats(feature_statistics(fake), feature_statistics(real))


def inception_score(logits: torch.Tensor, splits: int, seed: int) -> tuple[float, float]:
    """IS (mean, std over splits) of class scores; refuses fewer samples than splits."""
    problem = isc_size_problem(splits, len(logits))
    if problem:
        raise BenchError(f"eval.{problem}")
    out = isc_features_to_metric(logits, splits=splits, shuffle=True, rng_seed=seed)
    return float(out[KEY_METRIC_ISC_MEAN]), float(out[KEY_METRIC_ISC_STD])


def precision_recall(fake: torch.Tensor, real: torch.Tensor, neighborhood: int) -> tuple[float, float]:
    """Improved precision and recall (Kynkaanniemi et al. 2019) with k = neighborhood."""
    problem = prc_size_problem(neighborhood, len(fake), len(real))
    if problem:
        raise BenchError(f"eval.{problem}")
    out = prc_features_to_metric(
        fake.float(), real.float(), prc_neighborhood=neighborhood, prc_batch_size=10000, verbose=False
    )
    return float(out[KEY_METRIC_PRECISION]), float(out[KEY_METRIC_RECALL])


def kernel_distance(
    fake: torch.Tensor, real: torch.Tensor, subsets: int, subset_size: int, seed: int
) -> tuple[float, float]:
    """KID (mean, std over subsets) on fake's device (bench.metrics.torch_stats.kid: torch-fidelity's
    subsets and formula, float64); refuses too few samples before any work is done."""
    problem = kid_size_problem(subset_size, len(fake), len(real))
    if problem:
        raise BenchError(f"eval.{problem}")
    return torch_stats.kid(fake, real, subsets, subset_size, seed)


# A sample counts as recognised when the classifier is at least as sure of it (top softmax probability)
# as of this share of the real images; without real logits, a fixed probability.
REAL_SURE_SHARE = 0.9
CONFIDENT = 0.9


def mode_coverage(
    fake_logits: torch.Tensor,
    real_labels: torch.Tensor,
    num_classes: int,
    real_logits: torch.Tensor | None = None,
) -> dict[str, float]:
    """How many classes the classifier finds among the samples, and how far their mix is from the data's.

    A class counts as covered when at least a tenth of its fair share of samples (N / K) is classified
    as it, so that a few stray misclassifications of a collapsed generator do not count as coverage.
    class_kl is KL(generated class histogram || real class histogram), in nats.

    Both also fall for samples that miss no class but that the classifier cannot read (noise, blur: it
    sends them, often with high softmax, to a few classes). So `recognised` is the share of samples the
    classifier is at least as sure of as of REAL_SURE_SHARE of the real images (`real_logits`; else
    softmax >= CONFIDENT), and `confident_coverage` the coverage among those alone: a class is missing
    only when the samples the classifier recognises still miss it, and only when most are recognised.
    """
    n = fake_logits.shape[0]
    gen = torch.bincount(fake_logits.argmax(1), minlength=num_classes).double().cpu()
    real = torch.bincount(real_labels, minlength=num_classes).double().cpu()
    threshold = max(1.0, 0.1 * n / num_classes)
    p, q = gen / gen.sum(), real / real.sum()
    mask = p > 0
    kl = float((p[mask] * (p[mask] / q[mask]).log()).sum()) if bool((q[mask] > 0).all()) else math.inf
    conf, picked = fake_logits.double().softmax(1).max(1)
    level = CONFIDENT
    if real_logits is not None and len(real_logits):
        real_conf = real_logits.double().softmax(1).max(1).values
        level = float(torch.quantile(real_conf, 1 - REAL_SURE_SHARE))
    sure = torch.bincount(picked[conf >= level].cpu(), minlength=num_classes).double()
    n_sure = float(sure.sum())
    confident = float((sure >= max(1.0, 0.1 * n_sure / num_classes)).double().mean()) if n_sure else 0.0
    return {
        "coverage": float((gen >= threshold).double().mean()),
        "class_kl": kl,
        "recognised": n_sure / n,
        "confident_coverage": confident,
    }
