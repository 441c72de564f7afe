"""The files of a cell folder: written with the user's permissions, and no temp file left for ever by a
writer that was killed mid-write; a truncated cached domain classifier is rebuilt, not fatal."""

from __future__ import annotations

import dataclasses
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from bench import fs


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.parametrize(("umask", "expected"), [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_atomic_write_follows_the_umask(tmp_path: Path, umask: int, expected: int) -> None:
    old = os.umask(umask)
    try:
        fs.atomic_write_json(tmp_path / "result.json", {"status": "done"})
        fs.atomic_write(tmp_path / "checkpoint.pt", lambda f: f.write(b"x"), binary=True)
    finally:
        os.umask(old)
    assert _mode(tmp_path / "result.json") == expected
    assert _mode(tmp_path / "checkpoint.pt") == expected
    assert fs.read_json(tmp_path / "result.json") == {"status": "done"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint.pt", "result.json"]


def test_a_failed_write_leaves_the_old_file_and_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "result.json"
    fs.atomic_write_text(target, "old\n")

    def boom(f) -> None:
        f.write("half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        fs.atomic_write(target, boom)
    assert target.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["result.json"]


KILLED_WRITER = """
import sys, time
from pathlib import Path
from bench import fs

def slow(f):
    f.write(b"partial")
    f.flush()
    print("writing", flush=True)
    time.sleep(60)

fs.atomic_write(Path(sys.argv[1]) / "checkpoint.pt", slow, binary=True)
"""


def test_a_writer_killed_mid_write_leaves_a_temp_that_clean_temp_files_removes(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", KILLED_WRITER, str(tmp_path)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "writing"
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    left = list(tmp_path.iterdir())
    assert len(left) == 1 and left[0].name.startswith(".checkpoint.pt.") and left[0].name.endswith(".tmp")
    assert f".{proc.pid}." in left[0].name  # the writer's pid is in the name
    assert not (tmp_path / "checkpoint.pt").exists()

    (tmp_path / "keep.txt").write_text("a user file")
    assert fs.clean_temp_files(tmp_path) == left  # a dead writer's file goes at once, whatever its age
    assert [p.name for p in tmp_path.iterdir()] == ["keep.txt"]


def test_clean_temp_files_keeps_a_live_writer_and_removes_old_files(tmp_path: Path) -> None:
    host = fs._host()
    live = tmp_path / f".result.json.{host}.1.0badcafe.tmp"  # pid 1 is always alive
    mine = tmp_path / f".result.json.{host}.{os.getpid()}.0badcafe.tmp"  # this process: maybe writing
    other_host = tmp_path / ".result.json.elsewhere.999999.0badcafe.tmp"
    old_style = tmp_path / ".checkpoint.pt.k3j_9x2q.tmp"  # tempfile.mkstemp's name, older versions
    not_ours = tmp_path / "notes.tmp"
    for p in (live, mine, other_host, old_style, not_ours):
        p.write_text("x")
    assert fs.clean_temp_files(tmp_path) == []  # all young, writers alive or unknown

    hour_ago = time.time() - 7200
    for p in (live, other_host, old_style, not_ours):
        os.utime(p, (hour_ago, hour_ago))
    removed = fs.clean_temp_files(tmp_path, max_age_s=3600)
    assert sorted(removed) == sorted([live, other_host, old_style])
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([mine.name, not_ours.name])
    assert fs.clean_temp_files(tmp_path / "missing") == []


def test_a_truncated_cached_domain_classifier_is_rebuilt(tmp_path: Path, caplog, monkeypatch) -> None:
    from bench.datasets import DATASETS
    from bench.features.domain import classifier as domain
    from bench.features.domain.classifier import domain_extractor, load_classifier
    from bench.fs import file_sha256

    monkeypatch.setitem(domain.RECIPE, "max_steps", 3)  # the rebuild is under test, not the classifier
    source = DATASETS.get("digits")(DATASETS.get("digits").Args())
    info = source.info()
    train = source.load("train", None)
    train = dataclasses.replace(train, images=train.images[:256], labels=train.labels[:256])
    first = domain_extractor(info, train, None, tmp_path)
    good = first.path.read_bytes()
    first.path.write_bytes(good[: len(good) // 3])  # a kill, a full disk, a copy cut short
    with caplog.at_level("WARNING"):
        again = domain_extractor(info, train, None, tmp_path)
    assert again.path == first.path
    assert any("unreadable" in r.getMessage() and "rebuilding" in r.getMessage() for r in caplog.records)
    assert isinstance(load_classifier(again.path), torch.nn.Module)
    assert again.sha256 == file_sha256(again.path) and len(again.path.read_bytes()) > len(good) // 3
