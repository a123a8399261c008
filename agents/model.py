"""The organisation: teams, agents and their roles, validated as a whole."""

from __future__ import annotations

import re
import shlex
from collections.abc import Sequence
from enum import StrEnum
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from .errors import InvalidInput
from .kinds.definition import load_kind
from .limits import Limits
from .paging import Paging
from .recovery import RecoveryPolicy

NAME_PATTERN = r"^[a-z0-9][a-z0-9-]*$"
_NAME_RE = re.compile(NAME_PATTERN)
_COLOR_RE = re.compile(r"^#[0-9a-fA-F]{6}$")

EXEC_SLOT = "exec"
"""The plan's name for the executive pane (the console's own pane)."""
RESERVED_NAMES = frozenset({"human", "supervisor", "executive", "console", "system", EXEC_SLOT, "all", "root", "admin"})
"""Names the console gives meaning to (the journal's actors, the executive pane, `all` in messages), or that would
look like authority: no agent or team may take one, so no name is ever mistaken for them."""


class Role(StrEnum):
    EXEC = "exec"
    COORDINATOR = "coordinator"
    WORKER = "worker"


class Isolation(StrEnum):
    """The boundary agents run in: bubblewrap when it works here (auto), bubblewrap or fail (bwrap), none."""

    AUTO = "auto"
    BWRAP = "bwrap"
    NONE = "none"


class AgentKind(StrEnum):
    CLAUDE = "claude"
    CODEX = "codex"
    AIDER = "aider"
    GEMINI = "gemini"
    SHELL = "shell"


def _check_name(value: str) -> str:
    if not _NAME_RE.match(value):
        raise ValueError(
            f"{value!r} is not a valid name: use lowercase letters, digits and '-', starting with a letter or digit"
        )
    if len(value) > 64:
        raise ValueError(f"{value!r} is too long (64 characters at most)")
    return value


def _check_member_name(value: str) -> str:
    """An agent's or a team's name: valid, and not one of the reserved names."""
    _check_name(value)
    if value in RESERVED_NAMES:
        raise ValueError(f"{value!r} is reserved (reserved: {', '.join(sorted(RESERVED_NAMES))}): choose another name")
    return value


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Team(_Strict):
    """A team: a column of the org chart, optionally nested under a parent team."""

    name: str
    color: str | None = None
    parent: str | None = None
    worktree: bool = False  # its agents each work in a git worktree of their own (an agent may say otherwise)

    _check = field_validator("name")(_check_member_name)

    @field_validator("color")
    @classmethod
    def _check_color(cls, value: str | None) -> str | None:
        if value is not None and not _COLOR_RE.match(value):
            raise ValueError(f"{value!r} is not a colour: write it as '#rrggbb'")
        return value.lower() if value else value


