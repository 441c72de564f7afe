"""Stop a cell cleanly when asked to: preemption, a time limit coming, or a local kill.

SLURM sends SIGUSR1 a configurable time before a job's end (`--signal=B:USR1@SECONDS`, forwarded by
the batch script), SIGTERM when it cancels a job, and a terminal sends SIGINT. The handler only sets a
flag; the training loop reads it between steps, saves a full checkpoint and raises `Preempted`, so
the cell stops at a step boundary with nothing half-written. A second SIGINT, seconds later,
interrupts at once (one Ctrl-C under torchrun arrives twice: from the terminal and from the agent).

Processes of one cell must stop at the same step (a rank that leaves early hangs the others in an
all-reduce), so with several processes the flag is agreed on with one all-reduce per log flush,
where the loop syncs with the host anyway.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType

import torch
from accelerate import Accelerator

PREEMPTED_EXIT = 75  # `bench cell` exit code: stopped on request, checkpoint saved, not done (EX_TEMPFAIL)
STOP_SIGNALS = (signal.SIGUSR1, signal.SIGTERM, signal.SIGINT)


class Preempted(BaseException):
    """The cell stopped on request after checkpointing at `step`.

    A BaseException, like KeyboardInterrupt, so that the handlers that record a failing cell as
    `failed` never catch it: a preempted cell is simply not done yet.
    """

    def __init__(self, step: int, signal_name: str) -> None:
        super().__init__(f"stopped by {signal_name} at step {step}; checkpoint saved")
        self.step, self.signal_name = step, signal_name


class StopRequest:
    """A flag set from a signal handler; `signal_name` says which signal set it."""

    def __init__(self) -> None:
        self.signal_name: str | None = None

    @property
    def requested(self) -> bool:
        return self.signal_name is not None

    def request(self, signal_name: str) -> None:
        self.signal_name = self.signal_name or signal_name


@contextmanager
def stop_on_signals(signals: tuple[signal.Signals, ...] = STOP_SIGNALS) -> Iterator[StopRequest]:
    """Within the block, the signals set the yielded StopRequest instead of killing the process."""
    request = StopRequest()
    previous = {sig: signal.getsignal(sig) for sig in signals}

    first_sigint: list[float] = []

    def handler(signum: int, frame: FrameType | None) -> None:
        sig = signal.Signals(signum)
        if sig is signal.SIGINT:
            if first_sigint and time.monotonic() - first_sigint[0] > 2.0:
                raise KeyboardInterrupt  # asked twice: stop now, the last checkpoint still stands
            first_sigint[:1] = first_sigint[:1] or [time.monotonic()]
        request.request(sig.name)

    for sig in signals:
        signal.signal(sig, handler)
    try:
        yield request
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def stop_check(request: StopRequest, accelerator: Accelerator) -> Callable[[int, bool], bool]:
    """The loop's `stop(step, flushed)`: whether to stop after `step`, the same answer on every rank."""
    if accelerator.num_processes == 1:
        return lambda step, flushed: request.requested

    def agreed(step: int, flushed: bool) -> bool:
        if not flushed:  # every rank flushes at the same steps, so every rank reaches this collective
            return False
        flag = torch.tensor([1.0 if request.requested else 0.0], device=accelerator.device)
        return bool(accelerator.reduce(flag, reduction="sum").item() > 0)

    return agreed
