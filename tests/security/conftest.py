"""The security tier shares `serve` end to end (a private tmux, real shells as agents) with tests/test_serve.py."""

from __future__ import annotations

import json

from ..test_serve import Served, served  # noqa: F401 (a fixture)


def token_of(served: Served, agent: str) -> str:  # noqa: F811
    tokens = json.loads((served.root / "state" / "agent-console" / "crew" / "tokens.json").read_text())
    return tokens[agent]
