"""The report's per-cell material: sample gallery, memorisation pairs, TensorBoard links, analyses'
figures and the grid files that reproduce each row. A mixin of the report's builder."""

from __future__ import annotations

import shlex
import shutil
from pathlib import Path
from typing import Any

import yaml

from bench import fs
from bench.eval import result_keys as cols
from bench.reporting import leaderboard as lbm
from bench.reporting import stability as stab
from bench.reporting.report.tables import _slug
from bench.storage import files as store

REPORT = "report"
# PNGs a cell writes itself; every other PNG in a cell folder is an analysis (bench analyze).
CELL_PNGS = ("samples.png", "losses.png", "curve.png", "closest_pairs.png")
# Written by the memorisation metric's evaluation: each generated sample beside its nearest training image.
CLOSEST_PAIRS = "closest_pairs.png"


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


class CellFiles:
    """What the builder copies or links per cell; needs out, tmp, results, lb and rel()."""

    out: Path
    tmp: Path
    results: list[dict[str, Any]]
    lb: lbm.Leaderboard

    def rel(self, path: Path) -> str:
        return path.relative_to(self.tmp).as_posix()

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
