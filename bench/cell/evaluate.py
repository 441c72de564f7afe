"""Evaluation as one cell needs it: a check before training, a curve during it, the scores after it.

The runner (bench/cell/run.py) makes one `CellEvaluation` before it trains anything, which checks
every weight file the metrics need (so a missing Inception file fails in a second, not after hours of
training), calls `on_step` after every training step, and `final` once training is done. `final` also hands
the training split to the evaluation, for memorisation metrics (mem_domain, mem_inception) and their
gallery, closest_pairs.png in the cell folder.

The curve: at every step that is a multiple of `eval.curve_every` (K, 2K, 3K ...) and at the last step,
`eval.curve_metrics` on `eval.curve_n_samples` generated images against as many real ones (at most the
split), appended to curve.jsonl in the cell folder (and drawn in curve.png, whose titles give that N);
result.json gets each metric's best and final value, and its protocol's `curve` entry (`curve_protocol`)
says N, the points' rule and the fingerprint of each curve metric. At that N a distance such as FD is
biased upward against the headline score: compare curve values with curve values only. The curve runs
under `torch.random.fork_rng`, so it never changes the training noise: a cell with a curve trains
exactly as one without.
"""

from __future__ import annotations

import json
import shlex
from pathlib import Path
from typing import Any

import torch
from accelerate import Accelerator

from bench.config import CellConfig
from bench.datasets.base import DatasetInfo, ImageSplit
from bench.datasets.source import DataContext, DatasetSource
from bench.eval.evaluate import cell_extractors, evaluate, evaluate_samples
from bench.eval.generate import unconditional
from bench.eval.memorisation import GALLERY
from bench.eval.metric_registry import check_sizes, needed_extractors, output_info
from bench.features import assets
from bench.fs import atomic_write_text
from bench.models.base import GenerativeModel
from bench.plots import pyplot, save_figure
from bench.storage.files import CURVE
from bench.train import tensorboard

PROTOCOL = "protocol"  # a curve.jsonl row's key for the point's N and fingerprints


