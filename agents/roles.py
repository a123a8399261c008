"""Who may do what: the permission matrix over every command, every route of the control API and every event an
agent sends, for the human, the built-in executive and the agents by role (exec, coordinator, worker).

The matrix is data (`COMMANDS`, `ROUTES`, `EVENTS`: one row each, one line a row); the front doors ask `denial`
before they act, and whatever is not in the matrix is refused. A row gives each of the five a `Reach`:

- `ALL`: anything (the human; the built-in executive, except deciding approvals);
- `ORG`: anywhere in the org; acting on an agent (kill, restart) only on agents of a lower role;
- `TEAM`: a worker its own team (and, to talk, its coordinator); a coordinator its team and the teams under it
  (and, to talk, the exec); acting on an agent only on workers there;
- `OWN`: its own things only: its inbox, its requests, its reports, its locks, the org's public view;
- `NO`: refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Literal

from .model import Agent, Org, Role
from .state import OrgState

PrincipalKind = Literal["human", "executive", "agent"]


class Who(StrEnum):
    """The matrix's columns."""

    HUMAN = "human"
    EXECUTIVE = "executive"
    EXEC = "exec"
    COORDINATOR = "coordinator"
    WORKER = "worker"


class Reach(StrEnum):
    ALL = "all"
    ORG = "org"
    TEAM = "team"
    OWN = "own"
    NO = "no"


ALL, ORG, TEAM, OWN, NO = Reach.ALL, Reach.ORG, Reach.TEAM, Reach.OWN, Reach.NO
RANK = {Role.WORKER: 1, Role.COORDINATOR: 2, Role.EXEC: 3}


@dataclass(frozen=True)
class Row:
    """What each of the five may do with one command, route or event, and why."""

    human: Reach
    executive: Reach
    exec: Reach
    coordinator: Reach
    worker: Reach
    why: str

    def reach(self, who: Who) -> Reach:
        return Reach(getattr(self, who.value))


@dataclass(frozen=True)
class Principal:
    """Who acts, as the front door proved it (a token, the console's own keys): never a name alone."""

    kind: PrincipalKind
    name: str


@dataclass(frozen=True)
class Target:
    """What a scoped operation reaches: agents and teams (None: the top level), or everyone. `talk` is addressing
    (messages, barrier members, voters), where a worker may reach its coordinator and a coordinator the exec;
    otherwise it is acting on them (spawn into a team, kill, restart), only ever downwards."""

    agents: tuple[str, ...] = ()
    teams: tuple[str | None, ...] = ()
    everyone: bool = False
    talk: bool = False

    @classmethod
    def address(cls, to: str) -> Target:
        """`@agent`, `#team` or `all`, as messages write it."""
        if to == "all":
            return cls(everyone=True, talk=True)
        if to.startswith("#"):
            return cls(teams=(to[1:],), talk=True)
        return cls(agents=(to.removeprefix("@"),), talk=True)


DECIDE = "only the human decides approvals"
AGENTS_ONLY = "an agent's own request (its token names it); the human and the executive have no pane to send from"
MANAGE = "the human and the executive run the org; the exec within it, a coordinator within its team"

