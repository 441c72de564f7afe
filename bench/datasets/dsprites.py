"""dSprites: the procedural generator of its published definition, cached on disk (no download)."""

from __future__ import annotations

from pydantic import Field

from bench.config import StrictModel
from bench.datasets import dsprites_procedural as gen
from bench.datasets.base import DatasetInfo, ImageSplit
from bench.datasets.source import DATASETS, DataContext, DatasetSource


class DSpritesArgs(StrictModel):
    n_train: int = Field(50_000, gt=0, le=gen.TOTAL, description="images drawn from the 737,280 for training")
    n_test: int = Field(10_000, gt=0, le=gen.TOTAL)
    split_seed: int = 0


@DATASETS.register("dsprites")
class DSprites(DatasetSource):
    Args = DSpritesArgs

    def info(self) -> DatasetInfo:
        a: DSpritesArgs = self.args  # type: ignore[assignment]
        return DatasetInfo(
            name="dsprites",
            resolution=64,
            channels=1,
            num_classes=3,
            splits={"train": a.n_train, "test": a.n_test},
            class_names=gen.SHAPE_NAMES,
            factors=dict(gen.FACTOR_SIZES),
            source="procedural, from the dSprites definition (Matthey et al. 2017); no download",
            licence="Apache-2.0 (dSprites definition)",
            description="64x64 binary sprites: 3 shapes x 6 scales x 40 orientations x 32x32 positions",
        )

    def load(self, split: str, ctx: DataContext) -> ImageSplit:
        a: DSpritesArgs = self.args  # type: ignore[assignment]
        return gen.load_split(
            split, ctx.cache_dir / "dsprites", n_train=a.n_train, n_test=a.n_test, seed=a.split_seed
        )
