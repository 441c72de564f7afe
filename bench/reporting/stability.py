"""Training stability, read from what each cell left: result.json, metrics.jsonl and curve.jsonl.

Per cell: its outcome (failed, diverged), a mode-collapse flag from the diversity scores (told apart
from unrecognisable samples by the classifier's confident view), curve
summaries (best, final, gap, step of best, area under the curve, volatility) and, for adversarial
families, discriminator health from the logged D loss, D first-layer gradient norm and WGAN-GP
penalty. Per row (cells that differ by seed): failure and divergence rates and the seed-to-seed
coefficient of variation of the main metric. Every threshold is a named constant below, documented in
README.md ("Stability").
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from scipy import stats as sps
from scipy.integrate import trapezoid

from bench.cell.evaluate import CURVE, read_curve
from bench.cell.evaluate import PROTOCOL as CURVE_PROTOCOL
from bench.eval import result_keys as columns
from bench.plots import read_metrics
from bench.reporting.stats import coefficient_of_variation
from bench.storage import files as store

D_LOSS_KEY = "d/loss"
GRAD_NORM_KEY = "g/d_layer1_grad_norm"  # bench/models/adversarial.py logs it in the g phase
GP_KEY = "d/gp"

COVERAGE_MIN = 0.5  # coverage below: fewer than half of the classes found among the samples
CLASS_KL_MAX = 1.0  # nats; KL(generated classes || real) above (all mass on 1 of 10 classes: 2.3)
RECALL_MIN = 0.1  # recall below: the samples reach almost none of the real manifold
# The classifier's confident view (bench.features.fidelity.mode_coverage: a sample is recognised when
# the classifier is as sure of it as of 90% of the real images): with fewer than this share of samples
# recognised (real images: 0.9), a missing class cannot be told from unreadable samples ...
RECOGNISED_MIN = 0.5
CONFIDENT_COVERAGE_MIN = 0.9  # ... and with more, coverage among them below this: classes are missing
D_LOSS_NEAR_ZERO = 0.05  # a non-negative D loss below this is "near 0": D wins every comparison
D_LOSS_ZERO_SHARE = 0.5  # flag when more than this share of logged steps has D loss near 0
GRAD_VANISH = 1e-3  # D first-layer gradient norm below this counts as vanished
VANISH_STRETCH = 5  # ... for at least this many consecutive logged steps
GP_MAX = 1.0  # WGAN-GP penalty E[(|grad| - 1)^2], median over the last quarter of logged steps
SEED_CV_MAX = 0.25  # a row whose main metric's std / |mean| over seeds exceeds this is unstable


@dataclass(frozen=True)
class Flag:
    # failed, diverged, mode-collapse, unrecognisable, copies, d-loss-zero, vanishing-gradient,
    # gradient-penalty
    kind: str
    reason: str


@dataclass(frozen=True)
class CurveSummary:
    metric: str
    best: float
    final: float
    gap: float  # how much worse the final value is than the best (>= 0)
    best_step: int
    auc: float  # trapezoid over steps normalised to [0, 1]; one point: its value
    volatility: float | None  # MAD of successive differences; None below 3 points
    # The curve's own N (eval.curve_n_samples, 200 by default), not the final scores': None in curves
    # written before points recorded it.
    n_generated: int | None = None
    n_real: int | None = None

    @property
    def label(self) -> str:
        """`fd_digits (N = 200 vs 200 real)`: the metric with the N its points were scored at."""
        return curve_label(self.metric, self.n_generated, self.n_real)


def curve_label(metric: str, n_generated: int | None, n_real: int | None) -> str:
    if n_generated is None:
        return f"{metric} (curve N not recorded)"
    return f"{metric} (N = {n_generated} vs {n_real} real)"


def curve_sizes(curve: list[dict[str, Any]]) -> tuple[int | None, int | None]:
    """(N generated, N real) of a curve's points, from its last point's protocol."""
    last = (curve[-1].get(CURVE_PROTOCOL) if curve else None) or {}
    return last.get("n_generated"), last.get("n_real")


@dataclass(frozen=True)
class DHealth:
    d_loss_zero_share: float | None  # share of logged steps with D loss near 0 (None: loss can be < 0)
    longest_vanishing: int  # longest run of consecutive logged steps with vanished D gradient
    gp_level: float | None
    steps: int


@dataclass
class CellStability:
    cell_id: str
    dir: Path
    status: str  # done, failed, diverged, running, pending
    seed: int | None
    reason: str = ""
    flags: list[Flag] = field(default_factory=list)
    curves: dict[str, CurveSummary] = field(default_factory=dict)
    d_health: DHealth | None = None


def curve_summary(
    metric: str,
    points: Sequence[tuple[int, float]],
    lower: bool,
    sizes: tuple[int | None, int | None] = (None, None),
) -> CurveSummary:
    """Summary of one metric's curve; `lower` True when lower is better; `sizes` its (N, N real)."""
    steps = np.asarray([s for s, _ in points], dtype=np.float64)
    vals = np.asarray([v for _, v in points], dtype=np.float64)
    i = int(np.argmin(vals) if lower else np.argmax(vals))
    final = float(vals[-1])
    span = steps[-1] - steps[0]
    auc = float(trapezoid(vals, (steps - steps[0]) / span)) if span > 0 else float(vals[0])
    volatility = float(sps.median_abs_deviation(np.diff(vals))) if len(vals) >= 3 else None
    best = float(vals[i])
    return CurveSummary(metric, best, final, abs(final - best), int(steps[i]), auc, volatility, *sizes)