# --- the matrix: one row a command, route or event --------------------------------------------------------------
#                                 human executive exec coordinator worker
COMMANDS: dict[str, Row] = {
    "approve": Row(ALL, NO, NO, NO, NO, DECIDE),
    "deny": Row(ALL, NO, NO, NO, NO, DECIDE),
    "approve-identical": Row(ALL, NO, NO, NO, NO, DECIDE),
    "approve-always": Row(ALL, NO, NO, NO, NO, DECIDE),
    "status": Row(ALL, ALL, OWN, OWN, OWN, "counts of agents by state are public; the approval count is not"),
    "spawn": Row(ALL, ALL, ORG, TEAM, NO, MANAGE + " (a spawned agent is always a worker)"),
    "team": Row(ALL, ALL, ORG, TEAM, NO, MANAGE + " (a coordinator's new team goes under its own)"),
    "kill": Row(ALL, ALL, ORG, TEAM, NO, MANAGE + ", and only over agents of a lower role"),
    "restart": Row(ALL, ALL, ORG, TEAM, NO, MANAGE + ", and only over agents of a lower role"),
    "bury": Row(ALL, ALL, ORG, TEAM, NO, MANAGE + "; a buried pane is still in the tree, the table and the queue"),
    "unbury": Row(ALL, ALL, ORG, TEAM, NO, MANAGE),
    "promote": Row(ALL, ALL, ORG, NO, NO, "the exec, the human and the executive give roles; not a coordinator"),
    "demote": Row(ALL, ALL, ORG, NO, NO, "the exec, the human and the executive give roles"),
    "save": Row(ALL, ALL, NO, NO, NO, "it writes a file wherever the human may: not an agent's to aim"),
    "arrangement": Row(ALL, ALL, NO, NO, NO, "the windows on screen are the human's: agents do not move them"),
    "adopt": Row(ALL, ALL, NO, NO, NO, "panes outside the org are in nobody's team"),
    "barrier": Row(ALL, ALL, ORG, TEAM, TEAM, "a barrier makes only those who arrive wait; members as for messages"),
    "send": Row(ALL, ALL, ORG, TEAM, TEAM, "worker → its team and coordinator; coordinator → its teams and the exec"),
    "outbox": Row(ALL, ALL, NO, NO, NO, "it shows others' messages; an agent reads its own with `inbox`"),
    "delivery": Row(ALL, ALL, NO, NO, NO, "it shows whom a message reached and who is busy: not an agent's to read"),
    "diff": Row(ALL, ALL, NO, TEAM, NO, "a coordinator reviews its workers' work; an agent's diff is data to read"),
    "merge": Row(ALL, ALL, NO, NO, NO, "it changes the human's branch: filed here, done only once the human approves"),
    "discard": Row(ALL, ALL, NO, NO, NO, "it deletes work for good: filed here, done only once the human approves"),
    "health": Row(ALL, ALL, ORG, TEAM, NO, "the exec reads the org's health, a coordinator its team's (by name)"),
    "recover": Row(ALL, ALL, ORG, TEAM, NO, MANAGE + ", and only over agents of a lower role"),
    "breaker": Row(ALL, NO, NO, NO, NO, "an open breaker asks the human: only the human turns restarts back on"),
    "when": Row(ALL, ALL, OWN, NO, NO, "its action waits for the human's approval, and runs as its maker's own row"),
    "tasks": Row(ALL, ALL, OWN, NO, NO, "the standing tasks; the exec sees its own"),
    "cancel-task": Row(ALL, ALL, OWN, NO, NO, "the exec cancels only its own tasks"),
    "trace-follow": Row(ALL, ALL, NO, NO, NO, "the windows on screen are the human's; the stream shows every agent"),
}
ROUTES: dict[str, Row] = {
    "POST /v1/events": Row(NO, NO, OWN, OWN, OWN, AGENTS_ONLY + "; each event type's row decides"),
    "POST /v1/approvals": Row(NO, NO, OWN, OWN, OWN, AGENTS_ONLY),
    "POST /v1/approvals/{id}/wait": Row(NO, NO, OWN, OWN, OWN, AGENTS_ONLY + " (its own requests only)"),
    "POST /v1/barriers/{name}/wait": Row(NO, NO, OWN, OWN, OWN, AGENTS_ONLY + "; as the barrier.arrive event"),
    "POST /v1/locks/{name}/acquire": Row(NO, NO, OWN, OWN, OWN, AGENTS_ONLY + "; as the lock.acquire event"),
    "POST /v1/locks/{name}/release": Row(NO, NO, OWN, OWN, OWN, AGENTS_ONLY + " (only the lock's holder)"),
    "POST /v1/votes/{name}": Row(ALL, NO, ORG, TEAM, NO, "a vote steers a team: its leaders open one, all vote"),
    "POST /v1/votes/{name}/cast": Row(NO, NO, OWN, OWN, OWN, AGENTS_ONLY + " (only the vote's voters count)"),
    "GET /v1/messages": Row(NO, NO, OWN, OWN, OWN, "an agent reads its own inbox, never another's"),
    "POST /v1/messages/{id}/ack": Row(NO, NO, OWN, OWN, OWN, "an agent acknowledges its own messages"),
    "GET /v1/state": Row(ALL, NO, OWN, OWN, OWN, "agents see the public view: names, teams, roles, states, own inbox"),
    "GET /v1/approvals": Row(ALL, NO, NO, NO, NO, "the approval queue is the human's"),
    "POST /v1/approvals/{id}": Row(ALL, NO, NO, NO, NO, DECIDE),
    "POST /v1/hooks/{program}": Row(NO, NO, OWN, OWN, OWN, "an agent program's hook reports on its own agent"),
    "GET /v1/agents/{name}/explain": Row(ALL, NO, NO, NO, NO, "it shows an agent's screen: the human's to read"),
    "GET /v1/commands": Row(ALL, NO, OWN, OWN, OWN, "the list of commands is public; each command's row decides"),
    "POST /v1/commands/{name}": Row(ALL, NO, OWN, OWN, OWN, "each command's row decides"),
}
EVENTS: dict[str, Row] = {
    "status": Row(NO, NO, OWN, OWN, OWN, "an agent reports its own state"),
    "heartbeat": Row(NO, NO, OWN, OWN, OWN, "an agent says it is alive (renewing its own locks)"),
    "message": Row(NO, NO, ORG, TEAM, TEAM, "worker → its team and coordinator; coordinator → its teams and the exec"),
    "message.ack": Row(NO, NO, OWN, OWN, OWN, "an agent acknowledges its own messages"),
    "approval.request": Row(NO, NO, OWN, OWN, OWN, "any agent may ask the human"),
    "barrier.arrive": Row(NO, NO, ORG, TEAM, TEAM, "anyone may wait at a barrier; members named as for messages"),
    "vote.cast": Row(NO, NO, OWN, OWN, OWN, "anyone may vote; only the vote's voters count"),
    "lock.acquire": Row(NO, NO, OWN, OWN, OWN, "locks guard what agents share: any agent may take one"),
    "lock.release": Row(NO, NO, OWN, OWN, OWN, "only the lock's holder gives it back"),
    "log": Row(NO, NO, OWN, OWN, OWN, "an agent's own log line"),
    "metric": Row(NO, NO, OWN, OWN, OWN, "an agent's own figure"),
}
MATRICES: dict[str, dict[str, Row]] = {"command": COMMANDS, "route": ROUTES, "event": EVENTS}


