"""DINOv2 ViT-S/14 features for a Frechet distance (`fd_dinov2`), offline and without unpickling code.

torch-fidelity 0.4's `dinov2-vit-s-14` extractor (feature_extractor_dinov2.py) builds the network with
`torch.hub.load("facebookresearch/dinov2", "dinov2_vits14")`, whose hub code reads the weights with
`torch.hub.load_state_dict_from_url` (torch.load with weights_only=False), and takes no weights path.
`BenchDinoV2` is that extractor (same preprocessing and forward, inherited: TF1-style resize to 224,
ImageNet normalisation, the 384-d CLS feature) built from local files only:
1. `bench assets fetch` downloads the repository's source archive and the weight file of the manifest
   (bench/features/assets.json) and lays out torch.hub's cache under <assets>/torch/hub
   (bench.features.dinov2_offline.hub_layout);
2. evaluation verifies both SHA-256s, builds the architecture with
   `torch.hub.load(<hub>/facebookresearch_dinov2_main, "dinov2_vits14", source="local", pretrained=False)`
   with the hub dir pointed at that cache, so nothing is looked up or downloaded, and
3. loads the weight file with `torch.load(weights_only=True)` into it (strict: every key and shape).
"""

from __future__ import annotations

import os
import sys
import warnings
from collections.abc import Iterator
from contextlib import contextmanager, redirect_stdout
from pathlib import Path

import torch
import torch.hub
import torch_fidelity
from torch_fidelity.feature_extractor_base import FeatureExtractorBase
from torch_fidelity.feature_extractor_dinov2 import MODEL_METADATA, FeatureExtractorDinoV2
from torch_fidelity.helpers import text_to_dtype
from torch_fidelity.registry import FEATURE_EXTRACTORS_REGISTRY

from bench.errors import BenchError
from bench.features import assets
from bench.features.dinov2_offline import HUB_REPO_DIR, WEIGHT_FILES, hub_layout
from bench.features.extractor import Extractor

MODEL = "dinov2-vit-s-14"  # torch-fidelity's name; its hub entry point is MODEL_METADATA[MODEL]
DINOV2_EXTRACTOR = f"bench-{MODEL}"  # our name in torch-fidelity's registry
DINOV2_LAYER = "dinov2"
DINOV2_RESIZE = "TF1-compatible bilinear to 224x224, ImageNet mean/std (torch-fidelity's DINOv2)"
TORCH_HOME = "torch"  # under the assets folder: <assets>/torch/hub is the hub cache evaluation reads


@contextmanager
def _hub_dir(hub: Path) -> Iterator[None]:
    """torch.hub's cache dir set to `hub` for the duration (the repository's own hub code reads it)."""
    # Restore torch.hub's own setting (None: it follows TORCH_HOME), not the path get_dir() resolves to,
    # so a later change of TORCH_HOME still counts.
    previous = getattr(torch.hub, "_hub_dir", None)
    torch.hub.set_dir(str(hub))
    try:
        yield
    finally:
        torch.hub._hub_dir = previous


def load_hub_model(hub: Path, entry: str, weights: Path) -> torch.nn.Module:
    """The hub entry point `entry` of the laid-out repository, with `weights` loaded weights_only=True."""
    repo = hub / HUB_REPO_DIR
    if not (repo / "hubconf.py").is_file():
        raise BenchError(f"{repo} holds no hubconf.py; run `bench assets fetch` to lay out the DINOv2 cache")
    # As torch-fidelity: DINOv2's attention then runs its plain PyTorch path, not xFormers kernels.
    os.environ["XFORMERS_DISABLED"] = "1"
    with _hub_dir(hub), redirect_stdout(sys.stderr), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="xFormers is")
        model = torch.hub.load(str(repo), entry, source="local", pretrained=False)
    state = torch.load(weights, map_location="cpu", weights_only=True)
    model.load_state_dict(state, strict=True)
    return model


class BenchDinoV2(FeatureExtractorDinoV2):
    """torch-fidelity's DINOv2 extractor built from the laid-out hub cache, weights read weights_only.

    feature_extractor_weights_path is the weight file inside the cache (<hub>/checkpoints/<file>).
    """

    def __init__(
        self,
        name: str,
        features_list: list[str],
        feature_extractor_weights_path: str | None = None,
        feature_extractor_internal_dtype: str | None = None,
        **kwargs: object,
    ) -> None:
        FeatureExtractorBase.__init__(self, name, features_list)  # skip the parent's torch.hub download
        model = name.removeprefix("bench-")
        if model not in MODEL_METADATA:
            raise ValueError(f"unknown DINOv2 extractor {name!r}")
        if not feature_extractor_weights_path:
            raise ValueError("the DINOv2 extractor needs feature_extractor_weights_path (no download)")
        if feature_extractor_internal_dtype not in ("float32", "float64", None):
            raise ValueError("DINOv2 supports float32 and float64 internally")
        self.feature_extractor_internal_dtype = text_to_dtype(feature_extractor_internal_dtype, "float32")
        weights = Path(feature_extractor_weights_path)
        self.model = load_hub_model(weights.parent.parent, MODEL_METADATA[model], weights)
        self.to(self.feature_extractor_internal_dtype)
        self.requires_grad_(False)
        self.eval()


if DINOV2_EXTRACTOR not in FEATURE_EXTRACTORS_REGISTRY:
    torch_fidelity.register_feature_extractor(DINOV2_EXTRACTOR, BenchDinoV2)


def _verified(directory: Path) -> dict[str, Path]:
    """asset name -> verified path of the manifest's DINOv2 files (source archive and weights)."""
    found = {
        a.name: assets.verify(a, directory)
        for a in assets.load_manifest().values()
        if a.extractor == "dinov2"
    }
    if not found:
        raise BenchError("the asset manifest names no DINOv2 files")
    return found


def lay_out(directory: Path) -> dict[str, Path]:
    """Verify the DINOv2 assets in `directory` and lay out <directory>/torch/hub from them."""
    _verified(directory)
    return hub_layout(directory, directory / TORCH_HOME)


def dinov2_extractor(directory: Path | None = None) -> Extractor:
    """DINOv2 ViT-S/14 from BENCH_ASSETS (or `directory`): both files verified, the hub cache laid out."""
    d = assets.assets_dir(directory)
    files = _verified(d)
    laid = hub_layout(d, d / TORCH_HOME)  # a no-op when fetch laid it out from these same files
    weights = laid.get(MODEL)
    if weights is None:
        raise BenchError(f"{d} lacks {WEIGHT_FILES[MODEL]}; run `bench assets fetch --dir {d}`")
    manifest = assets.load_manifest()
    (source,) = [manifest[n] for n in files if manifest[n].file.endswith(".zip")]
    (w,) = [manifest[n] for n in files if manifest[n].file == WEIGHT_FILES[MODEL]]
    return Extractor(
        key="dinov2",
        fidelity_name=DINOV2_EXTRACTOR,
        # The source archive builds the architecture: its hash is part of what the features depend on.
        description=f"{MODEL} (source sha256 {source.sha256[:12]})",
        weights=weights,
        sha256=w.sha256,
        layers=(DINOV2_LAYER,),
        fd_layer=DINOV2_LAYER,
        logits_layer=None,
        resize=DINOV2_RESIZE,
    )
