"""Cell folders: created for every cell of a grid before anything runs, so `bench status` sees them;
and the record of a cell whose process died without writing its result."""

from __future__ import annotations

import signal
from pathlib import Path

from bench.config import CellConfig
from bench.grid import Grid
from bench.results.cell_dir import CellDir, CellResult, CellStatus
from bench.results.cell_lock import now_iso
from bench.results.identity import cell_identity


def materialize(grid: Grid, out: Path) -> list[Path]:
    """Create out/<cell_id>/config.json for every cell (existing ones are left as they are)."""
    dirs = []
    for cfg in grid.cells:
        cell = CellDir(out / cfg.cell_id)
        cell.write_config(cfg)
        dirs.append(cell.path)
    return dirs


def archive_failed(cell_dir: Path) -> None:
    """Keep a failed attempt's result beside the cell before retrying it: results are never lost."""
    cell = CellDir(cell_dir)
    result = cell.read_result()
    if cell.result_path.exists() and (result is None or not result.is_terminal):
        cell.archive_result()


def load_cell(cell_dir: Path) -> CellConfig:
    return CellDir(cell_dir).config


def crash_reason(returncode: int) -> str:
    signum = -returncode if returncode < 0 else returncode - 128  # a shell reports signal N as 128 + N
    if signum in signal.valid_signals():
        sig = signal.Signals(signum)
        hint = " (out of memory?)" if sig is signal.SIGKILL else ""
        return f"process killed by {sig.name}{hint}"
    return f"process exited with code {returncode}"


def record_crash(cell_dir: Path, returncode: int, log: Path | None = None) -> None:
    """The child died without writing result.json: record why, with the end of its log. Its lock (left
    by the dead process) goes: the next run retries the cell from its checkpoint."""
    cell = CellDir(cell_dir)
    log = log or cell.log_path
    tail = log.read_text(errors="replace").splitlines()[-20:] if log.exists() else []
    cell.write_result(
        CellResult.model_validate(
            {
                **cell_identity(cell.config),
                "status": CellStatus.failed,
                "reason": crash_reason(returncode),
                "finished": now_iso(),
                "log": str(log),
                "log_tail": tail,
            }
        )
    )
    cell.lock_path.unlink(missing_ok=True)
