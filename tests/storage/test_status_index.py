"""`bench status` reads cells through an index beside the folders; the folders stay the truth."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

from rich.console import Console

from bench import fs
from bench.commands import status as status_cmd
from bench.storage import files as store
from bench.storage import result as result_module
from bench.storage.status import all_states
from bench.storage.status_index import INDEX


def _cell(out: Path, name: str, status: str | None, seed: int = 0) -> Path:
    d = out / name
    fs.atomic_write_json(
        d / store.CONFIG, {"model": "dcgan", "dataset": "digits", "latent_size": 8, "seed": seed}
    )
    if status is not None:
        fs.atomic_write_json(d / store.RESULT, {"status": status, "reason": "boom", "wall_seconds": 12.0})
    return d


def _states(out: Path) -> dict[str, tuple[str, str]]:
    states = all_states(out)
    assert states == all_states(out, use_index=False)  # the index never disagrees with the folders
    return {s.cell_id: (s.state.value, s.detail) for s in states}


def test_a_cell_changed_after_indexing_shows_its_new_state(tmp_path: Path) -> None:
    a = _cell(tmp_path, "a", "done")
    b = _cell(tmp_path, "b", None)
    _cell(tmp_path, "c", "failed")
    assert _states(tmp_path) == {"a": ("done", "12 s"), "b": ("pending", ""), "c": ("failed", "boom")}
    index = json.loads((tmp_path / INDEX).read_text())
    assert set(index["cells"]) == {"a", "b", "c"}

    # Same size, rewritten at once: the new file's inode differs even if the mtime tick does not.
    fs.atomic_write_json(a / store.RESULT, {"status": "diverged", "reason": "nan!", "wall_seconds": 12.0})
    fs.atomic_write_json(b / store.RESULT, {"status": "done", "wall_seconds": 3.0})
    (tmp_path / "c" / store.RESULT).unlink()
    _cell(tmp_path, "d", "done", seed=1)
    assert _states(tmp_path) == {
        "a": ("diverged", "nan!"),
        "b": ("done", "3 s"),
        "c": ("pending", ""),
        "d": ("done", "12 s"),
    }
    shutil.rmtree(b)
    assert set(_states(tmp_path)) == {"a", "c", "d"}
    assert set(json.loads((tmp_path / INDEX).read_text())["cells"]) == {"a", "c", "d"}


def test_a_lock_taken_after_indexing_and_a_broken_index_are_read_from_the_folders(tmp_path: Path) -> None:
    d = _cell(tmp_path, "a", None)
    assert _states(tmp_path) == {"a": ("pending", "")}
    fs.atomic_write_json(d / store.LOCK, {"host": "elsewhere", "pid": 1, "slurm_job_id": "7_1"})
    assert all_states(tmp_path, {"7_1": "RUNNING"})[0].state == "running"
    (tmp_path / INDEX).write_text("{not json")
    assert _states(tmp_path)["a"][0] == "interrupted"  # its job is gone
    assert json.loads((tmp_path / INDEX).read_text())["version"] >= 1  # rewritten whole


def test_an_unreadable_result_is_warned_about_on_every_read(tmp_path: Path, caplog) -> None:
    d = _cell(tmp_path, "a", "done")
    (d / store.RESULT).write_text("[1, 2]")
    for _ in range(2):
        caplog.clear()
        result_module._warned.clear()  # one warning per file version and process: each `bench status`
        assert _states(tmp_path) == {"a": ("pending", "")}
        assert any("treated as no result" in r.getMessage() for r in caplog.records)


def test_the_status_rows_are_aligned_and_coloured_only_on_a_terminal(tmp_path: Path) -> None:
    _cell(tmp_path, "cell-long-name", "done")
    _cell(tmp_path, "b", "failed")
    rows = [(s.cell_id, "m", "d", "8", "0", s.state.value, s.detail, "") for s in all_states(tmp_path)]
    plain = status_cmd.render(rows, Console(file=io.StringIO(), force_terminal=False))
    lines = plain.splitlines()
    assert lines[0].split() == list(status_cmd.COLUMNS)
    assert "\x1b" not in plain and lines[1].index("failed") == lines[2].index("done")
    tty = status_cmd.render(rows, Console(file=io.StringIO(), force_terminal=True, color_system="standard"))
    assert "\x1b[31mfailed" in tty and "\x1b[32mdone" in tty
