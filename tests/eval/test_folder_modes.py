"""Images read as they are (issue 22): every PIL mode a PNG/JPEG folder can hold gives 8-bit pixels of
the same picture (16-bit grey scaled, never clipped), and a file that is no image, or is cut short,
is one line naming it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from bench.datasets.decode import BadImage, decode_files, open_8bit, to_8bit
from bench.errors import BenchError
from bench.eval.folder import read_images

GREY = 100  # one grey level, written in each mode's own encoding


def _save(folder: Path, mode: str, suffix: str = ".png") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    grey = Image.new("L", (8, 6), GREY)
    if mode in ("I;16", "I;16B"):
        img = Image.fromarray(np.full((6, 8), GREY * 257, dtype=np.uint16))  # the 8-bit value in 16 bits
        img = img if mode == "I;16" else img.convert("I;16B")
    elif mode == "1":
        img = Image.new("1", (8, 6), 1)
    elif mode == "P":
        img = Image.new("P", (8, 6), 3)
        img.putpalette([0, 0, 0] * 3 + [GREY, GREY, GREY])  # index 3 is the grey
    else:
        img = grey.convert(mode)
    path = folder / f"img{suffix}"
    img.save(path)
    return path


@pytest.mark.parametrize(
    ("mode", "channels", "value"),
    [
        ("L", 1, GREY),
        ("1", 1, 255),
        ("I;16", 1, GREY),
        ("LA", 3, GREY),
        ("P", 3, GREY),
        ("RGB", 3, GREY),
        ("RGBA", 3, GREY),
    ],
)
def test_each_mode_reads_as_its_8bit_picture(tmp_path: Path, mode: str, channels: int, value: int) -> None:
    path = _save(tmp_path / "f", mode)
    with Image.open(path) as im:
        assert im.mode == mode  # the file really holds this mode
    x = read_images(tmp_path / "f")
    assert x.dtype.is_floating_point is False and tuple(x.shape) == (1, channels, 6, 8)
    assert int(x.min()) == int(x.max()) == value
    # The dataset decoder scales the same way.
    assert int(decode_files([path], 4, 1).max()) == value


def test_sixteen_bit_grey_keeps_its_range_not_clipped(tmp_path: Path) -> None:
    ramp = np.linspace(0, 65535, 48, dtype=np.uint16).reshape(6, 8)
    (tmp_path / "f").mkdir()
    Image.fromarray(ramp).save(tmp_path / "f" / "ramp.png")
    x = read_images(tmp_path / "f")[0, 0].numpy()
    assert x.min() == 0 and x.max() == 255 and len(np.unique(x)) == 48  # convert("L") gave 0 or 255


def test_jpeg_cmyk_reads_as_rgb(tmp_path: Path) -> None:
    _save(tmp_path / "f", "CMYK", ".jpg")
    x = read_images(tmp_path / "f")
    assert tuple(x.shape) == (1, 3, 6, 8) and abs(int(x.float().mean()) - GREY) <= 3


@pytest.mark.parametrize("mode", ["I", "F"])
def test_images_of_no_known_range_are_refused_by_name(tmp_path: Path, mode: str) -> None:
    img = Image.new(mode, (4, 4), 7)
    with pytest.raises(BadImage, match=f"x.tif: a .* image \\(PIL mode {mode}\\) has no known range"):
        to_8bit(img, tmp_path / "x.tif")


@pytest.mark.parametrize("damage", ["not-an-image", "truncated"])
def test_a_bad_file_is_one_line_naming_it(tmp_path: Path, damage: str) -> None:
    folder = tmp_path / "f"
    good = _save(folder, "RGB")
    bad = folder / "bad.png"
    if damage == "not-an-image":
        bad.write_text("hello, I am text\n")
    else:
        Image.fromarray((np.random.default_rng(0).random((64, 64, 3)) * 255).astype(np.uint8)).save(bad)
        bad.write_bytes(bad.read_bytes()[:300])
    with pytest.raises(BenchError) as err:
        read_images(folder)
    message = str(err.value)
    assert str(bad) in message and "\n" not in message and message.startswith("--fake: ")
    with pytest.raises(BadImage, match="bad.png"):
        open_8bit(bad, gray=False)
    with pytest.raises(BadImage, match="bad.png"):
        decode_files([good, bad], 4, 3)


def test_bench_eval_on_a_truncated_png_exits_2_with_one_line(tmp_path: Path, monkeypatch, capsys) -> None:
    from tests.e2e.test_bad_inputs_2 import bench

    folder = tmp_path / "f"
    _save(folder, "L")
    (folder / "cut.png").write_bytes((folder / "img.png").read_bytes()[:40])
    assert bench(monkeypatch, ["eval", "--fake", str(folder), "--real", "digits"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1 and "cut.png" in err
