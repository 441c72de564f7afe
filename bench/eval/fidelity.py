"""Feature extraction and distribution metrics through torch-fidelity.

Images enter as uint8 NCHW tensors (grayscale repeated to 3 channels, as torch-fidelity requires),
never through JPEG files. Features are extracted by an extractor registered with torch-fidelity, and
FD/KID are computed by torch-fidelity's own functions from those features, so the arithmetic is the
reference implementation's while caching and gathering stay under the harness's control.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
import torch_fidelity
from torch.utils.data import Dataset
from torch_fidelity.feature_extractor_base import FeatureExtractorBase
from torch_fidelity.metric_fid import KEY_METRIC_FID, fid_features_to_statistics, fid_statistics_to_metric
from torch_fidelity.metric_isc import KEY_METRIC_ISC_MEAN, KEY_METRIC_ISC_STD, isc_features_to_metric
from torch_fidelity.metric_kid import KEY_METRIC_KID_MEAN, KEY_METRIC_KID_STD, kid_features_to_metric
from torch_fidelity.metric_prc import KEY_METRIC_PRECISION, KEY_METRIC_RECALL, prc_features_to_metric
from torch_fidelity.registry import FEATURE_EXTRACTORS_REGISTRY
from torch_fidelity.utils import create_feature_extractor, get_featuresdict_from_dataset

from bench.errors import BenchError
from bench.eval.domain import load_classifier
from bench.eval.size_rules import isc_size_problem, kid_size_problem, prc_size_problem

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


class UInt8Images(Dataset):
    """A uint8 (N, C, H, W) tensor as the 3-channel uint8 dataset torch-fidelity reads."""

    def __init__(self, images: torch.Tensor) -> None:
        if images.dtype != torch.uint8:
            raise TypeError(f"images must be uint8, got {images.dtype}")
        self.images = images

    def __len__(self) -> int:
        return self.images.shape[0]

    def __getitem__(self, i: int) -> torch.Tensor:
        x = self.images[i]
        return x.expand(3, -1, -1) if x.shape[0] == 1 else x


# Building an extractor loads its weights (95 MB for Inception): keep one per file and layer set.
_extractors: dict[tuple, FeatureExtractorBase] = {}


def _feature_extractor(
    extractor: str, weights_path: Path | None, layers: tuple[str, ...], cuda: bool
) -> FeatureExtractorBase:
    stat = weights_path.stat() if weights_path else None
    key = (extractor, str(weights_path), stat and (stat.st_size, stat.st_mtime_ns), layers, cuda)
    if key not in _extractors:
        # torch-fidelity's Inception reads its file with torch.load(weights_only=False); callers pass
        # only files whose SHA-256 matched the manifest (bench.eval.assets.verify), never arbitrary ones.
        _extractors[key] = create_feature_extractor(
            extractor,
            list(layers),
            cuda=cuda,
            feature_extractor_weights_path=str(weights_path) if weights_path else None,
            verbose=False,
        )
    return _extractors[key]


def extract_features(
    images: torch.Tensor,
    extractor: str,
    weights_path: Path | None,
    batch_size: int,
    cuda: bool,
    layers: tuple[str, ...] | None = None,
    precision: str = "fp32",
) -> dict[str, torch.Tensor]:
    """Features of uint8 images, keyed by torch-fidelity feature name (float32 on the CPU).

    precision "bf16" runs the extractor under bf16 autocast (see README, "bf16 feature extraction",
    for the measured effect on FD); the features themselves are returned in float32.
    """
    if layers is None:
        layers = tuple(FEATURE_EXTRACTORS_REGISTRY[extractor].get_provided_features_list())
    fe = _feature_extractor(extractor, weights_path, layers, cuda)
    autocast = torch.autocast("cuda" if cuda else "cpu", dtype=torch.bfloat16, enabled=precision == "bf16")
    # save_cpu_ram=True means no DataLoader worker processes: the images are already in memory, and
    # on a 2-core machine workers only add contention.
    with autocast:
        out = get_featuresdict_from_dataset(
            UInt8Images(images), fe, batch_size, cuda, save_cpu_ram=True, verbose=False
        )
    return {k: v.float() for k, v in out.items()}


def feature_statistics(features: torch.Tensor) -> dict[str, np.ndarray]:
    """Mean and covariance (float64), as torch-fidelity computes them for FID."""
    return fid_features_to_statistics(features.double())


def frechet_distance_from_stats(fake: dict[str, np.ndarray], real: dict[str, np.ndarray]) -> float:
    return float(fid_statistics_to_metric(fake, real, verbose=False)[KEY_METRIC_FID])


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
    """KID (mean, std over subsets); refuses too few samples before any work is done."""
    problem = kid_size_problem(subset_size, len(fake), len(real))
    if problem:
        raise BenchError(f"eval.{problem}")
    out = kid_features_to_metric(
        fake.double(),
        real.double(),
        kid_subsets=subsets,
        kid_subset_size=subset_size,
        rng_seed=seed,
        verbose=False,
    )
    return float(out[KEY_METRIC_KID_MEAN]), float(out[KEY_METRIC_KID_STD])


def mode_coverage(fake_logits: torch.Tensor, real_labels: torch.Tensor, num_classes: int) -> dict[str, float]:
    """How many classes the classifier finds among the samples, and how far their mix is from the data's.

    A class counts as covered when at least a tenth of its fair share of samples (N / K) is classified
    as it, so that a few stray misclassifications of a collapsed generator do not count as coverage.
    class_kl is KL(generated class histogram || real class histogram), in nats.
    """
    n = fake_logits.shape[0]
    gen = torch.bincount(fake_logits.argmax(1), minlength=num_classes).double()
    real = torch.bincount(real_labels, minlength=num_classes).double()
    threshold = max(1.0, 0.1 * n / num_classes)
    p, q = gen / gen.sum(), real / real.sum()
    mask = p > 0
    kl = float((p[mask] * (p[mask] / q[mask]).log()).sum()) if bool((q[mask] > 0).all()) else math.inf
    return {"coverage": float((gen >= threshold).double().mean()), "class_kl": kl}
