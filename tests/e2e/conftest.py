"""Every test here drives the `bench` command line end to end: marked `slow` (still part of the suite;
`pytest -m "not slow"` leaves them out for a quick loop)."""

from __future__ import annotations

from pathlib import Path

import pytest


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(item.fspath).parents:
            item.add_marker(pytest.mark.slow)
