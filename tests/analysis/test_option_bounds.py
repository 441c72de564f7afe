"""Numbers that size memory or time are bounded before anything is allocated (issue 22): `--opt
steps=1000000000` once allocated 22 GB; `bench eval --n` with 20 digits was taken as it came."""

from __future__ import annotations

import pytest

from bench.analysis import ANALYSES
from bench.analysis.base import parse_options
from bench.errors import BenchError


@pytest.mark.parametrize(
    ("what", "opt"),
    [
        ("interpolate", "steps=1000000000"),
        ("interpolate", "pairs=100000000"),
        ("traversal", "steps=100000000"),
        ("traversal", "dims=100000000"),
        ("arithmetic", "n_avg=10000000000"),
        ("arithmetic", "batch_size=10000000000"),
        ("latent-stats", "n=10000000000"),
        ("translate", "n=100000000"),
    ],
)
def test_analysis_sizes_are_bounded(what: str, opt: str) -> None:
    options = ANALYSES.get(what).Options
    with pytest.raises(BenchError) as err:
        parse_options(options, [opt])
    message = str(err.value)
    key = opt.split("=")[0]
    assert message.startswith(f"--opt.{key}: ") and "less than or equal to" in message, message
    assert "\n" not in message and "Value error" not in message


@pytest.mark.parametrize(("flag", "value"), [("--n", "99999999999999999999"), ("--n-real", "100000000")])
def test_eval_counts_are_bounded_before_loading(tmp_path, monkeypatch, capsys, flag: str, value: str) -> None:
    from tests.e2e.test_bad_inputs_2 import bench

    (tmp_path / "f").mkdir()
    code = bench(monkeypatch, ["eval", "--fake", str(tmp_path / "f"), "--real", "digits", flag, value])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and f"{flag}: {value} is outside 1..1,000,000" in err, err


def test_eval_says_when_it_clamps(tmp_path, monkeypatch, capsys) -> None:
    import numpy as np
    from PIL import Image

    from tests.e2e.test_bad_inputs_2 import bench

    folder = tmp_path / "f"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(30):
        Image.fromarray((rng.random((28, 28)) * 255).astype(np.uint8)).save(folder / f"{i:02d}.png")
    args = [
        "eval",
        "--fake",
        str(folder),
        "--real",
        "digits",
        "--metrics",
        "fd",
        "--n",
        "50",
        "--n-real",
        "100000",
    ]
    assert bench(monkeypatch, args) == 0
    err = capsys.readouterr().err
    assert f"--n: 50 asked, {folder} holds 30 images; all 30 are scored" in err
    assert "--n-real: 100,000 asked, the reference holds" in err