class CellEvaluation:
    def __init__(
        self,
        cfg: CellConfig,
        source: DatasetSource,
        info: DatasetInfo,
        train: ImageSplit,
        ctx: DataContext,
        accelerator: Accelerator,
        cell_dir: Path,
        start_step: int,
    ) -> None:
        self.cfg, self.source, self.info, self.train, self.ctx = cfg, source, info, train, ctx
        self.accelerator, self.cell_dir = accelerator, cell_dir
        self.cache_dir = ctx.cache_dir.parent
        self.cuda = accelerator.device.type == "cuda"
        ev = cfg.eval
        wanted = set(ev.metrics) | (set(ev.curve_metrics) if ev.curve_every else set())
        assets.require(needed_extractors(sorted(wanted)))  # before any training: one clear line
        self._test: ImageSplit | None = None
        self._gallery_drawn = False
        available = info.splits.get(ev.split, 0) or None  # 0: a folder dataset, known once loaded
        if available:  # KID/IS sizes, refused before training rather than after it
            check_sizes(ev, list(ev.metrics), ev.n_samples, min(ev.n_real or available, available))
        if ev.curve_every:
            n_real = min(ev.curve_n_samples, ev.n_real or info.splits.get(ev.split, 0))
            check_sizes(ev, list(ev.curve_metrics), ev.curve_n_samples, n_real)
            if accelerator.is_main_process:
                _truncate(cell_dir / CURVE, start_step)

    @property
    def identity(self) -> dict[str, Any]:
        return reference_identity(self.cfg, self.info)

    def test_split(self) -> ImageSplit:
        if self._test is None:
            self._test = self.source.load(self.cfg.eval.split, self.ctx)
        return self._test

    def reference(self) -> ImageSplit:
        """The real images generated ones are compared with. Image-to-image families generate
        translations A -> B, so for paired and unpaired datasets that is the target side (B)."""
        return reference_side(self.info, self.test_split())

    def on_step(self, step: int, model: GenerativeModel) -> None:
        """Called by every process after each training step (`step` steps done): a curve point at every
        multiple of `eval.curve_every` and at the last step, whatever `train.log_every` is."""
        if not curve_due(step, self.cfg.eval.curve_every, model.total_steps):
            return
        ev = self.cfg.eval
        devices = [self.accelerator.device] if self.cuda else []
        with torch.random.fork_rng(devices=devices):
            test = self.reference()
            # One sample set per point: eval.repeats is for the final scores, not the curve.
            small = ev.model_copy(update={"n_real": min(ev.curve_n_samples, len(test)), "repeats": 1})
            extractors = cell_extractors(list(ev.curve_metrics), self.info, self.train, test, self.cache_dir)
            model.train(False)
            scores, point_protocol, _ = evaluate_samples(
                unconditional(model),
                model.device,
                test,
                self.identity,
                small,
                list(ev.curve_metrics),
                extractors,
                self.cache_dir,
                self.cuda,
                n=ev.curve_n_samples,
                num_classes=self.info.num_classes,
                accelerator=self.accelerator,
                train=reference_side(self.info, self.train),
                train_identity={**self.identity, "split": "train"},
            )
            # Every process draws it (DDP nets sync buffers on forward); the same noise at every point.
            shown = model.sample_grid(torch.Generator(model.device).manual_seed(ev.seed), self.test_split())
            model.train(True)
        if self.accelerator.is_main_process:
            # Each point carries its own N and fingerprints: the curve's protocol is not the final one.
            row = {"step": step, **scores, PROTOCOL: _point_protocol(point_protocol)}
            with (self.cell_dir / CURVE).open("a") as f:
                f.write(json.dumps(row) + "\n")
            tensorboard.log_curve_point(self.cell_dir, step, scores, shown)

    def final(self, model: GenerativeModel) -> tuple[dict[str, float], dict[str, Any]]:
        """Scores on the test split and the protocol; every process calls it (each samples a share)."""
        ev = self.cfg.eval
        test = self.reference()
        extractors = cell_extractors(
            list(ev.metrics), self.info, self.train, test, self.cache_dir, conditional=model.conditional
        )
        # Memorisation metrics compare samples with the training split (the generators' side of it);
        # the gallery of the closest pairs is drawn once per run (an EMA re-evaluation keeps it).
        gallery = None
        if self.accelerator.is_main_process and not self._gallery_drawn:
            gallery = self.cell_dir / GALLERY
            self._gallery_drawn = True
        metrics, protocol = evaluate(
            model,
            self.info,
            test,
            ev,
            extractors,
            self.cuda,
            self.identity,
            self.cache_dir,
            self.accelerator,
            train=reference_side(self.info, self.train),
            train_identity={**self.identity, "split": "train"},
            gallery=gallery,
        )
        if ev.curve_every and self.accelerator.is_main_process:
            curve = read_curve(self.cell_dir / CURVE)
            metrics |= curve_summary(curve)
            protocol["curve"] = curve_protocol(curve, ev.curve_every, list(ev.curve_metrics))
            _plot(curve, self.cell_dir / "curve.png", self.cfg.cell_id, protocol["curve"])
        # The command that prints these numbers again from the checkpoint (tests/eval/test_eval_reproduce.py).
        protocol["reproduce"] = shlex.join(["bench", "eval", "--fake", str(self.cell_dir)])
        return metrics, protocol


def reference_identity(cfg: CellConfig, info: DatasetInfo) -> dict[str, Any]:
    """What names a cell's reference images (the reference cache key and the fingerprint's split)."""
    out = {"dataset": cfg.dataset, "dataset_args": cfg.dataset_args, "split": cfg.eval.split}
    if info.pairing != "none":
        out["side"] = "targets"
    return out


def reference_side(info: DatasetInfo, split: ImageSplit) -> ImageSplit:
    """The images generated ones are compared with: the targets (B) of a paired/unpaired dataset."""
    if info.pairing != "none" and split.targets is not None:
        # The targets' attributes (celeba_domains) come along: the domain extractor's held-out accuracy.
        return ImageSplit(split.targets, factors=split.target_factors)
    return split


def curve_due(step: int, every: int, total: int) -> bool:
    """Whether `step` (steps done) gets a curve point: every multiple of `every`, and the last step."""
    return bool(every) and step > 0 and (step % every == 0 or step == total)


