"""What a study will cost before it runs: device-hours per group of cells and in total.

Two sources, and the printout says which one each figure came from:
- finished cells of the same configuration (the same group: every setting but the seed) under `--out`:
  their recorded device-seconds (processes x wall), the most faithful figure;
- a short calibration on this machine's device: the family is built at its real size and trained for
  a few timed steps through the one training loop on random images of the dataset's shape (no data is
  read, so it works for grids whose datasets live elsewhere), and one evaluation batch is sampled.
  Steps per cell follow from the budget (epochs x batches per epoch from the split's size).

A calibration on a CPU login node says what the study costs on that CPU, not on the cluster's GPUs: the
printout names the device. Calibrations are cached under BENCH_CACHE/estimates (per group and device),
so `bench run` can record, when it starts, the estimate its dry run printed without timing anything
again: `<out>/estimate.json` (record_estimate), which the report compares with the device-seconds the
cells then recorded. Not counted by a calibration: loading and decoding data, feature extraction
of the evaluation (the domain classifier is small; Inception on a CPU is not) and fits after training
(VQ-VAE's prior), so it is a lower bound; finished cells include everything.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import math
import statistics
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from bench.config import CellConfig
from bench.train.cost import device_name

# The first steps pay for allocations, kernel selection and caches (on a CPU 1 warm-up step left the
# next three at ~5x the steady rate: DCGAN 2,015 ms/step estimated against ~430 measured), so several
# are untimed, and the rate is the median of single-step times, which one slow step cannot move.
WARMUP_STEPS = 4
TIMED_STEPS = 15
MIN_TIMED_STEPS = 5
# A calibration of one configuration stops timing after this many seconds (big nets on a CPU) once
# MIN_TIMED_STEPS are timed: the steps timed so far give the rate.
CALIBRATION_BUDGET_S = 3.0


@dataclass
class GroupEstimate:
    """Cells that differ only by seed, and what the ones still to run will cost."""

    label: str
    group: str  # CellConfig.group_id: every setting but the seed (the leaderboard's row)
    cells: int
    to_run: int
    seconds_per_cell: float | None  # device-seconds
    source: str  # "finished cells (n=K)" | "calibration on DEVICE" | why there is none

    @property
    def device_hours(self) -> float | None:
        return None if self.seconds_per_cell is None else self.seconds_per_cell * self.to_run / 3600


@dataclass
class Estimate:
    groups: list[GroupEstimate] = field(default_factory=list)
    device: str = ""

    @property
    def total_hours(self) -> float:
        return sum(g.device_hours or 0.0 for g in self.groups)

    @property
    def unknown(self) -> int:
        return sum(g.to_run for g in self.groups if g.seconds_per_cell is None)

    def to_json(self) -> dict[str, Any]:
        return {
            "device": self.device,
            "total_device_hours": self.total_hours,
            "groups": [
                {
                    "label": g.label,
                    "group": g.group,
                    "cells": g.cells,
                    "to_run": g.to_run,
                    "device_seconds_per_cell": g.seconds_per_cell,
                    "device_hours": g.device_hours,
                    "source": g.source,
                }
                for g in self.groups
            ],
        }


def describe_device(device: torch.device) -> str:
    """The device by its one name (bench.train.cost.device_name), with the CPU's thread count: an
    estimate on the CPU depends on it."""
    name = device_name(device)
    return name if device.type == "cuda" else f"cpu ({name}, {torch.get_num_threads()} threads)"


def total_steps(cfg: CellConfig, train_size: int) -> int | None:
    """The steps a cell will train; None when its split's size is known only once loaded."""
    if cfg.train.steps:
        return cfg.train.steps
    if not train_size:
        return None
    per_step = (
        cfg.train.batch_size
        if cfg.train.batch_size_per == "global"
        else (cfg.train.batch_size * cfg.train.processes)
    )
    return math.ceil(cfg.train.epochs * max(1, train_size // per_step))


def eval_samples(cfg: CellConfig, steps: int) -> int:
    """Images a cell generates to be scored: the final scores' (N per repeat) and the curve's points."""
    ev = cfg.eval
    points = 0
    if ev.curve_every:
        points = steps // ev.curve_every + (steps % ev.curve_every != 0)  # multiples, and the last step
    return ev.n_samples * ev.repeats + points * ev.curve_n_samples


def _finished_seconds(cells: list[CellConfig], out: Path, read_result: Callable[[Path], Any]) -> list[float]:
    seconds = []
    for c in cells:
        r = read_result(out / c.cell_id)
        if not r or r.get("status") != "done":
            continue
        cost = r.get("cost") or {}
        s = cost.get("device_seconds")
        if s is None:  # results from before cost was recorded
            s = float(r.get("wall_seconds", 0.0)) * int((r.get("train") or {}).get("processes", 1))
        seconds.append(float(s))
    return seconds


def calibrate(cfg: CellConfig, device: torch.device) -> tuple[float, float] | None:
    """(seconds per training step, seconds per evaluation sample) measured on `device`, or None when the
    family cannot be built from shapes alone."""
    from accelerate import Accelerator

    from bench.datasets import DATASETS
    from bench.datasets.base import ImageSplit
    from bench.datasets.batches import BatchStream
    from bench.models import MODELS
    from bench.train.loop import fit
    from bench.train.steplog import StepLog

    source_cls = DATASETS.get(cfg.dataset)
    info = source_cls(source_cls.Args.model_validate(cfg.dataset_args)).info()
    family = MODELS.get(cfg.model)
    torch.manual_seed(0)
    model = family(family.Config.model_validate(cfg.model_args), info, cfg.latent_size)
    for name, net in model.nets.items():
        model.nets[name] = net.to(device)
    optimizers = model.optimizers()
    batch = (
        cfg.train.batch_size // cfg.train.processes
        if cfg.train.batch_size_per == "global"
        else (cfg.train.batch_size)
    )
    n = 2 * batch
    g = torch.Generator().manual_seed(0)
    shape = (n, info.channels, info.resolution, info.resolution)
    split = ImageSplit(
        images=torch.randint(0, 256, shape, dtype=torch.uint8, generator=g),
        labels=torch.randint(0, max(1, info.num_classes), (n,), generator=g) if info.num_classes else None,
        targets=torch.randint(0, 256, shape, dtype=torch.uint8, generator=g)
        if info.pairing != "none"
        else None,
    )
    stream = BatchStream(split, batch, device, seed=0, paired=info.pairing == "paired")
    accelerator = Accelerator(
        cpu=device.type != "cuda", mixed_precision="bf16" if device.type == "cuda" else "no"
    )
    log = StepLog(None)
    budget = WARMUP_STEPS + TIMED_STEPS
    model.begin(10 * budget)  # families that change phase late in the budget train their main phases
    times: list[float] = []
    clock = [0.0]

    def on_step(done: int) -> None:  # after step `done`: one step's time, once warmed up
        _sync(device)
        now = time.perf_counter()
        if done > WARMUP_STEPS:
            times.append(now - clock[0])
        clock[0] = now

    def stop(done: int, flushed: bool) -> bool:
        return len(times) >= MIN_TIMED_STEPS and sum(times) > CALIBRATION_BUDGET_S

    _sync(device)
    clock[0] = time.perf_counter()
    # One fit, as a cell trains (log flushes every log_every steps, as the cell's would).
    fit(
        model,
        optimizers,
        stream,
        accelerator,
        log,
        0,
        budget,
        cfg.train.log_every,
        on_step=on_step,
        stop=stop,
    )
    model.train(False)
    # Image-to-image families pick their source images after training: finalize first (a fit over
    # random images; VQ-VAE's prior on so few codes is crude, but it is sampled only to be timed).
    model.finalize(split, torch.Generator(device).manual_seed(0))
    m = min(cfg.eval.batch_size, cfg.eval.n_samples)
    _sync(device)
    t0 = time.perf_counter()
    with torch.no_grad():
        model.sample(m, torch.Generator(device).manual_seed(0))
    _sync(device)
    return statistics.median(times), (time.perf_counter() - t0) / m


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


CALIBRATION_DIR = "estimates"  # under BENCH_CACHE
ESTIMATE_FILE = "estimate.json"  # under --out: what each group was expected to cost before it ran


def _calibration_path(group: str, device: str) -> Path:
    from bench import __version__
    from bench.datasets.source import cache_root

    key = hashlib.sha256(f"{group}|{device}|{__version__}".encode()).hexdigest()[:16]
    return cache_root() / CALIBRATION_DIR / f"{key}.json"


def cached_calibration(group: str, device: str) -> tuple[float, str] | None:
    """(seconds per cell, source) of an earlier calibration of this group on this device, if any."""
    from bench.fs import read_json

    got = read_json(_calibration_path(group, device))
    if not got or got.get("seconds_per_cell") is None:
        return None
    return float(got["seconds_per_cell"]), f"{got['source']}, cached"


def _cache_calibration(group: str, device: str, seconds: float, source: str) -> None:
    from bench.fs import atomic_write_json

    at = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    with contextlib.suppress(OSError):  # a read-only cache costs a calibration next time, nothing else
        atomic_write_json(
            _calibration_path(group, device), {"seconds_per_cell": seconds, "source": source, "at": at}
        )


def record_estimate(est: Estimate, out: Path) -> Path:
    """Add each group still to run, and not yet recorded, to <out>/estimate.json (written atomically):
    the first estimate made before a group's cells ran is the one the report compares with what they
    cost. A group already recorded keeps its entry (a later run would estimate from its own cells)."""
    from bench.fs import atomic_write_json, read_json

    path = out / ESTIMATE_FILE
    recorded = read_json(path) or {}
    groups = dict(recorded.get("groups") or {})
    at = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    for g in est.groups:
        if g.to_run and g.group not in groups:
            groups[g.group] = {
                "label": g.label,
                "cells": g.cells,
                "to_run": g.to_run,
                "device_seconds_per_cell": g.seconds_per_cell,
                "source": g.source,
                "device": est.device,
                "at": at,
            }
    atomic_write_json(path, {"groups": groups})
    return path


def read_recorded(out: Path) -> dict[str, dict[str, Any]]:
    """<out>/estimate.json's groups (group id -> entry); {} when nothing was recorded."""
    from bench.fs import read_json

    got = read_json(Path(out) / ESTIMATE_FILE)
    return dict((got or {}).get("groups") or {})


def estimate(
    cells: Iterable[CellConfig],
    out: Path,
    is_done: Callable[[Path], bool],
    read_result: Callable[[Path], Any],
    label: Callable[[CellConfig], str],
    calibrate_missing: bool = True,
    device: torch.device | None = None,
) -> Estimate:
    """Device-hours of the cells not yet done, per group of cells that differ only by seed."""
    from bench.datasets import DATASETS

    device = device or torch.device("cuda" if torch.cuda.is_available() else "cpu")
    groups: dict[str, list[CellConfig]] = {}
    for c in cells:
        groups.setdefault(c.group_id, []).append(c)
    est = Estimate(device=describe_device(device))
    for members in groups.values():
        first = members[0]
        to_run = sum(not is_done(out / c.cell_id) for c in members)
        finished = _finished_seconds(members, out, read_result)
        per_cell, source = None, "not estimated (no calibration)"
        cached = cached_calibration(first.group_id, est.device) if to_run and not finished else None
        if finished:
            per_cell, source = sum(finished) / len(finished), f"finished cells (n={len(finished)})"
        elif cached is not None:
            per_cell, source = cached
        elif to_run and calibrate_missing:
            info_cls = DATASETS.get(first.dataset)
            info = info_cls(info_cls.Args.model_validate(first.dataset_args)).info()
            steps = total_steps(first, info.splits.get("train", 0))
            try:
                rates = calibrate(first, device) if steps is not None else None
            except Exception as err:  # an estimate must never stop a dry run
                rates, source = None, f"not estimated (calibration failed: {type(err).__name__}: {err})"
            if steps is None:
                source = "not estimated (the training split's size is known only once loaded)"
            if rates is not None:
                step_s, sample_s = rates
                per_cell = steps * step_s + eval_samples(first, steps) * sample_s
                per_cell *= first.train.processes if first.train.batch_size_per == "device" else 1
                source = f"calibration ({steps} steps at {step_s * 1000:.1f} ms)"
                _cache_calibration(first.group_id, est.device, per_cell, source)
        elif not to_run:
            per_cell, source = 0.0, "all done"
        est.groups.append(GroupEstimate(label(first), first.group_id, len(members), to_run, per_cell, source))
    return est


def group_label(cfg: CellConfig) -> str:
    """`dcgan[d_width=8] digits z8`: a group's model and dataset labels and latent size."""
    from bench.storage.identity import cell_identity

    ident = cell_identity(cfg)
    z = f" z{cfg.latent_size}" if cfg.latent_size is not None else ""
    return f"{ident['model_label']} {ident['dataset_label']}{z}"


def record_at_start(cells: Iterable[CellConfig], out: Path) -> Path | None:
    """What `bench run` does before it launches: the estimate from finished twins or cached
    calibrations (the dry run's; nothing is timed here, so a run starts at once), recorded in
    <out>/estimate.json for the report. A folder that cannot take the file costs the report its
    estimate column, never the run (None then)."""
    from bench.storage import files as store

    est = estimate(cells, out, store.is_finished, store.read_result, group_label, calibrate_missing=False)
    try:
        return record_estimate(est, out)
    except OSError:
        return None
