"""The leaderboard: one row per model x dataset x latent size config, statistics over its seeds.

model (Row, Section, Leaderboard), build (from result.json files), select (filters, sort), tables
(cell formatting), protocol (protocols in words), export (md, csv, json), terminal (rich tables).
Callers import the package: `from bench.reporting import leaderboard as lbm`.
"""

from bench.reporting.leaderboard.build import build, check_metric, collect
from bench.reporting.leaderboard.export import (
    STATS_METHOD,
    to_csv,
    to_json,
    to_markdown,
    what_it_says,
    write_files,
)
from bench.reporting.leaderboard.model import (
    Leaderboard,
    Pair,
    RankSet,
    Row,
    Section,
    device_seconds,
    protocol_fingerprint,
)
from bench.reporting.leaderboard.protocol import (
    describe_protocol,
    different_n_by_dataset,
    scored_at_different_n,
    scored_by_protocol,
)
from bench.reporting.leaderboard.select import select, sort_rows
from bench.reporting.leaderboard.tables import (
    all_metrics_table,
    fmt_ci,
    fmt_rank,
    fmt_value,
    hours,
    md_table,
    num,
    section_extra,
    section_table,
    table_rows,
    unscored_words,
)
from bench.reporting.leaderboard.terminal import short_labels, terminal_tables

__all__ = [
    "STATS_METHOD",
    "Leaderboard",
    "Pair",
    "RankSet",
    "Row",
    "Section",
    "all_metrics_table",
    "build",
    "check_metric",
    "collect",
    "describe_protocol",
    "device_seconds",
    "different_n_by_dataset",
    "fmt_ci",
    "fmt_rank",
    "fmt_value",
    "hours",
    "md_table",
    "num",
    "protocol_fingerprint",
    "scored_at_different_n",
    "scored_by_protocol",
    "section_extra",
    "section_table",
    "select",
    "short_labels",
    "sort_rows",
    "table_rows",
    "terminal_tables",
    "to_csv",
    "to_json",
    "to_markdown",
    "unscored_words",
    "what_it_says",
    "write_files",
]
