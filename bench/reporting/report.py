"""`bench report`: the study's answer as one folder, out/report/ (index.html and report.md).

Built from what the cells left (result.json, config.json, metrics.jsonl, curve.jsonl, samples.png and
the analyses' PNGs) and from the leaderboard's statistics: per dataset and protocol the ranking with
CIs, rank intervals and separability; per family its own metrics; the figures; stability and flagged
cells; and per row a grid file and the command that reproduces it. The folder is self-contained:
figures and sample grids are PNG files beside the HTML, linked relatively, no network needed. It is
written to a temporary folder and renamed into place, so an interrupted report never half-replaces
the last one.
"""

from __future__ import annotations

import datetime as dt
import re
import shlex
import shutil
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from bench import fs
from bench.errors import BenchError
from bench.eval import result_keys as cols
from bench.plots import read_metrics
from bench.reporting import leaderboard as lbm
from bench.reporting import report_figures as figs
from bench.reporting import stability as stab
from bench.reporting.markdown import no_raw_html
from bench.storage import files as store

REPORT = "report"
TEMPLATES = Path(__file__).parent / "templates"
# PNGs a cell writes itself; every other PNG in a cell folder is an analysis (bench analyze).
CELL_PNGS = ("samples.png", "losses.png", "curve.png", "closest_pairs.png")
# Written by the memorisation metric's evaluation: each generated sample beside its nearest training image.
CLOSEST_PAIRS = "closest_pairs.png"
D_KEYS = (stab.GRAD_NORM_KEY, stab.D_LOSS_KEY, stab.GP_KEY)
D_THRESHOLDS = {
    stab.GRAD_NORM_KEY: stab.GRAD_VANISH,
    stab.D_LOSS_KEY: stab.D_LOSS_NEAR_ZERO,
    stab.GP_KEY: stab.GP_MAX,
}


@dataclass
class Table:
    header: list[str]
    body: list[list[str]]
    links: dict[int, list[tuple[str, str]]] = field(default_factory=dict)  # row index -> (text, href)


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-").lower()[:80] or "x"


def _family(model: str) -> str:
    from bench.models import MODELS

    try:
        return MODELS.get(model).family
    except Exception:  # a result from a model no longer registered keeps a table of its own
        return model


def _row_family(row: lbm.Row) -> str:
    return _family(row.results[0].get("model", row.model))


def family_tables(lb: lbm.Leaderboard) -> list[dict[str, Any]]:
    """Per family, its own metrics (not the shared sample-quality ones, no curve summaries), by dataset
    and latent size (or the model arguments that make the rows, e.g. the codebook size K)."""
    out = []
    by_family: dict[str, list[lbm.Row]] = defaultdict(list)
    for r in lb.rows:
        if r.values:
            by_family[_row_family(r)].append(r)
    for family, rows in sorted(by_family.items()):
        present = [c for c in lb.columns if any(c in r.values for r in rows)]
        own = [
            c
            for c in present
            if not cols.shared(c) and cols.curve_metric(c) is None and cols.direction(c) is not None
        ]
        if not own:
            continue
        rows = sorted(
            (r for r in rows if any(c in r.values for c in own)),
            key=lambda r: (r.dataset, r.model, r.latent_size or 0),
        )
        header = ["model", "dataset", "latent", "n", *own]
        body = [
            [r.model, r.dataset, "-" if r.latent_size is None else str(r.latent_size), str(r.counts["done"])]
            + [lbm.fmt_value(r.summary(c)) for c in own]
            for r in rows
        ]
        directions = ", ".join(f"{c}: {cols.lower_is_better_words(c)}" for c in own)
        out.append(
            {
                "family": family,
                "table": Table(header, body),
                "directions": directions,
                "per_class": _per_class(rows),
            }
        )
    return out


def _per_class(rows: list[lbm.Row]) -> list[dict[str, Any]]:
    """Scores measured per class (hidden from the leaderboard's columns), mean over done seeds."""
    values: dict[str, dict[tuple, dict[int, list[float]]]] = defaultdict(
        lambda: defaultdict(lambda: defaultdict(list))
    )
    for row in rows:
        for r in row.results:
            if r.get("status") != "done":
                continue
            for key, v in (r.get("metrics") or {}).items():
                if (pc := cols.per_class(key)) is not None and v is not None:
                    values[pc[0]][row.key][pc[1]].append(float(v))
    tables = []
    for metric, by_row in sorted(values.items()):
        classes = sorted({c for per in by_row.values() for c in per})
        body = []
        for row in rows:
            per = by_row.get(row.key)
            if per:
                body.append(
                    [row.model, row.dataset, "-" if row.latent_size is None else str(row.latent_size)]
                    + [lbm.num(sum(per[c]) / len(per[c])) if per.get(c) else "-" for c in classes]
                )
        header = ["model", "dataset", "latent", *(f"class {c}" for c in classes)]
        tables.append({"metric": metric, "table": Table(header, body)})
    return tables


