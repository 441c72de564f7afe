"""Persistent workers (bench.launch.worker): cells one after another in one process end exactly as a
cell run first does; a crash or a hang is recorded for its cell and a fresh worker takes the next."""

from __future__ import annotations

import json
import logging
import os
import random
import sys
import threading
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from rich.console import Console

import bench.launch.worker as worker_mod
from bench.grid import load_grid
from bench.launch.cells import materialize
from bench.launch.local import run_cells
from bench.launch.worker import ProcessState, Worker
from bench.models import MODELS
from bench.models.mlp_vae import MLPVAE
from bench.storage import files as store

QUIET = Console(file=open(os.devnull, "w"))  # noqa: SIM115
SMALL = {"steps": 8, "batch_size": 16, "log_every": 4}
# VAEs' own test metrics (ELBO, reconstruction): scores that need no domain classifier, so these tests
# do not train one.
OWN_METRICS = {"metrics": [], "n_samples": 60, "batch_size": 60}


def _children() -> SimpleNamespace:
    return SimpleNamespace(lock=threading.Lock(), procs=set())


def test_restore_puts_back_what_a_cell_may_change() -> None:
    before = ProcessState.capture()
    expected_rand = (random.random(), np.random.rand(), torch.rand(1))
    before.restore()
    threads = torch.get_num_threads()
    torch.manual_seed(5), random.seed(5), np.random.seed(5)
    torch.set_num_threads(1 if threads > 1 else 2)
    hook = torch.nn.modules.module.register_module_forward_hook(lambda m, i, o: o * 0)
    torch.set_grad_enabled(False)
    torch.set_autocast_enabled("cpu", True)
    torch.set_float32_matmul_precision("medium")
    os.environ["BENCH_TEST_LEAK"] = "1"
    handler = logging.StreamHandler()
    logging.getLogger().addHandler(handler)
    try:
        before.restore()
        assert (random.random(), np.random.rand(), torch.rand(1)) == expected_rand
        assert torch.get_num_threads() == threads and torch.is_grad_enabled()
        assert not torch.is_autocast_enabled("cpu")
        assert torch.get_float32_matmul_precision() == before.matmul_precision
        assert "BENCH_TEST_LEAK" not in os.environ and handler not in logging.getLogger().handlers
        net = torch.nn.Linear(2, 2)
        assert net(torch.ones(1, 2)).abs().sum() > 0, "the global forward hook is gone"
    finally:
        hook.remove()
        os.environ.pop("BENCH_TEST_LEAK", None)
        before.restore()


def _metrics(cell: Path) -> tuple[dict, list[dict]]:
    result = store.read_result(cell)
    assert result["status"] == "done", result
    rows = [json.loads(line) for line in (cell / store.METRICS).read_text().splitlines()]
    timing = {k for k in result["metrics"] if k.endswith("_seconds")}
    return {k: v for k, v in result["metrics"].items() if k not in timing}, rows


def test_a_cell_after_others_in_one_worker_ends_as_when_run_first(write_grid, tmp_path: Path) -> None:
    alone = load_grid(str(write_grid("a.yaml", models=["mlp_vae"], train=SMALL, eval=OWN_METRICS)))
    # Cells of another family (convolutions, BatchNorm) and another thread count run first.
    others = load_grid(
        str(
            write_grid(
                "b.yaml",
                models=["conv_vae", "mlp_vae"],
                seeds=[1],
                train={**SMALL, "threads": 1},
                eval=OWN_METRICS,
            )
        )
    )
    (first,) = materialize(alone, tmp_path / "first")
    later = materialize(others, tmp_path / "later") + materialize(alone, tmp_path / "later")
    w = Worker({**os.environ, "PYTHONUNBUFFERED": "1"}, _children())
    try:
        assert w.run(first, lambda *a: None, print).status == "done"
        w.close()
        ends = [w.run(d, lambda *a: None, print) for d in later]
        assert [e.status for e in ends] == ["done"] * 3 and w.cells_run == 3, "one worker ran all three"
    finally:
        w.close()
    assert later[-1].name == first.name
    metrics, rows = _metrics(first)
    assert metrics and _metrics(later[-1]) == (metrics, rows)


class _Crashing(MLPVAE):
    def training_step(self, batch, phase):
        os._exit(3)  # as a segfault or an abort in native code would: no traceback, no result


class _Hanging(MLPVAE):
    def training_step(self, batch, phase):
        threading.Event().wait()


WORKER_SCRIPT = """
import sys
sys.path.insert(0, {tests!r})
from tests.launch.test_worker import _register
_register()
from bench.launch.worker import serve
sys.exit(serve())
"""


def _register() -> None:
    MODELS.register("test_worker_crash")(_Crashing)
    MODELS.register("test_worker_hang")(_Hanging)


@pytest.fixture
def failing_families(tmp_path: Path, monkeypatch):
    _register()
    script = tmp_path / "worker_with_failing_families.py"
    script.write_text(WORKER_SCRIPT.format(tests=str(Path(__file__).resolve().parents[2])))
    monkeypatch.setattr(worker_mod, "worker_command", lambda: [sys.executable, str(script)])
    yield
    for name in ("test_worker_crash", "test_worker_hang"):
        MODELS._items.pop(name)


def test_a_crash_is_recorded_and_a_fresh_worker_takes_the_next_cell(
    failing_families, write_grid, tmp_path: Path
) -> None:
    grid = load_grid(str(write_grid(models=["test_worker_crash", "mlp_vae"], train=SMALL, eval=OWN_METRICS)))
    summary = run_cells(materialize(grid, tmp_path / "out"), "g", QUIET, worker="persistent")
    states = {name.split("_digits")[0]: s for name, s in summary.states.items()}
    assert states == {"test_worker_crash": "failed", "mlp_vae": "done"}
    (crashed,) = (tmp_path / "out").glob("test_worker_crash_*")
    assert store.read_result(crashed)["reason"] == "process exited with code 3"
    assert not (crashed / store.LOCK).exists(), "the dead worker's lock is gone: a re-run retries it"


def test_a_hang_is_killed_at_the_time_limit_and_recorded(failing_families, write_grid, tmp_path) -> None:
    grid = load_grid(str(write_grid(models=["test_worker_hang"], train=SMALL, eval=OWN_METRICS)))
    summary = run_cells(materialize(grid, tmp_path / "out"), "g", QUIET, worker="persistent", cell_timeout=12)
    assert list(summary.states.values()) == ["failed"]
    (hung,) = (tmp_path / "out").glob("test_worker_hang_*")
    assert store.read_result(hung)["reason"].startswith("timed out: no end within 12 s")
