"""The report's memorisation gallery and copies flags, TensorBoard links, and estimated vs actual
device-hours, on fabricated results folders (tests/helpers/report_fixtures.py)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from bench.eval import metric_registry as mr
from bench.fs import atomic_write_json, read_json
from bench.reporting.report import write_report
from tests.helpers.report_fixtures import fabricate


@pytest.fixture()
def copies_key():
    """The memorisation metric's flag key on the digits extractor; declared here when the metric is
    not registered in this build (its keys are read through output_info either way)."""
    added = []
    for template, lower, hidden in (  # the longer template first: it must not read as key "test_digits"
        ("mem_authentic_test_{key}", False, True),
        ("mem_copies_{key}", True, False),
        ("mem_authentic_{key}", False, False),
    ):
        if mr.output_info(template.format(key="digits")) is None:
            mr.register_output(template, "mem_fabricated", lower, hidden=hidden, description="fabricated")
            added.append(template)
    yield "mem_copies_digits"
    if added:
        mr._drop_outputs("mem_fabricated")


def test_gallery_flags_and_tensorboard_links(tmp_path, copies_key) -> None:
    cells = fabricate(tmp_path)
    copier, honest = cells[("dcgan", 8)][0], cells[("dcgan", 8)][2]
    for cfg, flag, share in ((copier, 1.0, 0.1), (honest, 0.0, 0.9)):
        d = tmp_path / cfg.cell_id
        result = read_json(d / "result.json")
        mem = {copies_key: flag, "mem_authentic_digits": share, "mem_authentic_test_digits": 0.8}
        result["metrics"] |= mem
        atomic_write_json(d / "result.json", result)
        pixels = (np.random.default_rng(0).random((28, 56)) * 255).astype(np.uint8)
        Image.fromarray(pixels).save(d / "closest_pairs.png")
    (tmp_path / copier.cell_id / "tb").mkdir()
    (tmp_path / copier.cell_id / "tb" / "events.out.tfevents.0.host").write_bytes(b"")

    folder = write_report(tmp_path)
    md = (folder / "report.md").read_text()
    html = (folder / "index.html").read_text()
    gallery = md.split("## Memorisation")[1].split("\n## ")[0]
    assert f"memorisation/{copier.cell_id}.png" in gallery and f"memorisation/{honest.cell_id}.png" in gallery
    assert (folder / "memorisation" / f"{copier.cell_id}.png").is_file()
    line = next(x for x in gallery.splitlines() if copier.cell_id in x)
    assert "**copies**" in line and "mem_authentic_digits = 0.1" in line
    assert "mem_authentic_test_digits" not in line  # hidden keys stay out of the caption
    assert "**copies**" not in next(x for x in gallery.splitlines() if honest.cell_id in x)
    # Flagged in the stability section: the copier, not the honest cell; the row counts one copier.
    flagged = md.split("### Flagged cells")[1].split("##")[0]
    assert f"`{copier.cell_id}`" in flagged and f"**copies**: {copies_key} = 1" in flagged
    assert honest.cell_id not in flagged
    assert "| dcgan[d_width=8,g_width=8] | digits | 8 | 3 | 0% | 0% | 0 | 1 |" in md
    # closest_pairs.png is the gallery's, not listed again among the analyses.
    assert "closest_pairs.png" not in md.split("## Analyses")[1]
    # TensorBoard: the cell's folder linked, the command to run.
    assert f'href="../{copier.cell_id}/tb/"' in html
    assert f"tensorboard --logdir {tmp_path}" in html and f"tensorboard --logdir {tmp_path}" in md
    assert f"[{copier.cell_id}/tb/](../{copier.cell_id}/tb/)" in md


def test_estimated_against_actual_device_hours(tmp_path) -> None:
    from bench.launch.estimate import Estimate, GroupEstimate, record_estimate

    cells = fabricate(tmp_path)
    dcgan8 = cells[("dcgan", 8)][0]
    # dcgan z8's three cells recorded 1, 2 and 3 device-hours; the estimate said 0.5 h per cell.
    record_estimate(
        Estimate([GroupEstimate("dcgan z8", dcgan8.group_id, 3, 3, 1800.0, "calibration (40 steps)")], "gpu"),
        tmp_path,
    )
    md = (write_report(tmp_path) / "report.md").read_text()
    part = md.split("### Estimated vs actual device-hours")[1].split("\n## ")[0]
    assert (
        "| dcgan[d_width=8,g_width=8] | digits | 8 | 3 | 1.5 | 6 | 4.00 | calibration (40 steps) | gpu |"
        in part
    )
    assert "| all |  |  |  | 1.5 | 6 | 4.00 |" in part
    assert "mlp_vae" not in part  # no estimate was recorded for it
