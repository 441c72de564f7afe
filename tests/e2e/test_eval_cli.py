"""`bench eval` through the real entry point: a folder of PNGs against a built-in dataset, and bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from bench.cli import app
from bench.commands.eval_images import run_eval
from bench.errors import BenchError


def bench(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "bench", *args], capture_output=True, text=True, timeout=600)


def test_eval_a_png_folder_against_digits(tmp_path: Path) -> None:
    from PIL import Image

    from bench.datasets import DATASETS, DataContext

    fake = tmp_path / "fake"
    fake.mkdir()
    test = DATASETS.get("digits")(DATASETS.get("digits").Args()).load("test", DataContext.from_env())
    for i in range(60):  # real test digits, so the distance must be small next to noise's
        Image.fromarray(test.images[i, 0].numpy()).save(fake / f"{i:03d}.png")
    noise = tmp_path / "noise"
    noise.mkdir()
    rng = np.random.default_rng(0)
    for i in range(60):
        Image.fromarray((rng.random((28, 28)) * 255).astype(np.uint8)).save(noise / f"{i:03d}.png")

    run = bench("eval", "--fake", str(fake), "--real", "digits", "--metrics", "fd,kid,coverage")
    assert run.returncode == 0, run.stderr
    good = json.loads(run.stdout)
    bad = run_eval(str(noise), "digits", ["fd", "kid", "coverage"])  # the same, in this process
    assert good["metrics"]["fd_digits"] < bad["metrics"]["fd_digits"] / 5
    p = good["protocol"]
    assert p["extractor"] == "domain:digits:classes:10" and p["n_generated"] == 60 and p["n_real"] == 360
    # KID's subsets default to half of N: subsets of all 60 would all be the same set (std 0).
    assert p["kid_subset_size"] == 30 and set(p["fingerprints"]) == set(good["metrics"])
    assert good["metrics"]["kid_digits_std"] > 0
    assert good["protocol"]["fingerprints"]["fd_digits"] == bad["protocol"]["fingerprints"]["fd_digits"]

    wrong = bench("eval", "--fake", str(fake), "--real", "no_such_set")
    assert wrong.returncode == 2 and "--real: 'no_such_set' is neither a dataset" in wrong.stderr


def test_eval_refuses_bad_input_with_one_line(tmp_path: Path) -> None:
    with pytest.raises(BenchError, match="fid is Inception's FD"):
        app(
            [
                "eval",
                "--fake",
                str(tmp_path),
                "--real",
                "digits",
                "--metrics",
                "fid",
                "--extractor",
                "domain",
            ],
            standalone_mode=False,
        )
    with pytest.raises(BenchError, match="--fake: no .png, .jpg, .jpeg images under"):
        app(["eval", "--fake", str(tmp_path), "--real", "digits"], standalone_mode=False)
