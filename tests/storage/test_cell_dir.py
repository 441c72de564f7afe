"""The cell folder owner: one config parser, one result schema (old results migrate, broken ones are
no result), the lock that lets one process hold a cell, and recovery from unreadable files."""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from rich.console import Console

from bench import fs
from bench.errors import BenchError
from bench.grid import load_grid
from bench.launch.cells import materialize
from bench.launch.local import run_local
from bench.reporting import leaderboard
from bench.storage import files as store
from bench.storage.cell_dir import CellDir, CellResult, CellStatus, collect_results
from bench.storage.cell_lock import CellLock, read_holder

QUIET = Console(file=open(os.devnull, "w"))  # noqa: SIM115


def test_an_old_result_without_new_fields_reads_with_defaults(tmp_path: Path) -> None:
    cell = CellDir(tmp_path / "c")
    fs.atomic_write_json(cell.result_path, {"status": "done", "model": "mlp_vae", "metrics": {"fd": 3}})
    r = cell.read_result()
    assert r is not None and r.status is CellStatus.done and r.is_terminal
    assert r.model_label == "mlp_vae" and r.metrics == {"fd": 3.0} and r.cost is None
    assert cell.is_finished() and store.read_result(cell.path)["model_label"] == "mlp_vae"


@pytest.mark.parametrize("text", ["[1, 2]", '{"status": "exploded"}', "{not json", '{"metrics": 3}', "\xff"])
def test_a_result_of_the_wrong_shape_is_no_result_with_one_warning(tmp_path, caplog, text) -> None:
    fs.atomic_write_json(tmp_path / "c" / store.CONFIG, {"model": "m"})
    (tmp_path / "c" / store.RESULT).write_text(text, errors="surrogateescape")
    cell = CellDir(tmp_path / "c")
    with caplog.at_level(logging.WARNING):
        assert cell.read_result() is None
        assert cell.read_result() is None and not cell.is_finished()
        assert collect_results(tmp_path) == [] and leaderboard.collect(tmp_path) == []
    warned = [r.getMessage() for r in caplog.records if "treated as no result" in r.getMessage()]
    assert len(warned) == 1 and str(cell.result_path) in warned[0]


def test_status_and_leaderboard_commands_survive_a_broken_result(write_grid, tmp_path) -> None:
    out = tmp_path / "out"
    (cell,) = materialize(load_grid(str(write_grid(models=["mlp_vae"]))), out)
    (cell / store.RESULT).write_text("[1, 2]")
    for args in (["status"], ["leaderboard"]):
        done = subprocess.run(
            [sys.executable, "-m", "bench", *args, "--out", str(out)], capture_output=True, text=True
        )
        assert "Traceback" not in done.stderr, done.stderr
        assert "treated as no result" in done.stderr
    assert "1 pending" in subprocess.run(
        [sys.executable, "-m", "bench", "status", "--out", str(out)], capture_output=True, text=True
    ).stdout.replace("\n", " ")


def test_a_result_round_trips_and_keeps_extra_keys(tmp_path: Path) -> None:
    cell = CellDir(tmp_path / "c")
    r = CellResult.model_validate({"status": "failed", "reason": "boom", "ema": {"fd": 1.5}})
    cell.write_result(r)
    back = cell.read_result()
    assert back == r and back.to_json()["ema"] == {"fd": 1.5} and not back.is_terminal
    assert not list(cell.path.glob(".*.tmp"))
    assert cell.archive_result() == cell.path / "result.failed-1.json" and cell.read_result() is None


def test_config_is_parsed_in_one_place_with_one_line_errors(write_grid, tmp_path) -> None:
    grid = load_grid(str(write_grid(models=["mlp_vae"])))
    (path,) = materialize(grid, tmp_path)
    cell = CellDir(path)
    assert cell.config == grid.cells[0]
    with pytest.raises(BenchError, match="no config.json here; not a cell folder"):
        _ = CellDir(tmp_path / "nowhere").config
    (path / store.CONFIG).write_text('{"model": 1}')
    with pytest.raises(BenchError, match="config.json: not a cell configuration"):
        _ = CellDir(path).config
    built = CellDir(tmp_path / "x").build_model(grid.cells[0])
    assert built.info.name == "digits" and set(built.model.nets) == {"encoder", "decoder"}


def test_one_process_holds_a_lock_and_a_dead_holders_lock_is_taken_over(tmp_path: Path) -> None:
    path = tmp_path / store.LOCK
    first, second = CellLock(path), CellLock(path)
    assert first.acquire()
    assert not second.acquire() and second.holder is not None
    assert second.holder.info["pid"] == os.getpid() and second.holder.info["host"] == socket.gethostname()
    first.release()
    assert not path.exists() and second.acquire()
    second.release()

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    fs.atomic_write_json(path, {"host": socket.gethostname(), "pid": dead.pid, "started": "then"})
    assert CellLock(path).acquire(), "a lock whose process is gone is stale"
    # Another host's lock: live while touched, stale once older than the timeout, or its job is gone.
    fs.atomic_write_json(path, {"host": "elsewhere", "pid": 1, "slurm_job_id": "9_1"})
    assert read_holder(path).alive(None) and read_holder(path).alive({"9_1": "RUNNING"})
    assert not read_holder(path).alive({})
    old = time.time() - 3600
    os.utime(path, (old, old))
    assert not read_holder(path).alive(None)
    assert CellLock(path).acquire()
    # A stopped cell's note is released, not held.
    lock = CellLock(tmp_path / "b.json")
    assert lock.acquire()
    lock.mark_stopped(7)
    assert read_holder(tmp_path / "b.json").released and CellLock(tmp_path / "b.json").acquire()


