"""Cells per hour for a grid of small cells, run the ways `bench run` can run them, in one process run.

Modes (each on a fresh --out, the same cells, the same shared cache):
  serial      `--jobs 1 --worker fresh`: one cell after another, each in a new process (the old default)
  jobs        `--jobs N --worker fresh`: N cells at once, a new process each, the cores split between them
  inproc      `--in-process`: one after another in this process (no process start, imports kept)
  persistent  `--jobs 1 --worker persistent`: one after another in one long-lived worker (bench.launch.worker)
  packed      `--jobs N --worker persistent`: N slots at once, a long-lived worker each
  task        the SLURM packed-task runner (`python -m bench.launch.packed`, what `--cells-per-task N` runs
              in each array task), on N cells at a time, one task after another: on a GPU with CUDA MPS
              it starts the MPS daemon, as on a cluster node
On a GPU, `jobs`, `packed` and `task` share one device between N cells. Prints each mode's wall time,
cells/hour, the ratio to `serial`, and whether every cell's metrics (timings left out) equal serial's
(thread counts can change float rounding, so modes that split the cores may differ in the last digits).

    python benchmarks/cells_per_hour.py [--cells 16] [--steps 300] [--jobs 2] [--modes serial,packed]
    python benchmarks/cells_per_hour.py --grid quick --modes serial,packed     # the quick grid as it is
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

FLAGS = {
    "serial": ["--worker", "fresh"],
    "jobs": ["--worker", "fresh", "--jobs", "{jobs}"],
    "inproc": ["--in-process"],
    "persistent": ["--worker", "persistent"],
    "packed": ["--worker", "persistent", "--jobs", "{jobs}"],
}


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


def bench(*args: str) -> None:
    cmd = [sys.executable, "-m", "bench", *args]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, env={**os.environ, "PYTHONUNBUFFERED": "1"})


def run_task_mode(grid_name: str, out: Path, jobs: int, sets: list[str]) -> None:
    """What SLURM would run with `--cells-per-task jobs`: the cells in chunks of `jobs`, each chunk one
    packed-task runner, the chunks one after another (one GPU, array tasks in turn)."""
    from bench.grid import load_grid
    from bench.launch.cells import materialize

    dirs = materialize(load_grid(grid_name, sets), out)
    for i in range(0, len(dirs), jobs):
        chunk = [str(d) for d in dirs[i : i + jobs]]
        cmd = [sys.executable, "-m", "bench.launch.packed", "--", *chunk]
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        done = subprocess.run(cmd, check=True, stdout=subprocess.PIPE, text=True, env=env)
        for line in done.stdout.splitlines():
            if "MPS" in line:  # whether the task started CUDA MPS, and if not why
                print(f"task {i // jobs}: {line}")


def run(mode: str, grid_name: str, out: Path, jobs: int, sets: list[str]) -> float:
    t0 = time.perf_counter()
    if mode == "task":
        run_task_mode(grid_name, out, jobs, sets)
    else:
        flags = [f.format(jobs=jobs) for f in FLAGS[mode]]
        bench("run", "--grid", grid_name, "--out", str(out), *flags, *(a for s in sets for a in ("--set", s)))
    return time.perf_counter() - t0


def metrics(out: Path) -> dict[str, dict]:
    """Each cell's scores, wall-clock timings left out (they differ run to run by nature)."""
    scores = {}
    for p in sorted(out.glob("*/result.json")):
        m = json.loads(p.read_text()).get("metrics", {})
        scores[p.parent.name] = {k: v for k, v in m.items() if not k.endswith("_seconds")}
    return scores


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cells", type=int, default=16)
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--jobs", type=int, default=2, help="slots of jobs/packed; cells per task of task")
    ap.add_argument("--modes", default="serial,persistent,jobs,packed")
    ap.add_argument("--grid", default=None, help="a built-in grid or YAML file instead of --cells/--steps")
    ap.add_argument("--set", dest="sets", action="append", default=[], help="as `bench run --set`")
    args = ap.parse_args()
    modes = args.modes.split(",")
    unknown = [m for m in modes if m not in (*FLAGS, "task")]
    if unknown:
        ap.error(f"unknown mode {unknown[0]!r}; allowed: {', '.join([*FLAGS, 'task'])}")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        os.environ.setdefault("BENCH_CACHE", str(root / "cache"))
        if args.grid is None:
            g = grid(args.cells, args.steps)
            (root / "grid.yaml").write_text(yaml.safe_dump(g))
            grid_name = str(root / "grid.yaml")
        else:
            grid_name = args.grid
        from bench.grid import load_grid

        cells = load_grid(grid_name, args.sets).cells
        n = len(cells)
        # Warm the shared cache (the domain classifier, reference statistics) so no mode pays for it:
        # one cell of each dataset, two steps.
        warm = {
            "name": "warm",
            "train": {"steps": 2, "batch_size": 16},
            "eval": {"n_samples": 200, "kid_subset_size": 100, "kid_subsets": 2},
            "datasets": sorted({c.dataset for c in cells}),
            "latent_sizes": [8],
            "seeds": [999],
            "models": ["mlp_vae"],
        }
        (root / "warm.yaml").write_text(yaml.safe_dump(warm))
        bench("run", "--grid", str(root / "warm.yaml"), "--out", str(root / "warm"), "--worker", "fresh")
        walls, scores = {}, {}
        for mode in modes:
            walls[mode] = run(mode, grid_name, root / mode, args.jobs, args.sets)
            scores[mode] = metrics(root / mode)
        base = walls.get("serial")
        print(f"{n} cells of {grid_name if args.grid else f'{args.steps} steps'}, --jobs {args.jobs}")
        for mode, wall in walls.items():
            same = "n/a" if "serial" not in scores else ("yes" if scores[mode] == scores["serial"] else "no")
            ratio = f"{base / wall:.2f}x serial" if base else ""
            print(
                f"{mode:10s} {n} cells in {wall:6.1f} s = {3600 * n / wall:6.0f} cells/hour  {ratio}  "
                f"metrics identical to serial: {same}"
            )


if __name__ == "__main__":
    main()
