"""The documentation: the MkDocs site builds with warnings as errors (a broken link or anchor fails),
the README stays a front door (at most 12 KB, its links into docs/ resolve), and every file path the
README and the pages name exists in the tree (not the changelog's: it names what was removed too)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
PAGES = sorted((ROOT / "docs").glob("*.md"))
README_MAX_BYTES = 12 * 1024
# A path the prose names: it starts at one of the tree's top folders. Placeholders (`<cell id>`) and
# globs are matched as patterns.
PATH = re.compile(r"(?<![\w./~$-])((?:bench|tests|benchmarks|slurm|docs|\.ci)/[\w./*<>{}-]*[\w*/>}])")


def build(config: Path, site: Path) -> subprocess.CompletedProcess:
    command = ["build", "--strict", "--config-file", str(config), "--site-dir", str(site)]
    return subprocess.run(
        [sys.executable, "-m", "mkdocs", *command],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_mkdocs_is_installed() -> None:
    import importlib.util

    assert importlib.util.find_spec("mkdocs"), "mkdocs is missing: pip install -e '.[dev]' (./dev.sh does)"


def test_the_site_builds_with_warnings_as_errors(tmp_path: Path) -> None:
    done = build(ROOT / "mkdocs.yml", tmp_path / "site")
    assert done.returncode == 0, done.stdout + done.stderr
    for page in PAGES:
        assert (tmp_path / "site" / page.stem / "index.html").exists() or page.stem == "index", page
    assert (tmp_path / "site" / "index.html").exists()


@pytest.mark.parametrize(
    "broken",
    ["[gone](no-such-page.md)", "[gone](performance.md#no-such-section)"],
    ids=["page", "anchor"],
)
def test_a_broken_link_fails_the_build(tmp_path: Path, broken: str) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(ROOT / "docs", copy / "docs")
    shutil.copy(ROOT / "mkdocs.yml", copy / "mkdocs.yml")
    page = copy / "docs" / "index.md"
    page.write_text(page.read_text() + f"\nSee {broken}.\n")
    done = build(copy / "mkdocs.yml", tmp_path / "site")
    assert done.returncode != 0
    assert "Aborted with 1 warnings in strict mode" in done.stdout + done.stderr


def test_every_page_is_in_the_navigation() -> None:
    import yaml

    nav = yaml.safe_load((ROOT / "mkdocs.yml").read_text())["nav"]
    listed = {next(iter(item.values())) for item in nav}
    assert listed == {p.name for p in PAGES}


def test_the_readme_is_a_front_door_of_at_most_12_kb() -> None:
    size = len(README.read_bytes())
    assert size <= README_MAX_BYTES, f"README.md is {size} bytes; move detail into docs/"
    text = README.read_text()
    for section in ("## Quick start", "## Commands", "## A grid", "## What a cell writes", "## Exit codes"):
        assert section in text, section


def _slug(heading: str) -> str:
    """The anchor MkDocs' toc extension gives a heading."""
    text = re.sub(r"[^\w\s-]", "", heading.strip().lower())
    return re.sub(r"[-\s]+", "-", text).strip("-")


def _anchors(page: Path) -> set[str]:
    body = re.sub(r"(?ms)^```.*?^```", "", page.read_text())  # a `# comment` in a code block is no heading
    return {_slug(h) for h in re.findall(r"(?m)^#+ (.+)$", body)}


def test_every_docs_link_in_the_readme_exists() -> None:
    links = re.findall(r"\]\(((?:docs/|CHANGELOG)[^)\s]*)\)", README.read_text())
    assert len(links) >= 10, links
    for link in links:
        target, _, anchor = link.partition("#")
        path = ROOT / target
        assert path.exists(), f"README links to {link}, which does not exist"
        if anchor:
            assert anchor in _anchors(path), f"README links to {link}: no such heading"


def _named_paths(text: str) -> set[str]:
    return {m.rstrip(".") for m in PATH.findall(text)}


def _exists(named: str) -> bool:
    if re.search(r"[*<{]", named):  # a pattern: `.slurm/<array>/task-<i>.log`, `report/reproduce/*.yaml`
        pattern = re.sub(r"<[^>]*>|\{[^}]*\}", "*", named)
        return any(ROOT.glob(pattern.rstrip("/"))) or (ROOT / named.split("<")[0].split("*")[0]).exists()
    return (ROOT / named).exists()


def test_every_file_path_the_docs_name_exists() -> None:
    missing, seen = [], 0
    for doc in [README, *PAGES]:
        for named in sorted(_named_paths(doc.read_text())):
            seen += 1
            if not _exists(named):
                missing.append(f"{doc.relative_to(ROOT)}: {named}")
    assert seen > 50, "the path pattern found almost nothing: is it still right?"
    assert not missing, "named in the docs but not in the tree:\n" + "\n".join(missing)


def test_the_path_check_sees_a_missing_file() -> None:
    assert _named_paths("see `bench/nowhere.py` and tests/x/test_y.py::test_z.") == {
        "bench/nowhere.py",
        "tests/x/test_y.py",
    }
    assert not _exists("bench/nowhere.py") and _exists("bench/fs.py")
