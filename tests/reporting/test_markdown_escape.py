"""User text in report.md and leaderboard.md is never raw HTML (issue 22): the payloads a folder name
can carry show as text, as index.html shows them."""

from __future__ import annotations

import json
from pathlib import Path

from bench.reporting.markdown import md_code, md_escape, no_raw_html
from tests.helpers.report_fixtures import fabricate

PAYLOAD = '"><img src=x onerror=alert(1)>'


def test_helpers_escape_html_and_markdown() -> None:
    assert "<" not in no_raw_html(PAYLOAD) and no_raw_html(no_raw_html(PAYLOAD)) == no_raw_html(PAYLOAD)
    cell = md_escape("a|b\n# c [x](javascript:1) <b>")
    assert cell == "a\\|b \\# c \\[x\\](javascript:1) &lt;b&gt;"
    assert md_code("x `y` z") == "``x `y` z``" and md_code("`a`") == "`` `a` ``"


def test_report_and_leaderboard_markdown_carry_no_raw_html(tmp_path: Path) -> None:
    from bench.reporting import leaderboard
    from bench.reporting.report import write_report

    out = tmp_path / PAYLOAD
    fabricate(out)
    for path in out.glob("*/result.json"):  # user text in a reason and a protocol too
        result = json.loads(path.read_text())
        result["reason"] = PAYLOAD
        if "protocol" in result:
            result["protocol"]["extractor"] = PAYLOAD
        path.write_text(json.dumps(result))
    lb = leaderboard.build(leaderboard.collect(out))
    written = [p for p in leaderboard.write_files(lb, out) if p.suffix == ".md"]
    report = write_report(out)
    for md in [*written, report / "report.md"]:
        text = md.read_text()
        assert "<img" not in text and "&lt;img src=x onerror=alert(1)&gt;" in text, md
    assert "<img src=x" not in (report / "index.html").read_text()
