"""Run one cell from its folder: train, checkpoint, draw, evaluate, and record the outcome.

The cell folder holds config.json (written by the launcher). This module writes everything else, and
result.json last, atomically, so a cell without result.json is a cell to (re)do. Whatever happens the
outcome is recorded: done, diverged (a loss became NaN/inf) or failed (with the reason), and the rest
of the grid goes on. Interrupts record nothing: the cell is simply not done, and its last checkpoint
lets the next run continue it. Asked to stop (SIGUSR1 before a SLURM time limit or preemption, SIGTERM,
a first Ctrl-C; see bench/train/preempt.py), it checkpoints at the next step boundary first, so the
continued run ends bitwise identical to one never stopped.
"""

from __future__ import annotations

import logging
import os
import sys
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

import torch

from bench import fs
from bench.cell.final_eval import evaluate_trained
from bench.cell.record import CellOutcome, record
from bench.cell.setup import Progress, make_accelerator, set_up
from bench.cell.training import train
from bench.config import CellConfig
from bench.storage.cell_dir import CellDir, CellResult, CellStatus
from bench.storage.cell_lock import CellLock
from bench.train import tensorboard
from bench.train.preempt import Preempted, StopRequest
from bench.train.steplog import Diverged

__all__ = ["CellRun", "Progress", "make_accelerator", "run_cell", "train_and_evaluate"]


def train_and_evaluate(
    cfg: CellConfig, cell_dir: Path, progress: Progress | None = None, stop: StopRequest | None = None
) -> CellOutcome:
    """Train the cell (continuing from its checkpoint), evaluate it; the outcome part of its result.
    Set-up (bench/cell/setup.py), training (training.py), evaluation (final_eval.py); the record of the
    attempt is made by bench/cell/record.py."""
    s = set_up(cfg, CellDir(cell_dir), progress)
    trained = train(s, progress, stop)
    num_parameters = s.model.num_parameters()
    scores = evaluate_trained(s, trained, progress)
    return CellOutcome(trained.record, num_parameters, scores)


@dataclass(frozen=True)
class CellRun:
    """How one `run_cell` ended. status: done, failed, diverged (a result was written); preempted
    (stopped with a checkpoint, no result); busy (another live process holds the cell; nothing
    written); finished (a result was already there: nothing to do)."""

    status: str
    result: CellResult | None = None
    reason: str | None = None
    step: int | None = None


def run_cell(cell_dir: Path, progress: Progress | None = None, stop: StopRequest | None = None) -> CellRun:
    """Run the cell in `cell_dir` under its lock and write its result.json.

    With `stop` (set by signals, see bench/train/preempt.py) the cell may end early with a checkpoint
    and no result.json (status "preempted", the step reached). A cell whose lock another live process
    holds is left alone (status "busy"); one finished meanwhile is not run again.
    """
    cell = CellDir(cell_dir)
    cell.check_no_links()  # before anything is written there: nothing goes through a link
    cfg = cell.config
    main = _is_main_process()
    lock = cell.lock()
    if main:
        if not lock.acquire():
            line = f"{cfg.cell_id}: skipped, already running elsewhere ({lock.holder.describe()})"
            print(line, file=sys.stderr, flush=True)
            return CellRun("busy", reason=line)
        # Checked again under the lock: another run may have finished the cell since the launcher looked.
        done = cell.read_result()
        if done is not None and cell.is_finished():
            lock.release()
            return CellRun("finished", done)
        cell.archive_result()  # a failed (or unreadable) attempt is kept beside the cell, then retried
    try:
        return _run_locked(cell, cfg, lock, progress, stop)
    finally:
        lock.release()  # a no-op once a preempted run has turned the lock into its stop note


def _run_locked(
    cell: CellDir, cfg: CellConfig, lock: CellLock, progress: Progress | None, stop: StopRequest | None
) -> CellRun:
    fs.clean_temp_files(cell.path)  # temp files a killed writer left (checkpoints, logs)
    handler = logging.FileHandler(cell.log_path)
    rank = f" [rank {os.environ['RANK']}]" if int(os.environ.get("WORLD_SIZE", "1")) > 1 else ""
    handler.setFormatter(logging.Formatter(f"%(asctime)s %(levelname)s{rank} %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    started = time.perf_counter()
    logging.info(
        "cell %s: %s on %s, latent %s, seed %d",
        cfg.cell_id,
        cfg.model,
        cfg.dataset,
        cfg.latent_size,
        cfg.seed,
    )
    outcome = CellOutcome()
    try:
        outcome = train_and_evaluate(cfg, cell.path, progress, stop)
        status, reason = CellStatus.done, None
    except Preempted as err:
        # Not an outcome: the cell continues from its checkpoint when it runs next (SLURM requeues it).
        lock.mark_stopped(err.step)
        return CellRun("preempted", reason=str(err), step=err.step)
    except Diverged as err:
        status, reason = CellStatus.diverged, str(err)
    except (Exception, torch.cuda.OutOfMemoryError) as err:  # noqa: B014  (OOM named for the reader)
        logging.error("cell failed:\n%s", traceback.format_exc())
        status, reason = CellStatus.failed, f"{type(err).__name__}: {err}"
    finally:
        tensorboard.close(cell.path)
        root.removeHandler(handler)
        handler.close()
    result = record(cfg, cell, outcome, status, reason, time.perf_counter() - started)
    if result.status is not CellStatus.done:
        logging.getLogger(__name__).warning("cell %s %s: %s", cfg.cell_id, result.status.value, result.reason)
    if _is_main_process():
        cell.write_result(result)
    return CellRun(result.status.value, result, result.reason)


def _is_main_process() -> bool:
    return int(os.environ.get("RANK", "0")) == 0
