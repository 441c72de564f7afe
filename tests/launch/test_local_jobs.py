"""The local launcher with --jobs: several cells at once, GPUs shared round-robin, a stop reaches all."""

from __future__ import annotations

import os
import threading
from pathlib import Path

from rich.console import Console

import bench.launch.local as local
from bench import fs
from bench.grid import load_grid
from bench.launch import execution, resources
from bench.launch.children import Children
from bench.launch.execution import Ended
from bench.storage import files as store

QUIET = Console(file=open(os.devnull, "w"))  # noqa: SIM115


def test_jobs_run_cells_side_by_side_and_share_gpus_round_robin(write_grid, tmp_path, monkeypatch) -> None:
    grid = load_grid(str(write_grid(models=["mlp_vae"], seeds=[0, 1, 2, 3], train={"steps": 5})))
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1")
    together = threading.Barrier(3, timeout=20)  # passes only if 3 cells run at the same time
    seen: list[str] = []

    def fake_cell(cell_dir: Path, progress, console, children, env_extra, timeout=None) -> Ended:
        seen.append(env_extra["CUDA_VISIBLE_DEVICES"])
        if len(seen) <= 3:
            together.wait()
        fs.atomic_write_json(cell_dir / store.RESULT, {"status": "done"})
        return Ended.ended

    monkeypatch.setattr(execution, "run_subprocess", fake_cell)
    summary = local.run_local(grid, tmp_path / "out", QUIET, jobs=3, worker="fresh")
    assert sorted(summary.states.values()) == ["done"] * 4
    # Three slots over two GPUs: slots 0 and 2 share GPU 0.
    assert sorted(seen[:3]) == ["0", "0", "1"] and seen[3] in ("0", "1")


def test_a_stop_request_reaches_every_running_cell_and_starts_no_more(
    write_grid, tmp_path, monkeypatch
) -> None:
    grid = load_grid(str(write_grid(models=["mlp_vae"], seeds=[0, 1, 2, 3], train={"steps": 5})))
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    monkeypatch.setattr(resources, "visible_gpus", lambda: [])
    launcher: dict[str, Children] = {}
    # Once two cells run, a stop arrives (as SIGTERM to the launcher would), before either can end.
    both_running = threading.Barrier(2, timeout=20, action=lambda: launcher["children"].forward(15, None))

    def fake_cell(cell_dir: Path, progress, console, children, env_extra, timeout=None) -> Ended:
        launcher["children"] = children
        both_running.wait()
        return Ended.stopped  # checkpointed and stopped, no result

    monkeypatch.setattr(execution, "run_subprocess", fake_cell)
    summary = local.run_local(grid, tmp_path / "out", QUIET, jobs=2, worker="fresh")
    assert summary.ran == [] and sorted(summary.states.values()) == ["interrupted", "interrupted"]


def test_persistent_workers_one_per_slot_each_told_its_gpu_threads_and_sharing(
    write_grid, tmp_path, monkeypatch
) -> None:
    from bench.launch.worker import WorkerEnd

    grid = load_grid(str(write_grid(models=["mlp_vae"], seeds=[0, 1, 2, 3, 4], train={"steps": 5})))
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1")
    monkeypatch.setattr(resources, "usable_cores", lambda: 6)
    started: list[dict[str, str]] = []

    class FakeWorker:
        def __init__(self, env: dict[str, str], children) -> None:
            started.append(env)
            self.cells: list[str] = []

        def run(self, cell_dir: Path, progress, say, timeout=None) -> WorkerEnd:
            fs.atomic_write_json(cell_dir / store.RESULT, {"status": "done"})
            return WorkerEnd("ended", status="done")

        def close(self) -> None:
            pass

    monkeypatch.setattr(local, "Worker", FakeWorker)
    summary = local.run_local(grid, tmp_path / "out", QUIET, jobs=3)
    assert sorted(summary.states.values()) == ["done"] * 5
    assert len(started) == 3, "one worker per slot, reused for the slot's next cells"
    by_gpu = sorted((e["CUDA_VISIBLE_DEVICES"], e["BENCH_CELLS_SHARING_DEVICE"]) for e in started)
    assert by_gpu == [("0", "2"), ("0", "2"), ("1", "1")]  # slots 0 and 2 share GPU 0
    assert {e["BENCH_CELL_THREADS"] for e in started} == {"2"} and {e["BENCH_WORKER"] for e in started} == {
        "persistent"
    }
