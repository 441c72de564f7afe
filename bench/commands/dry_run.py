"""What `bench run --dry-run` prints: the cells (one line each, or one line per model x dataset block
for a large grid) and the cost estimate, as tables that fit the terminal's width (80 columns when
piped) with short model labels and a legend. Printing only: the estimate comes from estimate.py."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

from bench.config import CellConfig
from bench.launch.estimate import Estimate

# Above this many cells the dry run lists one line per model x dataset block instead of one per cell.
SUMMARY_ABOVE = 40
LABEL_WIDTH, DATASET_WIDTH = 14, 13  # longer model / dataset labels are shortened, with a legend


def _budget(c: CellConfig) -> str:
    return f"{c.train.steps}st" if c.train.steps else f"{c.train.epochs:g}ep"


def _few(values: list[str], limit: int = 1) -> str:
    """The first `limit` distinct values and how many more: "30 ep x128 +1"."""
    distinct = list(dict.fromkeys(values))
    more = len(distinct) - limit
    return ", ".join(distinct[:limit]) + (f" +{more}" if more > 0 else "")


def _latents(values: list[int]) -> str:
    xs = sorted(set(values))
    if not xs:
        return "-"
    return _spans(xs) if len(xs) <= 3 else f"{xs[0]}..{xs[-1]} ({len(xs)})"


def _spans(values: Iterable[int]) -> str:
    """[0, 1, 2, 5] -> "0-2,5": seeds or latent sizes compactly."""
    xs = sorted(set(values))
    out: list[str] = []
    i = 0
    while i < len(xs):
        j = i
        while j + 1 < len(xs) and xs[j + 1] == xs[j] + 1:
            j += 1
        out.append(str(xs[i]) if i == j else f"{xs[i]}-{xs[j]}")
        i = j + 1
    return ",".join(out)


def _labels(cells: list[CellConfig]) -> dict[str, str]:
    """Model and dataset labels -> short ones (leaderboard.short_labels), for the tables and legend."""
    from bench.reporting.leaderboard import short_labels
    from bench.storage.identity import cell_identity

    idents = [cell_identity(c) for c in cells]
    models = short_labels(list(dict.fromkeys(i["model_label"] for i in idents)), limit=LABEL_WIDTH)
    datasets = short_labels(list(dict.fromkeys(i["dataset_label"] for i in idents)), limit=DATASET_WIDTH)
    return models | datasets


def _block_key(c: CellConfig) -> tuple[str, str]:
    from bench.storage.identity import cell_identity

    ident = cell_identity(c)
    return ident["model_label"], ident["dataset_label"]


def cell_tables(
    name: str, source: str, cells: list[CellConfig], is_done: Callable[[CellConfig], bool]
) -> list[Any]:
    """rich renderables for the cells: one row per cell up to SUMMARY_ABOVE cells, else one row per
    model x dataset block (cells, latent sizes, seeds, budget, eval N, already done)."""
    from rich import box
    from rich.table import Table
    from rich.text import Text

    title = Text(f"grid {name}: {len(cells)} cells ({source})")
    table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False, padding=(0, 1))
    out: list[Any] = [table]
    if len(cells) <= SUMMARY_ABOVE:
        for col, kw in (
            ("cell", {"overflow": "fold"}),
            ("z", {"justify": "right"}),
            ("seed", {"justify": "right"}),
            ("budget", {"justify": "right"}),
            ("batch", {"justify": "right"}),
            ("eval N", {"justify": "right"}),
            ("state", {}),
        ):
            table.add_column(col, min_width=len(col), **kw)
        for c in cells:
            table.add_row(
                Text(c.cell_id),
                "-" if c.latent_size is None else str(c.latent_size),
                str(c.seed),
                _budget(c),
                str(c.train.batch_size),
                str(c.eval.n_samples),
                "done" if is_done(c) else "to run",
            )
        return out
    labels = _labels(cells)
    blocks: dict[tuple[str, str], list[CellConfig]] = {}
    for c in cells:
        blocks.setdefault(_block_key(c), []).append(c)
    table.title = Text(f"grid {name}: {len(cells)} cells in {len(blocks)} model x dataset blocks ({source})")
    seeds = {_spans(c.seed for c in members) for members in blocks.values()}
    if len(seeds) == 1:  # the usual case: every block has the same seeds, said once in the title
        table.title = Text(f"{table.title.plain[: -len(f' ({source})')]}, seeds {seeds.pop()} ({source})")
    per_block_seeds = bool(seeds)
    for col, kw in (
        ("model", {}),
        ("dataset", {}),
        ("done/cells", {"justify": "right"}),
        ("z", {}),
        *((("seeds", {}),) if per_block_seeds else ()),
        ("budget", {}),
        ("eval N", {"justify": "right"}),
    ):
        table.add_column(col, min_width=len(col), no_wrap=True, **kw)
    for (model, dataset), members in blocks.items():
        table.add_row(
            Text(labels[model]),
            Text(labels[dataset]),
            f"{sum(is_done(c) for c in members)}/{len(members)}",
            _latents([c.latent_size for c in members if c.latent_size is not None]),
            *((_spans(c.seed for c in members),) if per_block_seeds else ()),
            Text(_few([f"{_budget(c)} x{c.train.batch_size}" for c in members])),
            Text(_few([str(c.eval.n_samples) for c in members])),
        )
    out += _legend(labels)
    return out


def _legend(labels: dict[str, str]) -> list[Any]:
    from rich import box
    from rich.table import Table
    from rich.text import Text

    shortened = {full: short for full, short in labels.items() if full != short}
    if not shortened:
        return []
    legend = Table(title="labels", title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
    legend.add_column("short", no_wrap=True)
    legend.add_column("full label", overflow="fold")
    for full, short in shortened.items():
        legend.add_row(Text(short), Text(full))
    return [legend]


def _short_group(c: CellConfig, labels: dict[str, str]) -> str:
    model, dataset = _block_key(c)
    z = f" z{c.latent_size}" if c.latent_size is not None else ""
    return f"{labels.get(model, model)} {labels.get(dataset, dataset)}{z}"


def _source_kind(source: str) -> str:
    """ "calibration (24 steps at 3 ms)" -> "calibration"; "finished cells (n=2)" -> "finished cells"."""
    return source.split(" (")[0].split(";")[0]


def estimate_tables(est: Estimate, cells: list[CellConfig]) -> list[Any]:
    """The estimate per group of seeds (per model x dataset block above SUMMARY_ABOVE cells), with
    where each figure came from, and the total."""
    from rich import box
    from rich.table import Table
    from rich.text import Text

    t = Table(
        title=Text(f"estimated cost on {est.device}"),
        title_justify="left",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        padding=(0, 1),
    )
    summarise = len(cells) > SUMMARY_ABOVE
    labels = _labels(cells)
    first = {c.group_id: c for c in reversed(cells)}
    t.add_column("model x dataset" if summarise else "cells", overflow="fold", min_width=7)
    for col in ("to run", "device-h"):
        t.add_column(col, justify="right", min_width=len(col))
    t.add_column("from", overflow="fold", min_width=4)
    if not summarise:
        for g in est.groups:
            hours = "?" if g.device_hours is None else f"{g.device_hours:.3f}"
            c = first.get(g.group)
            label = g.label if c is None else _short_group(c, labels)
            t.add_row(Text(label), str(g.to_run), hours, Text(g.source))
        return [t, *_legend(labels)]
    by_block: dict[tuple[str, str], list[Any]] = {}
    for g in est.groups:
        c = first.get(g.group)
        by_block.setdefault(_block_key(c) if c else (g.label, ""), []).append(g)
    for (model, dataset), groups in by_block.items():
        known = [g.device_hours for g in groups if g.device_hours is not None]
        unknown = sum(g.to_run for g in groups if g.device_hours is None)
        hours = f"{sum(known):.3f}" + (f" +{unknown}?" if unknown else "") if known else "?"
        kinds = Counter(_source_kind(g.source) for g in groups)
        t.add_row(
            Text(f"{labels.get(model, model)} {labels.get(dataset, dataset)}".strip()),
            str(sum(g.to_run for g in groups)),
            hours,
            Text(", ".join(f"{k} x{n}" if n > 1 else k for k, n in kinds.items())),
        )
    return [t]


def total_line(est: Estimate) -> str:
    unknown = f"; {est.unknown} cell(s) not estimated" if est.unknown else ""
    return (
        f"total: {est.total_hours:.3f} device-hours on {est.device}{unknown} (a calibration omits data "
        "loading, feature extraction and post-training fits: a lower bound; finished cells include all)"
    )


SEED_ADVICE_LINES = 10


def seed_advice(cells: list[CellConfig], out: Any) -> list[str]:
    """Sentences for pairs of the grid's rows that finished results under `out` cannot yet separate
    and that the grid gives fewer seeds than the seeds needed (bench.reporting.pairwise.seeds_needed):
    "the grid has 3 seeds per row; ... about 9 seeds each would separate ...". Empty without results."""
    from pathlib import Path

    from bench.reporting import leaderboard as lbm
    from bench.reporting.pairwise import MAX_SEEDS

    out = Path(out)
    if not out.is_dir():
        return []
    seeds: dict[str, set[int]] = {}
    for c in cells:
        seeds.setdefault(c.group_id, set()).add(c.seed)
    results = [r for r in lbm.collect(out) if r.get("group") in seeds]
    if len({r.get("group") for r in results}) < 2:
        return []
    lines = []
    for s in lbm.build(results).sections:
        for p in s.pairs:
            c = p.comparison
            planned = min(len(seeds[p.a.group]), len(seeds[p.b.group]))
            if c.verdict != "not separable" or c.seeds is None or not (c.seeds < 0 or c.seeds > planned):
                continue
            need = f"more than {MAX_SEEDS}" if c.seeds < 0 else f"about {c.seeds}"
            lines.append(
                f"{p.a.label} vs {p.b.label} on {s.main}: the grid has {planned} seeds per row, but "
                f"finished results (difference {c.diff:.4g}, Holm-adjusted p = {c.p_adj:.2g}) suggest "
                f"{need} seeds each to separate them"
            )
    more = len(lines) - SEED_ADVICE_LINES
    return lines[:SEED_ADVICE_LINES] + ([f"... and {more} more such pairs"] if more > 0 else [])
