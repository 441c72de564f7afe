"""False "separable" verdicts, interval coverage and power: the OLD statistics against the NEW ones.

Simulated studies where every row's seed scores come from one distribution (normal, lognormal, t(3)),
so every separable verdict is false. OLD: the statistics before issue 20, re-implemented faithfully
from git history (596dbc8:bench/reporting/stats.py): a 95% percentile bootstrap of the mean (4,000
draws) and "separable" when the percentile-bootstrap CI of the difference of two means excludes 0,
per pair, no correction. NEW: the leaderboard's own functions (bench.reporting.stats.t_interval,
bench.reporting.pairwise.pair_tests: Welch, Holm over the table). Prints

  - per-pair false-separable rate in a table of ROWS rows, and the family-wise rate (any false call);
  - coverage of the 95% interval of a row's mean (normal scores);
  - power curves: the share of pairs called separable when two rows differ by delta seed sds.

    python benchmarks/stats_calibration.py [--studies 2000] [--rows 6]

Takes minutes at the defaults on a shared 2-core machine (the OLD bootstrap is the slow part);
--studies 1000 gave the numbers in docs/statistics.md.
"""

from __future__ import annotations

import argparse
import math

import numpy as np

from bench.reporting import pairwise as pw
from bench.reporting import stats

DRAWS = 4000
DISTS = ("normal", "lognormal", "t3")


def draw(rng: np.random.Generator, dist: str, shape: tuple[int, ...]) -> np.ndarray:
    if dist == "normal":
        return rng.normal(size=shape)
    if dist == "lognormal":
        return rng.lognormal(0.0, 1.0, size=shape)
    return rng.standard_t(3, size=shape)


def old_boot_means(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """(studies, rows, n) -> (studies, rows, DRAWS): means of resamples of each row's seeds."""
    s, k, n = x.shape
    idx = rng.integers(0, n, size=(s, k, DRAWS, n))
    return np.take_along_axis(x[:, :, None, :].repeat(DRAWS, axis=2), idx, axis=3).mean(axis=3)


def old_rates(x: np.ndarray, rng: np.random.Generator) -> tuple[float, float]:
    """OLD: per-pair and family-wise false-separable rates (difference CI excludes 0, no correction)."""
    means = old_boot_means(x, rng)
    i, j = np.triu_indices(x.shape[1], 1)
    calls = []
    for a, b in zip(i, j, strict=True):  # pairs of one table; studies vectorised
        d = means[:, a] - means[:, b]
        lo, hi = np.percentile(d, [2.5, 97.5], axis=1)
        calls.append((lo > 0) | (hi < 0))
    calls = np.stack(calls, axis=1)
    return float(calls.mean()), float(calls.any(axis=1).mean())


def new_rates(x: np.ndarray) -> tuple[float, float]:
    n = x.shape[-1]
    t = pw.pair_tests(x.mean(axis=-1), x.var(axis=-1, ddof=1), np.full(x.shape[1], n))
    calls = t.p_adj < pw.ALPHA
    return float(calls.mean()), float(calls.any(axis=-1).mean())


def coverage(rng: np.random.Generator, n: int, studies: int) -> tuple[float, float]:
    x = rng.normal(size=(studies, 1, n))
    means = old_boot_means(x, rng)[:, 0]
    lo, hi = np.percentile(means, [2.5, 97.5], axis=1)
    old = float(np.mean((lo <= 0) & (hi >= 0)))
    tlo, thi = stats.t_interval(x[:, 0].mean(axis=-1), x[:, 0].std(axis=-1, ddof=1), n)
    return old, float(np.mean((tlo <= 0) & (thi >= 0)))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--studies", type=int, default=2000)
    ap.add_argument("--rows", type=int, default=6)
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    s, k = args.studies, args.rows
    se = math.sqrt(0.05 * 0.95 / s)
    print(f"{s} simulated studies per line; all rows equal, so every separable call is false")
    print(f"(nominal 5%, Monte Carlo SE {se:.1%}); tables of {k} rows = {k * (k - 1) // 2} comparisons\n")
    head = f"{'scores':10} {'n':>3} | {'OLD pair':>9} {'OLD table':>9} | {'NEW pair':>9} {'NEW table':>9}"
    print(head + f" | {'Welch 1 pair':>12}")
    for dist in DISTS:
        for n in (2, 3, 5, 10):
            x = draw(rng, dist, (s, k, n))
            old_pair, old_fam = old_rates(x, rng)
            new_pair, new_fam = new_rates(x)
            one, _ = new_rates(draw(rng, dist, (4 * s, 2, n)))
            print(
                f"{dist:10} {n:>3} | {old_pair:>9.1%} {old_fam:>9.1%} | {new_pair:>9.1%} {new_fam:>9.1%} |"
                f" {one:>12.1%}"
            )
    print("\ncoverage of the 95% interval of a row's mean, normal scores")
    print(f"{'n':>3} | {'OLD percentile bootstrap':>24} | {'NEW Student t':>13}")
    for n in (2, 3, 5, 10):
        old, new = coverage(rng, n, 4 * s)
        print(f"{n:>3} | {old:>24.1%} | {new:>13.1%}")
    print("\npower: share of 2-row studies called separable when the rows differ by delta seed sds (normal)")
    deltas = (0.5, 1.0, 1.5, 2.0, 3.0, 4.0)
    print(f"{'n':>3} {'method':>6} | " + " ".join(f"{d:>6}" for d in deltas))
    for n in (3, 5, 10):
        old_row, new_row = [], []
        for d in deltas:
            x = rng.normal(size=(s, 2, n))
            x[:, 1] += d
            old_row.append(old_rates(x, rng)[0])
            new_row.append(new_rates(x)[0])
        print(f"{n:>3} {'OLD':>6} | " + " ".join(f"{v:>6.0%}" for v in old_row))
        print(f"{n:>3} {'NEW':>6} | " + " ".join(f"{v:>6.0%}" for v in new_row))
    print("\nseeds per row for 80% power at alpha 0.05 (one pair) and 0.05/15 (Bonferroni, 6 rows):")
    print("  delta/sd: " + " ".join(f"{d:>5}" for d in deltas))
    for alpha in (0.05, 0.05 / 15):
        need = pw.seeds_needed(np.array(deltas), np.ones(len(deltas)), alpha)
        print(f"  {alpha:<8.4g}: " + " ".join(f"{int(v):>5}" for v in need))


if __name__ == "__main__":
    main()
