"""The `agent-console` command line: the front doors for the human, for agents and for agent programs' hooks.

`main` loads the parser only when called, so `agent_console.cli.hook` (what agent programs wait for) stays light."""

from __future__ import annotations

from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    from agent_console.cli.entry import main as run

    return run(argv)
