"""The demo org: six bundled demo agents in three teams, acting out a working day (`agent-console --demo`)."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

from agent_console.agents.model import Agent, AgentKind, Org, Role, Team

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
    """The demo org; its agents run `python -m agent_console.demo_agent ROLE` with this interpreter."""
    python = shlex.quote(sys.executable)
    agents = tuple(
        Agent(
            name=name,
            team=team,
            kind=AgentKind.SHELL,
            role=role,
            command=f"{python} -m agent_console.demo_agent {name}",
            cwd=cwd or Path.cwd(),
            env={"AGENT_CONSOLE_DEMO": "1"},
        )
        for name, team, role in DEMO_AGENTS
    )
    return Org(name="demo", teams=DEMO_TEAMS, agents=agents)
