"""A long-lived worker process per launcher slot: cells run one after another in it, so imports, dataset
tensors (bench.datasets' in-process caches) and feature extractors (bench.features.fidelity) are loaded once
per slot instead of once per cell.

The worker (`python -m bench.launch.worker`) reads cell folders from stdin, one per line, runs each
with bench.cell.run.run_cell and answers `@progress PHASE DONE TOTAL` lines while it trains, then one
`@bench-worker ended STATUS` line. Before every cell it puts back the process state it started with
(`ProcessState`: global RNGs, torch threads, grad mode, autocast, global module hooks, matmul and cuDNN
flags, environment, logging, warnings filters, accelerate's singletons, the CUDA peak-memory counter),
so a cell ends the same whether it runs first or after others (tests/launch/test_worker.py).

The launcher side (`Worker`) hands one cell at a time to its process. A worker that dies in a cell (a
crash, a kill, out of memory) or does not finish it within the time limit (a hang; it is killed) is
reported as such; the caller records the cell as failed and the next cell gets a fresh worker.
SIGUSR1/SIGTERM/SIGINT make the worker's running cell checkpoint and stop (bench/train/preempt.py);
the worker then exits.
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import random
import subprocess
import sys
import threading
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.train.progress_log import parse_progress_line, progress_line

ENDED_PREFIX = "@bench-worker ended "
TORCH_DEFAULT_SEED = 67280421310721  # what torch seeds a fresh process's CUDA generators with


def _module_hook_dicts() -> dict[str, dict]:
    """torch.nn's process-wide hook registries (register_module_forward_hook and the like)."""
    from torch.nn.modules import module

    return {n: v for n, v in vars(module).items() if n.startswith("_global_") and isinstance(v, dict)}


@dataclass
class ProcessState:
    """What a fresh process starts with and a cell may change for the next one; `restore` puts it back."""

    python_rng: Any
    numpy_rng: Any
    torch_rng: Any
    threads: int
    default_dtype: Any
    deterministic: bool
    matmul_precision: str
    cudnn: tuple[bool, bool, bool]
    autocast_dtypes: dict[str, Any]
    hooks: dict[str, dict] = field(default_factory=dict)
    environ: dict[str, str] = field(default_factory=dict)
    cwd: str = ""
    log_handlers: list[logging.Handler] = field(default_factory=list)
    log_level: int = logging.WARNING
    warning_filters: list = field(default_factory=list)

    @classmethod
    def capture(cls) -> ProcessState:
        import numpy as np
        import torch

        root = logging.getLogger()
        return cls(
            python_rng=random.getstate(),
            numpy_rng=np.random.get_state(),
            torch_rng=torch.random.get_rng_state(),
            threads=torch.get_num_threads(),
            default_dtype=torch.get_default_dtype(),
            deterministic=torch.are_deterministic_algorithms_enabled(),
            matmul_precision=torch.get_float32_matmul_precision(),
            cudnn=(
                torch.backends.cudnn.benchmark,
                torch.backends.cudnn.deterministic,
                torch.backends.cuda.matmul.allow_tf32,
            ),
            autocast_dtypes={d: torch.get_autocast_dtype(d) for d in ("cpu", "cuda")},
            hooks={n: dict(v) for n, v in _module_hook_dicts().items()},
            environ=dict(os.environ),
            cwd=os.getcwd(),
            log_handlers=list(root.handlers),
            log_level=root.level,
            warning_filters=list(warnings.filters),
        )

    def restore(self) -> None:
        import numpy as np
        import torch
        from accelerate.state import AcceleratorState, GradientState

        random.setstate(self.python_rng)
        np.random.set_state(self.numpy_rng)
        torch.random.set_rng_state(self.torch_rng)
        if torch.cuda.is_initialized():
            torch.cuda.manual_seed_all(TORCH_DEFAULT_SEED)
            torch.cuda.synchronize()
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats()  # cost.peak_memory_bytes is this cell's own peak
        torch.set_num_threads(self.threads)
        torch.set_grad_enabled(True)
        torch.set_default_dtype(self.default_dtype)
        torch.use_deterministic_algorithms(self.deterministic)
        torch.set_float32_matmul_precision(self.matmul_precision)
        (
            torch.backends.cudnn.benchmark,
            torch.backends.cudnn.deterministic,
            torch.backends.cuda.matmul.allow_tf32,
        ) = self.cudnn
        for device, dtype in self.autocast_dtypes.items():  # a cell that raised inside autocast
            torch.set_autocast_enabled(device, False)
            torch.set_autocast_dtype(device, dtype)
        torch.clear_autocast_cache()
        for name, hooks in _module_hook_dicts().items():
            hooks.clear()
            hooks.update(self.hooks.get(name, {}))
        os.environ.clear()
        os.environ.update(self.environ)
        os.chdir(self.cwd)
        root = logging.getLogger()
        for handler in [h for h in root.handlers if h not in self.log_handlers]:
            root.removeHandler(handler)
            handler.close()
        root.setLevel(self.log_level)
        warnings.filters[:] = self.warning_filters
        AcceleratorState._reset_state(reset_partial_state=True)
        GradientState._reset_state()
        _reset_peak_rss()


