"""Training throughput of one cell in 2 DDP processes against 1 process, at the same global batch.

Each setting trains the same DCGAN cell on digits through `bench`'s own launcher (torchrun, gloo on
the CPU) and reads `train.steps_per_second` from its result.json: training steps only, not start-up
or evaluation. On a 2-core machine 2 processes x 1 thread are compared with the better of 1 process x
2 threads and 1 process x 1 thread (on a busy machine, 2 intra-op threads can be far slower than 1);
the ratio says what splitting a cell over processes buys, or costs, before any GPU is involved.
Settings alternate over rounds; the best round of each is reported (the least disturbed one on a
shared machine) next to the median.

    python benchmarks/ddp_scaling.py [--steps 150] [--batch 64] [--width 32] [--rounds 2]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
from pathlib import Path

import yaml
from rich.console import Console

from bench.grid import load_grid
from bench.launch.local import run_local
from bench.storage import files as store


def throughput(root: Path, processes: int, threads: int, args: argparse.Namespace, round_: int) -> float:
    """Training steps per second of the cell in `processes` x `threads`."""
    grid = {
        "name": f"ddp-scaling-p{processes}",
        "train": {
            "steps": args.steps,
            "batch_size": args.batch,  # global: the same images per step in both settings
            "log_every": 50,
            "processes": processes,
            "threads": threads,
        },
        "eval": {
            "n_samples": 100,
            "kid_subset_size": 50,
            "kid_subsets": 2,
            "batch_size": 100,
            "metrics": ["fd"],
        },
        "datasets": ["digits"],
        "latent_sizes": [32],
        "models": [{"dcgan": {"g_width": args.width, "d_width": args.width}}],
    }
    path = root / f"p{processes}t{threads}-r{round_}.yaml"
    path.write_text(yaml.safe_dump(grid))
    out = root / f"out-p{processes}t{threads}-r{round_}"
    summary = run_local(load_grid(str(path)), out, Console(file=open(os.devnull, "w")))  # noqa: SIM115
    (cell,) = summary.ran
    result = store.read_result(out / cell)
    if result["status"] != "done":
        raise SystemExit(f"{cell}: {result['status']}: {result.get('reason')}")
    return float(result["train"]["steps_per_second"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=150)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--width", type=int, default=32)
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args()
    cores = os.cpu_count() or 1
    settings = [(1, cores), (1, 1), (2, max(1, cores // 2))]
    runs: dict[tuple[int, int], list[float]] = {s: [] for s in settings}
    with tempfile.TemporaryDirectory() as tmp:
        os.environ.setdefault("BENCH_CACHE", str(Path(tmp) / "cache"))
        for r in range(args.rounds):
            for processes, threads in settings:
                runs[processes, threads].append(throughput(Path(tmp), processes, threads, args, r))
    for (processes, threads), values in runs.items():
        print(
            f"{processes} process(es) x {threads} thread(s): best {max(values):.1f} steps/s, "
            f"median {statistics.median(values):.1f} "
            f"(global batch {args.batch}, DCGAN width {args.width}, {args.steps} steps)"
        )
    two = runs[settings[2]]
    one = max((runs[s] for s in settings[:2]), key=max)
    print(
        f"ratio 2 processes / best 1 process: best {max(two) / max(one):.2f}, "
        f"median {statistics.median(two) / statistics.median(one):.2f}"
    )


if __name__ == "__main__":
    main()
