"""Unpickling that builds data and runs nothing: the one way bench reads a pickle from a user's data.

`pickle.load` calls whatever callable a file names (a `__reduce__` can name `os.system`), before any
check of what was read. The allowed names here are the ones numpy arrays, numpy scalars and dtypes
pickle to (every protocol, Python 2 names included) and the builtin containers; any other name stops
the read with `UnsafePickle` naming it, so nothing the file names is ever called.
"""

from __future__ import annotations

import io
import pickle
from typing import Any, BinaryIO

_NUMPY = {
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy.core.numeric", "_frombuffer"),
    ("numpy._core.numeric", "_frombuffer"),
}
_CONTAINERS = {
    "dict",
    "list",
    "tuple",
    "set",
    "frozenset",
    "bytearray",
    "bytes",
    "str",
    "int",
    "float",
    "complex",
}
# Python 3 pickles of bytes at protocol 2 rebuild them with _codecs.encode(text, "latin1").
_OTHER = {("_codecs", "encode")}


class UnsafePickle(pickle.UnpicklingError):
    """A pickle naming a callable outside the allowed data types: it is refused, not run."""


class _DataUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        allowed = (
            (module, name) in _NUMPY
            or (module, name) in _OTHER
            or (module in ("builtins", "__builtin__") and name in _CONTAINERS)
        )
        if not allowed:
            raise UnsafePickle(f"it names {module}.{name}, which is not plain data (refused, not run)")
        return super().find_class(module, name)


def load(f: BinaryIO, encoding: str = "ASCII") -> Any:
    """What `pickle.load(f, encoding=...)` returns for a pickle of numpy arrays and builtin containers;
    `UnsafePickle` for any other pickle, before anything it names is called."""
    return _DataUnpickler(f, encoding=encoding).load()


def loads(blob: bytes, encoding: str = "ASCII") -> Any:
    return load(io.BytesIO(blob), encoding=encoding)
