"""`bench run` exit codes (0 all done, 2 bad input, 3 a cell failed or diverged, 4 left to another run,
75 stopped with checkpoints) and the inputs it refuses before writing anything."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
import torch
from rich.console import Console

from bench.commands.run import StudyOptions, run_study
from bench.launch.base import EXIT_BUSY, EXIT_CELLS_FAILED, EXIT_OK, EXIT_STOPPED, LaunchSummary
from bench.models import MODELS
from bench.models.mlp_vae import MLPVAE
from bench.storage import files as store

QUIET = Console(file=open(os.devnull, "w"))  # noqa: SIM115


def bench(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "bench", *args], capture_output=True, text=True, timeout=timeout
    )


class _Exploding(MLPVAE):
    def training_step(self, batch, phase):
        raise RuntimeError("boom")


@pytest.fixture
def exploding():
    MODELS.register("test_exit_exploding")(_Exploding)
    yield
    MODELS._items.pop("test_exit_exploding")


def test_a_failed_cell_makes_the_run_exit_3_and_all_done_exits_0(exploding, write_grid, tmp_path) -> None:
    out = tmp_path / "out"
    opts = StudyOptions(
        grid=str(write_grid(models=["test_exit_exploding", "mlp_vae"])), out=out, in_process=True
    )
    assert run_study(opts, QUIET) == EXIT_CELLS_FAILED
    opts = StudyOptions(grid=str(write_grid(name="ok.yaml", models=["mlp_vae"])), out=out, in_process=True)
    assert run_study(opts, QUIET) == EXIT_OK  # the done cell again, skipped: every cell of this grid is done


def test_exit_code_precedence() -> None:
    def code(*states: str) -> int:
        return LaunchSummary("local", states={str(i): s for i, s in enumerate(states)}).exit_code

    assert code("done", "done") == EXIT_OK
    assert code("done", "diverged") == code("failed") == EXIT_CELLS_FAILED
    assert code("done", "busy") == EXIT_BUSY
    assert code("failed", "interrupted", "busy") == EXIT_STOPPED


def test_sigterm_stops_the_run_with_checkpoints_and_exit_75(write_grid, tmp_path) -> None:
    out = tmp_path / "out"
    grid = write_grid(models=["mlp_vae"], train={"steps": 4000, "batch_size": 8, "log_every": 10})
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench", "run", "--grid", str(grid), "--out", str(out)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.time() + 240
    while not list(out.glob(f"*/{store.METRICS}")) and time.time() < deadline and proc.poll() is None:
        time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == EXIT_STOPPED, err
    (cell,) = [p.parent for p in out.glob(f"*/{store.CONFIG}")]
    assert not (cell / store.RESULT).exists()
    assert torch.load(cell / store.CHECKPOINT, weights_only=True)["step"] > 0


def test_an_out_that_is_a_file_or_under_one_is_refused_and_nothing_written(write_grid, tmp_path) -> None:
    grid = str(write_grid(models=["mlp_vae"]))
    afile = tmp_path / "results.txt"
    afile.write_text("x")
    for out, says in ((afile, "is a file"), (afile / "sub" / "dir", "which is a file")):
        done = bench("run", "--grid", grid, "--out", str(out))
        assert done.returncode == 2 and says in done.stderr, done.stderr
        assert len(done.stderr.strip().splitlines()) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["grid.yaml", "results.txt"]
    assert afile.read_text() == "x"
    board = bench("leaderboard", "--out", str(afile))
    assert board.returncode == 2 and "is not a directory" in board.stderr
    folder = bench("run", "--grid", str(tmp_path), "--out", str(tmp_path / "o"))
    assert folder.returncode == 2 and "is a directory" in folder.stderr and not (tmp_path / "o").exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusal on a machine without a GPU")
def test_cuda_without_a_gpu_is_refused_before_a_local_run_writes_anything(write_grid, tmp_path) -> None:
    grid = write_grid(models=["mlp_vae"], train={"steps": 10, "batch_size": 16, "device": "cuda"})
    done = bench("run", "--grid", str(grid), "--out", str(tmp_path / "out"))
    assert done.returncode == 2 and "ask for cuda" in done.stderr and "no GPU is visible" in done.stderr
    assert not (tmp_path / "out").exists()
    # Submitting to SLURM is not refused for it: the GPUs are on the compute nodes (dry run: no cluster).
    dry = bench(
        "run", "--grid", str(grid), "--out", str(tmp_path / "out"), "--launcher", "slurm", "--dry-run"
    )
    assert dry.returncode == 0, dry.stderr