# --- deciding --------------------------------------------------------------------------------------------------


def who(org: Org, principal: Principal) -> tuple[Who, Agent | None]:
    """The principal's column, and its agent; KeyError when an agent is no longer in the org."""
    if principal.kind == "human":
        return Who.HUMAN, None
    if principal.kind == "executive":
        return Who.EXECUTIVE, None
    agent = org.agent(principal.name)
    return Who(agent.role.value), agent


def describe(org: Org, principal: Principal) -> str:
    """`worker w1`, `the human`…"""
    if principal.kind != "agent":
        return f"the {principal.kind}"
    try:
        return f"{org.agent(principal.name).role.value} {principal.name}"
    except KeyError:
        return principal.name


def denial(
    org: Org, principal: Principal, kind: str, name: str, target: Target | None = None, scoped_later: bool = False
) -> str | None:
    """Why `principal` may not do `name` (a command, route or event, as `kind` says) to `target`; None: it may.
    With `scoped_later`, only whether it may at all (a route whose handler checks the target once it has it)."""
    row = MATRICES[kind].get(name)
    label = {"command": f"run {name}", "route": name, "event": f"send a {name} event"}[kind]
    if row is None:
        return f"{describe(org, principal)} may not {label}: it is not in the permission matrix"
    try:
        column, agent = who(org, principal)
    except KeyError:
        return f"{principal.name} may not {label}: it is no longer an agent of the org"
    reach = row.reach(column)
    if reach is NO:
        return f"{describe(org, principal)} may not {label}: {row.why}"
    if reach in (ALL, OWN) or agent is None or scoped_later:
        return None
    if target is None:
        return f"{describe(org, principal)} may not {label}: there is nothing to check its reach against"
    return _out_of_reach(org, agent, reach, target)


def _out_of_reach(org: Org, agent: Agent, reach: Reach, target: Target) -> str | None:
    me = f"{agent.role.value} {agent.name}"
    reachable = _teams_in_reach(org, agent, reach)
    if target.everyone and reach is not ORG:
        return f"{me} may {_reach_words(org, agent, target.talk)}; everyone is beyond that"
    for team in target.teams:
        if reachable is not None and team not in reachable:
            where = f"team {team!r}" if team is not None else "the top level"
            return f"{me} may {_reach_words(org, agent, target.talk)}; {where} is not one of them"
    for name in target.agents:
        try:
            other = org.agent(name)
        except KeyError:
            return f"{me} may {_reach_words(org, agent, target.talk)}; {name!r} is not an agent of the org"
        if target.talk:
            if reachable is None or other.team in reachable or other.name in _above(org, agent):
                continue
            return f"{me} may {_reach_words(org, agent, True)}; {name!r} is in team {other.team!r}"
        if RANK[other.role] >= RANK[agent.role]:
            return f"{me} may not act on {other.role.value} {name}: only on agents of a lower role"
        if reachable is not None and other.team not in reachable:
            return f"{me} may {_reach_words(org, agent, False)}; {name!r} is in team {other.team!r}"
    return None


