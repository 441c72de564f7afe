"""Formatting of the leaderboard's cells and tables, shared by the files, the terminal and the report."""

from __future__ import annotations

import statistics

from bench.eval import result_keys as cols
from bench.reporting import stats
from bench.reporting.leaderboard.model import Leaderboard, RankSet, Row, Section


def num(x: float | None) -> str:
    return "-" if x is None else f"{x:.4g}"


def fmt_value(s: stats.Summary | None) -> str:
    """`40 ± 14` (mean ± std over seeds); one seed: `20 (n=1)`, never `± 0`."""
    if s is None:
        return "-"
    return f"{num(s.mean)} {spread(s)}" if s.std is None or s.std == 0 else f"{num(s.mean)} ± {s.std:.2g}"


def spread(s: stats.Summary) -> str:
    """The words for a spread that is no number: one seed, or seeds that all scored the same."""
    return "(n=1)" if s.n == 1 else f"(all {s.n} seeds equal)"


def fmt_ci(s: stats.Summary | None) -> str:
    if s is None:
        return "-"
    if s.ci is None:
        return s.ci_note()
    note = s.ci_note()
    return f"[{num(s.ci[0])}, {num(s.ci[1])}]" + (f" ({note})" if note else "")


def fmt_rank(r: RankSet | None) -> str:
    if r is None:
        return "-"
    lo, hi = r.interval
    return str(lo) if lo == hi else f"{lo}-{hi}"


def hours(seconds: list[float]) -> str:
    return f"{statistics.fmean(seconds) / 3600:.3g}" if seconds else "-"


SECTION_HEADER = ["model", "latent", "n", "mean", "std", "95% CI of mean", "rank (95% set)"]
# Shown after "std" when seeds carry evaluation repeats: the evaluation spread of one score, and the
# training-seed spread once that evaluation noise is taken out (stats.EvalNoise).
EVAL_HEADER = ["eval std", "seed std net of eval"]


def section_table(section: Section, extra: list[str] | None = None) -> tuple[list[str], list[list[str]]]:
    """The main metric's statistics per row, then `extra` columns as mean ± std, then outcomes."""
    extra = [c for c in (extra if extra is not None else section_extra(section))]
    eval_spread = any(r.eval_std(section.main) is not None for r in section.rows)
    with_iqm = any(len(r.values[section.main]) >= stats.IQM_MIN_N for r in section.rows)
    at = SECTION_HEADER.index("std") + 1
    header = [*SECTION_HEADER[:at], *(EVAL_HEADER if eval_spread else []), *SECTION_HEADER[at:]]
    header += [*(["IQM"] if with_iqm else []), *extra, "done", "failed", "diverged", "device-h/cell"]
    body = []
    for row in section.rows:
        s = row.summary(section.main)
        noise = [num(row.eval_std(section.main)), fmt_seed_net(s)] if eval_spread else []
        body.append(
            [
                row.model,
                "-" if row.latent_size is None else str(row.latent_size),
                str(s.n),
                num(s.mean),
                "n=1, spread unknown" if s.std is None else f"{s.std:.2g}" if s.std else spread(s),
                *noise,
                fmt_ci(s),
                fmt_rank(section.ranks.get(row.key)),
                *([fmt_iqm(s)] if with_iqm else []),
                *(fmt_value(row.summary(c)) for c in extra),
                str(row.counts["done"]),
                str(row.counts["failed"]),
                str(row.counts["diverged"]),
                hours(row.device),
            ]
        )
    return header, body


def fmt_iqm(s: stats.Summary) -> str:
    """The IQM, with its BCa interval from stats.BCA_MIN_N seeds on."""
    if s.iqm is None:
        return "-"
    return num(s.iqm) + (f" [{num(s.iqm_ci[0])}, {num(s.iqm_ci[1])}] (BCa)" if s.iqm_ci else "")


def fmt_seed_net(s: stats.Summary) -> str:
    """The training-seed std with the evaluation noise taken out; "-" without repeats or for one seed."""
    if s.noise is None or s.noise.seed_std is None:
        return "-"
    return f"{s.noise.seed_std:.2g}"


def section_extra(section: Section) -> list[str]:
    """The other headline scores of a section (same protocol family as the main one)."""
    return [c for c in section.columns if c != section.main and cols.headline(c)]


def all_metrics_table(section: Section) -> tuple[list[str], list[list[str]]]:
    header = ["model", "latent", *section.columns]
    body = [
        [r.model, "-" if r.latent_size is None else str(r.latent_size)]
        + [fmt_value(r.summary(c)) for c in section.columns]
        for r in section.rows
    ]
    return header, body


def table_rows(lb: Leaderboard, headline_only: bool = False) -> tuple[list[str], list[list[str]]]:
    """One flat table of every row (all sections), mean ± std per column."""
    columns = [c for c in lb.columns if cols.headline(c)] if headline_only else lb.columns
    header = ["model", "dataset", "latent", *columns, "done", "failed", "diverged", "wall s"]
    body = []
    for row in lb.rows:
        body.append(
            [
                row.model,
                row.dataset,
                "-" if row.latent_size is None else str(row.latent_size),
                *(fmt_value(row.summary(c)) for c in columns),
                str(row.counts["done"]),
                str(row.counts["failed"]),
                str(row.counts["diverged"]),
                f"{statistics.fmean(row.wall):.0f}" if row.wall else "-",
            ]
        )
    return header, body


def md_table(header: list[str], body: list[list[str]]) -> str:
    def cell(x: str) -> str:
        return x.replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(map(cell, header)) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(map(cell, r)) + " |" for r in body]
    return "\n".join(lines)


def unscored_words(r: Row) -> str:
    latent = "" if r.latent_size is None else f", latent {r.latent_size}"
    counts = ", ".join(f"{n} {k}" for k, n in sorted(r.counts.items()))
    return f"{r.model} on {r.dataset}{latent}: {counts}"
