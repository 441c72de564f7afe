"""One cell folder and everything in it: its config, its typed result, its files, its lock, its model.

`CellDir` is the only code that parses config.json and the only code that reads or writes result.json
(atomically, through bench.storage.files), and `CellDir.build_model` is the one factory that turns a
cell's config into its dataset source and model, for training, resuming, analysis and `bench eval`.

Its result is a `CellResult` (bench.storage.result: the schema, and how results written by older code
are read); a result.json that does not parse, or parses to the wrong shape, is no result: one warning
line, and the cell counts as not done.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from bench import fs
from bench.config import CellConfig
from bench.errors import BenchError
from bench.fs import canonical_json
from bench.storage import files as store
from bench.storage.attempts import ATTEMPTS
from bench.storage.cell_lock import CellLock, Holder, now_iso, read_holder
from bench.storage.result import CellResult, CellStatus, CostRecord, parse_result

if TYPE_CHECKING:
    import torch

    from bench.datasets.base import DatasetInfo, ImageSplit
    from bench.datasets.source import DatasetSource
    from bench.models.base import GenerativeModel

__all__ = ["BuiltModel", "CellDir", "CellResult", "CellStatus", "CostRecord", "cell_dirs", "collect_results"]


@dataclass
class BuiltModel:
    """A cell's dataset source, its info and its model (fresh, or with trained weights)."""

    source: DatasetSource
    info: DatasetInfo
    model: GenerativeModel


