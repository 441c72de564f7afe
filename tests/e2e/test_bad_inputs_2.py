"""The second adversarial round (issue 22): data files that try to run code, links out of --out, and
other hostile or careless inputs. Each is refused with one line and the right exit code, no traceback,
nothing executed and nothing written where it must not be. The hostile files are made here.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import yaml

from bench.datasets.fabricate import write_cifar10, write_dsprites_npz
from tests.conftest import TINY_GRID
from tests.e2e.test_bad_inputs import bench


def _one_line(stderr: str) -> str:
    assert "Traceback" not in stderr, stderr
    lines = [ln for ln in stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, f"not one line: {stderr[:800]!r}"
    return lines[0]


# --- 1. data files that name code ------------------------------------------------------------------


class _Touch:
    """Unpickling this calls open(marker, "w"): the marker exists only if the pickle was run."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


class _System:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        import os

        return (os.system, (f"touch {self.marker}",))


def _hostile_cifar(root: Path, marker: Path, kind: type) -> Path:
    write_cifar10(root)
    bad = root / "cifar-10-batches-py" / "data_batch_1"
    data = np.zeros((4, 3072), np.uint8)
    bad.write_bytes(pickle.dumps({"data": data, "labels": [0, 1, 2, 3], "x": kind(marker)}, protocol=2))
    return bad


@pytest.mark.parametrize("kind", [_Touch, _System], ids=["open", "os.system"])
def test_hostile_cifar_batch_is_refused_by_data_check_unrun(monkeypatch, capsys, tmp_path, kind) -> None:
    marker = tmp_path / "marker"
    bad = _hostile_cifar(tmp_path / "data", marker, kind)
    code = bench(monkeypatch, ["data", "check", "cifar10", "--root", str(tmp_path / "data")])
    out = capsys.readouterr().out
    assert code == 2
    assert f"{bad} is refused: it names" in out and "not plain data" in out, out
    assert not marker.exists()


def test_hostile_cifar_batch_is_refused_by_dry_run_unrun(monkeypatch, capsys, tmp_path) -> None:
    marker = tmp_path / "marker"
    _hostile_cifar(tmp_path / "data", marker, _Touch)
    grid = tmp_path / "grid.yaml"
    grid.write_text(yaml.safe_dump({**TINY_GRID, "datasets": ["cifar10"], "models": ["mlp_vae"]}))
    code = bench(
        monkeypatch,
        [
            "run",
            "--grid",
            str(grid),
            "--out",
            str(tmp_path / "out"),
            "--dry-run",
            "--data-root",
            str(tmp_path / "data"),
        ],
    )
    err = capsys.readouterr().err
    assert code == 2, err
    # The pre-run check lists every problem, then one summary line.
    assert "Traceback" not in err and "not plain data" in err.splitlines()[0], err
    assert not marker.exists() and not (tmp_path / "out").exists()


def test_safe_pickle_reads_numpy_and_containers_of_every_protocol() -> None:
    from bench.datasets import safe_pickle

    value = {"data": np.arange(6, dtype=np.uint8).reshape(2, 3), "labels": [1, 2], b"k": (np.int64(3), {1.5})}
    for protocol in range(2, pickle.HIGHEST_PROTOCOL + 1):
        back = safe_pickle.loads(pickle.dumps(value, protocol=protocol))
        assert np.array_equal(back["data"], value["data"]) and back["labels"] == [1, 2]
        assert back[b"k"][0] == 3 and back[b"k"][1] == {1.5}


def test_hostile_dsprites_npz_is_refused_unrun(monkeypatch, capsys, tmp_path) -> None:
    from bench.datasets.dsprites import NPZ

    marker = tmp_path / "marker"
    npz = tmp_path / "data" / "dsprites" / NPZ
    write_dsprites_npz(npz, np.arange(10))
    with np.load(npz) as data:
        arrays = {k: data[k] for k in ("latents_classes", "latents_values")}
    hostile = np.empty(1, dtype=object)
    hostile[0] = _Touch(marker)
    np.savez(npz, imgs=hostile, metadata=hostile, **arrays)
    code = bench(monkeypatch, ["data", "check", "dsprites", "--root", str(tmp_path / "data")])
    out = capsys.readouterr().out
    assert not marker.exists()
    assert code == 2 and "holds Python objects under 'imgs'" in out, out
    from bench.datasets.dsprites import load_official
    from bench.errors import BenchError

    with pytest.raises(BenchError, match="refused unread"):
        load_official(npz, "train", 5, 5, 0)
    assert not marker.exists()


# --- 2. links out of --out ---------------------------------------------------------------------------


