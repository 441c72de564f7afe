"""Mean and log-variance of a VAE's latent code over the test set, per cell and across a latent sweep.

Per dimension i over the test images: mean_mu[i] = E_x[mu_i(x)], var_mu[i] = Var_x[mu_i(x)] (how much
the code moves with the input) and mean_logvar[i] = E_x[log sigma_i^2(x)]. A dimension the model does
not use sits at the prior: mu ~ 0 for every x (var_mu ~ 0) and log sigma^2 ~ 0. Active units count the
dimensions with var_mu > 0.01 (Burda et al. 2016).
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import torch
from pydantic import Field

from bench.analysis.base import ANALYSES, Analysis, has_hook
from bench.analysis.bounds import MAX_BATCH, MAX_IMAGES
from bench.analysis.load import LoadedCell, finished_cells, load_cell, read_config
from bench.config import StrictModel
from bench.datasets.base import ImageSplit
from bench.errors import BenchError
from bench.fs import atomic_write_json, atomic_write_text
from bench.models import MODELS
from bench.models.vae import split_batches
from bench.plots import pyplot, save_figure

ACTIVE = 0.01


class LatentStatsOptions(StrictModel):
    n: int = Field(10_000, gt=0, le=MAX_IMAGES, description="test images used (the first n)")
    batch_size: int = Field(250, gt=0, le=MAX_BATCH)


@torch.no_grad()
def latent_stats(cell: LoadedCell, n: int, batch_size: int) -> dict[str, object]:
    """Per-dimension statistics of the posterior over the cell's test split, plus their summary."""
    model, full = cell.model, cell.split()
    # A new split, not a slice assigned into the loaded one: sources may cache and share their splits.
    test = ImageSplit(full.images[:n], full.labels[:n] if full.labels is not None else None)
    mus, logvars = [], []
    for x, y in split_batches(test, batch_size, model.device):
        mu, logvar = model.posterior(x, y if model.conditional else None)
        mus.append(mu.float().cpu())
        logvars.append(logvar.float().cpu())
    mu, logvar = torch.cat(mus), torch.cat(logvars)
    var_mu = mu.var(0) if len(mu) > 1 else torch.zeros(mu.shape[1])
    return {
        "cell_id": cell.cfg.cell_id,
        "model": cell.cfg.model,
        "dataset": cell.cfg.dataset,
        "latent_size": mu.shape[1],
        "seed": cell.cfg.seed,
        "n_images": len(mu),
        "mean_mu": mu.mean(0).tolist(),
        "var_mu": var_mu.tolist(),
        "mean_logvar": logvar.mean(0).tolist(),
        "summary": {
            "mean_mu": float(mu.mean()),
            "mean_var_mu": float(var_mu.mean()),
            "mean_logvar": float(logvar.mean()),
            "active_units": int((var_mu > ACTIVE).sum()),
        },
    }


def _plot_cell(stats: dict, path: Path) -> Path:
    plt = pyplot()

    k = stats["latent_size"]
    dims = range(k)
    fig, axes = plt.subplots(1, 2, figsize=(min(4 + 0.12 * k, 16), 3.2))
    mean_mu, std_mu = stats["mean_mu"], [v**0.5 for v in stats["var_mu"]]
    axes[0].bar(dims, mean_mu, yerr=std_mu, color="C0", ecolor="0.4", capsize=1 if k <= 64 else 0)
    axes[0].set_title("mean of mu over test images (bar: +- its std)", fontsize=9)
    axes[1].bar(dims, stats["mean_logvar"], color="C1")
    axes[1].axhline(0, color="0.5", lw=0.6)
    axes[1].set_title("mean of log sigma^2 (0 = the prior)", fontsize=9)
    for ax in axes:
        ax.set_xlabel("latent dimension", fontsize=8)
        ax.tick_params(labelsize=7)
    s = stats["summary"]
    fig.suptitle(f"{stats['cell_id']}: {s['active_units']}/{k} active units (Var[mu] > {ACTIVE})", fontsize=9)
    return save_figure(fig, path)


def sweep_table(all_stats: list[dict]) -> tuple[list[str], list[list[str]], dict]:
    """Rows per (model, dataset, latent size), summaries averaged over seeds."""
    groups: dict[tuple[str, str, int], list[dict]] = defaultdict(list)
    for s in all_stats:
        groups[(s["model"], s["dataset"], s["latent_size"])].append(s["summary"])
    header = ["model", "dataset", "latent", "seeds", "mean mu", "mean Var[mu]", "mean log sigma^2", "active"]
    rows, series = [], defaultdict(list)
    for (m, d, k), sums in sorted(groups.items()):
        avg = {key: sum(x[key] for x in sums) / len(sums) for key in sums[0]}
        rows.append(
            [
                m,
                d,
                str(k),
                str(len(sums)),
                f"{avg['mean_mu']:+.3f}",
                f"{avg['mean_var_mu']:.3f}",
                f"{avg['mean_logvar']:+.3f}",
                f"{avg['active_units']:.1f}/{k}",
            ]
        )
        series[(m, d)].append((k, avg))
    return header, rows, series


def _plot_sweep(series: dict, path: Path) -> Path:
    plt = pyplot()

    fig, axes = plt.subplots(1, 3, figsize=(12, 3.4))
    panels = [
        ("mean_logvar", "mean log sigma^2"),
        ("mean_var_mu", "mean Var[mu] over test images"),
        ("active_frac", "share of active units"),
    ]
    for (m, d), points in sorted(series.items()):
        ks = [k for k, _ in points]
        for ax, (key, title) in zip(axes, panels, strict=True):
            ys = [a["active_units"] / k if key == "active_frac" else a[key] for k, a in points]
            ax.plot(ks, ys, marker="o", label=f"{m} / {d}")
            ax.set_title(title, fontsize=9)
    for ax in axes:
        ax.set_xscale("log", base=2)
        ax.set_xlabel("latent size", fontsize=8)
        ax.tick_params(labelsize=7)
    axes[0].legend(fontsize=7)
    return save_figure(fig, path)


@ANALYSES.register("latent-stats")
class LatentStats(Analysis):
    name = "latent-stats"
    description = "mean and log-variance of the latent code over the test set; a table across latent sizes"
    needs = ("posterior",)
    Options = LatentStatsOptions

    def run_cell(self, cell: LoadedCell, opts: LatentStatsOptions) -> list[Path]:
        stats = latent_stats(cell, opts.n, opts.batch_size)
        json_path = cell.dir / "latent_stats.json"
        atomic_write_json(json_path, stats)
        return [_plot_cell(stats, cell.dir / "latent_stats.png"), json_path]

    def run_root(self, out: Path, opts: LatentStatsOptions) -> list[Path]:
        cells = [d for d in finished_cells(out) if has_hook(MODELS.get(read_config(d).model), "posterior")]
        if not cells:
            raise BenchError(f"--out: no finished cells of a model with a posterior (a VAE) in {out}")
        all_stats = []
        for d in cells:
            cell = load_cell(d)
            all_stats.append(latent_stats(cell, opts.n, opts.batch_size))
        header, rows, series = sweep_table(all_stats)
        md = "| " + " | ".join(header) + " |\n|" + "---|" * len(header) + "\n"
        md += "".join("| " + " | ".join(r) + " |\n" for r in rows)
        md_path, json_path = out / "latent_stats.md", out / "latent_stats.json"
        atomic_write_text(md_path, md)
        atomic_write_text(json_path, json.dumps(all_stats, indent=1) + "\n")
        return [md_path, _plot_sweep(series, out / "latent_stats.png"), json_path]