class CellDir:
    """The folder `out/<cell_id>/` of one cell."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"CellDir({str(self.path)!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, CellDir) and other.path == self.path

    def __hash__(self) -> int:
        return hash(self.path)

    @property
    def name(self) -> str:
        return self.path.name

    # Files -----------------------------------------------------------------------------------------
    config_path = property(lambda self: self.path / store.CONFIG)
    result_path = property(lambda self: self.path / store.RESULT)
    metrics_path = property(lambda self: self.path / store.METRICS)
    checkpoint_path = property(lambda self: self.path / store.CHECKPOINT)
    log_path = property(lambda self: self.path / store.LOG)
    lock_path = property(lambda self: self.path / store.LOCK)
    reevaluate_path = property(lambda self: self.path / store.REEVALUATE)
    curve_path = property(lambda self: self.path / store.CURVE)
    samples_path = property(lambda self: self.path / store.SAMPLES)
    losses_path = property(lambda self: self.path / store.LOSSES)

    def check_no_links(self) -> None:
        """BenchError when the folder, or a file or folder in it (tb/ included), is a symbolic link:
        every file bench writes or appends here (cell.log, checkpoint, TensorBoard events, result)
        would land wherever the link points. Called before anything is written to the folder."""
        link = fs.find_link(self.path, depth=2)
        if link is not None:
            raise BenchError(
                f"{link} is a symbolic link (to {os.readlink(link)}); bench writes only inside --out, "
                f"never through a link: remove it (or move {self.path} away) and run again"
            )

    # Config ----------------------------------------------------------------------------------------
    @cached_property
    def config(self) -> CellConfig:
        """The cell's resolved config; BenchError when the folder holds none or an unreadable one."""
        if not self.config_path.is_file():
            raise BenchError(f"{self.path}: no {store.CONFIG} here; not a cell folder")
        try:
            return CellConfig.model_validate_json(self.config_path.read_text())
        except (ValidationError, ValueError) as err:
            first = err.errors()[0]["msg"] if isinstance(err, ValidationError) else str(err)
            raise BenchError(f"{self.config_path}: not a cell configuration ({first})") from None

    def raw_config(self) -> dict[str, Any]:
        """config.json as plain data, {} when missing or unreadable (for listings that must not fail)."""
        raw = fs.read_json(self.config_path)
        return raw if isinstance(raw, dict) else {}

    def write_config(self, cfg: CellConfig) -> str:
        """Create or update config.json; returns "new", "same", "updated" (settings that do not change
        the trained weights, e.g. log_every) or "reevaluate" (evaluation settings changed on a finished
        cell: it is marked to be evaluated again from its final checkpoint, never retrained; its result
        stays result.json, shown as before, until the new one is written, see write_result). A config
        that trains differently is refused."""
        wanted = cfg.model_dump(mode="json")
        self.check_no_links()
        existing = fs.read_json(self.config_path)
        self.__dict__["config"] = cfg
        if existing is None:
            fs.atomic_write_json(self.config_path, wanted)
            return "new"
        if canonical_json(existing) == canonical_json(wanted):
            return "same"
        try:
            old = CellConfig.model_validate(existing)
        except ValidationError:
            old = None
        if old is None or canonical_json(old.training_identity()) != canonical_json(cfg.training_identity()):
            raise BenchError(
                f"{self.config_path} holds a different configuration than cell {cfg.cell_id}; "
                "move it away or use another --out"
            )
        fs.atomic_write_json(self.config_path, wanted)
        result = self.read_result()
        if old.eval != cfg.eval and result is not None and result.status is CellStatus.done:
            fs.atomic_write_json(self.reevaluate_path, {"since": now_iso()})
            return "reevaluate"
        return "updated"

    def evaluated_before(self) -> CellResult | None:
        """The result of the evaluation being replaced: result.json while a re-evaluation is due, else the
        latest result archived when the evaluation settings changed (see write_config)."""
        if self.reevaluation_due() and (current := self.read_result()) is not None and current.is_terminal:
            return current
        found = sorted(self.path.glob("result.eval-*.json"), key=lambda p: int(p.stem.split("-")[-1]))
        return parse_result(found[-1]) if found else None

    def reevaluation_due(self) -> bool:
        """Marked for evaluation under new settings (write_config); its result.json is the old one."""
        return self.reevaluate_path.exists()

    # Result ----------------------------------------------------------------------------------------
    def read_result(self) -> CellResult | None:
        return parse_result(self.result_path)

    def write_result(self, result: CellResult) -> None:
        """result.json, atomically. While a re-evaluation is due, the result it replaces is first copied
        to result.eval-N.json: a kill at any point leaves the old result readable under one of the
        two names, and result.json is never missing."""
        if self.reevaluation_due():
            old = self.read_result()
            if old is not None and old.is_terminal:
                n = len(list(self.path.glob("result.eval-*.json"))) + 1
                fs.atomic_write_json(self.path / f"result.eval-{n}.json", old.to_json())
        fs.atomic_write_json(self.result_path, result.to_json())
        self.reevaluate_path.unlink(missing_ok=True)
        (self.path / ATTEMPTS).unlink(missing_ok=True)  # counted in this result's cost (attempts.py)

    def is_finished(self) -> bool:
        """done or diverged, and not due for evaluation under new settings: a re-run keeps it."""
        r = self.read_result()
        return r is not None and r.is_terminal and not self.reevaluation_due()

    def archive_result(self) -> Path | None:
        """Move a failed (or unreadable) result aside before retrying: results are never lost. A
        finished result due for re-evaluation stays: write_result archives it when it is replaced."""
        if not self.result_path.exists():
            return None
        current = self.read_result()
        if current is None:
            return self.archive_corrupt(self.result_path)
        if current.is_terminal:
            return None
        n = len(list(self.path.glob("result.failed-*.json"))) + 1
        target = self.path / f"result.failed-{n}.json"
        self.result_path.rename(target)
        return target

    def archive_corrupt(self, path: Path) -> Path:
        """Rename an unreadable file of this cell to `<name>.corrupt-N` (N = 1, 2, ...)."""
        pattern = re.compile(re.escape(path.name) + r"\.corrupt-(\d+)$")
        taken = [int(m.group(1)) for p in self.path.iterdir() if (m := pattern.match(p.name))]
        target = path.with_name(f"{path.name}.corrupt-{max(taken, default=0) + 1}")
        path.rename(target)
        return target

    # Lock ------------------------------------------------------------------------------------------
    def lock(self) -> CellLock:
        return CellLock(self.lock_path)

    def lock_holder(self) -> Holder | None:
        return read_holder(self.lock_path)

    # Model -----------------------------------------------------------------------------------------
    def build_source(self, cfg: CellConfig | None = None) -> DatasetSource:
        from bench.datasets import DATASETS

        cfg = cfg or self.config
        source_cls = DATASETS.get(cfg.dataset)
        return source_cls(source_cls.Args.model_validate(cfg.dataset_args))

    def build_model(self, cfg: CellConfig | None = None) -> BuiltModel:
        """THE factory: the dataset source and a freshly initialised model (seeded by the cell's seed)."""
        from accelerate.utils import set_seed

        from bench.models import MODELS

        cfg = cfg or self.config
        source = self.build_source(cfg)
        info = source.info()
        family = MODELS.get(cfg.model)
        set_seed(cfg.seed)  # the nets' initial weights depend on it
        model = family(family.Config.model_validate(cfg.model_args), info, cfg.latent_size)
        return BuiltModel(source, info, model)

    def read_checkpoint(self) -> dict[str, Any]:
        """checkpoint.pt's state; BenchError when missing or unreadable (never loaded unsafely)."""
        if not self.checkpoint_path.is_file():
            raise BenchError(f"{self.path}: no {store.CHECKPOINT}; train the cell first (bench run)")
        try:
            return load_checkpoint_checked(self.checkpoint_path)
        except CorruptCheckpoint as err:
            raise BenchError(f"{self.checkpoint_path}: {err}; run the cell again to retrain it") from None

    def load_trained(self, device: torch.device | str | None = None) -> BuiltModel:
        """The model with the checkpoint's weights, in eval mode on `device` (default: GPU if any)."""
        import torch

        from bench.storage.checkpoint import restore_nets

        self.config  # noqa: B018  (a missing config is the first thing to say)
        state = self.read_checkpoint()
        built = self.build_model()
        restore_nets(state, built.model.nets)
        dev = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        for net in built.model.nets.values():
            net.to(dev)
        built.model.total_steps = int(state["step"])
        built.model.train(False)
        return built

    def split(self, name: str | None = None, source: DatasetSource | None = None) -> ImageSplit:
        from bench.datasets import DataContext

        source = source or self.build_source()
        return source.load(name or self.config.eval.split, DataContext.from_env())