def _teams_in_reach(org: Org, agent: Agent, reach: Reach) -> set[str | None] | None:
    """The teams `agent` reaches (None: all): a worker its own, a coordinator its own and those under it."""
    if reach is ORG:
        return None
    if agent.role is Role.WORKER:
        return {agent.team}
    return set(teams_under(org, agent.team))


def teams_under(org: Org, team: str) -> list[str]:
    """`team` and the teams nested under it, at any depth."""
    found = [team]
    for name in found:
        found.extend(sub.name for sub in org.subteams(name) if sub.name not in found)
    return found


def coordinators_of(org: Org, agent: Agent) -> list[str]:
    """The coordinators of the nearest team, from the agent's own upwards, that has any (not the agent itself)."""
    team: str | None = agent.team
    while team is not None:
        found = [a.name for a in org.agents if a.team == team and a.role is Role.COORDINATOR and a.name != agent.name]
        if found:
            return found
        team = org.team(team).parent
    return []


def _above(org: Org, agent: Agent) -> list[str]:
    """Whom `agent` may address above its teams: a worker its coordinator(s), a coordinator the exec."""
    if agent.role is Role.WORKER:
        return coordinators_of(org, agent)
    if agent.role is Role.COORDINATOR:
        return [org.executive.name] if org.executive is not None else []
    return []


def _reach_words(org: Org, agent: Agent, talk: bool) -> str:
    if agent.role is Role.EXEC:
        return "reach the whole org"
    verb = "message" if talk else "act on workers of"
    if agent.role is Role.WORKER:
        above = _above(org, agent) if talk else []
        coordinator = f" and its coordinator ({', '.join(above)})" if above else ""
        return f"{verb} its team {agent.team!r}{coordinator}"
    exec_words = " and the exec" if talk and org.executive is not None else ""
    return f"{verb} its team {agent.team!r}, the teams under it{exec_words}"


def allowed_to(name: str, kind: str = "command") -> list[str]:
    """The columns that may do `name` at all (in some reach), in the matrix's order."""
    row = MATRICES[kind].get(name)
    return [] if row is None else [column.value for column in Who if row.reach(column) is not NO]


# --- what an agent may read ---------------------------------------------------------------------------------


def public_view(state: OrgState, org: Org, agent: str) -> dict[str, Any]:
    """The org as `agent` may see it: every agent's name, team, role and state, and only its own messages and
    approvals (never another's, never the approval queue)."""
    roles = {member.name: member.role.value for member in org.agents}
    return {
        "seq": state.seq,
        "org": state.org,
        "you": agent,
        "teams": dict(sorted(state.teams.items())),
        "agents": {
            name: {"alive": view.alive, "role": roles.get(name), "state": view.state.value, "team": view.team}
            for name, view in sorted(state.agents.items())
        },
        "messages": state.outbox(agent),
        "approvals": [
            {"command": approval.command, "id": approval.id, "requested": approval.requested, "text": approval.text}
            for approval in sorted(state.approvals.values(), key=lambda item: (item.requested, item.id))
            if approval.agent == agent
        ],
        "decided": {
            key: {"approved": decision.approved, "reason": decision.reason, "time": decision.time}
            for key, decision in sorted(state.decided.items())
            if decision.agent == agent
        },
    }


# --- the matrix as a table (docs/roles.md) ---------------------------------------------------------------------

_CELL = {ALL: "all", ORG: "org", TEAM: "team", OWN: "own", NO: "—"}


def markdown_table() -> str:
    """The matrix as the Markdown tables of docs/roles.md."""
    header = "| | human | executive | exec | coordinator | worker | why |\n|---|---|---|---|---|---|---|\n"
    parts = []
    for kind, title in (("command", "Commands"), ("route", "Control API routes"), ("event", "Events agents send")):
        lines = [
            f"| `{name}` | " + " | ".join(_CELL[row.reach(column)] for column in Who) + f" | {row.why} |"
            for name, row in MATRICES[kind].items()
        ]
        parts.append(f"### {title}\n\n{header}" + "\n".join(lines) + "\n")
    return "\n".join(parts)