def cost_table(lb: lbm.Leaderboard) -> Table:
    """Per row, means over done cells of what the cells recorded about their cost."""
    header = [
        "model",
        "dataset",
        "latent",
        "cells",
        "device-h/cell",
        "train s",
        "steps/s",
        "peak memory",
        "device",
    ]
    body = []
    for row in lb.rows:
        done = [r for r in row.results if r.get("status") == "done"]
        if not done:
            continue
        cost = [(r.get("cost") or {}) | {"_train": r.get("train") or {}} for r in done]
        train_s = [c.get("train_seconds", c["_train"].get("seconds")) for c in cost]
        sps = [c.get("steps_per_second", c["_train"].get("steps_per_second")) for c in cost]
        peak = [c.get("peak_memory_bytes") for c in cost]
        kinds = sorted({str(c["peak_memory_kind"]) for c in cost if c.get("peak_memory_kind")})
        devices = sorted({str(c.get("device_name") or c["_train"].get("device") or "") for c in cost} - {""})
        body.append(
            [
                row.model,
                row.dataset,
                "-" if row.latent_size is None else str(row.latent_size),
                str(len(done)),
                lbm.hours(row.device),
                _mean(train_s, "{:.0f}"),
                _mean(sps, "{:.3g}"),
                _mean([p / 2**30 if p is not None else None for p in peak], "{:.3g} GiB")
                + (f" ({', '.join(kinds)})" if kinds and any(p is not None for p in peak) else ""),
                ", ".join(devices) or "-",
            ]
        )
    return Table(header, body)


def estimate_table(lb: lbm.Leaderboard, out: Path) -> Table | None:
    """Per row that `bench run` recorded an estimate for (out/estimate.json, bench/launch/estimate.py):
    the estimated device-hours of its done cells against the device-hours they recorded
    (cost.device_seconds), and the ratio; a last line sums the rows. None when nothing was recorded."""
    from bench.launch.estimate import read_recorded

    recorded = read_recorded(out)
    if not recorded:
        return None
    header = ["model", "dataset", "latent", "cells done", "estimated device-h", "actual device-h"]
    header += ["actual / estimated", "estimated from", "on"]
    body: list[list[str]] = []
    total_est = total_act = 0.0
    for row in lb.rows:
        entry = recorded.get(row.group)
        if entry is None or not row.device:
            continue
        per_cell = entry.get("device_seconds_per_cell")
        actual = sum(row.device)
        est = None if per_cell is None else float(per_cell) * len(row.device)
        if est is not None:
            total_est += est
            total_act += actual
        body.append(
            [
                row.model,
                row.dataset,
                "-" if row.latent_size is None else str(row.latent_size),
                str(len(row.device)),
                "?" if est is None else f"{est / 3600:.3g}",
                f"{actual / 3600:.3g}",
                "-" if not est else f"{actual / est:.2f}",
                str(entry.get("source", "?")),
                str(entry.get("device", "?")),
            ]
        )
    if not body:
        return None
    ratio = f"{total_act / total_est:.2f}" if total_est else "-"
    body.append(["all", "", "", "", f"{total_est / 3600:.3g}", f"{total_act / 3600:.3g}", ratio, "", ""])
    return Table(header, body)


def _mean(values: list[Any], fmt: str) -> str:
    xs = [float(v) for v in values if v is not None]
    return fmt.format(sum(xs) / len(xs)) if xs else "-"


def _natural(text: str) -> list[Any]:
    """Sort key that orders numbers by value: vq_vae[codebook_size=64] before ...=128."""
    return [int(p) if p.isdigit() else p for p in re.split(r"(\d+)", text)]


def _cell_dir(out: Path, result: dict[str, Any]) -> Path:
    return out / result.get("cell_id", "")


def _reproduce_grid(out: Path, row: lbm.Row) -> dict[str, Any] | None:
    """A grid file whose expansion is exactly this row's cells (same configs, so the same cell ids)."""
    configs = [fs.read_json(_cell_dir(out, r) / store.CONFIG) for r in row.results]
    configs = [c for c in configs if c]
    if not configs:
        return None
    c = configs[0]
    grid: dict[str, Any] = {
        "name": _slug(f"{row.model}-{row.dataset}-z{row.latent_size}"),
        "train": c["train"],
        "eval": c["eval"],
        "models": [{c["model"]: c["model_args"]}],
        "datasets": [{c["dataset"]: c["dataset_args"]}],
        "seeds": sorted({int(x["seed"]) for x in configs}),
    }
    if c.get("latent_size") is not None:
        grid["latent_sizes"] = [c["latent_size"]]
    return grid


