"""User text in Markdown (report.md, leaderboard.md): shown as text, never read as HTML or structure.

Markdown passes raw HTML through, so a folder name such as `"><img src=x onerror=alert(1)>` in a
path, a reason or a protocol would run in any viewer that renders the file. index.html escapes it
(autoescape); these do the same for Markdown:
- `no_raw_html`: `<` and `>` as entities (idempotent, so text escaped twice reads the same); what a
  template inserts goes through it (the Markdown environment's `finalize`);
- `md_escape`: that, plus Markdown's own punctuation and line breaks, for a table cell or free text;
- `md_code`: a code span that holds any text literally (a fence longer than its backtick runs).
"""

from __future__ import annotations

import re
from typing import Any

_PUNCTUATION = re.compile(r"([\\`*_\[\]|#])")


def no_raw_html(value: Any) -> str:
    return str(value).replace("<", "&lt;").replace(">", "&gt;")


def md_escape(value: Any) -> str:
    """`value` as one line of literal Markdown text (table cells included)."""
    text = " ".join(str(value).splitlines())
    return no_raw_html(_PUNCTUATION.sub(r"\\\1", text))


def md_code(value: Any) -> str:
    """`value` as a Markdown code span, whatever backticks it holds."""
    text = " ".join(str(value).splitlines())
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"
