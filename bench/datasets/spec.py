"""A dataset named on the command line, as a grid's `datasets:` list names one: `NAME`, or the YAML
mapping `{NAME: {key: value}}` (`--real '{folder: {path: digits, labeled: true}}'`).

The arguments are validated by the dataset's own schema, so a typo or a missing `path` is one line
naming the key, never a pydantic traceback; a bare name whose dataset needs arguments (`folder`) is
answered with the mapping to write instead.
"""

from __future__ import annotations

from typing import Any

import yaml

from bench.config import short_repr, validate
from bench.datasets.source import DATASETS, DatasetSource
from bench.errors import BenchError

MAX_SPEC_CHARS = 2000  # a spec is a line typed by hand; a longer one is surely something else


def is_inline(text: str) -> bool:
    """True for the mapping form (`{folder: {path: x}}`), which no dataset name or path starts with."""
    return text.lstrip().startswith("{")


def spec_text(name: str, args: dict[str, Any]) -> str:
    """`{folder: {path: DIR}}`: the one-line form to write on a command line (or a bare name)."""
    if not args:
        return name
    return yaml.safe_dump({name: args}, default_flow_style=True, sort_keys=False, width=10_000).strip()


def _parse_inline(text: str, where: str) -> tuple[str, dict[str, Any]]:
    if len(text) > MAX_SPEC_CHARS:
        raise BenchError(f"{where}: a dataset spec of {len(text)} characters; at most {MAX_SPEC_CHARS}")
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError as err:
        problem = " ".join(str(getattr(err, "problem", None) or err).split())
        raise BenchError(
            f"{where}: {short_repr(text)} is not a YAML mapping ({problem}); write it as "
            "'{folder: {path: DIR, labeled: true}}'"
        ) from None
    if not (isinstance(value, dict) and len(value) == 1):
        raise BenchError(f"{where}: expected {{NAME: {{key: value}}}} (one dataset), got {short_repr(value)}")
    ((name, args),) = value.items()
    if not isinstance(name, str) or not isinstance(args, dict | None):
        raise BenchError(f"{where}: expected {{NAME: {{key: value}}}}, got {short_repr(value)}")
    return name, args or {}


def parse_spec(text: str, where: str) -> tuple[str, DatasetSource]:
    """(name, dataset bound to its validated arguments) of `NAME` or `{NAME: {key: value}}`."""
    name, args = _parse_inline(text, where) if is_inline(text) else (text, {})
    cls = DATASETS.get(name, where)
    missing = [k for k, f in cls.Args.model_fields.items() if f.is_required()]
    if missing and not args:  # a bare `folder`: say how to give it its arguments
        example = spec_text(name, cls.example_args)
        raise BenchError(
            f"{where}: {name} needs {', '.join(missing)}; write it as a mapping, e.g. '{example}'"
        )
    return name, cls(validate(cls.Args, args, f"{where}: {name}"))
