"""The report's figures, one function each, drawn from a leaderboard section and the cells' logs.

Each writes one PNG (matplotlib on Agg, through bench.plots.save_figure) and returns its path,
or None when the data for it is not there (no latent sweep, no curves, a single row).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from bench.plots import plot_series, pyplot, save_figure
from bench.reporting.leaderboard import Row, Section
from bench.reporting.stats import prob_improvement

Series = list[tuple[int, float]]
HEATMAP_ROWS = 30  # a larger matrix is unreadable
FIGURE_ROWS = 40  # a larger section draws its best rows (the tables keep every row)
SWEEP_MODELS = 12  # the latent sweep draws the models of the best rows


def _height(n_rows: int, per_row: float = 0.32, base: float = 1.6) -> float:
    return base + per_row * max(n_rows, 1)


def latent_sweep(section: Section, path: Path) -> Path | None:
    """Main metric against latent size, one line per model (the SWEEP_MODELS models of the best rows):
    means, with each seed as a dot."""
    by_model: dict[str, list[Row]] = defaultdict(list)
    for r in section.rows:
        if r.latent_size is not None:
            by_model[r.model].append(r)
    if not any(len({r.latent_size for r in rows}) > 1 for rows in by_model.values()):
        return None
    if len(by_model) > SWEEP_MODELS:  # the models of the best rows: a legend of hundreds is unreadable
        keep = list(dict.fromkeys(r.model for r in section.ranked if r.model in by_model))[:SWEEP_MODELS]
        by_model = {m: by_model[m] for m in keep}
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    for i, (model, rows) in enumerate(sorted(by_model.items())):
        rows = sorted(rows, key=lambda r: r.latent_size)
        color = f"C{i % 10}"
        zs = [r.latent_size for r in rows]
        means = [r.summary(section.main).mean for r in rows]
        ax.plot(zs, means, marker="o", color=color, label=model)
        for r in rows:
            vals = r.values[section.main]
            ax.scatter([r.latent_size] * len(vals), vals, s=12, color=color, alpha=0.45, linewidths=0)
    ax.set_xscale("log", base=2)
    ax.set_xlabel("latent size")
    ax.set_ylabel(section.main)
    ax.set_title(f"{section.dataset}: {section.main} by latent size (dots: seeds)", fontsize=10)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    return save_figure(fig, path, tight_bbox=True)


def seed_strip(section: Section, path: Path) -> Path | None:
    """Every seed's value per row (dots), the mean (bar) and the 95% t CI of the mean (line); the best
    FIGURE_ROWS rows of a larger section."""
    rows = section.ranked[:FIGURE_ROWS] if len(section.rows) > FIGURE_ROWS else section.rows
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6.4, _height(len(rows))))
    for y, r in enumerate(rows):
        s = r.summary(section.main)
        vals = np.asarray(r.values[section.main])
        jitter = (np.arange(len(vals)) - (len(vals) - 1) / 2) * 0.08
        ax.scatter(vals, y + jitter, s=16, color="C0", alpha=0.7, zorder=3)
        ax.plot([s.mean], [y], marker="|", markersize=14, color="C3", zorder=4)
        if s.ci is not None:
            ax.plot(list(s.ci), [y, y], color="C3", lw=1.5, alpha=0.6)
    ax.set_yticks(range(len(rows)), [r.label for r in rows], fontsize=8)
    ax.set_ylim(len(rows) - 0.5, -0.5)  # best row on top, room around a single row
    ax.set_xlabel(f"{section.main} ({'lower' if section.lower else 'higher'} is better)")
    best = f", best {len(rows)} of {len(section.rows)} rows" if len(rows) < len(section.rows) else ""
    ax.set_title(f"{section.dataset}: seeds per row (red: mean and 95% t CI{best})", fontsize=10)
    ax.grid(axis="x", alpha=0.3)
    return save_figure(fig, path, tight_bbox=True)


def training_curves(
    section: Section, curves: dict[str, list[Series]], metric: str, path: Path
) -> Path | None:
    """`metric` over training per row: each seed faint, the mean over seeds with a ±1 std band at the
    steps every seed logged. `curves`: row label -> one series per seed; `metric`: the curve metric
    with the N its points were scored at (stability.curve_label), which is not the final scores' N."""
    curves = {k: v for k, v in curves.items() if any(v)}
    if not curves:
        return None
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7.2, 4.2))
    for i, (label, seeds) in enumerate(curves.items()):
        color = f"C{i % 10}"
        for s in seeds:
            ax.plot([p[0] for p in s], [p[1] for p in s], color=color, lw=0.8, alpha=0.35)
        common = sorted(set.intersection(*(set(p[0] for p in s) for s in seeds)))
        if common:
            table = np.asarray([[dict(s)[t] for t in common] for s in seeds])
            mean = table.mean(axis=0)
            ax.plot(common, mean, color=color, lw=1.8, label=f"{label} ({len(seeds)} seeds)")
            if len(seeds) > 1:
                std = table.std(axis=0, ddof=1)
                ax.fill_between(common, mean - std, mean + std, color=color, alpha=0.15, linewidth=0)
    ax.set_xlabel("training step")
    ax.set_ylabel(metric)
    ax.set_title(f"{section.dataset}: {metric} during training (band: ±1 std over seeds)", fontsize=10)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    return save_figure(fig, path, tight_bbox=True)


def pareto_front(points: Sequence[tuple[float, float]], lower: bool) -> list[int]:
    """Indices of the points no other point beats in both cost (x, lower is better) and quality (y)."""
    sign = 1.0 if lower else -1.0
    order = sorted(range(len(points)), key=lambda i: (points[i][0], sign * points[i][1]))
    front, best = [], float("inf")
    for i in order:
        q = sign * points[i][1]
        if q < best:
            front.append(i)
            best = q
    return front


