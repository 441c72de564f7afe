"""The leaderboard aggregates over seeds, counts outcomes, sorts by the main metric and keeps
protocols apart."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from bench.cli import app
from bench.results import leaderboard
from bench.results.store import atomic_write_json

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
    assert vae.stat("fd_digits") is None and vae.stat(f"fd_digits@{fp}") == (5.0, 0.0)


def test_cli_writes_md_csv_json(tmp_path: Path) -> None:
    write(tmp_path, [result("gan", 0, 30.0), result("gan", 1, 50.0)])
    res = CliRunner().invoke(app, ["leaderboard", "--out", str(tmp_path), "--format", "csv"])
    assert res.exit_code == 0, res.output
    assert res.output.splitlines()[1].startswith("gan,digits,8,40.0,")
    assert "| gan | digits | 8 | 40 ± 14 |" in (tmp_path / "leaderboard.md").read_text()
    rows = json.loads((tmp_path / "leaderboard.json").read_text())["rows"]
    assert rows[0]["metrics"]["fd_digits"]["n"] == 2


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
    from bench.results.identity import args_label

    cifar = DATASETS.get("cifar10").Args
    args = cifar(classes=["cat", "dog"]).model_dump(mode="json")
    assert args_label("cifar10", args, cifar) == "cifar10[classes=cat+dog]"
    assert args_label("cifar10", cifar().model_dump(mode="json"), cifar) == "cifar10"
    dcgan = MODELS.get("dcgan").Config
    args = dcgan(g_width=32).model_dump(mode="json")
    assert args_label("dcgan", args, dcgan) == "dcgan[g_width=32]"
