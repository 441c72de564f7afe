"""Where a cell continues from: its checkpoint and the metrics rows logged up to it, or a fresh start.

A checkpoint or a metrics log that cannot be read is moved aside as `<name>.corrupt-N` and the cell
starts over; with several processes, process 0 alone reads and repairs the files and tells the others.
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Any

import torch
from accelerate import Accelerator

from bench.errors import BenchError
from bench.storage import files as store
from bench.storage.cell_dir import CellDir, CorruptCheckpoint, load_checkpoint_checked
from bench.storage.checkpoint import load_shard, set_rng_state


def say(line: str) -> None:
    """One line for the user (the launcher shows the cell's stderr) and the same in cell.log."""
    logging.warning(line)
    print(line, file=sys.stderr, flush=True)


def _metric_rows(path: Path, before_step: int) -> list[str] | None:
    """The rows of steps 0 .. before_step-1, exactly; None when the log cannot give them. A torn last
    line (a kill in the middle of an append) is dropped: it lies after the checkpoint anyway."""
    if not path.exists():
        return [] if before_step == 0 else None
    lines = path.read_text(errors="replace").splitlines()
    rows = []
    for i, line in enumerate(lines):
        try:
            step = json.loads(line)["step"]
        except (ValueError, KeyError, TypeError):
            if i == len(lines) - 1 and i > 0:
                logging.info("%s: dropped a torn last line", path)
                break
            return None
        if step < before_step:
            rows.append(line)
    steps = [json.loads(r)["step"] for r in rows]
    return rows if steps == list(range(before_step)) else None


def resume_point(cell: CellDir, main: bool) -> tuple[dict[str, Any] | None, list[str]]:
    """(checkpoint state, metrics rows to keep), or (None, []) to start from scratch. A checkpoint or
    a metrics log that cannot be read is moved aside as `<name>.corrupt-N` and the cell starts over."""
    if not cell.checkpoint_path.exists():
        return None, []
    try:
        state = load_checkpoint_checked(cell.checkpoint_path)
    except CorruptCheckpoint as err:
        if main:
            moved = cell.archive_corrupt(cell.checkpoint_path)
            say(f"{cell.name}: {err}; moved it to {moved.name} and starting the cell over")
        return None, []
    rows = _metric_rows(cell.metrics_path, int(state["step"])) if main else []
    if rows is None:
        moved = cell.archive_corrupt(cell.metrics_path)
        ckpt = cell.archive_corrupt(cell.checkpoint_path)
        say(
            f"{cell.name}: {store.METRICS} cannot be read up to the checkpoint's step {state['step']}; "
            f"moved it to {moved.name} (and the checkpoint to {ckpt.name}) and starting the cell over"
        )
        return None, []
    return state, rows


def agreed_resume(cell: CellDir, accelerator: Accelerator) -> tuple[dict[str, Any] | None, list[str]]:
    """The resume point, decided by process 0 (which alone reads and repairs the files) for all."""
    if accelerator.num_processes == 1:
        return resume_point(cell, True)
    decision = [None]
    if accelerator.is_main_process:
        state, rows = resume_point(cell, True)
        decision = [state is not None]
    accelerator.wait_for_everyone()
    torch.distributed.broadcast_object_list(decision, src=0)
    if accelerator.is_main_process:
        return state, rows
    return (load_checkpoint_checked(cell.checkpoint_path) if decision[0] else None), []


def restore_run_state(
    state: dict[str, Any], ckpt_path: Path, optimizers: dict[str, Any], accelerator: Accelerator
) -> None:
    """Optimizers and RNG states; with several processes each reads its own shard of the same step."""
    step, n = int(state["step"]), accelerator.num_processes
    saved_n = int(state.get("extra", {}).get("processes", 1))
    shard = load_shard(ckpt_path, accelerator.process_index, step) if n > 1 else None
    sharded = [k for k, opt in optimizers.items() if getattr(opt, "sharded", False)]
    if saved_n != n and (sharded or n > 1):
        raise BenchError(
            f"{ckpt_path}: written by {saved_n} process(es), this run has {n}; "
            "run it with the processes it started with, or remove the checkpoint to start over"
        )
    if n > 1 and shard is None:
        raise BenchError(f"{ckpt_path}: the shard of process {accelerator.process_index} is missing")
    for k, opt in optimizers.items():
        opt.load_state_dict(shard["optimizers"][k] if k in sharded else state["optimizers"][k])
    set_rng_state(shard["rng"] if shard is not None else state["rng"])