def _one_cell_grid(tmp_path: Path) -> tuple[Path, str]:
    from bench.grid import load_grid

    grid = tmp_path / "grid.yaml"
    grid.write_text(
        yaml.safe_dump({**TINY_GRID, "models": ["mlp_vae"], "train": {**TINY_GRID["train"], "steps": 8}})
    )
    return grid, load_grid(str(grid)).cells[0].cell_id


def _tree(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*")}


@pytest.mark.parametrize("where", ["folder", "cell.log", "checkpoint.pt", "tb"])
def test_a_link_in_a_cell_folder_is_refused_and_nothing_is_written(
    monkeypatch, capsys, tmp_path, where
) -> None:
    grid, cell_id = _one_cell_grid(tmp_path)
    out, outside = tmp_path / "out", tmp_path / "outside"
    outside.mkdir()
    (outside / "victim").write_text("keep\n")
    cell = out / cell_id
    if where == "folder":
        out.mkdir()
        cell.symlink_to(outside)
    else:
        cell.mkdir(parents=True)
        (cell / where).symlink_to(outside / "victim" if where != "tb" else outside)
    before = _tree(out)
    code = bench(monkeypatch, ["run", "--grid", str(grid), "--out", str(out), "--in-process"])
    err = capsys.readouterr().err
    assert code == 2, err
    line = _one_line(err)
    assert "is a symbolic link" in line and "never through a link" in line
    assert _tree(outside) == {"victim"} and (outside / "victim").read_text() == "keep\n"
    assert _tree(out) == before  # no estimate.json, no config.json


def test_run_cell_refuses_a_linked_cell_log(tmp_path) -> None:
    """The cell's own entry point (what a worker or a SLURM task runs) checks too."""
    from bench.cell.run import run_cell
    from bench.errors import BenchError

    cell = tmp_path / "cell"
    cell.mkdir()
    (tmp_path / "victim").write_text("keep\n")
    (cell / "cell.log").symlink_to(tmp_path / "victim")
    with pytest.raises(BenchError, match="cell.log is a symbolic link"):
        run_cell(cell)
    assert (tmp_path / "victim").read_text() == "keep\n" and sorted(p.name for p in cell.iterdir()) == [
        "cell.log"
    ]


# --- 8. tracebacks that become one line ------------------------------------------------------------

from tests.helpers.report_fixtures import fabricate  # noqa: E402


def test_a_nan_score_reads_as_a_diverged_cell_and_the_leaderboard_runs(monkeypatch, capsys, tmp_path) -> None:
    from bench.storage.result import parse_result

    out = tmp_path / "out"
    fabricate(out)
    done = next(p for p in sorted(out.glob("*/result.json")) if '"done"' in p.read_text())
    done.write_text(done.read_text().replace('"fd_digits": ', '"fd_digits": NaN, "was": ', 1))
    result = parse_result(done)
    assert result is not None and result.status.value == "diverged" and "fd_digits = nan" in result.reason
    for command in (["leaderboard", "--out", str(out)], ["report", "--out", str(out)]):
        code = bench(monkeypatch, command)
        err = capsys.readouterr().err
        assert code == 0 and "Traceback" not in err, err


def test_a_torn_last_metrics_line_is_dropped_everywhere(tmp_path) -> None:
    from bench.plots import plot_losses, read_metrics

    path = tmp_path / "metrics.jsonl"
    path.write_text('{"step": 1, "loss": 2.0}\n{"step": 2, "loss": 1.5}\n{"step": 3, "lo')
    assert read_metrics(path) == {"loss": [(1, 2.0), (2, 1.5)]}
    plot_losses(path, tmp_path / "losses.png", "t")
    assert (tmp_path / "losses.png").exists()


@pytest.mark.parametrize(
    ("errno_name", "words"),
    [("ENOSPC", "no space left on the device"), ("EROFS", "read-only"), ("EACCES", "permission denied")],
)
def test_a_full_or_readonly_disk_is_one_line_naming_the_path(
    monkeypatch, capsys, tmp_path, errno_name, words
):
    import errno

    from bench.reporting import leaderboard

    out = tmp_path / "out"
    fabricate(out)
    target = out / "leaderboard.md"

    def full(*a, **k):
        raise OSError(getattr(errno, errno_name), "simulated", str(target))

    monkeypatch.setattr(leaderboard, "write_files", full)
    code = bench(monkeypatch, ["leaderboard", "--out", str(out)])
    line = _one_line(capsys.readouterr().err)
    assert code == 2 and line.startswith(f"error: {target}: ") and words in line and "run again" in line


def test_status_with_a_junk_config_is_no_traceback(monkeypatch, capsys, tmp_path) -> None:
    out = tmp_path / "out"
    fabricate(out)
    junk = sorted(out.glob("*/config.json"))[0]
    junk.write_text('{"model": 3}')
    code = bench(monkeypatch, ["status", "--out", str(out)])
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err + captured.out
    assert code in (0, 2)


# --- 9. nothing written on refusal -------------------------------------------------------------------


def _refused_writing_nothing(
    monkeypatch, capsys, tmp_path, grid: dict, args: list[str], message: str
) -> None:
    path = tmp_path / "grid.yaml"
    path.write_text(yaml.safe_dump(grid))
    out = tmp_path / "out"
    code = bench(monkeypatch, ["run", "--grid", str(path), "--out", str(out), *args])
    err = capsys.readouterr().err
    assert code == 2, err
    assert "Traceback" not in err and message in err, err
    assert not out.exists(), sorted(p.name for p in out.rglob("*"))


def test_slurm_without_squeue_writes_no_estimate(monkeypatch, capsys, tmp_path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "no-bin"))  # no squeue, no sbatch
    grid = {**TINY_GRID, "models": ["mlp_vae"]}
    _refused_writing_nothing(
        monkeypatch, capsys, tmp_path, grid, ["--launcher", "slurm"], "squeue does not answer"
    )