def test_a_live_lock_makes_another_run_skip_the_cell(write_grid, tmp_path) -> None:
    grid = load_grid(str(write_grid(models=["mlp_vae"])))
    out = tmp_path / "out"
    (path,) = materialize(grid, out)
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        fs.atomic_write_json(
            path / store.LOCK, {"host": socket.gethostname(), "pid": sleeper.pid, "started": "now"}
        )
        summary = run_local(grid, out, QUIET, in_process=True)
        assert summary.states == {path.name: "busy"} and summary.exit_code == 4
        assert not (path / store.RESULT).exists() and not (path / store.METRICS).exists()
    finally:
        sleeper.kill()
        sleeper.wait()
    summary = run_local(grid, out, QUIET, in_process=True)
    assert summary.states == {path.name: "done"} and summary.exit_code == 0


def _rows(cell: Path) -> list[dict]:
    return [json.loads(line) for line in (cell / store.METRICS).read_text().splitlines()]


@pytest.mark.parametrize("damage", ["garbage_metrics_line", "truncated_checkpoint", "random_checkpoint"])
def test_an_unreadable_checkpoint_or_log_is_moved_aside_and_the_cell_starts_over(
    write_grid, tmp_path, capsys, damage
) -> None:
    grid = load_grid(
        str(
            write_grid(
                models=["mlp_vae"],
                train={"steps": 16, "batch_size": 16, "log_every": 8, "checkpoint_every": 8},
            )
        )
    )
    clean = run_local(grid, tmp_path / "clean", QUIET, in_process=True)
    (cid,) = clean.states
    reference = _rows(tmp_path / "clean" / cid)

    out = tmp_path / "out"
    (cell,) = materialize(grid, out)
    ckpt = tmp_path / "clean" / cid / store.CHECKPOINT
    (cell / store.CHECKPOINT).write_bytes(ckpt.read_bytes())
    lines = (tmp_path / "clean" / cid / store.METRICS).read_text().splitlines()
    if damage == "garbage_metrics_line":
        lines[3] = "{this is not json"
        (cell / store.CHECKPOINT).write_bytes(ckpt.read_bytes())
        broken = store.METRICS
    else:
        data = ckpt.read_bytes()
        (cell / store.CHECKPOINT).write_bytes(
            data[: len(data) // 2] if damage == "truncated_checkpoint" else os.urandom(4096)
        )
        broken = store.CHECKPOINT
    (cell / store.METRICS).write_text("\n".join(lines) + "\n")
    capsys.readouterr()

    summary = run_local(grid, out, QUIET, in_process=True)
    said = capsys.readouterr().err
    assert summary.states == {cid: "done"}
    assert (cell / f"{broken}.corrupt-1").is_file()
    assert "starting the cell over" in said and said.count("\n") == 1, said
    assert "weights_only" not in said
    r = store.read_result(cell)
    assert r["train"]["resumed_from"] == 0
    assert _rows(cell) == reference, "restarted from scratch: the same losses as a clean run"
    assert r["metrics"] | {"eval_seconds": 0} == store.read_result(tmp_path / "clean" / cid)["metrics"] | {
        "eval_seconds": 0
    }


def test_a_torn_last_metrics_line_is_dropped_and_the_cell_continues(write_grid, tmp_path) -> None:
    grid = load_grid(
        str(
            write_grid(
                models=["mlp_vae"],
                train={"steps": 16, "batch_size": 16, "log_every": 4, "checkpoint_every": 8},
            )
        )
    )
    run_local(grid, tmp_path / "clean", QUIET, in_process=True)
    (cid,) = [p.name for p in (tmp_path / "clean").iterdir() if p.is_dir()]
    out = tmp_path / "out"
    (cell,) = materialize(grid, out)
    # A checkpoint at step 16 but the log torn after row 9: as a kill mid-append would leave it.
    (cell / store.CHECKPOINT).write_bytes((tmp_path / "clean" / cid / store.CHECKPOINT).read_bytes())
    lines = (tmp_path / "clean" / cid / store.METRICS).read_text().splitlines()
    (cell / store.METRICS).write_text("\n".join(lines) + "\n" + lines[0][:7])
    run_local(grid, out, QUIET, in_process=True)
    assert store.read_result(cell)["train"]["resumed_from"] == 16
    assert _rows(cell) == _rows(tmp_path / "clean" / cid)
    assert not list(cell.glob("*.corrupt-*"))
