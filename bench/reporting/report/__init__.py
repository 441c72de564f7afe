"""`bench report`: the study's answer as one folder, out/report/ (index.html and report.md).

Built from what the cells left (result.json, config.json, metrics.jsonl, curve.jsonl, samples.png and
the analyses' PNGs) and from the leaderboard's statistics: per dataset and protocol the ranking with
CIs, rank intervals and separability; per family its own metrics; the figures; stability and flagged
cells; and per row a grid file and the command that reproduces it. The folder is self-contained:
figures and sample grids are PNG files beside the HTML, linked relatively, no network needed. It is
written to a temporary folder and renamed into place, so an interrupted report never half-replaces
the last one.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

from bench import fs
from bench.errors import BenchError
from bench.reporting import leaderboard as lbm
from bench.reporting.markdown import no_raw_html
from bench.reporting.report.builder import Builder
from bench.reporting.report.files import REPORT
from bench.reporting.report.tables import cost_table, estimate_table, family_tables
from bench.storage import files as store

TEMPLATES = Path(__file__).parent.parent / "templates"


def _environment(autoescape: bool) -> Any:
    import jinja2

    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=autoescape,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def _ticks(text: str) -> Any:
    """Markdown-style `code` spans of a sentence as HTML <code>, the rest escaped."""
    from markupsafe import Markup, escape

    return Markup(re.sub(r"`([^`]+)`", r"<code>\1</code>", str(escape(text))))


def _md_cell(value: Any) -> str:
    return no_raw_html(str(value).replace("|", "\\|").replace("\n", " "))


def write_report(
    out: Path,
    metric: str | None = None,
    datasets: list[str] | None = None,
    models: list[str] | None = None,
    lb: lbm.Leaderboard | None = None,
) -> Path:
    """Write out/report/index.html and out/report/report.md (with their figures) and return the
    folder. `metric` (e.g. kid_digits) ranks every dataset that has it by that score instead of the
    default (FID, else the domain FD); `datasets` / `models` keep only the results they match
    (leaderboard.select). `lb`: the leaderboard already built from `out` (bench run hands it over,
    so its comparisons are computed once). Raises BenchError when `out` holds no cells."""
    out = Path(out)
    if not out.is_dir() or not any(out.glob(f"*/{store.CONFIG}")):
        raise BenchError(
            f"--out: no cell folders in {out} (run a grid first: bench run --grid NAME --out {out})"
        )
    fs.clean_temp_dirs(out, ".report.")  # folders of reports killed before they finished
    tmp = fs.make_temp_dir(out, ".report.")  # the umask's permissions, like the rest of --out
    try:
        b = Builder(out, tmp, metric, datasets, models, lb)
        context = {
            "overview": b.overview(),
            "sections": b.sections(),
            "unscored": [lbm.unscored_words(r) for r in b.lb.unscored],
            "families": family_tables(b.lb),
            "cost": cost_table(b.lb),
            "estimate": estimate_table(b.lb, out),
            "stability": b.stability(),
            "gallery": b.gallery(),
            "memorisation": b.memorisation(),
            "tensorboard": b.tensorboard(),
            "analyses": b.analyses(),
            "reproduce": b.reproduce(),
            "metric": metric,
        }
        html_env = _environment(True)
        html_env.filters["ticks"] = _ticks
        html = html_env.get_template("report.html.j2").render(**context)
        md_env = _environment(False)
        md_env.finalize = no_raw_html  # every inserted value: user text is never raw HTML in report.md
        md_env.filters["md"] = _md_cell
        md = md_env.get_template("report.md.j2").render(**context)
        (tmp / "index.html").write_text(html)
        (tmp / "report.md").write_text(md)
        final = out / REPORT
        old = out / f".{REPORT}.old"
        shutil.rmtree(old, ignore_errors=True)
        if final.exists():
            final.rename(old)
        tmp.rename(final)
        shutil.rmtree(old, ignore_errors=True)
        return final
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