def _point_protocol(protocol: dict[str, Any]) -> dict[str, Any]:
    return {k: protocol[k] for k in ("n_generated", "n_real", "real_split", "fingerprints") if k in protocol}


def curve_protocol(curve: list[dict[str, Any]], every: int, metrics: list[str]) -> dict[str, Any]:
    """result.json's protocol["curve"]: N generated vs N real of the curve's points (from the last
    point; curve_n_samples when the points predate it), where the points fall, and a sentence."""
    last = (curve[-1].get(PROTOCOL) if curve else None) or {}
    out: dict[str, Any] = {
        "every": every,
        "points": f"every multiple of {every} steps and the last step",
        "metrics": metrics,
        "n_generated": last.get("n_generated"),
        "n_real": last.get("n_real"),
        "real_split": last.get("real_split"),
        "fingerprints": last.get("fingerprints", {}),
    }
    out["description"] = describe_curve(out)
    return out


def describe_curve(curve_protocol: dict[str, Any]) -> str:
    """The curve's protocol in words (for the leaderboard's protocols, the report and curve.png)."""
    n, n_real = curve_protocol.get("n_generated"), curve_protocol.get("n_real")
    split = f" from {curve_protocol['real_split']}" if curve_protocol.get("real_split") else ""
    return (
        f"{', '.join(curve_protocol.get('metrics') or [])} on {n if n is not None else '?'} generated vs "
        f"{n_real if n_real is not None else '?'} real images{split}, one sample set per point, "
        f"{curve_protocol.get('points', '')}; at this N distances are biased against the final scores"
    )


def _truncate(path: Path, after_step: int) -> None:
    """Drop curve points a crashed run logged after its last checkpoint: the resumed run logs them again."""
    if path.exists():
        rows = [line for line in path.read_text().splitlines() if json.loads(line)["step"] <= after_step]
        atomic_write_text(path, "".join(r + "\n" for r in rows))


def read_curve(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def _lower_is_better(name: str) -> bool:
    info = output_info(name)
    return info.lower_is_better if info is not None else True


def _summarised(name: str) -> bool:
    """A curve column worth a best/final value and a panel: not the step or the point's protocol, not
    a hidden detail (a std)."""
    info = output_info(name)
    return name not in ("step", PROTOCOL) and (info is None or not info.hidden)


def curve_summary(curve: list[dict[str, Any]]) -> dict[str, float]:
    """curve_<metric>_best, curve_<metric>_best_step and curve_<metric>_final for each metric."""
    out: dict[str, float] = {}
    if not curve:
        return out
    for name in curve[-1]:
        if not _summarised(name):
            continue
        points = [(row["step"], row[name]) for row in curve if row.get(name) is not None]
        pick = min if _lower_is_better(name) else max
        step, best = pick(points, key=lambda p: p[1])
        out |= {
            f"curve_{name}_best": best,
            f"curve_{name}_best_step": step,
            f"curve_{name}_final": points[-1][1],
        }
    return out


def _plot(curve: list[dict[str, Any]], out: Path, title: str, protocol: dict[str, Any]) -> None:
    if not curve:
        return
    plt = pyplot()

    names = [k for k in curve[-1] if _summarised(k)]
    n, n_real = protocol.get("n_generated"), protocol.get("n_real")
    fig, axes = plt.subplots(1, len(names), figsize=(4 * len(names), 3), squeeze=False)
    for ax, name in zip(axes[0], names, strict=True):
        ax.plot([r["step"] for r in curve], [r.get(name) for r in curve], marker="o")
        ax.set_xlabel("step")
        ax.set_title(f"{name} (N = {n} vs {n_real} real)", fontsize=9)
    fig.suptitle(title, fontsize=8)
    save_figure(fig, out, dpi=80)


def preflight(cells: list[CellConfig]) -> None:
    """Before a grid trains anything: every weight file any cell's metrics need is present and exact."""
    wanted: set[str] = set()
    for c in cells:
        wanted |= set(c.eval.metrics) | (set(c.eval.curve_metrics) if c.eval.curve_every else set())
    assets.require(needed_extractors(sorted(wanted)))