class Agent(_Strict):
    """One agent: a program running in its own pane."""

    name: str
    team: str
    kind: AgentKind = AgentKind.SHELL
    command: str | None = None
    cwd: Path = Path(".")
    env: dict[str, str] = Field(default_factory=dict)
    role: Role = Role.WORKER
    stuck_after: float = Field(default=120.0, ge=1, le=86_400)  # working with an unchanged screen this long
    recovery: RecoveryPolicy | None = None  # its kind's [recovery] table, overridden field by field
    buried: bool = False  # runs off screen (no pane in the layout), still watched and counted
    worktree: bool | None = None  # works in a git worktree of its own, on a branch of its name (None: its team's)

    _check = field_validator("name")(_check_member_name)

    @field_validator("command")
    @classmethod
    def _check_command(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            raise ValueError("command is empty: leave it out to use the kind's default")
        return value

    @field_validator("env")
    @classmethod
    def _check_env(cls, value: dict[str, str]) -> dict[str, str]:
        for key in value:
            if not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", key):
                raise ValueError(f"{key!r} is not a valid environment variable name")
        return value

    @property
    def launch_command(self) -> str | None:
        """The command to run, or None for the user's shell: the spec's, else the kind's program and arguments."""
        if self.command:
            return self.command
        kind = load_kind(self.kind.value)
        return shlex.join((kind.program, *kind.args)) if kind.program else None


class Observability(_Strict):
    """Where the console's spans go besides its journal (`[observability]` in the spec)."""

    otlp_endpoint: str | None = None
    """An OpenTelemetry collector's OTLP/HTTP base address (its /v1/traces takes the spans); None: no export."""

    @field_validator("otlp_endpoint")
    @classmethod
    def _check_endpoint(cls, value: str | None) -> str | None:
        if value is None:
            return value
        if not re.match(r"^https?://[^/@\s]+(/[^\s]*)?$", value):
            shown = "it" if "@" in value else repr(value)  # a password in it is not repeated
            raise ValueError(
                f"{shown} is not an http(s) address like http://127.0.0.1:4318 (no user or password in it)"
            )
        return value.rstrip("/")


class Org(_Strict):
    """A whole organisation, checked for consistency: teams exist, names are unique, no cycles."""

    name: str
    teams: tuple[Team, ...] = ()
    agents: tuple[Agent, ...] = ()
    limits: Limits = Limits()  # what each agent may send, per second and pending
    redact: tuple[str, ...] = ()  # regular expressions for secrets of the org's own (besides the known formats)
    isolation: Isolation = Isolation.AUTO  # what hides the human's credentials and the terminal from agents
    paging: Paging = Paging()  # when and where the human is paged
    observability: Observability = Observability()

    _check = field_validator("name")(_check_name)

    @field_validator("redact")
    @classmethod
    def _check_redact(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for pattern in value:
            try:
                re.compile(pattern)
            except re.error as error:
                raise ValueError(f"{pattern!r} is not a regular expression: {error}") from None
        return value

    @model_validator(mode="after")
    def _check_consistency(self) -> Org:
        problem = find_problem(self.teams, self.agents)
        if problem is not None:
            raise ValueError(f"{problem.path}: {problem.message}")
        return self

    def replaced(self, **changes: object) -> Org:
        """This org with some fields changed (its limits and patterns kept), checked again as a whole."""
        return Org(**{**dict(self), **changes})

    def team(self, name: str) -> Team:
        for team in self.teams:
            if team.name == name:
                return team
        raise KeyError(name)

    def agent(self, name: str) -> Agent:
        for agent in self.agents:
            if agent.name == name:
                return agent
        raise KeyError(name)

    def subteams(self, parent: str | None) -> list[Team]:
        """Teams directly under `parent` (None: the top-level teams), in spec order."""
        return [team for team in self.teams if team.parent == parent]

    def members(self, team: str) -> list[Agent]:
        """The team's own agents (not its sub-teams'), coordinators first, then spec order."""
        own = [agent for agent in self.agents if agent.team == team and agent.role is not Role.EXEC]
        return sorted(own, key=lambda agent: agent.role is not Role.COORDINATOR)

    def uses_worktree(self, agent: Agent) -> bool:
        """Whether `agent` works in a git worktree of its own: its own setting, else its team's or the nearest
        parent team's that sets it."""
        if agent.worktree is not None:
            return agent.worktree
        teams = {team.name: team for team in self.teams}
        team = teams.get(agent.team)
        while team is not None:
            if team.worktree:
                return True
            team = teams.get(team.parent) if team.parent else None
        return False

    @property
    def executive(self) -> Agent | None:
        return next((agent for agent in self.agents if agent.role is Role.EXEC), None)

    def on_screen(self) -> Org:
        """This org without its buried agents: what the layout gives a pane."""
        return self.model_copy(update={"agents": tuple(agent for agent in self.agents if not agent.buried)})


class OrgError(InvalidInput, ValueError):
    """A consistency problem in an org, located by its key path (e.g. ``agent[2].team``)."""

    def __init__(self, location: tuple[str | int, ...], message: str) -> None:
        super().__init__(message)
        self.location = location
        self.message = message

    @property
    def path(self) -> str:
        """The key path as written in TOML: ``agent[2].team``."""
        return format_location(self.location)


def format_location(location: Sequence[str | int]) -> str:
    text = ""
    for part in location:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text or "(top level)"


def find_problem(teams: Sequence[Team], agents: Sequence[Agent]) -> OrgError | None:
    """The first consistency problem among teams and agents, or None."""
    team_names: set[str] = set()
    for index, team in enumerate(teams):
        if team.name in team_names:
            return OrgError(("team", index, "name"), f"duplicate team name {team.name!r}")
        team_names.add(team.name)
    for index, team in enumerate(teams):
        if team.parent is not None and team.parent not in team_names:
            return OrgError(("team", index, "parent"), f"unknown team {team.parent!r}{_known(team_names)}")
    parents = {team.name: team.parent for team in teams}
    for index, team in enumerate(teams):
        seen = [team.name]
        parent = team.parent
        while parent is not None:
            if parent in seen:
                cycle = " -> ".join([*seen[seen.index(parent) :], parent])
                return OrgError(("team", index, "parent"), f"cycle in team parents: {cycle}")
            seen.append(parent)
            parent = parents[parent]
    agent_names: set[str] = set()
    exec_agent: str | None = None
    for index, agent in enumerate(agents):
        if agent.name in agent_names:
            return OrgError(("agent", index, "name"), f"duplicate agent name {agent.name!r}")
        agent_names.add(agent.name)
        if agent.team not in team_names:
            return OrgError(("agent", index, "team"), f"unknown team {agent.team!r}{_known(team_names)}")
        if agent.role is Role.EXEC:
            if exec_agent is not None:
                return OrgError(
                    ("agent", index, "role"),
                    f"only one agent may have role 'exec' ({exec_agent!r} has it already)",
                )
            exec_agent = agent.name
    return None


def _known(names: set[str]) -> str:
    if not names:
        return " (no teams are defined)"
    return f" (teams: {', '.join(sorted(names))})"