def quality_vs_cost(section: Section, path: Path) -> Path | None:
    """Mean score against mean device-hours per cell, with the Pareto front (labels up to FIGURE_ROWS)."""
    rows = [r for r in section.rows if r.device]
    if not rows:
        return None
    pts = [(float(np.mean(r.device)) / 3600, r.summary(section.main).mean) for r in rows]
    front = pareto_front(pts, section.lower)
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    ax.scatter([p[0] for p in pts], [p[1] for p in pts], color="C0", zorder=3)
    for k, (r, p) in enumerate(zip(rows, pts, strict=True) if len(rows) <= FIGURE_ROWS else ()):
        # Alternate above/below so rows of equal cost and similar score stay readable.
        ax.annotate(r.label, p, fontsize=7, xytext=(5, 4 if k % 2 == 0 else -10), textcoords="offset points")
    fx = [pts[i][0] for i in front]
    fy = [pts[i][1] for i in front]
    ax.scatter(fx, fy, s=90, facecolors="none", edgecolors="C3", zorder=4, label="Pareto front")
    if len(front) > 1:
        ax.step(fx, fy, where="post", color="C3", lw=1.2)
    xs = [p[0] for p in pts]
    if min(xs) > 0 and max(xs) / min(xs) > 10:
        ax.set_xscale("log")
    ax.set_xlabel("device-hours per cell (mean over seeds)")
    ax.set_ylabel(f"{section.main} (mean, {'lower' if section.lower else 'higher'} is better)")
    ax.set_title(f"{section.dataset}: quality vs cost", fontsize=10)
    ax.legend(fontsize=7)
    ax.margins(x=0.25, y=0.12)
    return save_figure(fig, path, tight_bbox=True)


def improvement_heatmap(section: Section, path: Path) -> Path | None:
    """P(row better than column) for every pair of rows: the probability of improvement U / (nm)
    (Mann-Whitney U), a description of overlap, not a test. Up to HEATMAP_ROWS rows."""
    rows = section.rows
    if len(rows) < 2 or len(rows) > HEATMAP_ROWS:
        return None
    n = len(rows)
    m = np.full((n, n), np.nan)
    for i in range(n):
        for j in range(i + 1, n):
            pi = prob_improvement(rows[i].values[section.main], rows[j].values[section.main], section.lower)
            m[i, j], m[j, i] = pi, 1 - pi
    plt = pyplot()
    side = max(3.2, 1.2 + 0.5 * n)
    fig, ax = plt.subplots(figsize=(side + 2.4, side + 1.0))
    im = ax.imshow(m, vmin=0, vmax=1, cmap="RdBu_r")
    labels = [r.label for r in rows]
    ax.set_xticks(range(n), labels, rotation=45, ha="right", fontsize=7)
    ax.set_yticks(range(n), labels, fontsize=7)
    if n <= 12:
        for i in range(n):
            for j in range(n):
                if i != j:
                    ax.text(j, i, f"{m[i, j]:.2f}", ha="center", va="center", fontsize=6)
    bar = fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    bar.set_label("P(row better than column)", fontsize=8)
    bar.ax.tick_params(labelsize=7)
    ax.set_title(
        f"{section.dataset}: probability of improvement U/(nm)\non {section.main} (descriptive, not a test)",
        fontsize=9,
    )
    return save_figure(fig, path, tight_bbox=True)


def d_health(
    series: dict[str, dict[str, list[Series]]],
    keys: Sequence[str],
    path: Path,
    thresholds: dict[str, float] | None = None,
) -> Path | None:
    """Discriminator diagnostics over steps: one panel per logged key (D first-layer gradient norm,
    D loss, gradient penalty), one colour per row, seeds overlaid. `series`: row -> key -> per seed;
    `thresholds`: key -> the level the stability checks flag, drawn dashed."""
    thresholds = thresholds or {}
    keys = [k for k in keys if any(per_key.get(k) for per_key in series.values())]
    if not keys:
        return None
    plt = pyplot()
    fig, axes = plt.subplots(len(keys), 1, figsize=(7.2, 2.6 * len(keys)), squeeze=False)
    for ax, key in zip(axes[:, 0], keys, strict=True):
        low, high = float("inf"), 0.0
        for i, (label, per_key) in enumerate(series.items()):
            for k, s in enumerate(per_key.get(key, [])):
                if not s:
                    continue
                if len(s) >= 200:  # long runs: a rolling median inside the window's min/max band
                    plot_series(ax, s, color=f"C{i % 10}")
                else:
                    ax.plot([p[0] for p in s], [p[1] for p in s], color=f"C{i % 10}", lw=0.9, alpha=0.8)
                low = min(low, *(v for _, v in s))
                high = max(high, *(v for _, v in s))
                if k == 0:
                    ax.plot([], [], color=f"C{i % 10}", label=label)
        if low > 0 and high / low > 10:  # norms that span decades (a vanishing gradient) need a log axis
            ax.set_yscale("log")
        if key in thresholds and low >= 0:  # the checks read non-negative values (not a WGAN critic's loss)
            ax.axhline(thresholds[key], color="0.4", ls="--", lw=0.8)
            ax.annotate("flag threshold", (0, thresholds[key]), xycoords=("axes fraction", "data"),
                        xytext=(2, 2), textcoords="offset points", fontsize=6, color="0.4")  # fmt: skip
        ax.set_title(key, fontsize=9)
        ax.set_xlabel("step", fontsize=8)
        ax.tick_params(labelsize=7)
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(
        handles, labels, fontsize=7, loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=2, frameon=False
    )
    fig.suptitle("discriminator health (seeds overlaid)", fontsize=10)
    return save_figure(fig, path, tight_bbox=True)
