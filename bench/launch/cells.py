"""Cell folders: created for every cell of a grid before anything runs, so `bench status` sees them;
and the record of a cell whose process died without writing its result."""

from __future__ import annotations

import signal
from collections.abc import Callable
from pathlib import Path

from pydantic import ValidationError

from bench import fs
from bench.config import CellConfig
from bench.errors import BenchError
from bench.grid import Grid
from bench.storage import files as store
from bench.storage.cell_dir import CellDir, CellResult, CellStatus
from bench.storage.cell_lock import now_iso
from bench.storage.identity import cell_identity


def materialize(grid: Grid, out: Path, say: Callable[[str], None] | None = None) -> list[Path]:
    """Create out/<cell_id>/config.json for every cell. A folder of the same training configuration under
    an older id is renamed to the cell's id first; a finished cell asked for other evaluation settings
    gets its result archived so that it is evaluated again, never retrained (CellDir.write_config)."""
    migrate_folders(grid, out, say)
    dirs, reevaluate = [], 0
    for cfg in grid.cells:
        cell = CellDir(out / cfg.cell_id)
        reevaluate += cell.write_config(cfg) == "reevaluate"
        dirs.append(cell.path)
    if reevaluate and say is not None:
        say(f"{reevaluate} finished cell(s): new evaluation settings, evaluated again (not retrained)")
    return dirs


def migrate_folders(grid: Grid, out: Path, say: Callable[[str], None] | None = None) -> list[Path]:
    """Rename cell folders written under an older id (another id scheme, or model arguments added since
    with their defaults) to the id their configuration has now, so that finished work is found again.
    A folder whose lock a live process holds is left alone."""
    wanted = {c.cell_id for c in grid.cells if not (out / c.cell_id).exists()}
    if not wanted or not out.is_dir():
        return []
    moved = []
    for folder in sorted(
        p for p in out.iterdir() if p.is_dir() and not p.is_symlink() and p.name not in wanted
    ):
        cfg = _current_config(folder)
        if cfg is None or cfg.cell_id not in wanted or cfg.cell_id == folder.name:
            continue
        if CellDir(folder).lock_holder() is not None:
            continue
        target = out / cfg.cell_id
        folder.rename(target)
        # Written as this version resolves it (new arguments at their defaults), its own eval settings
        # kept: materialize then compares them with the grid's like any other cell's.
        fs.atomic_write_json(target / store.CONFIG, cfg.model_dump(mode="json"))
        wanted.discard(cfg.cell_id)
        moved.append(target)
        if say is not None:
            say(
                f"{folder.name}: renamed to {target.name} (same training configuration, id from this version)"
            )
    return moved


def _current_config(folder: Path) -> CellConfig | None:
    """The folder's config as this version resolves it (new arguments at their defaults), or None."""
    from bench.datasets import DATASETS
    from bench.models import MODELS

    raw = fs.read_json(folder / store.CONFIG)
    if not isinstance(raw, dict):
        return None
    try:
        cfg = CellConfig.model_validate(raw)
        family, source = MODELS.get(cfg.model), DATASETS.get(cfg.dataset)
        model_args = family.Config.model_validate(cfg.model_args).model_dump(mode="json")
        dataset_args = source.Args.model_validate(cfg.dataset_args).model_dump(mode="json")
    except (ValidationError, BenchError):
        return None
    return cfg.model_copy(update={"model_args": model_args, "dataset_args": dataset_args})


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


def record_crash(cell_dir: Path, returncode: int, log: Path | None = None, reason: str | None = None) -> None:
    """The child died without writing result.json: record why (`reason`, else from its exit status),
    with the end of its log. Its lock (left by the dead process) goes: the next run retries the cell
    from its checkpoint."""
    cell = CellDir(cell_dir)
    log = log or cell.log_path
    tail = log.read_text(errors="replace").splitlines()[-20:] if log.exists() else []
    cell.write_result(
        CellResult.model_validate(
            {
                **cell_identity(cell.config),
                "status": CellStatus.failed,
                "reason": reason or crash_reason(returncode),
                "finished": now_iso(),
                "log": str(log),
                "log_tail": tail,
            }
        )
    )
    cell.lock_path.unlink(missing_ok=True)
