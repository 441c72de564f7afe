"""`bench status` at scale: synthetic finished cells, the index against parsing every result.json.

Builds N finished cell folders (config.json, a result.json of a realistic size: 30 metrics, a protocol
with fingerprints, a training record, a log tail) in a temporary folder, then times, in this process:
- full parse: every cell's result.json and config.json parsed (the path `bench status` took before the
  index, kept as `all_states(out, use_index=False)`);
- index, cold: no index yet; every folder is read and the index written;
- index, warm: the index is current, the usual `bench status`;
- `bench status` end to end, warm (the command through typer, its table rendered to a null console),
  with no squeue on PATH: a machine with SLURM's client but no reachable controller spends up to 20 s
  in squeue's own time-out, which is SLURM's time, not the status code's.
Each time is the best of --repeats runs. Prints one row per N and the ratio full parse / warm index.

    python benchmarks/status_scale.py [--cells 500 5000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from bench.storage import files as store
from bench.storage.result import CellResult, CellStatus
from bench.storage.status import all_states
from bench.storage.status_index import INDEX


def _result(i: int) -> dict:
    keys = [f"{m}_digits" for m in ("fd", "kid", "coverage", "class_kl", "precision", "recall")]
    metrics = {f"{k}{s}": float(i % 97) / 7 for k in keys for s in ("", "_ema", "@1a2b3c4d", "_std", "_x")}
    protocol = {
        "extractor": "domain:digits",
        "n_generated": 1000,
        "n_real": 1000,
        "fingerprint": "1a2b3c4d",
        "fingerprints": {k: "1a2b3c4d" for k in metrics},
        "reproduce": f"bench eval --fake out/cell{i}",
    }
    train = {"steps": 2000, "final_losses": {"g/loss": 0.9, "d/loss": 1.2}, "images_seen": 128000}
    return CellResult(
        status=CellStatus.done if i % 10 else CellStatus.failed,
        reason=None if i % 10 else "RuntimeError: boom",
        cell_id=f"cell{i:05d}",
        model="dcgan",
        dataset="digits",
        latent_size=16,
        seed=i % 5,
        group="g0001",
        metrics=metrics,
        protocol=protocol,
        train=train,
        cost={"train_seconds": 12.5, "device_seconds": 13.0, "device_name": "cpu"},
        versions={"torch": "2.4.0", "bench": "0.1"},
        wall_seconds=100.0 + i,
        log_tail=[f"step {s} loss 0.5" for s in range(20)],
    ).to_json()


def build(out: Path, n: int) -> None:
    for i in range(n):
        d = out / f"cell{i:05d}"
        d.mkdir(parents=True)
        cfg = {"model": "dcgan", "dataset": "digits", "latent_size": 16, "seed": i % 5, "eval": {}}
        (d / store.CONFIG).write_text(json.dumps(cfg))
        (d / store.RESULT).write_text(json.dumps(_result(i)))


def best(fn: Callable[[], object], repeats: int, before: Callable[[], None] = lambda: None) -> float:
    times = []
    for _ in range(repeats):
        before()
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def command(out: Path) -> None:
    from rich.console import Console
    from typer.testing import CliRunner

    import bench.cli as cli
    from bench.commands import status

    status.console = Console(file=io.StringIO(), width=160)
    path = os.environ.get("PATH", "")
    os.environ["PATH"] = os.path.dirname(sys.executable)  # no squeue (see the docstring)
    try:
        res = CliRunner().invoke(cli.app, ["status", "--out", str(out)])
    finally:
        os.environ["PATH"] = path
    assert res.exit_code == 0, res.output


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cells", type=int, nargs="+", default=[500, 5000])
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    print(f"os.cpu_count()={os.cpu_count()}, load average {os.getloadavg()[0]:.1f}")
    head = ("cells", "full parse", "index cold", "index warm", "command", "ratio")
    print(" ".join(f"{h:>11}" for h in head))
    for n in args.cells:
        with tempfile.TemporaryDirectory() as tmp:
            row = measure(Path(tmp), n, args.repeats)
            print(f"{n:>11} " + " ".join(f"{t:>10.2f}s" for t in row) + f" {row[0] / row[2]:>10.1f}x")


def measure(out: Path, n: int, repeats: int) -> tuple[float, float, float, float]:
    """(full parse, index cold, index warm, command warm) seconds, each the best of `repeats`."""
    build(out, n)
    full = best(lambda: all_states(out, use_index=False), repeats)
    cold = best(lambda: all_states(out), repeats, lambda: (out / INDEX).unlink(missing_ok=True))
    warm = best(lambda: all_states(out), repeats)
    assert all_states(out) == all_states(out, use_index=False)
    return full, cold, warm, best(lambda: command(out), repeats)


if __name__ == "__main__":
    main()
