"""dSprites: the official npz when it is in the data root, else the procedural generator (no download).

Both give the same splits of the same 737,280 factor combinations (one seeded permutation: train is
its first n_train entries, test the next n_test) with the same factor classes, so a grid runs either
way; only the pixels differ slightly (see dsprites_procedural.py). The npz is looked for at
`<root>/dsprites/<file>` (where `bench data fetch dsprites` puts it) and `<root>/<file>`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from pydantic import Field

from bench.config import StrictModel
from bench.datasets import dsprites_procedural as gen
from bench.datasets.base import DatasetInfo, ImageSplit
from bench.datasets.cache import cached_split, file_identity
from bench.datasets.fetch import Remote
from bench.datasets.integrity import DataReport
from bench.datasets.source import DATASETS, DataContext, DatasetSource
from bench.errors import BenchError

NPZ = "dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz"
URL = f"https://github.com/deepmind/dsprites-dataset/raw/master/{NPZ}"
NPZ_KEYS = ("imgs", "latents_classes", "latents_values")
READER_VERSION = 1


class DSpritesArgs(StrictModel):
    n_train: int = Field(50_000, gt=0, le=gen.TOTAL, description="images drawn from the 737,280 for training")
    n_test: int = Field(10_000, gt=0, le=gen.TOTAL)
    split_seed: int = 0


def _download(dest: Path) -> None:
    from torchvision.datasets.utils import download_url

    # The release publishes no checksum: the file is checked by reading its keys and shapes instead.
    download_url(URL, str(dest / "dsprites"), NPZ)
    _check_npz(dest / "dsprites" / NPZ, full=True)


def _check_npz(path: Path, full: bool = False) -> None:
    # Never allow_pickle: an object array's pickle can name any callable. The official keys are plain
    # arrays; an object array among them is refused from its header, before any data is read.
    with np.load(path, allow_pickle=False) as data:
        absent = [k for k in NPZ_KEYS if k not in data.files]
        if absent:
            raise BenchError(f"dsprites: {path} lacks the keys {absent}; it is not the dSprites npz")
        for key in NPZ_KEYS:
            with data.zip.open(f"{key}.npy") as member:
                major, _ = np.lib.format.read_magic(member)
                read_header = (
                    np.lib.format.read_array_header_1_0 if major == 1 else np.lib.format.read_array_header_2_0
                )
                _, _, dtype = read_header(member)
            if dtype.hasobject:
                raise BenchError(
                    f"dsprites: {path} holds Python objects under {key!r} (a pickle), not numbers; "
                    "it is refused unread: replace it with the official file"
                )
        classes = data["latents_classes"]
        if classes.ndim != 2 or classes.shape[1] != 6 or (full and classes.shape[0] != gen.TOTAL):
            raise BenchError(
                f"dsprites: {path} has latents_classes of shape {classes.shape}, not (737280, 6)"
            )


def official_npz(root: Path | None) -> Path | None:
    if root is None:
        return None
    return next((p for p in (root / "dsprites" / NPZ, root / NPZ) if p.is_file()), None)


def load_official(path: Path, split: str, n_train: int, n_test: int, seed: int) -> ImageSplit:
    """A split read from the official npz: the rows of the split's flat indices, in the same order the
    procedural split uses. A file holding only some combinations yields the rows it has."""
    _check_npz(path)
    with np.load(path, allow_pickle=False) as data:
        # Columns: colour (one value), shape, scale, orientation, posX, posY.
        classes = data["latents_classes"][:, 1:].astype(np.int64)
        flat = np.ravel_multi_index(classes.T, tuple(gen.FACTOR_SIZES.values()))
        row_of = np.full(gen.TOTAL, -1, dtype=np.int64)
        row_of[flat] = np.arange(len(flat))
        rows = row_of[gen._split_indices(split, n_train, n_test, seed)]
        rows = rows[rows >= 0]
        imgs = data["imgs"][rows]  # values 0/1
    factors = torch.from_numpy(classes[rows])
    images = torch.from_numpy(imgs.astype(np.uint8) * np.uint8(255)).unsqueeze(1)
    return ImageSplit(images=images, labels=factors[:, 0].clone(), factors=factors)


@DATASETS.register("dsprites")
class DSprites(DatasetSource):
    Args = DSpritesArgs
    args: DSpritesArgs
    # `bench data fetch dsprites` downloads the official file; without it the generator is used.
    remote = Remote(name="dsprites", folder="dsprites", files=(NPZ,), download=_download, size="about 26 MB")

    def info(self) -> DatasetInfo:
        a = self.args
        return DatasetInfo(
            name="dsprites",
            resolution=64,
            channels=1,
            num_classes=3,
            splits={"train": a.n_train, "test": a.n_test},
            class_names=gen.SHAPE_NAMES,
            factors=dict(gen.FACTOR_SIZES),
            source="official npz in the data root when present (deepmind/dsprites-dataset), else procedural",
            licence="Apache-2.0",
            description="64x64 binary sprites: 3 shapes x 6 scales x 40 orientations x 32x32 positions",
        )

    def check(self, ctx: DataContext, deep: bool = True) -> DataReport:
        report = DataReport("dsprites")
        npz = official_npz(ctx.data_root)
        if npz is None:
            report.absent = True
            report.summary = "no official npz in the data root: the procedural generator is used"
            return report
        report.folder = npz.parent
        try:
            if deep:
                _check_npz(npz, full=True)
        except BenchError as err:
            report.problems.append(str(err))
        except (OSError, ValueError, EOFError) as err:  # a truncated or non-npz file
            report.problems.append(f"dsprites: {npz} cannot be read ({err}); replace it or delete it")
        report.summary = f"official npz {npz}"
        return report

    def load(self, split: str, ctx: DataContext) -> ImageSplit:
        a = self.args
        npz = official_npz(ctx.data_root)
        if npz is None:
            return gen.load_split(
                split, ctx.cache_dir / "dsprites", n_train=a.n_train, n_test=a.n_test, seed=a.split_seed
            )
        if split not in ("train", "test"):
            raise ValueError(f"dsprites has no split {split!r}; splits: train, test")
        recipe = {"dataset": "dsprites", "reader": READER_VERSION, **a.model_dump()}
        return cached_split(
            ctx.cache_dir,
            "dsprites-official",
            split,
            recipe,
            file_identity([npz], npz.parent),
            lambda: load_official(npz, split, a.n_train, a.n_test, a.split_seed),
        )
