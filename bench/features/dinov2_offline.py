"""torch.hub's cache for torch-fidelity's DINOv2 extractors, laid out from local files (no download).

torch-fidelity 0.4 builds its `dinov2-vit-*-14` extractors with
`torch.hub.load("facebookresearch/dinov2", "dinov2_vits14")` (feature_extractor_dinov2.py) and accepts
no weights path. torch.hub then (1) asks github.com whether the default branch is `main`; offline that
raises URLError and torch.hub falls back to a cached `<hub>/facebookresearch_dinov2_main` folder;
(2) imports `hubconf.py` from that folder; (3) the repository's hub code fetches the weights with
`torch.hub.load_state_dict_from_url(".../dinov2_vits14/dinov2_vits14_pretrain.pth")`, which reads
`<hub>/checkpoints/dinov2_vits14_pretrain.pth` when it exists. So two things in the cache make the
extractor work without network: the repository's source and the weight file under its URL's name.

`hub_layout` puts them there from an assets folder holding
- the GitHub source archive of facebookresearch/dinov2 (`dinov2*.zip`, e.g.
  https://github.com/facebookresearch/dinov2/archive/<commit>.zip; one top-level folder with hubconf.py);
- any of the weight files named as published (`WEIGHT_FILES`).
Point TORCH_HOME at `torch_home` before the extractor is built. Where a node drops outbound packets
instead of refusing them, step (1) waits for the socket timeout: set one (`socket.setdefaulttimeout`).
"""

from __future__ import annotations

import shutil
import tempfile
import zipfile
from pathlib import Path

from bench.errors import BenchError
from bench.fs import atomic_write, file_sha256

HUB_REPO_DIR = "facebookresearch_dinov2_main"  # <owner>_<repo>_<branch>, the branch torch.hub falls back to
WEIGHTS_URL = "https://dl.fbaipublicfiles.com/dinov2/{model}/{model}_pretrain.pth"
# torch-fidelity extractor name -> the file torch.hub looks for under <hub>/checkpoints.
WEIGHT_FILES = {
    "dinov2-vit-s-14": "dinov2_vits14_pretrain.pth",
    "dinov2-vit-b-14": "dinov2_vitb14_pretrain.pth",
    "dinov2-vit-l-14": "dinov2_vitl14_pretrain.pth",
    "dinov2-vit-g-14": "dinov2_vitg14_pretrain.pth",
}
_SOURCE_MARK = ".bench-source-sha256"


def _install_repo(archive: Path, hub: Path) -> Path:
    """Unpack the source archive to <hub>/facebookresearch_dinov2_main (temp folder, then rename)."""
    target = hub / HUB_REPO_DIR
    digest = file_sha256(archive)
    mark = target / _SOURCE_MARK
    if mark.is_file() and mark.read_text().strip() == digest:
        return target  # already this archive
    with tempfile.TemporaryDirectory(dir=hub, prefix=".dinov2-src-") as tmp:
        with zipfile.ZipFile(archive) as zf:
            zf.extractall(tmp)
        tops = [p for p in Path(tmp).iterdir() if p.is_dir()]
        if len(tops) != 1 or not (tops[0] / "hubconf.py").is_file():
            raise BenchError(
                f"{archive} is not a DINOv2 source archive: expected one top-level folder holding hubconf.py"
            )
        (tops[0] / _SOURCE_MARK).write_text(digest + "\n")
        if target.exists():
            old = Path(tmp) / "previous"
            target.rename(old)  # removed with the temp folder
        tops[0].rename(target)
    return target


def _install_weights(src: Path, checkpoints: Path) -> Path:
    dest = checkpoints / src.name
    if dest.is_file() and dest.stat().st_size == src.stat().st_size and file_sha256(dest) == file_sha256(src):
        return dest
    with src.open("rb") as f:
        atomic_write(dest, lambda out: shutil.copyfileobj(f, out, 1 << 20), binary=True)
    return dest


def hub_layout(assets_dir: Path, torch_home: Path) -> dict[str, Path]:
    """Lay out <torch_home>/hub so torch.hub loads torch-fidelity's DINOv2 extractors offline.

    Unpacks the one `dinov2*.zip` of assets_dir into <torch_home>/hub/facebookresearch_dinov2_main and
    copies each weight file of `WEIGHT_FILES` found in assets_dir into <torch_home>/hub/checkpoints
    (temp names, then renames; a second call with the same files changes nothing). Returns
    {"repo": folder, "<extractor name>": weight file, ...} for what was laid out; refuses an assets
    folder without the archive or without any weight file.
    """
    assets_dir, torch_home = Path(assets_dir), Path(torch_home)
    archives = sorted(assets_dir.glob("dinov2*.zip"))
    if len(archives) != 1:
        raise BenchError(
            f"{assets_dir} must hold exactly one DINOv2 source archive dinov2*.zip "
            f"(github.com/facebookresearch/dinov2/archive/<commit>.zip), found {[a.name for a in archives]}"
        )
    present = {name: assets_dir / f for name, f in WEIGHT_FILES.items() if (assets_dir / f).is_file()}
    if not present:
        raise BenchError(
            f"{assets_dir} holds none of the DINOv2 weight files {sorted(WEIGHT_FILES.values())}"
        )
    hub = torch_home / "hub"
    checkpoints = hub / "checkpoints"
    checkpoints.mkdir(parents=True, exist_ok=True)
    out: dict[str, Path] = {"repo": _install_repo(archives[0], hub)}
    for name, src in present.items():
        out[name] = _install_weights(src, checkpoints)
    return out