def _longest_run(mask: Sequence[bool]) -> int:
    best = run = 0
    for m in mask:
        run = run + 1 if m else 0
        best = max(best, run)
    return best


def d_health(series: dict[str, list[tuple[int, float]]]) -> DHealth | None:
    """Discriminator health from the logged series; None when nothing adversarial was logged."""
    grad = [v for _, v in series.get(GRAD_NORM_KEY, [])]
    d_loss = [v for _, v in series.get(D_LOSS_KEY, [])]
    gp = [v for _, v in series.get(GP_KEY, [])]
    if not grad and not gp:
        return None  # D loss alone is no sign of a discriminator (a VAE logs no d/ keys anyway)
    share = None
    if d_loss and min(d_loss) >= 0:  # a BCE or least-squares loss; a WGAN critic's sign is free
        share = float(np.mean(np.asarray(d_loss) < D_LOSS_NEAR_ZERO))
    gp_level = float(np.median(gp[len(gp) - max(1, len(gp) // 4) :])) if gp else None
    longest = _longest_run([g < GRAD_VANISH for g in grad])
    return DHealth(share, longest, gp_level, max(len(grad), len(d_loss)))


def _collapse_flags(metrics: dict[str, Any]) -> list[Flag]:
    """Mode collapse from the diversity scores. Coverage and class KL fall for missing classes and for
    unreadable samples alike; where the result holds the classifier's confident view (recognised_X,
    confident_coverage_X), a class counts as missing only when the recognised samples miss it too, and
    low coverage with every class among the recognised samples reads "unrecognisable" instead."""
    flags: list[Flag] = []
    fell: dict[str, list[str]] = {}  # extractor key -> why coverage / class KL look collapsed
    view: dict[str, dict[str, tuple[str, float]]] = {}  # extractor key -> kind -> (key, value)
    for key, value in sorted(metrics.items()):
        kind = columns.diversity_kind(key)
        if value is None or kind is None:
            continue
        if kind in ("recognised", "confident_coverage"):
            view.setdefault(key.removeprefix(f"{kind}_"), {})[kind] = (key, float(value))
        elif kind == "coverage" and value < COVERAGE_MIN:
            fell.setdefault(key.removeprefix("coverage_"), []).append(f"{key} = {value:.3g} < {COVERAGE_MIN}")
        elif kind == "class_kl" and value > CLASS_KL_MAX:
            why = f"{key} = {value:.3g} nats > {CLASS_KL_MAX}"
            fell.setdefault(key.removeprefix("class_kl_"), []).append(why)
        elif kind == "recall" and value < RECALL_MIN:
            flags.append(Flag("mode-collapse", f"{key} = {value:.3g} < {RECALL_MIN}"))
    for ext in sorted(set(fell) | set(view)):
        reasons, seen = fell.get(ext, []), view.get(ext, {})
        if "recognised" not in seen or "confident_coverage" not in seen:
            flags += [Flag("mode-collapse", r) for r in reasons]  # a result from before the confident view
            continue
        (rkey, recognised), (ckey, confident) = seen["recognised"], seen["confident_coverage"]
        missing = confident < CONFIDENT_COVERAGE_MIN
        if recognised < RECOGNISED_MIN and (reasons or missing):
            why = f"{rkey} = {recognised:.3g} < {RECOGNISED_MIN}: too few recognised to tell a missing class"
            flags.append(Flag("unrecognisable", "; ".join([why, *reasons])))
        elif missing:
            why = f"{ckey} = {confident:.3g} < {CONFIDENT_COVERAGE_MIN}: classes missing among the recognised"
            flags.append(Flag("mode-collapse", "; ".join([why, *reasons])))
        elif reasons:
            why = (
                f"but {ckey} = {confident:.3g}: every class is among the {recognised:.0%} recognised samples"
            )
            flags.append(Flag("unrecognisable", "; ".join(reasons) + f" {why}"))
    return flags


def _copies_flags(metrics: dict[str, Any]) -> list[Flag]:
    """The memorisation metric's own verdict (its flag output is 1.0 or 0.0; its rule is its own)."""
    flags = []
    for key, value in sorted(metrics.items()):
        if value is not None and columns.copies_flag(key) and value >= 0.5:
            info = columns.info(key)
            why = f": {info.description}" if info and info.description else ""
            flags.append(Flag("copies", f"{key} = {value:g}{why}"))
    return flags


def copies_keys(metrics: dict[str, Any]) -> dict[str, float]:
    """The memorisation flags a result holds, key -> value."""
    return {k: float(v) for k, v in sorted(metrics.items()) if v is not None and columns.copies_flag(k)}


def _health_flags(h: DHealth) -> list[Flag]:
    flags = []
    if h.d_loss_zero_share is not None and h.d_loss_zero_share > D_LOSS_ZERO_SHARE:
        flags.append(
            Flag("d-loss-zero", f"D loss < {D_LOSS_NEAR_ZERO} on {h.d_loss_zero_share:.0%} of logged steps")
        )
    if h.longest_vanishing >= VANISH_STRETCH:
        flags.append(
            Flag(
                "vanishing-gradient",
                f"{GRAD_NORM_KEY} < {GRAD_VANISH:g} for {h.longest_vanishing} consecutive logged steps",
            )
        )
    if h.gp_level is not None and h.gp_level > GP_MAX:
        level = f"{GP_KEY} = {h.gp_level:.3g} > {GP_MAX} over the last quarter of logged steps"
        flags.append(Flag("gradient-penalty", level))
    return flags


def curve_series(curve: list[dict[str, float]]) -> dict[str, list[tuple[int, float]]]:
    out: dict[str, list[tuple[int, float]]] = {}
    for row in curve:
        for k, v in row.items():
            if k != "step" and v is not None and columns.direction(k) is not None:
                out.setdefault(k, []).append((int(row["step"]), float(v)))
    return out


def cell_stability(cell_dir: Path, result: dict[str, Any] | None) -> CellStability:
    """Everything above for one cell folder (result None: not finished)."""
    status = (result or {}).get("status") or ("running" if (cell_dir / store.LOCK).exists() else "pending")
    cell = CellStability(
        (result or {}).get("cell_id", cell_dir.name),
        cell_dir,
        status,
        (result or {}).get("seed"),
        (result or {}).get("reason") or "",
    )
    if status in ("failed", "diverged"):
        cell.flags.append(Flag(status, cell.reason or status))
    if result and status == "done":
        cell.flags += _collapse_flags(result.get("metrics", {}))
        cell.flags += _copies_flags(result.get("metrics", {}))
    curve = read_curve(cell_dir / CURVE)
    sizes = curve_sizes(curve)
    for metric, points in curve_series(curve).items():
        cell.curves[metric] = curve_summary(metric, points, bool(columns.direction(metric)), sizes)
    cell.d_health = d_health(read_metrics(cell_dir / store.METRICS))
    if cell.d_health is not None:
        cell.flags += _health_flags(cell.d_health)
    return cell


@dataclass
class RowStability:
    cells: list[CellStability]
    main_values: list[float]

    @property
    def finished(self) -> int:
        return sum(c.status in ("done", "failed", "diverged") for c in self.cells)

    def rate(self, status: str) -> float | None:
        """Share of finished cells with this status; None before any finished."""
        n = self.finished
        return sum(c.status == status for c in self.cells) / n if n else None

    @property
    def collapsed(self) -> int:
        return sum(any(f.kind == "mode-collapse" for f in c.flags) for c in self.cells)

    @property
    def copying(self) -> int:
        return sum(any(f.kind == "copies" for f in c.flags) for c in self.cells)

    @property
    def seed_cv(self) -> float | None:
        return coefficient_of_variation(self.main_values) if self.main_values else None

    @property
    def unstable_across_seeds(self) -> bool:
        cv = self.seed_cv
        return cv is not None and cv > SEED_CV_MAX

    @property
    def flagged(self) -> list[CellStability]:
        return [c for c in self.cells if c.flags]
