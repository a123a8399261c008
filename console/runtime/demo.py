"""The demo org: six bundled demo agents in three teams, acting out a working day (`agent-console --demo`)."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

from agent_console.agents.model import Agent, AgentKind, Org, Role, Team
from agent_console.runtime import paths
from agent_console.terminal.tmux_control import tmux_base_command

DEMO_TEAMS = (
    Team(name="product", color="#f59e0b"),
    Team(name="backend", color="#3b82f6"),
    Team(name="data", parent="backend", color="#8b5cf6"),
)
DEMO_AGENTS = (
    ("planner", "product", Role.COORDINATOR),
    ("writer", "product", Role.WORKER),
    ("api", "backend", Role.COORDINATOR),
    ("tester", "backend", Role.WORKER),
    ("ci", "backend", Role.WORKER),
    ("db", "data", Role.WORKER),
)


def demo_org(cwd: Path | None = None) -> Org:
    """The demo org; its agents run `python -m agent_console.runtime.demo_agent ROLE` with this interpreter."""
    python = shlex.quote(sys.executable)
    agents = tuple(
        Agent(
            name=name,
            team=team,
            kind=AgentKind.SHELL,
            role=role,
            command=f"{python} -m agent_console.runtime.demo_agent {name}",
            cwd=cwd or Path.cwd(),
            env={"AGENT_CONSOLE_DEMO": "1"},
        )
        for name, team, role in DEMO_AGENTS
    )
    return Org(name="demo", teams=DEMO_TEAMS, agents=agents)


def fresh_or_resumed(socket_name: str | None) -> str:
    """Make ready for `--demo` and say which it is: the demo whose agents still run on this tmux server is
    resumed as it is; otherwise the demo starts afresh (the last one's journal is kept beside the new one)."""
    if _demo_running(socket_name):
        return "resumed the demo that was running (its agents kept going); `agent-console down --org demo` ends it"
    folder = paths.state_dir("demo")
    journal = folder / "journal.jsonl"
    if journal.exists():
        os.replace(journal, folder / "journal.previous.jsonl")
        anchor = folder / "journal.anchor"
        if anchor.exists():  # it pins the journal it goes with: the fresh journal starts without one
            os.replace(anchor, folder / "journal.previous.anchor")
        return f"a fresh demo (the last one's journal is kept as {folder / 'journal.previous.jsonl'})"
    return "a fresh demo"


def _demo_running(socket_name: str | None) -> bool:
    """Whether a demo agent's program runs in a pane of this tmux server."""
    try:
        listed = subprocess.run(
            [
                *tmux_base_command(socket_name),
                "list-panes",
                "-a",
                "-F",
                "#{@agent_console_org}|#{@agent_console_agent}|#{pane_dead}",
            ],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    names = {name for name, _, _ in DEMO_AGENTS}
    for line in listed.stdout.splitlines():
        org, _, rest = line.partition("|")
        agent, _, dead = rest.partition("|")
        if org == "demo" and agent in names and dead != "1":
            return True
    return False
