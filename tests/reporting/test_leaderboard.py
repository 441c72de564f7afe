"""The leaderboard aggregates over seeds, counts outcomes, sorts by the main metric and keeps
protocols apart."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from bench.cli import app
from bench.fs import atomic_write_json
from bench.reporting import leaderboard

PROTOCOL = {"extractor": "domain:digits", "extractor_sha256": "ab" * 32, "n_generated": 1000, "n_real": 360}


def result(model: str, seed: int, fd: float | None, status: str = "done", protocol=PROTOCOL) -> dict:
    r = {
        "cell_id": f"{model}_s{seed}",
        "model": model,
        "dataset": "digits",
        "latent_size": 8,
        "seed": seed,
        "status": status,
        "wall_seconds": 10.0 + seed,
    }
    if status == "done":
        r |= {"metrics": {"fd_digits": fd, "eval_seconds": 1.0}, "protocol": protocol}
    return r


def write(out: Path, results: list[dict]) -> None:
    for r in results:
        atomic_write_json(out / r["cell_id"] / "config.json", {})
        atomic_write_json(out / r["cell_id"] / "result.json", r)


def test_mean_std_counts_and_order(tmp_path: Path) -> None:
    write(
        tmp_path,
        [
            result("gan", 0, 30.0),
            result("gan", 1, 50.0),
            result("gan", 2, None, "diverged"),
            result("vae", 0, 20.0),
            result("vae", 1, None, "failed"),
        ],
    )
    lb = leaderboard.build(leaderboard.collect(tmp_path))
    assert lb.main == "fd_digits" and [r.model for r in lb.rows] == ["vae", "gan"]
    gan = lb.rows[1]
    mean, std = gan.stat("fd_digits")
    assert mean == 40.0 and abs(std - 14.1421356) < 1e-6
    assert (gan.counts["done"], gan.counts["diverged"], lb.rows[0].counts["failed"]) == (2, 1, 1)
    assert "eval_seconds" not in lb.columns


def test_scores_of_different_protocols_never_share_a_column(tmp_path: Path) -> None:
    other = {**PROTOCOL, "n_generated": 200}
    write(tmp_path, [result("gan", 0, 30.0), result("gan", 1, 32.0), result("vae", 0, 5.0, protocol=other)])
    lb = leaderboard.build(leaderboard.collect(tmp_path))
    fp = leaderboard.protocol_fingerprint(other)
    assert lb.columns == ["fd_digits", f"fd_digits@{fp}"]
    vae = next(r for r in lb.rows if r.model == "vae")
    # One seed: its spread is unknown (None), never 0.
    assert vae.stat("fd_digits") is None and vae.stat(f"fd_digits@{fp}") == (5.0, None)
    # Each protocol is its own section, never ranked against the other.
    assert [(s.main, [r.model for r in s.rows]) for s in lb.sections] == [
        ("fd_digits", ["gan"]),
        (f"fd_digits@{fp}", ["vae"]),
    ]


def test_cli_writes_md_csv_json(tmp_path: Path) -> None:
    write(tmp_path, [result("gan", 0, 30.0), result("gan", 1, 50.0)])
    res = CliRunner().invoke(app, ["leaderboard", "--out", str(tmp_path), "--format", "csv"])
    assert res.exit_code == 0, res.output
    assert res.output.splitlines()[1].startswith("gan,digits,8,40.0,")
    md = (tmp_path / "leaderboard.md").read_text()
    assert "## digits: fd_digits (lower is better)" in md
    # Student t with 1 df: 40 ± 12.706 * 14.142 / sqrt(2) = 40 ± 127.06 (two seeds say little).
    assert "| gan | 8 | 2 | 40 | 14 | [-87.06, 167.1] (t, 1 df) | 1 |" in md
    rows = json.loads((tmp_path / "leaderboard.json").read_text())["rows"]
    assert rows[0]["metrics"]["fd_digits"]["n"] == 2
    assert rows[0]["metrics"]["fd_digits"]["ci_method"] == "t"
    lo, hi = rows[0]["metrics"]["fd_digits"]["ci95"]
    assert abs(lo - (40 - 127.062)) < 1e-2 and abs(hi - (40 + 127.062)) < 1e-2


def test_derived_datasets_and_other_configs_are_separate_rows() -> None:
    full = result("gan", 0, 30.0) | {"dataset_label": "cifar10", "group": "aaaa0000"}
    subset = [
        result("gan", s, 10.0 + s) | {"dataset_label": "cifar10[classes=cat+dog]", "group": "bbbb0000"}
        for s in (0, 1)
    ]
    longer = result("gan", 0, 20.0) | {"dataset_label": "cifar10", "group": "cccc0000"}
    lb = leaderboard.build([full, *subset, longer])
    labels = sorted((r.model, r.dataset, r.counts["done"]) for r in lb.rows)
    assert labels == [
        ("gan", "cifar10[classes=cat+dog]", 2),
        ("gan #aaaa0000", "cifar10", 1),
        ("gan #cccc0000", "cifar10", 1),
    ]


def test_labels_name_only_arguments_that_differ_from_defaults() -> None:
    from bench.datasets import DATASETS
    from bench.models import MODELS
    from bench.storage.identity import args_label

    cifar = DATASETS.get("cifar10").Args
    args = cifar(classes=["cat", "dog"]).model_dump(mode="json")
    assert args_label("cifar10", args, cifar) == "cifar10[classes=cat+dog]"
    assert args_label("cifar10", cifar().model_dump(mode="json"), cifar) == "cifar10"
    dcgan = MODELS.get("dcgan").Config
    args = dcgan(g_width=32).model_dump(mode="json")
    assert args_label("dcgan", args, dcgan) == "dcgan[g_width=32]"


def fd_result(model: str, dataset: str, seed: int, fd: float, z: int = 8) -> dict:
    name = f"fd_{dataset}"
    return {
        "cell_id": f"{model}_{dataset}_z{z}_s{seed}",
        "model": model,
        "dataset": dataset,
        "latent_size": z,
        "seed": seed,
        "status": "done",
        "wall_seconds": 5.0,
        "metrics": {name: fd, f"coverage_{dataset}": 0.9},
        "protocol": {**PROTOCOL, "fingerprints": {name: "f" * 8, f"coverage_{dataset}": "f" * 8}},
    }


def test_sections_per_dataset_never_print_zero_spread_and_name_inseparable_pairs() -> None:
    results = [
        *(fd_result("dcgan", "digits", s, v) for s, v in enumerate((30.0, 31.0, 32.0))),
        *(fd_result("mlp_vae", "digits", s, v) for s, v in enumerate((30.5, 31.5, 32.5))),
        *(fd_result("wgan_gp", "digits", s, v) for s, v in enumerate((60.0, 61.0, 62.0))),
        fd_result("dcgan", "mnist", 0, 5.0),
        fd_result("mlp_vae", "mnist", 0, 9.0),
    ]
    lb = leaderboard.build(results)
    assert [s.title for s in lb.sections] == [
        "digits: fd_digits (lower is better)",
        "mnist: fd_mnist (lower is better)",
    ]
    digits, mnist = lb.sections
    assert [r.model for r in digits.rows] == ["dcgan", "mlp_vae", "wgan_gp"]
    assert digits.ranks[digits.rows[2].key].interval == (3, 3)
    said = digits.conclusions()
    assert said[0] == (
        "may rank first on fd_digits: dcgan z8, mlp_vae z8 (no row is significantly better than them)"
    )
    assert said[1].startswith("dcgan z8 and mlp_vae z8 cannot be told apart on fd_digits with 3 seeds")
    assert said[2].startswith("dcgan z8 is better than wgan_gp z8 on fd_digits (difference -30")
    assert mnist.conclusions() == [
        "may rank first on fd_mnist: dcgan z8, mlp_vae z8 (no row is significantly better than them)",
        "dcgan z8 on fd_mnist: one seed, so its spread and its separation from the other rows are unknown",
        "mlp_vae z8 on fd_mnist: one seed, so its spread and its separation from the other rows are unknown",
    ]
    md = leaderboard.to_markdown(lb)
    assert "± 0 " not in md and "± 0 |" not in md and "sorted by None" not in md
    assert "n=1, spread unknown" in md and "0.9 (all 3 seeds equal)" in md
    assert "- dcgan z8 and mlp_vae z8 cannot be told apart on fd_digits with 3 seeds" in md
    assert "| IQM |" not in md  # no row has the 4 seeds an interquartile mean needs
    four = leaderboard.build([fd_result("gan", "digits", s, v) for s, v in enumerate((1.0, 2.0, 3.0, 50.0))])
    # trim_mean(., 0.25) of 1, 2, 3, 50 keeps 2 and 3: 2.5 (the mean is 14).
    assert "| IQM |" in leaderboard.to_markdown(four) and "| 14 | 24 |" in leaderboard.to_markdown(four)
    assert "| 2.5 |" in leaderboard.to_markdown(four)


def test_terminal_tables_fit_80_columns_with_a_legend_of_short_labels() -> None:
    from rich.console import Console

    long = "dcgan[d_width=8,g_width=8,lr=0.0002]"
    results = [fd_result(long, "digits", s, 30.0 + s) for s in range(3)]
    results += [fd_result("mlp_vae", "digits", 0, 20.0)]
    console = Console(width=80, record=True)
    for table in leaderboard.terminal_tables(leaderboard.build(results), 80):
        console.print(table)
    text = console.export_text()
    assert max(len(line) for line in text.splitlines()) <= 80
    table, legend = text.split("labels")
    assert "dcgan~1" in table and long not in table  # shortened in the table ...
    assert "mlp_vae z8 on fd_digits: one seed" in " ".join(table.split())
    assert "dcgan~1" in legend and long in legend  # ... and spelled out in the legend
    assert "spread unknown" in text and "± 0 " not in text


def test_rows_without_scores_are_listed_not_ranked() -> None:
    from rich.console import Console

    lb = leaderboard.build([result("gan", 0, None, "failed"), result("gan", 1, None, "diverged")])
    assert lb.sections == [] and lb.main is None and [r.model for r in lb.unscored] == ["gan"]
    md = leaderboard.to_markdown(lb)
    assert "## Rows without scores" in md and "- gan on digits, latent 8: 1 diverged, 1 failed" in md
    assert "None" not in md
    console = Console(width=80, record=True)
    for table in leaderboard.terminal_tables(lb, 80):
        console.print(table)
    text = console.export_text()
    assert "rows without scores" in text and "0/1/1" in text


def test_evaluation_spread_from_recorded_repeats_sits_beside_the_seed_spread() -> None:
    # Two seeds, each scored on 2 independent sample sets (eval.repeats: 2): the metric is their mean.
    rows = []
    for seed, reps in ((0, [10.0, 12.0]), (1, [20.0, 24.0])):
        r = result("mlp_vae", seed, sum(reps) / 2)
        r["protocol"] = {
            **PROTOCOL,
            "fingerprints": {"fd_digits": "0a1b2c3d"},  # as evaluation stores them, per score
            "eval_repeats": {"seeds": [0, 1], "values": {"fd_digits": reps}},
        }
        rows.append(r)
    lb = leaderboard.build(rows)
    (row,) = lb.rows
    # sqrt(mean of the per-seed variances (ddof 1)) = sqrt((2 + 8) / 2)
    assert abs(row.eval_std("fd_digits") - 5**0.5) < 1e-12
    assert row.summary("fd_digits").std == abs(11.0 - 22.0) / 2**0.5


def test_a_large_table_tests_every_pair_once_and_shows_neighbours() -> None:
    # 30 rows x 3 seeds: 435 comparisons in Holm's family; the shown pairs are the 29 neighbours in
    # the ranking plus the top row against the others that may be first.
    results = [fd_result("gan", "digits", s, 10.0 * k + s, z=k + 1) for k in range(30) for s in range(3)]
    lb = leaderboard.build(results)
    (section,) = lb.sections
    assert section.comparisons == 435 and not section.all_pairs
    order = {id(r): i for i, r in enumerate(section.ranked)}
    adjacent = [p for p in section.pairs if order[id(p.b)] - order[id(p.a)] == 1]
    assert len(adjacent) == 29 and len(section.pairs) <= 29 + 10
    # Rows 10 apart with spread 1: every pair is separable, so each rank set is one place.
    assert [section.ranks[r.key].interval for r in section.ranked] == [(k, k) for k in range(1, 31)]
    assert section.conclusions()[0] == (
        "only gan z1 can rank first on fd_digits (each other row has a significantly better one)"
    )
