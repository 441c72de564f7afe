"""TensorBoard event files of a cell, in `<cell>/tb/` beside metrics.jsonl: `tensorboard --logdir results`.

Two writers feed one SummaryWriter per cell folder and process:

- `TensorBoardSink`, a StepLog sink: every flushed row (losses, gradient norms, whatever a family
  logs) as scalars `train/<name>`. It runs on flush steps only, with the host floats StepLog already
  copied, so TensorBoard adds no device sync to a training step (about 0.1 ms per value on a busy
  2-core CPU: 5 ms for a flush of 10 steps x 6 values).
- `log_curve_point`, for the training-curve evaluation: its metrics as `eval/<name>` and the model's
  sample grid (what samples.png shows, labelled rows included) as the image `samples`, at that step.

A resumed cell opens its writer with `purge_step` = the checkpoint's step: TensorBoard then hides what
the interrupted attempt logged after that step, as metrics.jsonl is truncated there.
"""

from __future__ import annotations

import atexit
import math
from numbers import Real
from pathlib import Path
from typing import Any

import torch

from bench.models.base import SampleGrid

TB_DIR = "tb"
FLUSH_SECONDS = 10
_writers: dict[Path, Any] = {}


def writer_for(cell_dir: Path, purge_step: int | None = None) -> Any:
    """The SummaryWriter of `<cell_dir>/tb` in this process (opened on first use; `purge_step` counts
    only then)."""
    log_dir = (Path(cell_dir) / TB_DIR).resolve()
    writer = _writers.get(log_dir)
    if writer is None:
        from torch.utils.tensorboard import SummaryWriter  # imports tensorboard: only where used

        # Events reach the file within FLUSH_SECONDS from the writer's own thread: a flush per sink call
        # would cost a write on the training thread at every log flush.
        writer = SummaryWriter(str(log_dir), purge_step=purge_step, flush_secs=FLUSH_SECONDS)
        _writers[log_dir] = writer
    return writer


def close(cell_dir: Path | None = None) -> None:
    """Flush and close the writer of one cell (all writers when None); a later call opens a new one."""
    dirs = list(_writers) if cell_dir is None else [(Path(cell_dir) / TB_DIR).resolve()]
    for d in dirs:
        writer = _writers.pop(d, None)
        if writer is not None:
            writer.close()


atexit.register(close)


def _scalars(values: dict[str, Any]) -> dict[str, float]:
    """The real-number entries (protocol strings, lists and flags are not curves)."""
    return {k: float(v) for k, v in values.items() if isinstance(v, Real) and not isinstance(v, bool)}


class TensorBoardSink:
    """StepLog sink: `StepLog(path, reduce, sinks=[TensorBoardSink(cell_dir, purge_step=start)])`."""

    def __init__(self, cell_dir: Path, purge_step: int | None = None) -> None:
        self.cell_dir = Path(cell_dir)
        self.writer = writer_for(self.cell_dir, purge_step)  # now, so the purge precedes any new event

    def __call__(self, rows: list[dict[str, float]]) -> None:
        for row in rows:
            step = int(row["step"])
            for name, value in _scalars(row).items():
                if name != "step":
                    # NaN is written as NaN: the curve shows the step where a run diverged.
                    self.writer.add_scalar(f"train/{name}", value, step)


def _grid(images: torch.Tensor, nrow: int = 8, max_images: int = 64) -> torch.Tensor:
    """float CHW in [0, 1]: uint8 images as they are, float images read as [-1, 1] (model.sample)."""
    from torchvision.utils import make_grid

    x = images[:max_images].detach().cpu()
    x = x.float() / 255 if x.dtype == torch.uint8 else (x.float().clamp(-1, 1) + 1) / 2
    if x.shape[1] == 1:
        x = x.repeat(1, 3, 1, 1)
    return make_grid(x, nrow=nrow, padding=2, pad_value=1.0)


def log_curve_point(
    cell_dir: Path,
    step: int,
    metrics: dict[str, Any],
    images: torch.Tensor | SampleGrid | None = None,
) -> None:
    """One point of the training curve: each real-valued metric as `eval/<name>` and, with `images`
    (a model's SampleGrid, or NCHW float in [-1, 1] or uint8), up to 64 of them as the image `samples`,
    at `step`."""
    writer = writer_for(cell_dir)
    for name, value in _scalars(metrics).items():
        if name != "step" and math.isfinite(value):
            writer.add_scalar(f"eval/{name}", value, int(step))
    if isinstance(images, SampleGrid):
        from bench.train.sample_sheet import sheet

        images, nrow = sheet(images)
        writer.add_image("samples", _grid(images, nrow, max_images=len(images)), int(step), dataformats="CHW")
    elif images is not None and len(images):
        writer.add_image("samples", _grid(images), int(step), dataformats="CHW")
