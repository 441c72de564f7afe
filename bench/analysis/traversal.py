"""Latent traversal: vary each of the first k latent dimensions around the prior, one row per dimension."""

from __future__ import annotations

from pathlib import Path

import torch
from pydantic import Field

from bench.analysis.base import ANALYSES, Analysis
from bench.analysis.bounds import MAX_COLUMNS, MAX_ROWS
from bench.analysis.figures import save_labeled_grid
from bench.analysis.load import LoadedCell
from bench.config import StrictModel
from bench.models.base import GenerativeModel

PRIOR_DRAWS = 512  # draws that estimate a learned prior's per-dimension mean and spread


class TraversalOptions(StrictModel):
    dims: int = Field(
        8, gt=0, le=MAX_ROWS, description="how many latent dimensions (the first ones), one row each"
    )
    steps: int = Field(9, ge=2, le=MAX_COLUMNS, description="values per dimension, one column each")
    span: float = Field(3.0, gt=0, description="range: mean +- span prior standard deviations")
    base: str = Field("mean", pattern="^(mean|sample)$", description="other dims at the prior mean or a draw")
    label: int = Field(0, ge=0, description="class to decode with, for conditional models")
    seed: int = 0


def labels_for(model: GenerativeModel, n: int, label: int) -> torch.Tensor | None:
    """Labels to decode with: `label` for every image of a conditional model, None otherwise."""
    if not model.conditional:
        return None
    return torch.full((n,), label % max(model.info.num_classes, 1), dtype=torch.long, device=model.device)


def prior_moments(model: GenerativeModel, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-dimension mean and standard deviation of the prior: exact for N(0, I), estimated otherwise."""
    z = model.prior(PRIOR_DRAWS, g).float()
    if getattr(model, "latent_prior", "gaussian") == "gaussian":
        return torch.zeros_like(z[0]), torch.ones_like(z[0])
    return z.mean(0), z.std(0)


@ANALYSES.register("traversal")
class Traversal(Analysis):
    name = "traversal"
    description = "decode the prior's centre with one latent dimension swept, a row per dimension"
    needs = ("prior", "decode")
    Options = TraversalOptions

    def run_cell(self, cell: LoadedCell, opts: TraversalOptions) -> list[Path]:
        model = cell.model
        g = torch.Generator(model.device).manual_seed(opts.seed)
        mean, std = prior_moments(model, g)
        base = mean if opts.base == "mean" else model.prior(1, g)[0].float()
        k = min(opts.dims, base.numel())
        values = torch.linspace(-opts.span, opts.span, opts.steps, device=base.device)
        z = base.repeat(k, opts.steps, 1)  # (k, steps, latent)
        for i in range(k):
            z[i, :, i] = mean[i] + values * std[i]
        flat = z.flatten(0, 1).to(model.device)
        images = model.decode(flat, labels_for(model, len(flat), opts.label))
        path = save_labeled_grid(
            images.view(k, opts.steps, *images.shape[1:]),
            cell.dir / "traversal.png",
            [f"z[{i}]" for i in range(k)],
            [f"{v:+.1f}" for v in values.tolist()],
            title=f"{cell.cfg.cell_id}: traversal, other dims at the prior {opts.base} (x std)"
            + (f", class {opts.label}" if model.conditional else ""),
        )
        return [path]
