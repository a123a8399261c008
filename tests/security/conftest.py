"""The security tier: what agents print or say is hostile; each test is an attack that must fail. Every test
here is marked `security` (`pytest -m security` runs the tier alone); plain `pytest` runs it too. The tier shares
`serve` end to end (a private tmux, real shells as agents) with tests/test_serve.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ..test_serve import Served, served, unserved  # noqa: F401 (fixtures)

HERE = Path(__file__).parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.security)


def token_of(served: Served, agent: str) -> str:  # noqa: F811
    tokens = json.loads((served.root / "state" / "agent-console" / "crew" / "tokens.json").read_text())
    return tokens[agent]
