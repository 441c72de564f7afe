"""The report's builder: the leaderboard's sections with their figures, the overview and stability."""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from bench.errors import BenchError
from bench.eval import result_keys as cols
from bench.plots import read_metrics
from bench.reporting import leaderboard as lbm
from bench.reporting import report_figures as figs
from bench.reporting import stability as stab
from bench.reporting.report.files import CellFiles, _cell_dir
from bench.reporting.report.tables import Table, _pct, _slug, _thresholds
from bench.storage import files as store

D_KEYS = (stab.GRAD_NORM_KEY, stab.D_LOSS_KEY, stab.GP_KEY)
D_THRESHOLDS = {
    stab.GRAD_NORM_KEY: stab.GRAD_VANISH,
    stab.D_LOSS_KEY: stab.D_LOSS_NEAR_ZERO,
    stab.GP_KEY: stab.GP_MAX,
}


class Builder(CellFiles):
    """Everything the templates show, from the leaderboard (built here, or handed over by `bench run`
    so its pairs are not computed twice) and the cells' files."""

    def __init__(
        self,
        out: Path,
        tmp: Path,
        metric: str | None,
        datasets: list[str] | None = None,
        models: list[str] | None = None,
        lb: lbm.Leaderboard | None = None,
    ) -> None:
        self.out, self.tmp = out, tmp
        if lb is None:
            self.results = lbm.select(lbm.collect(out), datasets, models)
            self.lb = lbm.build(self.results, metric)
        else:
            self.results = [r for row in lb.rows for r in row.results]
            self.lb = lb
        if metric is not None and not any(cols.base_name(s.main) == metric for s in self.lb.sections):
            scores = sorted({cols.base_name(s.main) for s in self.lb.sections} | self._scores())
            raise BenchError(
                f"--metric: {metric!r} is no score of the results in {out}; scores: {', '.join(scores)}"
            )
        self.cells = {
            r.get("cell_id"): stab.cell_stability(_cell_dir(out, r), r)
            for r in self.results
            if r.get("cell_id")
        }

    def _scores(self) -> set[str]:
        return {cols.base_name(c) for c in self.lb.columns if cols.direction(c) is not None}

    def fig(self, path: Path | None, caption: str) -> dict[str, str] | None:
        return {"src": self.rel(path), "caption": caption} if path is not None else None

    def overview(self) -> dict[str, Any]:
        from bench.storage.status import all_states

        states = Counter(s.state for s in all_states(self.out))
        device = [d for r in self.results if (d := lbm.device_seconds(r)) is not None]
        grids = sorted({str(r["grid"]) for r in self.results if r.get("grid")})
        return {
            "out": str(self.out),
            "generated": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "cells": sum(states.values()),
            "states": [(k, states.get(k, 0)) for k in ("done", "failed", "diverged", "pending", "running")]
            + [
                (k, n)
                for k, n in sorted(states.items())
                if k not in ("done", "failed", "diverged", "pending", "running")
            ],
            "device_hours": sum(device) / 3600,
            "device_cells": len(device),
            "grids": grids,
            "protocols": [lbm.describe_protocol(s.protocol, s.main) for s in self.lb.sections],
            "different_n": lbm.scored_at_different_n(self.lb),
            "stats_method": lbm.STATS_METHOD,
            "models": len({r.model for r in self.lb.rows}),
            "rows": len(self.lb.rows),
        }

    def _curves(self, section: lbm.Section) -> tuple[str, dict[str, list[figs.Series]]]:
        """The curve metric matching the section's main score and each row's per-seed series."""
        metric = cols.base_name(section.main)
        curves: dict[str, list[figs.Series]] = {}
        sizes: tuple[int | None, int | None] = (None, None)
        for row in section.rows:
            series = []
            for r in row.results:
                cell = self.cells.get(r.get("cell_id"))
                if cell is None or r.get("status") != "done":
                    continue
                curve = stab.read_curve(cell.dir / stab.CURVE)
                points = stab.curve_series(curve).get(metric)
                if points:
                    series.append(points)
                    sizes = stab.curve_sizes(curve)
            if series:
                curves[row.label] = series
        # The curve's own N (not the section's): its title and caption say it.
        return stab.curve_label(metric, *sizes), curves

    def _d_series(self, rows: list[lbm.Row]) -> dict[str, dict[str, list[figs.Series]]]:
        out: dict[str, dict[str, list[figs.Series]]] = {}
        for row in rows:
            per_key: dict[str, list[figs.Series]] = defaultdict(list)
            for r in row.results:
                cell = self.cells.get(r.get("cell_id"))
                if cell is None or cell.d_health is None:
                    continue
                logged = read_metrics(cell.dir / store.METRICS)
                for k in D_KEYS:
                    if logged.get(k):
                        per_key[k].append(logged[k])
            if per_key:
                out[row.label] = dict(per_key)
        return out

    def sections(self) -> list[dict[str, Any]]:
        fig_dir = self.tmp / "figures"
        different_n = lbm.different_n_by_dataset(self.lb)
        out = []
        for i, s in enumerate(self.lb.sections):
            slug = f"{i + 1}-{_slug(s.dataset + '-' + s.main)}"
            header, body = lbm.section_table(s)
            metric, curves = self._curves(s)
            d_rows = self._d_series(s.rows)
            figures = [
                self.fig(figs.seed_strip(s, fig_dir / f"{slug}-seeds.png"), "every seed per row"),
                self.fig(figs.latent_sweep(s, fig_dir / f"{slug}-latent.png"), "main metric by latent size"),
                self.fig(
                    figs.training_curves(s, curves, metric, fig_dir / f"{slug}-curves.png"),
                    f"{metric} during training (curve.jsonl)",
                ),
                self.fig(figs.quality_vs_cost(s, fig_dir / f"{slug}-cost.png"), "quality vs device-hours"),
                self.fig(
                    figs.improvement_heatmap(s, fig_dir / f"{slug}-improvement.png"),
                    "probability of improvement U/(nm) between rows: descriptive, not a test",
                ),
                self.fig(
                    figs.d_health(d_rows, D_KEYS, fig_dir / f"{slug}-dhealth.png", D_THRESHOLDS),
                    "discriminator health over training",
                ),
            ]
            out.append(
                {
                    "id": f"section-{slug}",
                    "title": s.title,
                    "table": Table(header, body),
                    "said": lbm.what_it_says(s)[:1],
                    "sentences": lbm.what_it_says(s)[1:],
                    "protocol": lbm.describe_protocol(s.protocol, s.main),
                    "different_n": different_n.get(s.dataset),
                    "all_metrics": Table(*lbm.all_metrics_table(s)),
                    "figures": [f for f in figures if f],
                }
            )
        return out

    def stability(self) -> dict[str, Any]:
        header = [
            "model", "dataset", "latent", "cells", "failure rate", "divergence rate", "collapsed",
            "copying", "seed CV of main", "flags",
        ]  # fmt: skip
        body, flagged = [], []
        main_of = {id(r): s.main for s in self.lb.sections for r in s.rows}
        curve_rows = []
        for row in self.lb.rows:
            cells = [self.cells[r["cell_id"]] for r in row.results if r.get("cell_id") in self.cells]
            main = main_of.get(id(row))
            rs = stab.RowStability(cells, row.values.get(main, []) if main else [])
            rate = rs.rate
            kinds = Counter(f.kind for c in cells for f in c.flags)
            flags = ", ".join(f"{k} x{n}" for k, n in sorted(kinds.items()))
            if rs.unstable_across_seeds:
                flags = ", ".join(x for x in (flags, f"seed CV > {stab.SEED_CV_MAX}") if x)
            body.append(
                [
                    row.model,
                    row.dataset,
                    "-" if row.latent_size is None else str(row.latent_size),
                    str(len(cells)),
                    _pct(rate("failed")),
                    _pct(rate("diverged")),
                    str(rs.collapsed),
                    str(rs.copying),
                    "-" if rs.seed_cv is None else f"{rs.seed_cv:.3f}",
                    flags or "-",
                ]
            )
            for c in rs.flagged:
                log = c.dir / store.LOG
                flagged.append(
                    {
                        "cell": c.cell_id,
                        "row": f"{row.label} on {row.dataset}",
                        "flags": [(f.kind, f.reason) for f in c.flags],
                        "folder": f"../{c.dir.name}/",
                        "log": f"../{c.dir.name}/{store.LOG}" if log.exists() else None,
                    }
                )
            for c in cells:
                for cs in c.curves.values():
                    curve_rows.append(
                        [
                            c.cell_id,
                            cs.label,
                            lbm.num(cs.best),
                            str(cs.best_step),
                            lbm.num(cs.final),
                            lbm.num(cs.gap),
                            lbm.num(cs.auc),
                            lbm.num(cs.volatility),
                        ]
                    )
        curve_header = [
            "cell",
            "metric",
            "best",
            "step of best",
            "final",
            "final-best gap",
            "AUC",
            "volatility",
        ]
        return {
            "table": Table(header, body),
            "flagged": flagged,
            "curves": Table(curve_header, curve_rows),
            "thresholds": _thresholds(),
        }
