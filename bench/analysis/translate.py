"""Translation grids of an image-to-image model on test images.

Unpaired (CycleGAN): one grid per direction, rows real / translated / translated back (the cycle
reconstruction), so a reader sees both what changed and what the round trip lost. Paired (pix2pix):
one grid, rows input / output / true target.
"""

from __future__ import annotations

from pathlib import Path

import torch
from pydantic import Field

from bench.analysis.base import ANALYSES, Analysis
from bench.analysis.bounds import MAX_COLUMNS
from bench.analysis.figures import save_labeled_grid
from bench.analysis.load import LoadedCell
from bench.config import StrictModel
from bench.datasets.batches import to_unit_range
from bench.errors import BenchError


class TranslateOptions(StrictModel):
    n: int = Field(8, gt=0, le=MAX_COLUMNS, description="test images per grid, one column each")
    split: str = Field("test", description="split the images come from")
    seed: int = 0


def _pick(images: torch.Tensor, n: int, seed: int, device: torch.device) -> torch.Tensor:
    idx = torch.randperm(len(images), generator=torch.Generator().manual_seed(seed))[:n]
    return to_unit_range(images[idx].to(device))


@ANALYSES.register("translate")
class Translate(Analysis):
    name = "translate"
    description = "translation grids in both directions with the cycle reconstruction (paired: vs target)"
    needs = ("translate",)
    Options = TranslateOptions

    def run_cell(self, cell: LoadedCell, opts: TranslateOptions) -> list[Path]:
        model, split = cell.model, cell.split(opts.split)
        if split.targets is None:
            raise BenchError(f"{cell.cfg.dataset}/{opts.split}: no targets (domain B) to translate with")
        a = _pick(split.images, opts.n, opts.seed, model.device)
        title = cell.cfg.cell_id
        if model.needs_pairing == "paired":
            idx = torch.randperm(len(split.images), generator=torch.Generator().manual_seed(opts.seed))[
                : opts.n
            ]
            target = to_unit_range(split.targets[idx].to(model.device))
            rows = torch.stack([a, model.translate(a, "AB"), target])
            path = cell.dir / "translate.png"
            return [
                save_labeled_grid(
                    rows, path, ["input", "output", "target"], title=f"{title}: input -> output"
                )
            ]
        b = _pick(split.targets, opts.n, opts.seed + 1, model.device)
        written = []
        for direction, x in (("AB", a), ("BA", b)):
            there = model.translate(x, direction)
            back = model.translate(there, direction[::-1])
            src, dst = direction
            labels = [f"real {src}", f"{src} -> {dst}", f"{src} -> {dst} -> {src}"]
            path = cell.dir / f"translate_{direction}.png"
            written.append(
                save_labeled_grid(
                    torch.stack([x, there, back]), path, labels, title=f"{title}: {src} -> {dst}"
                )
            )
        return written