@pytest.mark.parametrize("where", ["empty", "etc"])
def test_a_folder_dataset_without_images_is_refused_before_the_run(
    monkeypatch, capsys, tmp_path, where
) -> None:
    if where == "empty":
        (tmp_path / "data" / "mine").mkdir(parents=True)
        path = "mine"
    else:  # a path escaping the data root to a folder of other files (as ../../../../etc would)
        (tmp_path / "data").mkdir()
        (tmp_path / "elsewhere" / "sub").mkdir(parents=True)
        (tmp_path / "elsewhere" / "sub" / "passwd").write_text("root:x:0:0\n")
        path = "../elsewhere"
    grid = {**TINY_GRID, "models": ["mlp_vae"], "datasets": [{"folder": {"path": path, "resolution": 16}}]}
    args = ["--data-root", str(tmp_path / "data"), "--in-process"]
    _refused_writing_nothing(monkeypatch, capsys, tmp_path, grid, args, "holds no images")


# --- 10. smaller items --------------------------------------------------------------------------------


def test_report_cleans_killed_reports_and_keeps_the_umask(tmp_path) -> None:
    import os
    import stat
    import time

    from bench.fs import _host
    from bench.reporting.report import write_report

    out = tmp_path / "out"
    fabricate(out)
    dead = out / f".report.{_host()}.999999999.0123abcd"  # a writer that died (no such pid)
    old = out / ".report.k2j3h4g5"  # tempfile.mkdtemp's name, from a report killed long ago
    live = out / f".report.{_host()}.{os.getpid()}.0123abcd"  # a writer still running
    for d in (dead, old, live):
        d.mkdir()
        (d / "index.html").write_text("half")
    os.utime(old, (time.time() - 7200, time.time() - 7200))
    previous = os.umask(0o022)
    try:
        folder = write_report(out)
    finally:
        os.umask(previous)
    assert not dead.exists() and not old.exists() and live.exists()
    assert stat.S_IMODE(folder.stat().st_mode) == 0o755


def test_assets_verify_calls_a_directory_a_directory(tmp_path) -> None:
    from bench.errors import BenchError
    from bench.features import assets

    asset = next(iter(assets.load_manifest().values()))
    (tmp_path / asset.file).mkdir(parents=True)
    with pytest.raises(BenchError, match="is a directory, not the weight file"):
        assets.verify(asset, tmp_path)


@pytest.mark.parametrize(
    "args",
    [
        ["leaderboard", "--out", "{tmp}", "--format", "bogus"],
        ["run", "--grid", "tiny", "--worker", "bogus", "--dry-run"],
    ],
)
def test_option_errors_without_pydantic_wording(monkeypatch, capsys, tmp_path, args) -> None:
    code = bench(monkeypatch, [a.replace("{tmp}", str(tmp_path)) for a in args])
    line = _one_line(capsys.readouterr().err)
    assert code == 2 and "'bogus' is not one of" in line and "Value error" not in line, line


def test_a_full_disk_during_a_checkpoint_is_said_as_enospc(monkeypatch, tmp_path) -> None:
    import errno
    import shutil
    from collections import namedtuple

    import torch

    from bench.storage import checkpoint

    def full(*a, **k):
        raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 64 vs 0")

    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(torch, "save", full)
    monkeypatch.setattr(shutil, "disk_usage", lambda p: usage(100, 100, 0))
    path = tmp_path / "checkpoint.pt"
    with pytest.raises(OSError) as err:
        checkpoint.save_checkpoint(path, {"net": torch.nn.Linear(2, 2)}, {}, 3, {"epoch": 0, "position": 0})
    assert err.value.errno == errno.ENOSPC and err.value.filename == str(path)
    assert "No space left" in str(err.value) and not list(tmp_path.iterdir())  # no temp file left
