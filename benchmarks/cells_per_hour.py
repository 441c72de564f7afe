"""Cells per hour for a grid of small cells, run the ways `bench run` can run them, in one process run.

Modes (each on a fresh --out, the same cells, the same shared cache):
  serial   `--jobs 1`: one cell after another, each in its own process using every core (the old default)
  jobs     `--jobs N`: N cells at once, the cores split between them (each gets cores // N threads)
  inproc   `--in-process`: one after another in this process (no process start, imports kept)
On a GPU, `jobs` packs N cells onto one device. Prints each mode's wall time, cells/hour, the ratio to
`serial`, and whether every cell's metrics equal serial's (thread counts can change float rounding).

    python benchmarks/cells_per_hour.py [--cells 8] [--steps 300] [--jobs 2] [--modes serial,jobs,inproc]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml


def grid(cells: int, steps: int) -> dict:
    seeds = list(range(max(1, cells // 2)))
    return {
        "name": "cells-per-hour",
        "train": {"steps": steps, "batch_size": 64, "log_every": 50},
        "eval": {"n_samples": 500, "kid_subset_size": 100, "kid_subsets": 20},
        "datasets": ["digits"],
        "latent_sizes": [8],
        "seeds": seeds,
        "models": ["mlp_vae", {"dcgan": {"g_width": 16, "d_width": 16}}],
    }


def run(mode: str, grid_file: Path, out: Path, jobs: int) -> float:
    extra = {"serial": [], "jobs": ["--jobs", str(jobs)], "inproc": ["--in-process"]}[mode]
    cmd = [sys.executable, "-m", "bench", "run", "--grid", str(grid_file), "--out", str(out), *extra]
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    return time.perf_counter() - t0


def metrics(out: Path) -> dict[str, dict]:
    return {
        p.parent.name: json.loads(p.read_text()).get("metrics", {}) for p in sorted(out.glob("*/result.json"))
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cells", type=int, default=8)
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--modes", default="serial,jobs,inproc")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        os.environ.setdefault("BENCH_CACHE", str(root / "cache"))
        g = grid(args.cells, args.steps)
        grid_file = root / "grid.yaml"
        grid_file.write_text(yaml.safe_dump(g))
        n = len(g["seeds"]) * len(g["models"])
        # Warm the shared cache (the domain classifier, reference statistics) so no mode pays for it.
        warm = dict(g, seeds=[999], train={**g["train"], "steps": 2})
        (root / "warm.yaml").write_text(yaml.safe_dump(warm))
        run("serial", root / "warm.yaml", root / "warm", 1)
        walls, scores = {}, {}
        for mode in args.modes.split(","):
            walls[mode] = run(mode, grid_file, root / mode, args.jobs)
            scores[mode] = metrics(root / mode)
        base = walls.get("serial")
        for mode, wall in walls.items():
            same = "n/a" if "serial" not in scores else ("yes" if scores[mode] == scores["serial"] else "no")
            ratio = f"{base / wall:.2f}x serial" if base else ""
            print(
                f"{mode:7s} {n} cells in {wall:6.1f} s = {3600 * n / wall:6.0f} cells/hour  {ratio}  "
                f"metrics identical to serial: {same}"
            )


if __name__ == "__main__":
    main()
