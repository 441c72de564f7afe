"""The terminal: short labels so a table fits in 80 columns, a legend back to the full labels, and
below each table what it lets a reader conclude. A large table prints its best TERMINAL_ROWS rows;
the files keep every row."""

from __future__ import annotations

import re
from typing import Any

from bench.eval import result_keys as cols
from bench.reporting.leaderboard.model import Leaderboard, Section, protocol_fingerprint
from bench.reporting.leaderboard.tables import fmt_rank, fmt_value, num

TERMINAL_ROWS = 40

SHORT_LABEL = 16


def short_labels(labels: list[str], limit: int = SHORT_LABEL) -> dict[str, str]:
    """Full label -> a label of at most `limit` characters: argument names abbreviated to their
    initials (`dcgan[d_width=8,g_width=8]` -> `dcgan[dw=8,gw=8]`), then numbered when still long."""
    out: dict[str, str] = {}
    numbered = 0
    for label in labels:
        short = label
        if len(short) > limit:
            short = re.sub(
                r"([a-z0-9]+(?:_[a-z0-9]+)*)=",
                lambda m: "".join(p[0] for p in m.group(1).split("_")) + "=",
                label,
            )
        if len(short) > limit or short in out.values():
            numbered += 1
            short = f"{label.split('[')[0][: limit - 4]}~{numbered}"
        out[label] = short
    return out


def terminal_tables(lb: Leaderboard, width: int = 80) -> list[Any]:
    """rich Tables for the terminal, one per section, each fitting `width` columns, plus a legend of
    shortened labels; the files keep every column and the full labels."""
    from rich import box
    from rich.table import Table
    from rich.text import Text

    printed = [r for s in lb.sections for r in s.rows[:TERMINAL_ROWS]] + lb.unscored[:TERMINAL_ROWS]
    labels = short_labels(list(dict.fromkeys(r.model for r in printed)))
    tables: list[Any] = []
    if not lb.sections:
        tables.append(Text("no finished cells: nothing is ranked yet"))
    for s in lb.sections:
        t = Table(
            title=Text(s.title),
            caption=_caption(s, labels),
            caption_justify="left",
            box=box.SIMPLE_HEAD,
            pad_edge=False,
            padding=(0, 1),
            collapse_padding=True,
        )
        eval_sd = any(r.eval_std(s.main) is not None for r in s.rows)
        # Headers never wrap (min_width: their own length); long values fold inside their column.
        for name, kw in (
            ("model", {"overflow": "fold"}),
            ("z", {"justify": "right"}),
            ("n", {"justify": "right"}),
            ("mean ± sd", {"overflow": "fold"}),
            *((("eval sd", {"justify": "right"}),) if eval_sd else ()),
            ("95% CI", {"overflow": "fold"}),
            ("rank", {"justify": "right"}),
            ("f/d", {"justify": "right"}),
        ):
            t.add_column(name, min_width=len(name), **kw)
        for r in s.rows[:TERMINAL_ROWS]:
            sm = r.summary(s.main)
            rank = s.ranks.get(r.key)
            ci = "spread unknown" if sm.ci is None else f"[{num(sm.ci[0])}, {num(sm.ci[1])}]"
            t.add_row(
                Text(labels[r.model]),
                "-" if r.latent_size is None else str(r.latent_size),
                str(sm.n),
                Text(fmt_value(sm)),
                *((num(r.eval_std(s.main)),) if eval_sd else ()),
                Text(ci),
                fmt_rank(rank),
                f"{r.counts['failed']}/{r.counts['diverged']}",
            )
        tables.append(t)
    if lb.unscored:
        t = Table(title="rows without scores", box=box.SIMPLE_HEAD, width=min(width, 80))
        for name in ("model", "dataset", "z", "done/failed/diverged"):
            t.add_column(name, overflow="fold")
        for r in lb.unscored[:TERMINAL_ROWS]:
            t.add_row(
                Text(labels[r.model]),
                Text(r.dataset),
                str(r.latent_size or "-"),
                f"{r.counts['done']}/{r.counts['failed']}/{r.counts['diverged']}",
            )
        tables.append(t)
    shortened = {full: short for full, short in labels.items() if full != short}
    if shortened:
        legend = Table(title="labels", box=box.SIMPLE_HEAD, width=min(width, 80))
        legend.add_column("short", no_wrap=True)
        legend.add_column("full label", overflow="fold")
        for full, short in shortened.items():
            legend.add_row(Text(short), Text(full))
        tables.append(legend)
    return tables


def _caption(s: Section, labels: dict[str, str]) -> Any:
    from rich.text import Text

    lines = [f"protocol {protocol_fingerprint(s.protocol, cols.base_name(s.main))}; f/d: failed/diverged"]
    if len(s.rows) > TERMINAL_ROWS:
        lines.append(f"the first {TERMINAL_ROWS} of {len(s.rows)} rows; every row is in leaderboard.md")
    lines.append(
        f"95% CI: Student t over seeds; rank: 95% confidence set (Holm over {s.comparisons} comparisons)"
    )
    if any(r.eval_std(s.main) is not None for r in s.rows):
        lines.append("eval sd: spread of one evaluation (eval.repeats); the CI holds seeds and repeats")
    lines += s.conclusions(adjacent_only=True, labels=labels, within=TERMINAL_ROWS)
    return Text("\n".join(lines))
