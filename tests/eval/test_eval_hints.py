"""`bench eval`'s small promises: the --data-root its data errors advise exists; one warning line when
the scored images and the reference differ in size or channels; --help lists every metric and
extractor the registry knows."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from bench.cli import app
from bench.commands.eval_images import run_eval, shape_warning
from bench.errors import BenchError
from bench.eval import metric_registry as registry


def pngs(folder: Path, shape: tuple[int, ...], n: int = 30) -> Path:
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(n):
        Image.fromarray((rng.random(shape) * 255).astype(np.uint8)).save(folder / f"{i:03d}.png")
    return folder


def test_shape_warning_words() -> None:
    assert shape_warning((3, 64, 64), (1, 28, 28), "digits test") == (
        "warning: the scored images are 64x64 colour but the reference (digits test) is 28x28 grey; "
        "the extractor resizes/converts them, so the score compares different images"
    )
    assert shape_warning((1, 28, 28), (1, 28, 28), "digits test") is None


def test_colour_images_against_grey_digits_warn_once(tmp_path: Path) -> None:
    from bench.datasets import DATASETS, DataContext

    digits = DATASETS.get("digits")(DATASETS.get("digits").Args()).load("test", DataContext.from_env())
    c, h, w = digits.images.shape[1:]
    # The warning comes as soon as both sides are read, before any feature is extracted: with no
    # Inception weights in an empty assets folder the evaluation then stops, which keeps this fast.
    no_weights = tmp_path / "no-assets"
    for folder, shape, warned in (("colour", (64, 64, 3), True), ("grey", (h, w), False)):
        said: list[str] = []
        with pytest.raises(BenchError, match="bench assets fetch"):  # stopped after the images were read
            run_eval(
                str(pngs(tmp_path / folder, shape)), "digits", ["fid"], assets_dir=no_weights, say=said.append
            )
        if warned:
            assert (
                len(said) == 1 and f"64x64 colour but the reference (digits test) is {w}x{h} grey" in said[0]
            )
        else:
            assert said == []


def test_data_root_is_an_option_of_eval(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("BENCH_DATA", raising=False)
    fake = pngs(tmp_path / "fake", (28, 28), n=2)
    with pytest.raises(BenchError, match="give --data-root DIR") as no_root:
        app(["eval", "--fake", str(fake), "--real", "mnist"], standalone_mode=False)
    assert "no data root" in str(no_root.value)
    # Following the advice: the option exists and the root is used (the files are then missing there).
    with pytest.raises(BenchError) as missing:
        app(
            ["eval", "--fake", str(fake), "--real", "mnist", "--data-root", str(tmp_path / "data")],
            standalone_mode=False,
        )
    assert "no data root" not in str(missing.value) and "mnist" in str(missing.value)


def test_help_lists_every_metric_and_extractor() -> None:
    text = " ".join(CliRunner().invoke(app, ["eval", "--help"], env={"COLUMNS": "200"}).output.split())
    for kind in {m.kind for m in registry.metrics()}:
        assert kind in text, kind
    for name in registry.metric_names():
        assert name in text, name
    for ext in registry.EXTRACTORS:
        assert ext in text, ext
    assert "--data-root" in text
