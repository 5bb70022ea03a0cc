"""Session-wide test configuration.

Every test under tests/integration/ is marked `integration` (whether or not its module
says so), and integration tests run after all the others, so a quick unit failure is
reported before the slow part starts. `pytest -m "not integration"` runs the fast part.
"""

from __future__ import annotations

from pathlib import Path

import pytest

INTEGRATION_DIR = Path(__file__).resolve().parent / "integration"


def _is_integration(item: pytest.Item) -> bool:
    return (
        INTEGRATION_DIR in item.path.parents or item.get_closest_marker("integration") is not None
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if INTEGRATION_DIR in item.path.parents and item.get_closest_marker("integration") is None:
            item.add_marker(pytest.mark.integration)
    items.sort(key=_is_integration)  # stable: keeps the collection order within each part
