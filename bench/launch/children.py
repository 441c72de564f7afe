"""The cells' running processes, and the signals this launcher passes on to them.

SIGTERM or SIGUSR1 sent to the launcher goes on to every running cell (each checkpoints and stops), and
no further cell starts; the next `bench run` continues them.
"""

from __future__ import annotations

import signal
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager


class Children:
    """The cells' running processes. SIGTERM/SIGUSR1 sent to this launcher go on to all of them (each
    checkpoints and stops) and no further cell starts."""

    def __init__(self) -> None:
        self.procs: set[subprocess.Popen] = set()
        self.asked: list[int] = []
        self.lock = threading.Lock()

    @property
    def stopping(self) -> bool:
        return bool(self.asked)

    def forward(self, signum: int, frame: object) -> None:
        if signum == signal.SIGINT and self.asked:
            raise KeyboardInterrupt  # Ctrl-C twice: stop now; the cells' last checkpoints still stand
        self.asked.append(signum)
        # Ctrl-C stops like SIGTERM: each cell checkpoints and exits PREEMPTED_EXIT (75), which a cell
        # started in its own session would never hear from the terminal.
        forwarded = signal.SIGTERM if signum == signal.SIGINT else signum
        with self.lock:
            for proc in self.procs:
                proc.send_signal(forwarded)

    @contextmanager
    def forwarding(self) -> Iterator[Children]:
        if threading.current_thread() is not threading.main_thread():  # only it may set handlers
            yield self
            return
        signals = (signal.SIGTERM, signal.SIGUSR1, signal.SIGINT)
        previous = {sig: signal.signal(sig, self.forward) for sig in signals}
        try:
            yield self
        finally:
            for sig, old in previous.items():
                signal.signal(sig, old)
