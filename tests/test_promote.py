"""Promotion on a real private tmux: `promote` makes an agent its team's coordinator (demoting the one before), its
pane goes to the top of the team's column at once, the change is journaled and replayed on the next start, and the
permission matrix treats it as a coordinator from that moment; `demote` undoes it."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from .conftest import tmux
from .test_serve import Served, serving

SHELL = "bash --norc --noprofile"
SPEC = f"""
[org]
name = "crew"

[[team]]
name = "core"

[[team]]
name = "ops"

[[agent]]
name = "lead"
team = "core"
role = "coordinator"
command = "{SHELL}"

[[agent]]
name = "ann"
team = "core"
command = "{SHELL}"

[[agent]]
name = "bob"
team = "core"
command = "{SHELL}"

[[agent]]
name = "cat"
team = "ops"
command = "{SHELL}"
"""
RECT = "#{@agent_console_agent}|#{pane_id}|#{pane_left}|#{pane_top}|#{pane_width}"


@pytest.fixture
def crew(tmux_socket: str, tmp_path: Path) -> Iterator[Served]:
    with serving(tmux_socket, tmp_path, SPEC) as service:
        yield service


def rects(served: Served) -> dict[str, tuple[str, int, int, int]]:
    """Agent → its pane, left, top and width, in the org's first window."""
    found = {}
    for line in tmux(served.socket, "list-panes", "-t", "=crew:", "-F", RECT).splitlines():
        agent, pane, left, top, width = line.split("|")
        found[agent] = (pane, int(left), int(top), int(width))
    return found


def roles(served: Served, seen_by: str) -> dict[str, str]:
    """Every agent's role, in the org as an agent reads it from the console (GET /v1/state with its token)."""
    from agent_console.runtime.client import ControlClient

    tokens = json.loads((served.root / "state" / "agent-console" / "crew" / "tokens.json").read_text())
    socket = Path(served.env["XDG_RUNTIME_DIR"]) / "agent-console" / "crew.sock"
    old = dict(os.environ)
    os.environ.update(served.env)
    try:
        state = asyncio.run(ControlClient(socket, tokens[seen_by]).call("GET", "/v1/state", wait=5))
    finally:
        os.environ.clear()
        os.environ.update(old)
    return {name: view["role"] for name, view in state["agents"].items()}


def role_edits(served: Served) -> list[tuple[str, str, str]]:
    """The last org edits journaled: (action, agent, role) of each change-agent."""
    journal = served.root / "state" / "agent-console" / "crew" / "journal.jsonl"
    edits = [json.loads(line)["event"] for line in journal.read_text().splitlines()]
    last = [event for event in edits if event.get("type") == "org.edit"][-1]
    return [(e["action"], e["name"], e["table"].get("role", "worker")) for e in last["edits"]]


def column_top(served: Served, team: tuple[str, ...]) -> str:
    """The agent on top of the team's column (the smallest pane_top of those sharing its left edge)."""
    live = rects(served)
    return min(team, key=lambda agent: (live[agent][2], live[agent][1]))


def test_promote_puts_the_pane_on_top_changes_the_role_and_its_rights_and_survives_a_restart(crew: Served) -> None:
    core = ("lead", "ann", "bob")
    assert column_top(crew, core) == "lead"
    before = rects(crew)
    # Before: bob is a worker, and a worker may not kill.
    refused = crew.cli_as("bob", "kill", "ann")
    assert refused.returncode != 0 and "worker bob may not run kill" in refused.stderr, refused.stderr

    result = crew.cli("promote", "bob")
    assert result.returncode == 0, result.stderr
    assert "promoted bob: coordinator of team core" in result.stdout
    assert "lead (its coordinator until now) is a worker again" in result.stdout
    after = rects(crew)
    assert column_top(crew, core) == "bob"
    assert after["bob"][0] == before["bob"][0]  # the same pane (its program kept), moved
    assert after["bob"][1] == before["lead"][1] and after["bob"][2] == before["lead"][2]  # where lead was
    assert roles(crew, "ann") == {"lead": "worker", "ann": "worker", "bob": "coordinator", "cat": "worker"}
    assert sorted(role_edits(crew)) == [("change-agent", "bob", "coordinator"), ("change-agent", "lead", "worker")]
    # At once, bob may do what a coordinator may (over its team's workers), and lead no longer.
    refused = crew.cli_as("lead", "restart", "ann")
    assert refused.returncode != 0 and "worker lead may not run restart" in refused.stderr, refused.stderr
    allowed = crew.cli_as("bob", "restart", "ann")
    assert allowed.returncode == 0 and "restarted ann" in allowed.stdout, allowed.stderr
    beyond = crew.cli_as("bob", "restart", "cat")
    assert beyond.returncode != 0 and "'cat' is in team 'ops'" in beyond.stderr, beyond.stderr
    # Nor may a coordinator promote: that is the exec's, the human's and the executive's.
    refused = crew.cli_as("bob", "promote", "ann")
    assert refused.returncode != 0 and "coordinator bob may not run promote" in refused.stderr, refused.stderr

    # The next start replays it.
    crew.stop()
    crew.start()
    assert roles(crew, "cat")["bob"] == "coordinator" and roles(crew, "cat")["lead"] == "worker"
    assert column_top(crew, core) == "bob"

    # Demoted, the team has no coordinator; promoting lead again brings the spec's org back: no edit left.
    result = crew.cli("demote", "bob")
    assert result.returncode == 0 and "demoted bob" in result.stdout, result.stderr
    assert set(roles(crew, "ann").values()) == {"worker"}
    assert crew.cli("promote", "lead").returncode == 0
    assert column_top(crew, core) == "lead"
    assert role_edits(crew) == []
    again = crew.cli("promote", "lead")
    assert again.returncode == 0 and "coordinates team core already: nothing to do" in again.stdout
    unknown = crew.cli("promote", "zed")
    assert unknown.returncode != 0 and "promote: no agent 'zed'" in unknown.stderr
