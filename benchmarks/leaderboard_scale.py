"""Time `bench leaderboard` and `bench report` on synthetic studies of 50, 200 and 1,000 rows x 5 seeds.

Each study is a results folder written as cells write theirs (config.json from a real grid
expansion, result.json with metrics and protocol, as tests/helpers/report_fixtures.py does), one
dataset, one protocol, rows = models x latent sizes x learning rates with overlapping score
distributions (so most pairs are not separable and the rank sets are wide: the expensive case).
Prints, per size: reading the result.json files (leaderboard.collect), building the leaderboard
(every pair's Welch test and Holm, rank sets, the shown pairs' extras), writing its md/csv/json, and
the whole report (handed the leaderboard, as `bench run` does).

    PYTHONPATH=. python benchmarks/leaderboard_scale.py [--rows 50 200 1000] [--seeds 5] [--no-report]

Targets (issue 20): leaderboard <= 10 s and report <= 60 s at 1,000 rows x 5 seeds.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.fs import atomic_write_json
from bench.grid import expand
from bench.reporting import leaderboard as lbm
from bench.storage.identity import cell_identity


def grid(rows: int, seeds: int) -> dict:
    lrs = [1e-4 * (1 + k) for k in range(max(1, rows // 10))]
    return {
        "name": "scale",
        "train": {"steps": 40, "batch_size": 16},
        "eval": {"n_samples": 120, "kid_subset_size": 50, "kid_subsets": 5},
        "datasets": ["digits"],
        "seeds": list(range(seeds)),
        "models": [{"mlp_vae": {"lr": lr}} for lr in lrs],
        "latent_sizes": [2, 4, 8, 16, 32, 64, 128, 256, 512, 1024][: min(10, rows)],
    }


def protocol() -> dict:
    fp = "0000abcd"
    return {
        "extractor": "domain:digits",
        "extractor_sha256": "ab" * 32,
        "n_generated": 120,
        "n_real": 360,
        "real_split": "digits/test",
        "precision": "fp32",
        "seed": 0,
        "fingerprint": fp,
        "fingerprints": {"fd_digits": fp, "kid_digits": fp},
    }


def write_study(out: Path, rows: int, seeds: int) -> int:
    rng = np.random.default_rng(0)
    cells = expand(grid(rows, seeds), "scale").cells
    centres: dict[str, float] = {}
    for cfg in cells:
        centre = centres.setdefault(cfg.group_id, 40.0 + rng.normal(0.0, 3.0))
        fd = float(centre + rng.normal(0.0, 2.0))
        d = out / cfg.cell_id
        atomic_write_json(d / "config.json", cfg.model_dump(mode="json"))
        result = {
            **cell_identity(cfg),
            "status": "done",
            "reason": None,
            "wall_seconds": 30.0,
            "metrics": {"fd_digits": fd, "kid_digits": fd / 10, "kid_digits_std": 0.1, "eval_seconds": 2.0},
            "protocol": protocol(),
            "train": {"seconds": 20.0, "processes": 1},
        }
        atomic_write_json(d / "result.json", result)
    return len(cells)


def timed(fn, *args, **kwargs):
    t = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, nargs="+", default=[50, 200, 1000])
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--no-report", action="store_true")
    args = ap.parse_args()
    from bench.reporting.report import write_report

    head = f"{'rows':>5} {'cells':>6} | {'collect s':>9} {'build s':>8} {'files s':>8} {'leaderboard s':>13}"
    print(head + f" | {'report s':>8}")
    for rows in args.rows:
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp)
            n_cells = write_study(out, rows, args.seeds)
            results, t_collect = timed(lbm.collect, out)
            lb, t_build = timed(lbm.build, results)
            _, t_files = timed(lbm.write_files, lb, out)
            n_rows = len(lb.rows)
            report = "-"
            if not args.no_report:
                _, t_report = timed(write_report, out, lb=lb)
                report = f"{t_report:.1f}"
            total = t_collect + t_build + t_files
            times = f"{t_collect:>9.2f} {t_build:>8.2f} {t_files:>8.2f} {total:>13.2f}"
            print(f"{n_rows:>5} {n_cells:>6} | {times} | {report:>8}")


if __name__ == "__main__":
    main()
