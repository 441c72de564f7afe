"""Feature extraction and distribution metrics through torch-fidelity.

Images enter as uint8 NCHW tensors (grayscale repeated to 3 channels, as torch-fidelity requires),
never through JPEG files. Features are extracted by an extractor registered with torch-fidelity, and
FD/KID are computed by torch-fidelity's own functions from those features, so the arithmetic is the
reference implementation's while caching and gathering stay under the harness's control.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch
import torch.nn.functional as F
import torch_fidelity
from torch.utils.data import Dataset
from torch_fidelity.feature_extractor_base import FeatureExtractorBase
from torch_fidelity.metric_fid import KEY_METRIC_FID, fid_features_to_statistics, fid_statistics_to_metric
from torch_fidelity.metric_kid import KEY_METRIC_KID_MEAN, KEY_METRIC_KID_STD, kid_features_to_metric
from torch_fidelity.registry import FEATURE_EXTRACTORS_REGISTRY
from torch_fidelity.utils import create_feature_extractor, get_featuresdict_from_dataset

from bench.errors import BenchError
from bench.eval.domain import load_classifier

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


def extract_features(
    images: torch.Tensor, extractor: str, weights_path: Path | None, batch_size: int, cuda: bool
) -> dict[str, torch.Tensor]:
    """Features of uint8 images, keyed by torch-fidelity feature name."""
    kwargs = {"feature_extractor_weights_path": str(weights_path) if weights_path else None, "verbose": False}
    fe = create_feature_extractor(
        extractor,
        list(FEATURE_EXTRACTORS_REGISTRY[extractor].get_provided_features_list()),
        cuda=cuda,
        **kwargs,
    )
    # save_cpu_ram=True means no DataLoader worker processes: the images are already in memory, and
    # on a 2-core machine workers only add contention.
    return get_featuresdict_from_dataset(
        UInt8Images(images), fe, batch_size, cuda, save_cpu_ram=True, verbose=False
    )


def frechet_distance(fake: torch.Tensor, real: torch.Tensor) -> float:
    stats = [fid_features_to_statistics(f.double()) for f in (fake, real)]
    return float(fid_statistics_to_metric(stats[0], stats[1], verbose=False)[KEY_METRIC_FID])


def kernel_distance(
    fake: torch.Tensor, real: torch.Tensor, subsets: int, subset_size: int, seed: int
) -> tuple[float, float]:
    """KID (mean, std over subsets); refuses too few samples before any work is done."""
    if min(len(fake), len(real)) < subset_size:
        raise BenchError(
            f"KID needs at least kid_subset_size={subset_size} images on each side, got "
            f"{len(fake)} generated and {len(real)} real; lower kid_subset_size or raise N"
        )
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
