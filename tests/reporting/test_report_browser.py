"""The report in a real headless Chromium: every image loads, no console errors, the key tables are
there; a full-page screenshot is kept (pytest's tmp dir, and BENCH_ARTIFACTS when set).

Debian's chromium + chromium-driver are installed with apt when missing and running as root; the test
is skipped only when they cannot be installed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from bench.reporting.report import write_report
from tests.helpers.report_fixtures import fabricate

CHROMIUM, DRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")


def _ensure_browser() -> None:
    if CHROMIUM.exists() and DRIVER.exists():
        return
    if not hasattr(os, "geteuid") or os.geteuid() != 0 or shutil.which("apt-get") is None:
        pytest.skip("chromium/chromium-driver missing and not root with apt-get to install them")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for cmd in (["apt-get", "update"], ["apt-get", "install", "-y", "chromium", "chromium-driver"]):
        done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=1200, check=False)
        if done.returncode != 0:
            pytest.skip(f"cannot install chromium: {' '.join(cmd)} failed: {done.stderr.strip()[-300:]}")
    if not (CHROMIUM.exists() and DRIVER.exists()):
        pytest.skip("apt-get installed chromium but /usr/bin/chromium or /usr/bin/chromedriver is missing")


@pytest.fixture
def driver():
    _ensure_browser()
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1280,1000"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    d = webdriver.Chrome(service=Service(str(DRIVER)), options=options)
    try:
        yield d
    finally:
        d.quit()


def test_report_renders_in_chromium(driver, tmp_path: Path) -> None:
    out = tmp_path / "results"
    cells = fabricate(out)
    # What other parts of bench leave in cell folders: a memorisation figure, TensorBoard events, and
    # the estimate `bench run` recorded when it started.
    from PIL import Image

    from bench.launch.estimate import Estimate, GroupEstimate, record_estimate

    cell = out / cells[("dcgan", 8)][0].cell_id
    Image.new("L", (112, 56), 128).save(cell / "closest_pairs.png")
    (cell / "tb").mkdir()
    group = cells[("dcgan", 8)][0].group_id
    record_estimate(
        Estimate([GroupEstimate("dcgan z8", group, 3, 3, 1800.0, "calibration (40 steps)")], "gpu"), out
    )
    copied = shutil.copytree(write_report(out), tmp_path / "copied-report")  # works away from results
    driver.get((copied / "index.html").as_uri())
    driver.execute_script("return document.readyState")
    widths = driver.execute_script(
        "return [...document.images].map(i => [i.getAttribute('src'), i.complete ? i.naturalWidth : 0])"
    )
    assert len(widths) >= 8
    assert [src for src, w in widths if w <= 0] == [], "images that did not load"
    errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
    assert errors == []
    headings = driver.execute_script("return [...document.querySelectorAll('h2')].map(h => h.textContent)")
    assert "digits: fd_digits (lower is better)" in headings and "Stability" in headings
    counts = driver.execute_script(
        "return ['table.leaderboard', 'table.family', 'table.stability', 'ul.flagged li']"
        ".map(s => document.querySelectorAll(s).length)"
    )
    assert counts[0] == 2 and counts[1] >= 1 and counts[2] == 1 and counts[3] >= 3, counts
    first = driver.execute_script(
        "return [...document.querySelector('table.leaderboard tbody tr').cells].map(c => c.textContent)"
    )
    assert first[:8] == ["mlp_vae", "8", "1", "30", "n=1, spread unknown", "-", "-", "n=1, no interval"]
    assert "Memorisation" in headings and "TensorBoard" in headings
    assert driver.execute_script("return document.querySelectorAll('table.estimate tbody tr').length") == 2
    links = driver.execute_script(
        "return [...document.querySelectorAll('ul.tensorboard a')].map(a => a.href)"
    )
    assert len(links) == 1 and links[0].endswith(f"/{cell.name}/tb/")

    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(1280, min(int(height) + 100, 16000))
    shot = tmp_path / "report.png"
    assert driver.save_screenshot(str(shot)) and shot.stat().st_size > 10_000
    if os.environ.get("BENCH_ARTIFACTS"):
        dest = Path(os.environ["BENCH_ARTIFACTS"])
        dest.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, dest / "report_screenshot.png")
