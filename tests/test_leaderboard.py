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
