"""Discriminator diagnostics over training, from the cell's metrics.jsonl: the gradient norm of D's first
layer (every adversarial family logs it; see bench/models/adversarial.py) and, for WGAN-GP, the
gradient penalty. Needs no model hook: it plots what the run logged.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from bench.analysis.base import ANALYSES, Analysis
from bench.analysis.load import LoadedCell, finished_cells, read_config
from bench.config import StrictModel
from bench.errors import BenchError
from bench.models.adversarial import GRAD_NORM_KEY
from bench.models.base import GenerativeModel
from bench.plots import plot_series, pyplot, read_metrics, save_figure
from bench.storage import files as store


class GradNormOptions(StrictModel):
    log_scale: bool = Field(True, description="logarithmic y axis (norms span orders of magnitude)")


def diagnostic_series(metrics_path: Path) -> dict[str, list[tuple[int, float]]]:
    """The logged D first-layer gradient norms and gradient penalties, by metric name."""
    series = read_metrics(metrics_path)
    return {k: v for k, v in sorted(series.items()) if GRAD_NORM_KEY in k or k.split("/")[-1] == "gp"}


def plot_diagnostics(
    series: dict[str, list[tuple[int, float]]], out: Path, title: str, log_scale: bool
) -> Path:
    fig, axes = pyplot().subplots(len(series), 1, figsize=(6.4, 2.4 * len(series)), squeeze=False)
    for ax, (key, points) in zip(axes[:, 0], series.items(), strict=True):
        plot_series(ax, points, color="C1")
        vals = [v for _, v in points]
        if log_scale and all(v > 0 for v in vals):
            ax.set_yscale("log")
        ax.set_title(key, fontsize=9)
        ax.set_xlabel("step", fontsize=8)
        ax.tick_params(labelsize=7)
    fig.suptitle(title, fontsize=10)
    return save_figure(fig, out)


@ANALYSES.register("grad-norms")
class GradNorms(Analysis):
    name = "grad-norms"
    description = "plot D's first-layer gradient norm (and WGAN-GP's penalty) logged over training"
    Options = GradNormOptions

    def check(self, model: GenerativeModel, where: str) -> None:
        if model.family not in ("gan", "image-to-image"):
            raise BenchError(
                f"{where}: analysis 'grad-norms' is for adversarial models; this is a {model.family}"
            )

    def run_cell(self, cell: LoadedCell, opts: GradNormOptions) -> list[Path]:
        return [self._plot(cell.dir, opts)]

    def run_root(self, out: Path, opts: GradNormOptions) -> list[Path]:
        cells = [d for d in finished_cells(out) if diagnostic_series(d / store.METRICS)]
        if not cells:
            raise BenchError(f"--out: no finished adversarial cells with logged gradient norms in {out}")
        return [self._plot(d, opts) for d in cells]

    def _plot(self, cell_dir: Path, opts: GradNormOptions) -> Path:
        series = diagnostic_series(cell_dir / store.METRICS)
        if not series:
            raise BenchError(f"{cell_dir}: metrics.jsonl holds no {GRAD_NORM_KEY} or gp values")
        title = f"{read_config(cell_dir).cell_id}: D first-layer gradient norm" + (
            " and gradient penalty" if any(k.endswith("/gp") for k in series) else ""
        )
        return plot_diagnostics(series, cell_dir / "grad_norms.png", title, opts.log_scale)
