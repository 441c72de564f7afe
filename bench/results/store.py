"""Files of a cell folder, written so that a crash or a kill never leaves a file that reads as valid.

Everything that other processes read (result.json, checkpoints, leaderboards) is written to a
temporary file in the same folder, flushed, and renamed over the target: readers see the old file or
the new one, never half of one.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

RESULT = "result.json"
CONFIG = "config.json"
METRICS = "metrics.jsonl"
CHECKPOINT = "checkpoint.pt"
LOG = "cell.log"
LOCK = "running.json"  # the per-cell lock (bench.results.cell_lock)

TERMINAL = ("done", "diverged")  # states a re-run keeps; "failed" cells are tried again


def atomic_write(path: Path, write: Callable[[Any], None], binary: bool = False) -> None:
    """Call write(file) on a temp file beside `path`, fsync it, then rename it over `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb" if binary else "w") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write(path, lambda f: f.write(text))


def atomic_write_json(path: Path, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True) + "\n")


def read_json(path: Path) -> Any | None:
    """The parsed file, or None when it is missing or not valid JSON (never half-written, see above)."""
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def read_result(cell_dir: Path) -> dict[str, Any] | None:
    """result.json as plain data, through its one reader (bench.results.result.parse_result): None
    when missing, unreadable or of the wrong shape. For scripts and tests; code uses CellDir."""
    from bench.results.result import parse_result

    result = parse_result(cell_dir / RESULT)
    return result.to_json() if result is not None else None


def is_finished(cell_dir: Path) -> bool:
    from bench.results.result import parse_result

    result = parse_result(cell_dir / RESULT)
    return result is not None and result.is_terminal
