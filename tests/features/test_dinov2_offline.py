"""bench.features.dinov2_offline: torch-fidelity's DINOv2 extractor builds from the cache, network off.

The DINOv2 repository and its weights are not on this machine, so the test fabricates both in their real
forms: a source archive whose hubconf.py fetches a state dict the way the real one does
(`torch.hub.load_state_dict_from_url` on the published URL), and a weight file that is a plain
`torch.save`d state dict under the published name.
"""

from __future__ import annotations

import socket
import textwrap
import urllib.error
import zipfile
from pathlib import Path

import pytest
import torch
import torch.hub
from torch_fidelity.feature_extractor_dinov2 import FeatureExtractorDinoV2

from bench.errors import BenchError
from bench.features.dinov2_offline import HUB_REPO_DIR, WEIGHT_FILES, WEIGHTS_URL, hub_layout

HUBCONF = textwrap.dedent(
    '''
    """Stand-in for facebookresearch/dinov2's hubconf.py: same entry point, same weight download."""
    import torch
    from torch import nn

    dependencies = ["torch"]


    class TinyViT(nn.Module):
        def __init__(self, dim=8, patch=14, size=224):
            super().__init__()
            self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
            self.pos_embed = nn.Parameter(torch.zeros(1, 1 + (size // patch) ** 2, dim))
            self.patch_embed = nn.Module()
            self.patch_embed.proj = nn.Conv2d(3, dim, patch, patch)
            self.norm = nn.LayerNorm(dim)

        def forward(self, x):
            t = self.patch_embed.proj(x).flatten(2).transpose(1, 2)
            t = torch.cat([self.cls_token.expand(len(t), -1, -1), t], dim=1) + self.pos_embed
            return self.norm(t)[:, 0]


    def dinov2_vits14(*, pretrained=True, **kwargs):
        model = TinyViT()
        if pretrained:
            url = "URL"
            model.load_state_dict(torch.hub.load_state_dict_from_url(url, map_location="cpu"), strict=True)
        return model
    '''
).replace("URL", WEIGHTS_URL.format(model="dinov2_vits14"))


def fabricate_assets(root: Path) -> dict[str, torch.Tensor]:
    """A source archive as GitHub serves it (one top folder) and a weight file of random parameters."""
    root.mkdir()
    with zipfile.ZipFile(root / "dinov2-0123abcd.zip", "w") as zf:
        zf.writestr("dinov2-0123abcd/hubconf.py", HUBCONF)
        zf.writestr("dinov2-0123abcd/README.md", "fabricated for a test\n")
    g = torch.Generator().manual_seed(0)
    state = {
        "cls_token": torch.randn(1, 1, 8, generator=g),
        "pos_embed": torch.randn(1, 257, 8, generator=g),
        "patch_embed.proj.weight": torch.randn(8, 3, 14, 14, generator=g) * 0.01,
        "patch_embed.proj.bias": torch.randn(8, generator=g),
        "norm.weight": torch.rand(8, generator=g) + 0.5,
        "norm.bias": torch.randn(8, generator=g),
    }
    torch.save(state, root / WEIGHT_FILES["dinov2-vit-s-14"])
    return state


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No network: torch.hub's GitHub probe fails as offline nodes fail, downloads and sockets raise."""

    def no_url(*args: object, **kwargs: object) -> None:
        raise urllib.error.URLError("network is off in this test")

    def no_download(*args: object, **kwargs: object) -> None:
        raise AssertionError("torch.hub tried to download")

    def no_connect(*args: object, **kwargs: object) -> None:
        raise OSError("network is off in this test")

    monkeypatch.setattr(torch.hub, "urlopen", no_url)
    monkeypatch.setattr(torch.hub, "download_url_to_file", no_download)
    monkeypatch.setattr(socket.socket, "connect", no_connect)
    torch_home = tmp_path / "torch-home"
    monkeypatch.setenv("TORCH_HOME", str(torch_home))
    return torch_home


def test_torch_fidelitys_dinov2_extractor_loads_from_the_laid_out_cache(
    offline: Path, tmp_path: Path
) -> None:
    state = fabricate_assets(tmp_path / "assets")
    laid = hub_layout(tmp_path / "assets", offline)
    assert laid["repo"] == offline / "hub" / HUB_REPO_DIR and (laid["repo"] / "hubconf.py").is_file()
    assert laid["dinov2-vit-s-14"] == offline / "hub" / "checkpoints" / "dinov2_vits14_pretrain.pth"

    fe = FeatureExtractorDinoV2("dinov2-vit-s-14", ["dinov2"])
    loaded = fe.model.state_dict()
    assert set(loaded) == set(state)
    assert all(torch.equal(loaded[k], v) for k, v in state.items())  # the file's weights, not an init
    (feats,) = fe(torch.randint(0, 256, (2, 3, 32, 32), dtype=torch.uint8))
    assert feats.shape == (2, 8) and torch.isfinite(feats).all()


def test_without_the_layout_the_same_build_fails_offline(offline: Path) -> None:
    with pytest.raises(RuntimeError, match="no internet connection"):
        FeatureExtractorDinoV2("dinov2-vit-s-14", ["dinov2"])


def test_layout_is_idempotent_and_replaces_another_source(offline: Path, tmp_path: Path) -> None:
    fabricate_assets(tmp_path / "assets")
    first = hub_layout(tmp_path / "assets", offline)
    mtime = first["dinov2-vit-s-14"].stat().st_mtime_ns
    assert hub_layout(tmp_path / "assets", offline) == first
    assert first["dinov2-vit-s-14"].stat().st_mtime_ns == mtime  # same file: not rewritten
    with zipfile.ZipFile(tmp_path / "assets" / "dinov2-0123abcd.zip", "a") as zf:
        zf.writestr("dinov2-0123abcd/NEW.md", "a newer commit\n")
    hub_layout(tmp_path / "assets", offline)
    assert (first["repo"] / "NEW.md").is_file()
    assert not list((offline / "hub").glob(".dinov2-src-*"))  # no temp folders left


def test_bad_assets_are_refused(offline: Path, tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(BenchError, match="exactly one DINOv2 source archive"):
        hub_layout(tmp_path / "empty", offline)
    with zipfile.ZipFile(tmp_path / "empty" / "dinov2-x.zip", "w") as zf:
        zf.writestr("dinov2-x/hubconf.py", HUBCONF)
    with pytest.raises(BenchError, match="none of the DINOv2 weight files"):
        hub_layout(tmp_path / "empty", offline)
    torch.save({}, tmp_path / "empty" / WEIGHT_FILES["dinov2-vit-b-14"])
    with zipfile.ZipFile(tmp_path / "empty" / "dinov2-x.zip", "w") as zf:
        zf.writestr("README.md", "no hubconf here\n")
    with pytest.raises(BenchError, match="not a DINOv2 source archive"):
        hub_layout(tmp_path / "empty", offline)