def _reset_peak_rss() -> None:
    """Linux: reset this process's peak resident set size, so a cell's `max_rss` is its own peak (at
    least what the worker keeps resident between cells) rather than the worker's largest cell so far."""
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")


def _progress_reporter(phase: str, done: int, total: int, values: dict[str, float] | None = None) -> None:
    # Every 1% is plenty for a progress bar and keeps the pipe quiet (as `bench cell --progress-lines`);
    # losses come once per log flush.
    if values or done == total or done % max(1, total // 100) == 0:
        print(progress_line(phase, done, total, values), flush=True)


def serve(lines: Any = None) -> int:
    """The worker's loop: one cell per line of `lines` (stdin), until EOF or a stop request."""
    if "DS_ACCELERATOR" not in os.environ:  # as `bench cell` does (bench.cli._quiet_deepspeed)
        import torch

        if not torch.cuda.is_available():
            os.environ["DS_ACCELERATOR"] = "cpu"
    from bench.cell.run import run_cell
    from bench.train.preempt import stop_on_signals

    fresh = ProcessState.capture()
    with stop_on_signals() as stop:
        for line in lines if lines is not None else sys.stdin:
            cell_dir = line.rstrip("\n")
            if not cell_dir:
                continue
            fresh.restore()
            ended = run_cell(Path(cell_dir), _progress_reporter, stop).status
            print(f"{ENDED_PREFIX}{ended}", flush=True)
            if stop.requested:
                break  # asked to stop: the launcher starts no further cell
    return 0


@dataclass(frozen=True)
class WorkerEnd:
    """How a cell given to a worker ended. kind: "ended" (the worker reported `status`: done, failed,
    diverged, preempted, busy, finished); "died" (the worker exited with `returncode` before
    reporting); "timeout" (no end within the limit: the worker was killed)."""

    kind: str
    status: str | None = None
    returncode: int | None = None


def worker_command() -> list[str]:
    """The argument list that starts a worker (tests start one with extra model families registered)."""
    return [sys.executable, "-m", "bench.launch.worker"]


class Worker:
    """The launcher's handle on one worker process; started on first use, restarted after a death."""

    def __init__(self, env: dict[str, str], children: Any) -> None:
        # children: the launcher's running processes (bench.launch.children.Children), which a stop
        # request is forwarded to; the worker is one of them while it lives.
        self.env, self.children = env, children
        self.proc: subprocess.Popen | None = None
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.cells_run = 0

    def _start(self) -> subprocess.Popen:
        proc = subprocess.Popen(
            worker_command(),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            bufsize=1,
            env=self.env,
        )
        self.lines = queue.Queue()
        lines = self.lines

        def pump() -> None:
            assert proc.stdout is not None
            for line in proc.stdout:
                lines.put(line)
            lines.put(None)

        threading.Thread(target=pump, daemon=True).start()
        self.proc, self.cells_run = proc, 0
        with self.children.lock:
            self.children.procs.add(proc)
        return proc

    def _forget(self) -> None:
        if self.proc is not None:
            with self.children.lock:
                self.children.procs.discard(self.proc)
            self.proc = None

    def run(
        self,
        cell_dir: Path,
        progress: Callable[[str, int, int], None],
        say: Callable[[str], None],
        timeout: float | None = None,
    ) -> WorkerEnd:
        """Run one cell in the worker (starting it if needed); `say` gets the worker's other output."""
        if self.proc is not None and self.proc.poll() is not None:  # it exited between cells
            self._forget()
        proc = self.proc if self.proc is not None else self._start()
        assert proc.stdin is not None
        try:
            proc.stdin.write(f"{cell_dir}\n")
            proc.stdin.flush()
        except (BrokenPipeError, OSError):
            return self._died()
        deadline = time.monotonic() + timeout if timeout else None
        while True:
            left = None if deadline is None else deadline - time.monotonic()
            try:
                if left is not None and left <= 0:
                    raise queue.Empty
                line = self.lines.get(timeout=left)
            except queue.Empty:
                self.kill()
                return WorkerEnd("timeout")
            if line is None:
                return self._died()
            if line.startswith(ENDED_PREFIX):
                self.cells_run += 1
                status = line[len(ENDED_PREFIX) :].strip()
                if status == "preempted":  # the worker exits after a stop request; reap it
                    self.close()
                return WorkerEnd("ended", status=status)
            report = parse_progress_line(line)
            if report is not None:
                progress(*report)
            else:
                say(line.rstrip("\n"))

    def _died(self) -> WorkerEnd:
        assert self.proc is not None
        returncode = self.proc.wait()
        self._forget()
        return WorkerEnd("died", returncode=returncode)

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self._forget()

    def close(self, wait: float = 30.0) -> None:
        """End the worker: EOF on its stdin, then a kill if it does not exit within `wait` seconds."""
        if self.proc is None:
            return
        with contextlib.suppress(OSError):
            assert self.proc.stdin is not None
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._forget()


if __name__ == "__main__":
    sys.exit(serve())
