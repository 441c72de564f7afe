"""The names of the files in a cell folder (each defined here once) and the quick readers of its result.

Every file here is written through bench.fs.atomic_write (a temp file renamed into place).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

RESULT = "result.json"
CONFIG = "config.json"
METRICS = "metrics.jsonl"
CHECKPOINT = "checkpoint.pt"
LOG = "cell.log"
LOCK = "running.json"  # the per-cell lock (bench.storage.cell_lock)
QUEUED = "queued.json"  # written by the SLURM launcher: the array task a cell was submitted as
CURVE = "curve.jsonl"  # metrics during training (eval.curve_every)
SAMPLES = "samples.png"
LOSSES = "losses.png"
# Present while a finished cell waits to be evaluated under new settings: its result.json stays the
# old one (still shown everywhere) until the new one replaces it (CellDir.write_config, write_result).
REEVALUATE = "reevaluate.json"


def read_result(cell_dir: Path) -> dict[str, Any] | None:
    """result.json as plain data, through its one reader (bench.storage.result.parse_result): None
    when missing, unreadable or of the wrong shape. For scripts and tests; code uses CellDir."""
    from bench.storage.result import parse_result

    result = parse_result(cell_dir / RESULT)
    return result.to_json() if result is not None else None


def is_finished(cell_dir: Path) -> bool:
    from bench.storage.result import parse_result

    result = parse_result(cell_dir / RESULT)
    return result is not None and result.is_terminal and not (cell_dir / REEVALUATE).exists()