def _copy(src: Path, dst: Path) -> str:
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src, dst)
    return dst.as_posix()


class _Builder:
    def __init__(
        self,
        out: Path,
        tmp: Path,
        metric: str | None,
        datasets: list[str] | None = None,
        models: list[str] | None = None,
    ) -> None:
        self.out, self.tmp = out, tmp
        self.results = lbm.select(lbm.collect(out), datasets, models)
        self.lb = lbm.build(self.results, metric)
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

    def rel(self, path: Path) -> str:
        return path.relative_to(self.tmp).as_posix()

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
        for row in section.rows:
            series = []
            for r in row.results:
                cell = self.cells.get(r.get("cell_id"))
                if cell is None or r.get("status") != "done":
                    continue
                points = stab.curve_series(stab.read_curve(cell.dir / stab.CURVE)).get(metric)
                if points:
                    series.append(points)
            if series:
                curves[row.label] = series
        return metric, curves

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
                    "probability of improvement between rows",
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
                    "sentences": s.not_separable(),
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
                for m, cs in c.curves.items():
                    curve_rows.append(
                        [
                            c.cell_id,
                            m,
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

    def gallery(self) -> list[dict[str, Any]]:
        out = []
        for row in self.lb.rows:
            for r in row.results:
                png = _cell_dir(self.out, r) / "samples.png"
                if r.get("status") == "done" and png.is_file():
                    dst = self.tmp / "samples" / f"{r['cell_id']}.png"
                    _copy(png, dst)
                    out.append(
                        {"label": f"{row.label} on {row.dataset}", "cell": r["cell_id"], "src": self.rel(dst)}
                    )
                    break
        return out

    def memorisation(self) -> list[dict[str, Any]]:
        """Per cell that left closest_pairs.png: the figure, its memorisation scores and flag."""
        out = []
        for row in self.lb.rows:
            for r in row.results:
                png = _cell_dir(self.out, r) / CLOSEST_PAIRS
                if not png.is_file():
                    continue
                dst = self.tmp / "memorisation" / f"{r['cell_id']}.png"
                _copy(png, dst)
                metrics = r.get("metrics") or {}
                flags = stab.copies_keys(metrics)
                out.append(
                    {
                        "label": f"{row.label} on {row.dataset}",
                        "cell": r["cell_id"],
                        "src": self.rel(dst),
                        "copies": any(v >= 0.5 for v in flags.values()),
                        "scores": ", ".join(
                            f"{k} = {lbm.num(float(v))}"
                            for k, v in sorted(metrics.items())
                            if v is not None and _memorisation_key(k, flags)
                        ),
                    }
                )
        return out

    def tensorboard(self) -> dict[str, Any]:
        """Each cell's TensorBoard folder (`<cell>/tb/`, bench/train/tensorboard.py) and the command
        that shows them all side by side."""
        from bench.train.tensorboard import TB_DIR

        cells = []
        for row in self.lb.rows:
            for r in row.results:
                tb = _cell_dir(self.out, r) / TB_DIR
                if r.get("cell_id") and tb.is_dir():
                    cells.append(
                        {
                            "label": f"{row.label} on {row.dataset}",
                            "cell": r["cell_id"],
                            "href": f"../{r['cell_id']}/{TB_DIR}/",
                        }
                    )
        return {
            "command": f"tensorboard --logdir {shlex.quote(str(self.out))}",
            "one": f"tensorboard --logdir {shlex.quote(str(self.out / cells[0]['cell'] / TB_DIR))}"
            if cells
            else None,
            "cells": cells,
        }

    def analyses(self) -> list[dict[str, str]]:
        out = []
        for png in sorted(self.out.glob("*.png")):  # analyses across cells (latent_stats.png)
            out.append({"cell": "(all cells)", "name": png.name, "src": self.rel(_copy_to(png, self.tmp))})
        for r in self.results:
            d = _cell_dir(self.out, r)
            for png in sorted(d.glob("*.png")) if d.is_dir() else []:
                if png.name not in CELL_PNGS:
                    dst = self.tmp / "analyses" / d.name / png.name
                    _copy(png, dst)
                    out.append({"cell": d.name, "name": png.name, "src": self.rel(dst)})
        return out

    def reproduce(self) -> list[dict[str, Any]]:
        out = []
        for row in self.lb.rows:
            grid = _reproduce_grid(self.out, row)
            if grid is None:
                continue
            path = self.tmp / "reproduce" / f"{grid['name']}.yaml"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(yaml.safe_dump(grid, sort_keys=False))
            final = self.out / REPORT / "reproduce" / path.name
            out.append(
                {
                    "label": f"{row.label} on {row.dataset}",
                    "grid": self.rel(path),
                    "command": f"bench run --grid {final} --out {self.out}",
                    "cells": [r.get("cell_id") for r in row.results],
                    "named_grids": sorted({str(r["grid"]) for r in row.results if r.get("grid")}),
                }
            )
        return out


def _memorisation_key(key: str, flags: dict[str, float]) -> bool:
    """A score of the metric that wrote a copies flag (its authenticity share, C_T ...)."""
    metrics = {m.metric for k in flags if (m := cols.info(k)) is not None}
    info = cols.info(key)
    return info is not None and info.metric in metrics and not info.hidden


def _copy_to(png: Path, tmp: Path) -> Path:
    dst = tmp / "analyses" / "all" / png.name
    _copy(png, dst)
    return dst


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{x:.0%}"


def _thresholds() -> list[tuple[str, str]]:
    return [
        ("COVERAGE_MIN", f"{stab.COVERAGE_MIN}"),
        ("CLASS_KL_MAX", f"{stab.CLASS_KL_MAX} nats"),
        ("RECALL_MIN", f"{stab.RECALL_MIN}"),
        ("D_LOSS_NEAR_ZERO / D_LOSS_ZERO_SHARE", f"{stab.D_LOSS_NEAR_ZERO} / {stab.D_LOSS_ZERO_SHARE:.0%}"),
        ("GRAD_VANISH / VANISH_STRETCH", f"{stab.GRAD_VANISH:g} / {stab.VANISH_STRETCH} logged steps"),
        ("GP_MAX", f"{stab.GP_MAX}"),
        ("SEED_CV_MAX", f"{stab.SEED_CV_MAX}"),
    ]


def _environment(autoescape: bool) -> Any:
    import jinja2

    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=autoescape,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def _ticks(text: str) -> Any:
    """Markdown-style `code` spans of a sentence as HTML <code>, the rest escaped."""
    from markupsafe import Markup, escape

    return Markup(re.sub(r"`([^`]+)`", r"<code>\1</code>", str(escape(text))))


def _md_cell(value: Any) -> str:
    return no_raw_html(str(value).replace("|", "\\|").replace("\n", " "))


def write_report(
    out: Path,
    metric: str | None = None,
    datasets: list[str] | None = None,
    models: list[str] | None = None,
) -> Path:
    """Write out/report/index.html and out/report/report.md (with their figures) and return the
    folder. `metric` (e.g. kid_digits) ranks every dataset that has it by that score instead of the
    default (FID, else the domain FD); `datasets` / `models` keep only the results they match
    (leaderboard.select). Raises BenchError when `out` holds no cells."""
    out = Path(out)
    if not out.is_dir() or not any(out.glob(f"*/{store.CONFIG}")):
        raise BenchError(
            f"--out: no cell folders in {out} (run a grid first: bench run --grid NAME --out {out})"
        )
    fs.clean_temp_dirs(out, ".report.")  # folders of reports killed before they finished
    tmp = fs.make_temp_dir(out, ".report.")  # the umask's permissions, like the rest of --out
    try:
        b = _Builder(out, tmp, metric, datasets, models)
        context = {
            "overview": b.overview(),
            "sections": b.sections(),
            "unscored": [lbm.unscored_words(r) for r in b.lb.unscored],
            "families": family_tables(b.lb),
            "cost": cost_table(b.lb),
            "estimate": estimate_table(b.lb, out),
            "stability": b.stability(),
            "gallery": b.gallery(),
            "memorisation": b.memorisation(),
            "tensorboard": b.tensorboard(),
            "analyses": b.analyses(),
            "reproduce": b.reproduce(),
            "metric": metric,
        }
        html_env = _environment(True)
        html_env.filters["ticks"] = _ticks
        html = html_env.get_template("report.html.j2").render(**context)
        md_env = _environment(False)
        md_env.finalize = no_raw_html  # every inserted value: user text is never raw HTML in report.md
        md_env.filters["md"] = _md_cell
        md = md_env.get_template("report.md.j2").render(**context)
        (tmp / "index.html").write_text(html)
        (tmp / "report.md").write_text(md)
        final = out / REPORT
        old = out / f".{REPORT}.old"
        shutil.rmtree(old, ignore_errors=True)
        if final.exists():
            final.rename(old)
        tmp.rename(final)
        shutil.rmtree(old, ignore_errors=True)
        return final
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
