"""Cell folders: created for every cell of a grid before anything runs, so `bench status` sees them."""

from __future__ import annotations

import signal
from pathlib import Path

from bench.config import CellConfig, canonical_json
from bench.errors import BenchError
from bench.grid import Grid
from bench.results import store
from bench.results.identity import cell_identity


def materialize(grid: Grid, out: Path) -> list[Path]:
    """Create out/<cell_id>/config.json for every cell (existing ones are left as they are)."""
    dirs = []
    for cell in grid.cells:
        d = out / cell.cell_id
        cfg_path = d / store.CONFIG
        existing = store.read_json(cfg_path)
        wanted = cell.model_dump(mode="json")
        if existing is not None and canonical_json(existing) != canonical_json(wanted):
            raise BenchError(
                f"{cfg_path} holds a different configuration than cell {cell.cell_id}; "
                "move it away or use another --out"
            )
        if existing is None:
            store.atomic_write_json(cfg_path, wanted)
        dirs.append(d)
    return dirs


def archive_failed(cell_dir: Path) -> None:
    """Keep a failed attempt's result beside the cell before retrying it: results are never lost."""
    result = cell_dir / store.RESULT
    if result.exists():
        n = len(list(cell_dir.glob("result.failed-*.json"))) + 1
        result.rename(cell_dir / f"result.failed-{n}.json")


def load_cell(cell_dir: Path) -> CellConfig:
    return CellConfig.model_validate_json((cell_dir / store.CONFIG).read_text())


def record_crash(cell_dir: Path, returncode: int, log: Path | None = None) -> None:
    """The child died without writing result.json: record why, with the end of its log."""
    cfg = load_cell(cell_dir)
    log = log or cell_dir / store.LOG
    tail = log.read_text(errors="replace").splitlines()[-20:] if log.exists() else []
    signum = -returncode if returncode < 0 else returncode - 128  # a shell reports signal N as 128 + N
    if signum in signal.valid_signals():
        sig = signal.Signals(signum)
        hint = " (out of memory?)" if sig is signal.SIGKILL else ""
        reason = f"process killed by {sig.name}{hint}"
    else:
        reason = f"process exited with code {returncode}"
    store.atomic_write_json(
        cell_dir / store.RESULT,
        {
            **cell_identity(cfg),
            "status": "failed",
            "reason": reason,
            "log": str(log),
            "log_tail": tail,
        },
    )
    (cell_dir / store.LOCK).unlink(missing_ok=True)
