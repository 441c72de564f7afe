"""Seconds for FD and KID: torch-fidelity's NumPy path against bench.metrics.torch_stats, in one run.

On random correlated float32 features of Inception's width (2048), N per side, it times
  FD  = statistics of both sets + the distance (torch-fidelity: `fid_features_to_statistics` +
        `fid_statistics_to_metric`, a general eigen-solve of S1 S2; torch: `feature_statistics` +
        `frechet_distance`, two symmetric eigen-solves, float64);
  KID = `kid_features_to_metric` against `torch_stats.kid` (same subsets, float64);
for NumPy, torch on the CPU, and torch on CUDA when a GPU is present (features already on the GPU,
synchronized before the clock stops). Each figure is the median of --repeats runs; ratios are NumPy
seconds / torch seconds (> 1: torch is faster), and the max relative difference of the values against
NumPy's is printed next to them. It prints the command that re-runs it.

    python benchmarks/eval_stats_device.py [--n 5000] [--dim 2048] [--kid-subsets 10]
        [--kid-subset-size 1000] [--repeats 3] [--threads N]
"""

from __future__ import annotations

import argparse
import shlex
import statistics
import time
from collections.abc import Callable

import numpy as np
import torch
from threadpoolctl import threadpool_limits
from torch_fidelity.metric_fid import KEY_METRIC_FID, fid_features_to_statistics, fid_statistics_to_metric
from torch_fidelity.metric_kid import KEY_METRIC_KID_MEAN, kid_features_to_metric

from bench.metrics.torch_stats import feature_statistics, frechet_distance, kid


def features(seed: int, n: int, d: int, shift: float) -> torch.Tensor:
    mix = np.random.default_rng(d).normal(size=(d, d)) / np.sqrt(d)
    x = np.random.default_rng(seed).normal(size=(n, d)) @ mix + shift
    return torch.from_numpy(x).float()


def timed(fn: Callable[[], float], repeats: int, cuda: bool) -> tuple[float, float]:
    """(median seconds, value) of fn over repeats runs."""
    secs, value = [], 0.0
    for _ in range(repeats):
        if cuda:
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        value = fn()  # every fn returns a Python float, which already waited for the device
        if cuda:
            torch.cuda.synchronize()
        secs.append(time.perf_counter() - t0)
    return statistics.median(secs), value


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=5000, help="features per side")
    ap.add_argument("--dim", type=int, default=2048)
    ap.add_argument("--kid-subsets", type=int, default=10)
    ap.add_argument("--kid-subset-size", type=int, default=1000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=0, help="CPU threads for torch and NumPy (0: defaults)")
    args = ap.parse_args()
    if args.threads:  # the same thread count for torch and for NumPy's BLAS/LAPACK
        torch.set_num_threads(args.threads)
        threadpool_limits(limits=args.threads)
    fake, real = features(0, args.n, args.dim, 0.05), features(1, args.n, args.dim, 0.0)
    kid_kw = {"subsets": args.kid_subsets, "subset_size": args.kid_subset_size, "seed": 0}

    def fd_numpy() -> float:
        s1, s2 = fid_features_to_statistics(fake.double()), fid_features_to_statistics(real.double())
        return float(fid_statistics_to_metric(s1, s2, verbose=False)[KEY_METRIC_FID])

    def kid_numpy() -> float:
        out = kid_features_to_metric(
            fake.double(),
            real.double(),
            kid_subsets=args.kid_subsets,
            kid_subset_size=args.kid_subset_size,
            rng_seed=0,
            verbose=False,
        )
        return float(out[KEY_METRIC_KID_MEAN])

    def torch_fns(f: torch.Tensor, r: torch.Tensor) -> dict[str, Callable[[], float]]:
        return {
            "fd": lambda: frechet_distance(*feature_statistics(f), *feature_statistics(r)),
            "kid": lambda: kid(f, r, **kid_kw)[0],
        }

    paths: dict[str, tuple[dict[str, Callable[[], float]], bool]] = {
        "numpy (torch-fidelity)": ({"fd": fd_numpy, "kid": kid_numpy}, False),
        "torch cpu": (torch_fns(fake, real), False),
    }
    if torch.cuda.is_available():
        paths[f"torch cuda ({torch.cuda.get_device_name()})"] = (torch_fns(fake.cuda(), real.cuda()), True)

    # The first call on a device pays for lazy initialisation (LAPACK/cuSOLVER handles, CUDA context):
    # a tiny problem per path takes it off the clock.
    small_f, small_r = features(2, 64, 16, 0.0), features(3, 64, 16, 0.0)
    fid_statistics_to_metric(
        fid_features_to_statistics(small_f.double()), fid_features_to_statistics(small_r.double()), False
    )
    for device in ["cpu"] + (["cuda"] if torch.cuda.is_available() else []):
        f, r = small_f.to(device), small_r.to(device)
        frechet_distance(*feature_statistics(f), *feature_statistics(r))
        kid(f, r, subsets=2, subset_size=32, seed=0)

    results: dict[str, dict[str, tuple[float, float]]] = {}
    for name, (fns, cuda) in paths.items():
        results[name] = {metric: timed(fn, args.repeats, cuda) for metric, fn in fns.items()}

    base = results["numpy (torch-fidelity)"]
    print(
        f"N={args.n} per side, D={args.dim}, KID {args.kid_subsets} x {args.kid_subset_size}, "
        f"median of {args.repeats}, CPU threads {torch.get_num_threads()}, torch {torch.__version__}"
    )
    print(f"{'path':40s} {'FD s':>9s} {'x':>7s} {'KID s':>9s} {'x':>7s}  max rel diff vs numpy (FD, KID)")
    for name, res in results.items():
        (fd_s, fd_v), (kid_s, kid_v) = res["fd"], res["kid"]
        fd_rel = abs(fd_v - base["fd"][1]) / abs(base["fd"][1])
        kid_rel = abs(kid_v - base["kid"][1]) / abs(base["kid"][1])
        print(
            f"{name:40s} {fd_s:9.3f} {base['fd'][0] / fd_s:7.2f} {kid_s:9.3f} {base['kid'][0] / kid_s:7.2f}"
            f"  {fd_rel:.1e}, {kid_rel:.1e}"
        )
    resolved = [
        "python",
        "benchmarks/eval_stats_device.py",
        *("--n", str(args.n), "--dim", str(args.dim), "--kid-subsets", str(args.kid_subsets)),
        *("--kid-subset-size", str(args.kid_subset_size), "--repeats", str(args.repeats)),
        *("--threads", str(torch.get_num_threads())),
    ]
    print("re-run: " + shlex.join(resolved))


if __name__ == "__main__":
    main()