class CorruptCheckpoint(Exception):
    """checkpoint.pt exists but cannot be read as one of ours."""


CHECKPOINT_KEYS = ("step", "nets", "optimizers", "stream", "rng")


def load_checkpoint_checked(path: Path) -> dict[str, Any]:
    """torch.load(weights_only=True) of a checkpoint, its shape checked. Any failure is a
    CorruptCheckpoint whose message names only the error type: torch's own text suggests loading
    with weights_only=False, which must never be done with a file of unknown origin."""
    from bench.storage.checkpoint import load_checkpoint

    try:
        state = load_checkpoint(path)
    except Exception as err:  # noqa: BLE001  (whatever torch raises, the file is unreadable)
        raise CorruptCheckpoint(f"unreadable checkpoint ({type(err).__name__})") from None
    if not isinstance(state, dict) or any(k not in state for k in CHECKPOINT_KEYS):
        raise CorruptCheckpoint("not a bench checkpoint (keys missing)")
    return state


def cell_dirs(out: Path) -> list[CellDir]:
    """Every cell folder under `out` (folders holding config.json), sorted by name."""
    # A linked folder is no cell of this study (writers refuse it, see check_no_links).
    return [CellDir(p.parent) for p in sorted(out.glob(f"*/{store.CONFIG}")) if not p.parent.is_symlink()]


def check_cell_links(out: Path, cell_ids: list[str]) -> None:
    """CellDir.check_no_links for every cell folder of a study, before a run writes anything."""
    for cell_id in cell_ids:
        CellDir(out / cell_id).check_no_links()


def collect_results(out: Path) -> list[CellResult]:
    """The readable results of every cell under `out`; cells without one are not results yet."""
    return [r for c in cell_dirs(out) if (r := c.read_result()) is not None]
