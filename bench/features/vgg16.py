"""VGG16 features for precision/recall, as torch-fidelity 0.4's `prc` computes them by default.

torch-fidelity's `vgg16` extractor (feature_extractor_vgg16.py) is torchvision's VGG16 with the
ImageNet-1k weights torchvision publishes (vgg16-397923af.pth), its classifier cut after the second
fully connected layer: images are resized TF1-style to 224x224, ImageNet-normalised, and `fc2_relu`
(4096-d) is the feature precision/recall are computed on (Kynkaanniemi et al. 2019 also use VGG16 fc2).
Given a weights path it loads it with `torch.load(weights_only=False)`; `BenchVGG16` is the same module
(same architecture, preprocessing and forward, inherited) loading the manifest's verified file with
`weights_only=True`, so a weight file can never run code.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch_fidelity
import torchvision
from torch_fidelity.feature_extractor_base import FeatureExtractorBase
from torch_fidelity.feature_extractor_vgg16 import FeatureExtractorVGG16
from torch_fidelity.helpers import text_to_dtype
from torch_fidelity.registry import FEATURE_EXTRACTORS_REGISTRY

from bench.features import assets
from bench.features.extractor import Extractor

VGG16_EXTRACTOR = "bench-vgg16"  # our name in torch-fidelity's registry
VGG16_DESCRIPTION = "vgg16-imagenet1k-v1"  # torchvision's VGG16_Weights.IMAGENET1K_V1
VGG16_LAYER = "fc2_relu"  # torch-fidelity's default layer for prc on VGG16
VGG16_RESIZE = "TF1-compatible bilinear to 224x224, ImageNet mean/std (torch-fidelity's VGG16)"


class BenchVGG16(FeatureExtractorVGG16):
    """torch-fidelity's VGG16 extractor whose weights are read with weights_only=True."""

    def __init__(
        self,
        name: str,
        features_list: list[str],
        feature_extractor_weights_path: str | None = None,
        feature_extractor_internal_dtype: str | None = None,
        **kwargs: object,
    ) -> None:
        FeatureExtractorBase.__init__(self, name, features_list)  # skip the parent's unsafe load
        if not feature_extractor_weights_path:
            raise ValueError("the VGG16 extractor needs feature_extractor_weights_path (no download)")
        if feature_extractor_internal_dtype not in ("float32", "float64", None):
            raise ValueError("VGG16 supports float32 and float64 internally")
        self.feature_extractor_internal_dtype = text_to_dtype(feature_extractor_internal_dtype, "float32")
        state = torch.load(feature_extractor_weights_path, map_location="cpu", weights_only=True)
        # Built on the meta device: no random init of 138 M parameters that the load replaces anyway.
        with torch.device("meta"):
            model = torchvision.models.vgg16()
        model.load_state_dict(state, strict=True, assign=True)
        for tail in (6, 5, 4):  # as torch-fidelity: fc2's ReLU and dropout and fc3 go
            del model.classifier[tail]
        self.model = model
        self.to(self.feature_extractor_internal_dtype)
        self.requires_grad_(False)
        self.eval()


if VGG16_EXTRACTOR not in FEATURE_EXTRACTORS_REGISTRY:
    torch_fidelity.register_feature_extractor(VGG16_EXTRACTOR, BenchVGG16)


def vgg16_extractor(directory: Path | None = None) -> Extractor:
    """VGG16 from BENCH_ASSETS (or `directory`), after checking its SHA-256 against the manifest."""
    (asset,) = [a for a in assets.load_manifest().values() if a.extractor == "vgg16"]
    path = assets.verify(asset, assets.assets_dir(directory))
    return Extractor(
        key="vgg16",
        fidelity_name=VGG16_EXTRACTOR,
        description=VGG16_DESCRIPTION,
        weights=path,
        sha256=asset.sha256,
        layers=(VGG16_LAYER,),
        fd_layer=VGG16_LAYER,
        logits_layer=None,
        resize=VGG16_RESIZE,
    )
