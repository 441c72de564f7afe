"""Folder datasets in every command: `bench data check` and `bench eval --real` take a dataset spec
(`'{folder: {path: DIR, labeled: true}}'`) inline or from a grid file; `--real` then scores against the
folder's test split with its own domain extractor, trained on its train split. Each way of getting it
wrong is one line on stderr and exit code 2 (through `bench.cli.main`, as the `bench` command runs)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import yaml

from bench.cli import main
from bench.datasets.fabricate import write_images
from bench.features.domain import classifier as domain

SMALL = {"width": 8, "feat_dim": 32, "batch": 64, "max_steps": 20}  # trains in a second


def bench(monkeypatch, capsys, *args: str) -> tuple[int, str, str]:
    monkeypatch.setattr(sys, "argv", ["bench", *args])
    try:
        main()
        code = 0
    except SystemExit as err:
        code = int(err.code or 0)
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture
def folders(tmp_path: Path, monkeypatch) -> Path:
    """pets/<class>/ (labelled), photos/ (unlabelled), sketch2photo/A + B (paired); fakes/ to score."""
    monkeypatch.chdir(tmp_path)
    for cls, value in (("cat", 40), ("dog", 200)):
        write_images(tmp_path / "pets" / cls, [f"{i}.png" for i in range(20)], value=value, size=(16, 16))
    write_images(tmp_path / "photos", [f"{i}.png" for i in range(20)], size=(16, 16))
    for side in ("A", "B"):
        write_images(tmp_path / "sketch2photo" / side, [f"{i}.png" for i in range(10)], size=(16, 16))
    write_images(tmp_path / "fakes", [f"{i}.png" for i in range(24)], value=120, size=(16, 16))
    return tmp_path


def test_data_check_reads_inline_specs_and_grid_files(folders: Path, monkeypatch, capsys) -> None:
    code, out, _ = bench(
        monkeypatch,
        capsys,
        "data",
        "check",
        "{folder: {path: pets, labeled: true, resolution: 16}}",
        "{folder: {path: photos}}",
        "{folder_paired: {path: sketch2photo}}",
    )
    lines = out.splitlines()
    assert code == 0, out
    assert lines[0] == (
        f"folder_pets: ok ({Path('pets')}: train 36 images in 2 classes, test 4 images in 2 classes; "
        "read as 16x16 RGB (resolution: 16, channels: 3))"
    )
    assert lines[1].startswith("folder_photos: ok (photos: train 18 images, test 2 images; read as 64x64 RGB")
    assert lines[2].startswith("folder_sketch2photo: ok (sketch2photo: train 9 pairs, test 1 pairs;")
    grid = folders / "grid.yaml"
    grid.write_text(
        yaml.safe_dump(
            {
                "models": ["mlp_vae"],
                "datasets": [{"folder": {"path": "pets", "labeled": True}}, "digits"],
                "train": {"steps": 2, "batch_size": 4},
                "eval": {"n_samples": 50, "kid_subset_size": 2},
            }
        )
    )
    code, out, err = bench(monkeypatch, capsys, "data", "check", str(grid))
    assert code == 0, err
    assert [ln.split(":")[0] for ln in out.splitlines()] == ["folder_pets", "digits"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["data", "check", "folder"],
            "data check: folder needs path; write it as a mapping, e.g. '{folder: {path: DIR}}'",
        ),
        (
            ["data", "check", "{folder: {path: pets"],
            "data check: '{folder: {path: pets' is not a YAML mapping",
        ),
        (["data", "check", "{folder: {path: pets, colour: 1}}"], "data check: folder.colour: unknown key"),
        (["data", "check", "{folder: {path: nowhere}}"], None),
        (["eval", "--fake", "fakes", "--real", "folder"], "--real: folder needs path; write it as a mapping"),
        (
            ["eval", "--fake", "fakes", "--real", "photos", "--extractor", "domain"],
            "--extractor domain: --real photos is a bare folder of images, with no training split for a "
            "domain extractor; give it as a dataset, --real '{folder: {path: photos}}'",
        ),
        (
            ["eval", "--fake", "fakes", "--real", "photos", "--metrics", "prc_domain"],
            "--metrics prc_domain: --real photos is a bare folder of images",
        ),
        (["eval", "--fake", "fakes", "--real", "{folder: {path: nowhere}}"], "folder nowhere does not exist"),
        (["eval", "--fake", "fakes", "--real", "nothing"], "--real: 'nothing' is neither a dataset"),
    ],
)
def test_each_mistake_is_one_line_and_exit_2(folders: Path, monkeypatch, capsys, args, message) -> None:
    code, out, err = bench(monkeypatch, capsys, *args)
    assert code == 2, (out, err)
    if message is None:  # data check prints its verdict on stdout
        assert (
            out.strip()
            == "folder_nowhere: BAD: datasets: folder nowhere does not exist; these are your own files"
        )
        return
    assert err.startswith("error: ") and message in err and err.count("\n") == 1, err
    assert "Traceback" not in err and "ValidationError" not in err


def test_a_bare_folder_without_inception_weights_names_the_spec(folders: Path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("BENCH_ASSETS", str(folders / "no-assets"))
    code, _, err = bench(monkeypatch, capsys, "eval", "--fake", "fakes", "--real", "photos")
    assert code == 2 and err.count("\n") == 1
    assert err.rstrip().endswith(
        "score against the folder's own domain extractor: --real '{folder: {path: photos}}'"
    )


def test_eval_scores_against_a_labelled_folder_with_its_own_extractor(
    folders: Path, monkeypatch, capsys
) -> None:
    for k, v in SMALL.items():
        monkeypatch.setitem(domain.RECIPE, k, v)
    spec = "{folder: {path: pets, labeled: true, resolution: 16}}"
    code, out, err = bench(
        monkeypatch, capsys, "eval", "--fake", "fakes", "--real", spec, "--metrics", "fd,coverage"
    )
    assert code == 0, err
    result = json.loads(out)
    assert result["protocol"]["extractor"] == "domain:folder_pets:classes:2"
    assert result["real"] == {
        "dataset": "folder",
        "dataset_args": {
            "path": "pets",
            "labeled": True,
            "resolution": 16,
            "channels": 3,
            "test_fraction": 0.1,
            "split_seed": 0,
        },
        "split": "test",
    }
    assert result["protocol"]["n_real"] == 4 and "fd_folder_pets" in result["metrics"]
    assert "warning" not in err  # the folder is read at the fakes' size and colour
    # The same reference named by a grid file that trains on it.
    grid = folders / "pets.yaml"
    grid.write_text(
        yaml.safe_dump(
            {
                "models": ["mlp_vae"],
                "datasets": [yaml.safe_load(spec)],
                "train": {"steps": 2, "batch_size": 4},
            }
        )
    )
    code, out, err = bench(
        monkeypatch, capsys, "eval", "--fake", "fakes", "--real", str(grid), "--metrics", "fd"
    )
    assert code == 0, err
    again = json.loads(out)
    assert again["metrics"]["fd_folder_pets"] == result["metrics"]["fd_folder_pets"]
