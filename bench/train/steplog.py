"""Per-step losses kept on the device and written in bursts: one host sync per `every` steps.

A `.item()` per loss per step would stall a GPU pipeline every step; instead each step's values are
stacked into one small tensor, and a flush moves all pending steps to the host at once, appends them
to metrics.jsonl and checks them for NaN/inf.

With several processes each computes losses on its share of the batch; `reduce` (a mean over
processes, one collective per flush) makes the logged values those of the whole batch, as one process
would log them, and lets every process see a NaN at once, so all of them stop together.

Sinks see every flushed row after it is written (TensorBoard event files, progress lines in the log):
they get host floats, so they add no device sync of their own.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path

import torch


class Diverged(RuntimeError):
    """A logged loss became NaN or infinite."""


# Called with the rows of one flush ({"step": int, name: float, ...}), in step order.
Sink = Callable[[list[dict[str, float]]], None]


class StepLog:
    def __init__(
        self,
        path: Path | None,
        reduce: Callable[[torch.Tensor], torch.Tensor] | None = None,
        sinks: Sequence[Sink] = (),
    ) -> None:
        """`path` None: check, do not write (processes other than the first). `sinks` get each flush's
        rows after metrics.jsonl, including a row holding NaN (so the curve shows where it broke)."""
        self.path, self.reduce, self.sinks = path, reduce, list(sinks)
        self._sums: dict[str, torch.Tensor] = {}
        self._counts: dict[str, int] = defaultdict(int)
        self._pending: list[tuple[int, tuple[str, ...], torch.Tensor]] = []

    def add(self, phase: str, values: dict[str, torch.Tensor]) -> None:
        """Accumulate one phase's outputs; repeated phases (critic steps) are averaged per step."""
        for key, value in values.items():
            name = key if phase == "main" else f"{phase}/{key}"
            v = value.detach().float()
            self._sums[name] = self._sums[name] + v if name in self._sums else v
            self._counts[name] += 1

    def end_step(self, step: int) -> None:
        keys = tuple(self._sums)
        row = torch.stack([self._sums[k] / self._counts[k] for k in keys])
        self._pending.append((step, keys, row))
        self._sums.clear()
        self._counts.clear()

    def flush(self) -> list[dict[str, float]]:
        """Write pending steps (one device->host copy for all of them); raise Diverged on NaN/inf."""
        if not self._pending:
            return []
        values = torch.cat([row for _, _, row in self._pending])
        values = (self.reduce(values) if self.reduce is not None else values).cpu().tolist()
        rows, i = [], 0
        for step, keys, _ in self._pending:
            row = {"step": step, **dict(zip(keys, values[i : i + len(keys)], strict=True))}
            i += len(keys)
            rows.append(row)
        self._pending.clear()
        if self.path is not None:
            with self.path.open("a") as f:
                f.writelines(json.dumps(r) + "\n" for r in rows)
        for sink in self.sinks:
            sink(rows)
        for r in rows:
            bad = [k for k, v in r.items() if k != "step" and not math.isfinite(v)]
            if bad:
                raise Diverged(f"{bad[0]} became {r[bad[0]]} at step {r['step']}")
        return rows
