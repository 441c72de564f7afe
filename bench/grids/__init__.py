"""Grid files: the built-in ones (the YAML files in this folder) and the reader of any grid file.

A grid file is read within limits (size, nesting, nodes once YAML aliases are expanded), so a hostile
or broken file is one clear line, never a hang; bench/grid.py validates the mapping and expands it to
cells.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from bench.config import short_repr
from bench.errors import BenchError

__all__ = ["builtin_grids", "parse_grid_text", "parse_sets", "read_grid_file"]


def builtin_grids() -> dict[str, str]:
    """Built-in grid name -> its one-line description."""
    out = {}
    for entry in sorted(resources.files("bench.grids").iterdir(), key=lambda p: p.name):
        if entry.name.endswith(".yaml"):
            raw = yaml.safe_load(entry.read_text())
            out[entry.name[: -len(".yaml")]] = str(raw.get("description", ""))
    return out


# Limits on a grid file, checked before any value is converted to a string: a YAML alias bomb (a few
# lines whose aliases expand to billions of nodes) or a deeply nested value would otherwise hang or
# exhaust memory when a message or a description prints it. Real grids are a few kilobytes.
MAX_GRID_BYTES = 1 << 20  # 1 MiB
MAX_GRID_NODES = 100_000  # YAML nodes once every alias is expanded
MAX_GRID_DEPTH = 64  # nested mappings / lists


# libyaml when present: the pure-Python parser takes tens of seconds on a 1 MiB file of small values.
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _GridLimit(Exception):
    pass


def _check_limits(text: str) -> None:
    """Refuse nesting deeper than MAX_GRID_DEPTH and documents that hold more than MAX_GRID_NODES values
    once every alias is expanded, from the parser's events alone: nothing is composed or expanded, so
    a billion-laughs file costs what its few lines cost. (An anchor's expanded size is known when its
    node ends; an alias to an anchor still open is recursive.)"""
    sizes: dict[str, int] = {}  # anchor -> expanded size of its node
    stack: list[list[Any]] = [[None, 0]]  # open collections: [anchor, expanded size so far]
    for event in yaml.parse(text, Loader=_LOADER):
        if isinstance(event, yaml.CollectionStartEvent):
            if len(stack) > MAX_GRID_DEPTH:
                raise _GridLimit(f"nested deeper than {MAX_GRID_DEPTH} levels")
            stack.append([event.anchor, 1])
            continue
        if isinstance(event, yaml.CollectionEndEvent):
            anchor, n = stack.pop()
            if anchor is not None:
                sizes[anchor] = n
        elif isinstance(event, yaml.ScalarEvent):
            n = 1
            if event.anchor is not None:
                sizes[event.anchor] = 1
        elif isinstance(event, yaml.AliasEvent):
            if any(entry[0] == event.anchor for entry in stack):
                raise _GridLimit("holds a recursive YAML alias")
            n = sizes.get(event.anchor, 1)  # an undefined alias: the loader names it below
        else:
            continue
        stack[-1][1] += n
        if stack[-1][1] > MAX_GRID_NODES:
            raise _GridLimit(f"expands to more than {MAX_GRID_NODES} values (YAML aliases?)")


def _load_limited(text: str) -> Any:
    _check_limits(text)
    return yaml.load(text, Loader=_LOADER)  # a safe loader: plain data only


def _read_bytes(path: Path, source: str) -> bytes:
    try:
        size = path.stat().st_size
        if size > MAX_GRID_BYTES:
            raise BenchError(f"{source}: {size} bytes; a grid file may hold at most {MAX_GRID_BYTES} bytes")
        with path.open("rb") as f:
            data = f.read(MAX_GRID_BYTES + 1)
    except OSError as err:
        raise BenchError(f"{source}: cannot be read ({err.strerror or err})") from None
    if len(data) > MAX_GRID_BYTES:  # grew while read, or a file whose size stat does not know
        raise BenchError(f"{source}: a grid file may hold at most {MAX_GRID_BYTES} bytes")
    return data


def parse_grid_text(data: bytes, source: str) -> Any:
    """The YAML document in `data`, within the limits above; every problem is one BenchError line."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise BenchError(
            f"{source}: not UTF-8 text: byte 0x{data[err.start]:02x} at offset {err.start}"
        ) from None
    try:
        return _load_limited(text)
    except _GridLimit as err:
        raise BenchError(f"{source}: refused: the YAML {err}") from None
    except yaml.reader.ReaderError as err:
        raise BenchError(
            f"{source}: is not valid YAML (character #x{err.character:04x} at position {err.position} "
            "is not allowed)"
        ) from None
    except ValueError as err:  # a scalar Python cannot hold: a 5,000-digit int, the date 2026-13-45
        problem = " ".join(str(err).split())[:120]
        raise BenchError(f"{source}: is not valid YAML (a value cannot be read: {problem})") from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        said = [getattr(err, "context", None), getattr(err, "problem", None)]  # "expected ..., but found ..."
        problem = " ".join(", ".join(str(x) for x in said if x).split()) or " ".join(str(err).split())
        raise BenchError(f"{source}:{where} is not valid YAML ({problem})") from None


def read_grid_file(name_or_path: str) -> tuple[dict[str, Any], str]:
    """The raw mapping of a built-in grid name or a YAML file path, and where it came from."""
    path = Path(name_or_path)
    if name_or_path.endswith((".yaml", ".yml")) or path.exists():
        if not path.is_file():
            problem = "is not a regular file" if path.exists() else "does not exist"
            raise BenchError(f"--grid: file {short_repr(name_or_path)} {problem}")
        data, source = _read_bytes(path, str(path)), str(path)
    else:
        builtin = resources.files("bench.grids") / f"{name_or_path}.yaml"
        if not builtin.is_file():
            raise BenchError(
                f"--grid: {short_repr(name_or_path)} is neither a built-in grid nor a file; "
                f"built-in: {', '.join(builtin_grids())}"
            )
        data, source = builtin.read_bytes(), f"grid {name_or_path}"
    raw = parse_grid_text(data, source)
    if not isinstance(raw, dict):
        raise BenchError(f"{source}: a grid must be a mapping of keys, got {type(raw).__name__}")
    return raw, source


def parse_sets(pairs: list[str]) -> dict[str, Any]:
    """`--set train.steps=10 --set eval.n_samples=200` -> nested overrides (values parsed as YAML)."""
    out: dict[str, dict[str, Any]] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        section, dot, field = key.partition(".")
        if not sep or not dot or section not in ("train", "eval") or not field:
            raise BenchError(f"--set: expected train.KEY=VALUE or eval.KEY=VALUE, got {pair!r}")
        try:
            out.setdefault(section, {})[field] = _load_limited(value)  # the limits of a file
        except (yaml.YAMLError, _GridLimit, ValueError):
            raise BenchError(f"--set: cannot parse the value in {short_repr(pair)}") from None
    return out
