"""Running cells: outputs, determinism, skip-if-done, failures and divergence recorded, kills redone."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from rich.console import Console

from bench.datasets.batches import Batch
from bench.grid import load_grid
from bench.launch.local import run_local
from bench.models import MODELS
from bench.models.mlp_vae import MLPVAE
from bench.storage import files as store

QUIET = Console(file=open("/dev/null", "w"))  # noqa: SIM115


def run(grid_path: Path, out: Path, sets: list[str] | None = None):
    return run_local(load_grid(str(grid_path), sets), out, QUIET, in_process=True)


def test_a_cell_writes_every_promised_file(write_grid, tmp_path: Path) -> None:
    out = tmp_path / "out"
    run(write_grid(models=["mlp_vae"]), out)
    (cell,) = out.iterdir()
    for name in (
        "config.json",
        "metrics.jsonl",
        "checkpoint.pt",
        "samples.png",
        "losses.png",
        "cell.log",
        "result.json",
    ):
        assert (cell / name).is_file(), name
    assert not (cell / store.LOCK).exists()
    assert not list(cell.glob(".*.tmp"))
    r = store.read_result(cell)
    assert r["status"] == "done" and r["train"]["steps"] == 24
    for key in ("fd_digits", "kid_digits", "coverage_digits", "class_kl_digits"):
        assert torch.isfinite(torch.tensor(r["metrics"][key])), key
    assert (
        r["protocol"]["extractor"] == "domain:digits:classes:10"
        and len(r["protocol"]["extractor_sha256"]) == 64
    )
    assert r["protocol"]["n_generated"] == 120 and r["protocol"]["n_real"] == 360
    rows = [json.loads(line) for line in (cell / "metrics.jsonl").read_text().splitlines()]
    assert [row["step"] for row in rows] == list(range(24))
    assert {"loss", "recon", "kl"} <= set(rows[0])


def test_same_cell_twice_gives_identical_metrics(write_grid, tmp_path: Path) -> None:
    grid = write_grid(models=[{"dcgan": {"g_width": 8, "d_width": 8}}])
    run(grid, tmp_path / "a")
    run(grid, tmp_path / "b")
    (a,), (b,) = (tmp_path / "a").iterdir(), (tmp_path / "b").iterdir()
    assert (a / "metrics.jsonl").read_text() == (b / "metrics.jsonl").read_text()
    assert store.read_result(a)["metrics"] | {"eval_seconds": 0} == store.read_result(b)["metrics"] | {
        "eval_seconds": 0
    }


def test_rerun_skips_done_cells(write_grid, tmp_path: Path) -> None:
    grid, out = write_grid(), tmp_path / "out"
    first = run(grid, out)
    assert len(first.ran) == 2
    stamps = {p: p.stat().st_mtime_ns for p in out.glob("*/result.json")}
    second = run(grid, out)
    assert second.ran == [] and len(second.skipped) == 2
    assert stamps == {p: p.stat().st_mtime_ns for p in out.glob("*/result.json")}


class _Exploding(MLPVAE):
    def training_step(self, batch: Batch, phase: str) -> dict[str, torch.Tensor]:
        raise RuntimeError("boom in the forward pass")


class _Diverging(MLPVAE):
    def training_step(self, batch: Batch, phase: str) -> dict[str, torch.Tensor]:
        out = super().training_step(batch, phase)
        return {**out, "loss": out["loss"] * float("nan")}


@pytest.fixture
def broken_models():
    MODELS.register("test_exploding")(_Exploding)
    MODELS.register("test_diverging")(_Diverging)
    yield
    for name in ("test_exploding", "test_diverging"):
        MODELS._items.pop(name)


def test_failed_and_diverged_cells_are_recorded_and_the_grid_goes_on(
    broken_models, write_grid, tmp_path
) -> None:
    out = tmp_path / "out"
    summary = run(write_grid(models=["test_exploding", "test_diverging", "mlp_vae"]), out)
    states = {cid.split("_digits")[0]: s for cid, s in summary.states.items()}
    assert states == {"test_exploding": "failed", "test_diverging": "diverged", "mlp_vae": "done"}
    by_model = {r["model"]: r for r in (store.read_result(p.parent) for p in out.glob("*/result.json"))}
    assert by_model["test_exploding"]["reason"] == "RuntimeError: boom in the forward pass"
    assert "Traceback" in Path(by_model["test_exploding"]["log"]).read_text()
    assert by_model["test_diverging"]["reason"].startswith("loss became nan at step 0")

    # A re-run keeps done and diverged cells, and tries the failed one again, keeping the old result.
    again = run(write_grid(models=["test_exploding", "test_diverging", "mlp_vae"]), out)
    assert [c.split("_digits")[0] for c in again.ran] == ["test_exploding"]
    (failed_dir,) = [p.parent for p in out.glob("test_exploding*/config.json")]
    assert (failed_dir / "result.failed-1.json").is_file()


def test_a_killed_cell_leaves_no_result_and_is_continued(write_grid, tmp_path: Path) -> None:
    out = tmp_path / "out"
    grid = load_grid(
        str(
            write_grid(
                models=["mlp_vae"],
                train={"steps": 1500, "batch_size": 8, "log_every": 50, "checkpoint_every": 50},
            )
        )
    )
    from bench.launch.cells import materialize

    (cell,) = materialize(grid, out)
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench", "cell", str(cell)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.time() + 120
    while not (cell / store.CHECKPOINT).exists() and time.time() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert (cell / store.CHECKPOINT).exists(), "the cell never reached its first checkpoint"
    assert not (cell / store.RESULT).exists()
    from bench.storage.status import cell_state

    assert cell_state(cell).state == "interrupted"

    summary = run_local(grid, out, QUIET, in_process=True)
    assert summary.ran == [cell.name]
    r = store.read_result(cell)
    assert r["status"] == "done" and r["train"]["resumed_from"] >= 50
    steps = [json.loads(line)["step"] for line in (cell / store.METRICS).read_text().splitlines()]
    assert steps == list(range(1500)), "rows logged after the checkpoint were not replaced exactly once"


def test_resumed_training_is_bitwise_identical_to_uninterrupted(
    write_grid, tmp_path: Path, monkeypatch
) -> None:
    import bench.cell.training as cell_mod

    grid = write_grid(models=[{"dcgan": {"g_width": 8, "d_width": 8}}])
    run(grid, tmp_path / "straight")

    real_fit = cell_mod.fit

    def fit_then_die(*args, **kwargs):
        on_flush = kwargs["on_flush"]

        def flush_and_maybe_die(step: int) -> None:
            on_flush(step)
            if step == 16:
                raise KeyboardInterrupt  # an interrupt records nothing and keeps the checkpoint

        return real_fit(*args, **{**kwargs, "on_flush": flush_and_maybe_die})

    monkeypatch.setattr(cell_mod, "fit", fit_then_die)
    with pytest.raises(KeyboardInterrupt):
        run(grid, tmp_path / "resumed")
    monkeypatch.setattr(cell_mod, "fit", real_fit)
    run(grid, tmp_path / "resumed")

    (a,), (b,) = (tmp_path / "straight").iterdir(), (tmp_path / "resumed").iterdir()
    assert store.read_result(b)["train"]["resumed_from"] == 16
    wa = torch.load(a / store.CHECKPOINT, weights_only=True)["nets"]
    wb = torch.load(b / store.CHECKPOINT, weights_only=True)["nets"]
    for net in wa:
        for k in wa[net]:
            assert torch.equal(wa[net][k], wb[net][k]), f"{net}.{k}"
    assert (a / store.METRICS).read_text() == (b / store.METRICS).read_text()
