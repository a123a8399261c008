"""The security tier: what agents print or say is hostile; each test is an attack that must fail.

Every test here is marked `security` (`pytest -m security` runs the tier alone); plain `pytest` runs it too.
"""

from __future__ import annotations

from pathlib import Path

import pytest

HERE = Path(__file__).parent


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "security: attacks from agents' text (tests/security)")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.security)
