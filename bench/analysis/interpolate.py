"""Interpolation between two latent codes: slerp in a Gaussian prior, straight lines otherwise."""

from __future__ import annotations

from pathlib import Path

import torch
from pydantic import Field

from bench.analysis.base import ANALYSES, Analysis, has_hook
from bench.analysis.bounds import MAX_COLUMNS, MAX_ROWS
from bench.analysis.figures import save_labeled_grid
from bench.analysis.load import LoadedCell
from bench.analysis.traversal import labels_for
from bench.config import StrictModel
from bench.datasets.batches import to_unit_range
from bench.errors import BenchError
from bench.models.base import GenerativeModel


class InterpolateOptions(StrictModel):
    pairs: int = Field(4, gt=0, le=MAX_ROWS, description="pairs of endpoints, one row each")
    steps: int = Field(9, ge=2, le=MAX_COLUMNS, description="images per row, endpoints included")
    source: str = Field(
        "prior", pattern="^(prior|test)$", description="endpoints: prior draws or test images"
    )
    method: str = Field("auto", pattern="^(auto|slerp|lerp)$", description="auto = slerp for Gaussian priors")
    label: int = Field(0, ge=0, description="class to decode with, for conditional models (prior endpoints)")
    seed: int = 0


def slerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Spherical interpolation of rows a, b (n, d) at fractions t (s,) -> (n, s, d). Keeps the norm
    typical of Gaussian draws, which straight lines shrink towards the origin; lerp when a || b."""
    an, bn = a / a.norm(dim=1, keepdim=True), b / b.norm(dim=1, keepdim=True)
    omega = torch.acos((an * bn).sum(1).clamp(-1 + 1e-7, 1 - 1e-7))[:, None, None]
    t = t[None, :, None]
    so = torch.sin(omega)
    out = (torch.sin((1 - t) * omega) * a[:, None] + torch.sin(t * omega) * b[:, None]) / so
    straight = lerp(a, b, t[0, :, 0])
    return torch.where(so.abs() < 1e-6, straight, out)


def lerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    t = t[None, :, None]
    return (1 - t) * a[:, None] + t * b[:, None]


@ANALYSES.register("interpolate")
class Interpolate(Analysis):
    name = "interpolate"
    description = "decode codes on the path between two prior draws (or two encoded test images)"
    needs = ("prior", "decode")
    Options = InterpolateOptions

    def run_cell(self, cell: LoadedCell, opts: InterpolateOptions) -> list[Path]:
        model = cell.model
        g = torch.Generator(model.device).manual_seed(opts.seed)
        n = opts.pairs
        labels = labels_for(model, n, opts.label)
        real = None
        if opts.source == "prior":
            a, b = model.prior(n, g).float(), model.prior(n, g).float()
        else:
            self._check_encode(model)
            test = cell.split()
            idx = torch.randperm(len(test), generator=torch.Generator().manual_seed(opts.seed))[: 2 * n]
            if len(idx) < 2 * n:
                raise BenchError(
                    f"--opt pairs: {n} pairs need {2 * n} test images; the split has {len(test)}"
                )
            x = to_unit_range(test.images[idx].to(model.device))
            y = test.labels[idx].to(model.device) if test.labels is not None and model.conditional else None
            codes = model.encode(x, y).float()
            a, b = codes[:n], codes[n:]
            labels = y[:n] if y is not None else labels
            real = x
        method = opts.method
        if method == "auto":
            gaussian = getattr(model, "latent_prior", "gaussian") == "gaussian"
            method = "slerp" if gaussian and opts.source == "prior" else "lerp"
        t = torch.linspace(0, 1, opts.steps, device=a.device)
        z = (slerp if method == "slerp" else lerp)(a, b, t)  # (n, steps, d)
        y_all = labels.repeat_interleave(opts.steps) if labels is not None else None
        images = model.decode(z.flatten(0, 1), y_all)
        images = images.view(n, opts.steps, *images.shape[1:])
        cols = [f"{v:.2f}" for v in t.tolist()]
        if real is not None:  # the real endpoints beside their decoded paths
            images = torch.cat([real[:n, None], images, real[n:, None]], 1)
            cols = ["A", *cols, "B"]
        path = save_labeled_grid(
            images,
            cell.dir / "interpolate.png",
            [f"pair {i}" for i in range(n)],
            cols,
            title=f"{cell.cfg.cell_id}: {method} between {'prior draws' if real is None else 'test images'}"
            + (f", class {opts.label}" if model.conditional and real is None else ""),
        )
        return [path]

    def _check_encode(self, model: GenerativeModel) -> None:
        if not has_hook(model, "encode"):
            raise BenchError(f"--opt source=test: {type(model).__name__} has no encoder; use source=prior")
