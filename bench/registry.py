"""Registries that map names used in grids to the code behind them.

Entries are added with validating decorators, so a typo in a family's declaration fails at import
rather than in the middle of a grid, and lookups of unknown names list what is allowed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from bench.errors import BenchError

T = TypeVar("T")


class Registry(Generic[T]):
    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._items: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        if not name or name.strip() != name or "/" in name:
            raise ValueError(f"bad {self.kind} name {name!r}")

        def add(obj: T) -> T:
            if name in self._items:
                raise ValueError(f"{self.kind} {name!r} is registered twice")
            self._items[name] = obj
            return obj

        return add

    def get(self, name: str, key: str | None = None) -> T:
        try:
            return self._items[name]
        except KeyError:
            where = f"{key}: " if key else ""
            raise BenchError(
                f"{where}unknown {self.kind} {name!r}; allowed: {', '.join(sorted(self._items))}"
            ) from None

    def names(self) -> list[str]:
        return sorted(self._items)

    def in_order(self) -> list[T]:
        """The entries in registration order (names() and items() sort): what a listing shows first."""
        return list(self._items.values())

    def unregister(self, name: str) -> T:
        """Remove `name` (tests that register an example); KeyError when it is not registered."""
        return self._items.pop(name)

    def items(self) -> Iterator[tuple[str, T]]:
        return iter(sorted(self._items.items()))

    def __contains__(self, name: object) -> bool:
        return name in self._items
