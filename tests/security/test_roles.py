"""Roles enforced, one matrix (agents/roles.py): each agent tries every command and every route of the control API
beyond its role, for real, against a served org (the supervisor on the in-memory terminal, its real control
server on its unix socket). Every unauthorised attempt is refused and changes nothing, every refusal is journaled
with who and why, and every authorised attempt works.

The org: the exec `boss` (team hq); team `api` with coordinator `lead` and workers `w1`, `w2`; its sub-team
`api-db` with worker `w3` (no coordinator of its own: `lead` is w3's); team `data` with coordinator `dl` and worker
`d1`.
"""

from __future__ import annotations

import asyncio
import json
import math
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from agent_console.agents import roles
from agent_console.agents.errors import Forbidden, InvalidInput
from agent_console.agents.events import (
    AGENT_EVENT_TYPES,
    EXECUTIVE,
    HUMAN,
    SUPERVISOR,
    AccessDenied,
    BarrierArrived,
    CommandRan,
    MessageSent,
)
from agent_console.agents.model import EXEC_SLOT, RESERVED_NAMES, Agent, Org, Role, Team
from agent_console.agents.protocol import encode
from agent_console.agents.spec import SpecError, load_spec
from agent_console.runtime.client import ControlClient, ControlRefused
from agent_console.runtime.commands import Actor
from agent_console.runtime.supervisor import Supervisor

from ..fake_terminal import FakeTerminal
from ..test_serve import Served

ROOT = Path(__file__).resolve().parent.parent.parent


def company() -> Org:
    def agent(name: str, team: str, role: Role = Role.WORKER) -> Agent:
        return Agent(name=name, team=team, role=role, command="cat")

    return Org(
        name="company",
        teams=(Team(name="hq"), Team(name="api"), Team(name="api-db", parent="api"), Team(name="data")),
        agents=(
            agent("boss", "hq", Role.EXEC),
            agent("lead", "api", Role.COORDINATOR),
            agent("w1", "api"),
            agent("w2", "api"),
            agent("w3", "api-db"),
            agent("dl", "data", Role.COORDINATOR),
            agent("d1", "data"),
        ),
    )


@pytest.fixture
async def org(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Supervisor]:
    runtime = tempfile.mkdtemp(prefix="acrl", dir="/tmp")  # a unix socket's path is short
    monkeypatch.setenv("XDG_RUNTIME_DIR", runtime)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.chdir(tmp_path)
    # where the terminal server is: the human's to know (the fake has no server; this stands for tmux's answer)
    where = {"tmux": {"socket_name": "the-terminal-server"}}
    monkeypatch.setattr(FakeTerminal, "state_location", lambda self: where, raising=False)
    running = Supervisor(company(), FakeTerminal(), (200, 60))  # type: ignore[arg-type]  # what callers use
    await running.start()
    yield running
    await running.stop()
    await running.backend.close()


def actor(name: str) -> Actor:
    if name == HUMAN:
        return Actor.human("line")
    if name == EXECUTIVE:
        return Actor.executive("chat")
    return Actor.agent(name, "api")


# What the supervisor observes on its own while a test runs (screens read after they settle), and when an agent was
# last heard of (its refusal is journaled, under its name): no attempt of an agent's changes these.
OBSERVED = ("last_event", "life", "state", "screen_state", "screen_rule", "hook_state", "hook_event", "stalled_since")


def snapshot(supervisor: Supervisor) -> str:
    """Everything an unauthorised attempt could change: the org, and the state (agents, their panes and launches,
    approvals, messages and outboxes, barriers, votes, locks…)."""
    state = supervisor.state.to_json()
    state.pop("seq")
    for view in state["agents"].values():
        for observed in OBSERVED:
            view.pop(observed)
    return supervisor.org.model_dump_json() + json.dumps(state, sort_keys=True)


def denials(supervisor: Supervisor) -> list[tuple[str, Any]]:
    return [
        (record.actor, record.event)
        for record in supervisor.recent_records()
        if isinstance(record.event, AccessDenied) or (isinstance(record.event, CommandRan) and not record.event.ok)
    ]


# --- the matrix is complete ---------------------------------------------------------------------------------------


def test_every_command_route_and_event_has_a_row_and_nothing_else_does(tmp_path: Path) -> None:
    from agent_console.runtime.org_commands import org_commands
    from agent_console.runtime.server import ControlServer

    registered = {command.name for command in org_commands()}
    assert sorted(registered - set(roles.COMMANDS)) == [], "commands missing from the matrix (they are refused)"
    assert sorted(set(roles.COMMANDS) - registered) == [], "rows for commands that do not exist"
    server = ControlServer(None, tmp_path / "s.sock")  # type: ignore[arg-type]  # only its routes are read
    routes = {
        f"{route.method} {route.resource.canonical}"
        for route in server.app.router.routes()
        if route.resource is not None and route.method != "HEAD"
    }
    assert sorted(routes - set(roles.ROUTES)) == [], "routes missing from the matrix (they are refused)"
    assert sorted(set(roles.ROUTES) - routes) == [], "rows for routes that do not exist"
    assert sorted(AGENT_EVENT_TYPES - set(roles.EVENTS)) == [], "agent events missing from the matrix"
    assert sorted(set(roles.EVENTS) - AGENT_EVENT_TYPES) == []
    for command in org_commands():  # a row that lets an agent act within its team needs what to check it against
        row = roles.COMMANDS[command.name]
        if any(row.reach(who) in (roles.TEAM, roles.ORG) for who in (roles.Who.COORDINATOR, roles.Who.WORKER)):
            assert command.target is not None, f"{command.name} is scoped by team but names no target"


def test_a_command_missing_from_the_matrix_is_refused() -> None:
    refused = roles.denial(company(), roles.Principal("human", HUMAN), "command", "launch-missiles")
    assert refused == "the human may not run launch-missiles: it is not in the permission matrix"


def test_the_roles_page_is_the_matrix() -> None:
    page = (ROOT / "docs" / "roles.md").read_text(encoding="utf-8")
    start, end = "<!-- matrix: generated from agents/roles.py -->\n", "<!-- end of matrix -->"
    assert page[page.index(start) + len(start) : page.index(end)].strip() == roles.markdown_table().strip(), (
        "docs/roles.md differs from the matrix: paste agents.roles.markdown_table() between its markers"
    )
    assert "docs/roles.md" in (ROOT / "README.md").read_text(encoding="utf-8")


# --- commands by role -----------------------------------------------------------------------------------------

OK, DENIED = "ok", "denied"
# (who, command line, expected): each command by each of the five, within their reach and beyond it.
COMMAND_CASES: list[tuple[str, str, str]] = [
    *[(who, "approve {approval}", DENIED) for who in (EXECUTIVE, "boss", "lead", "w1")],
    *[(who, "deny {approval}", DENIED) for who in (EXECUTIVE, "boss", "lead", "w1")],
    *[(who, "approve-identical {approval}", DENIED) for who in (EXECUTIVE, "boss", "lead", "w1")],
    *[(who, "approve-always {approval}", DENIED) for who in (EXECUTIVE, "boss", "lead", "w1")],
    (HUMAN, "approve {approval}", OK),
    (HUMAN, "deny {approval}", OK),
    (HUMAN, "approve-identical {approval}", OK),
    *[(who, "status", OK) for who in (HUMAN, EXECUTIVE, "boss", "lead", "w1")],
    (HUMAN, "spawn n1 --team data --command cat", OK),
    (EXECUTIVE, "spawn n1 --team data --command cat", OK),
    ("boss", "spawn n1 --team data --command cat", OK),
    ("lead", "spawn n1 --team api-db --command cat", OK),
    ("lead", "spawn n1 --team data --command cat", DENIED),
    ("w1", "spawn n1 --team api --command cat", DENIED),
    (HUMAN, "team new t9", OK),
    ("boss", "team new t9", OK),
    ("lead", "team new t9 --parent api", OK),
    ("lead", "team new t9", DENIED),
    ("lead", "team new t9 --parent data", DENIED),
    ("w1", "team new t9 --parent api", DENIED),
    (HUMAN, "kill boss", OK),
    (EXECUTIVE, "kill lead", OK),
    ("boss", "kill d1", OK),
    ("boss", "kill dl", OK),
    ("boss", "kill boss", DENIED),
    ("lead", "kill w3", OK),
    ("lead", "kill d1", DENIED),
    ("lead", "kill dl", DENIED),
    ("lead", "kill boss", DENIED),
    ("w1", "kill w2", DENIED),
    ("w1", "kill w1", DENIED),
    (HUMAN, "restart w1", OK),
    ("boss", "restart lead", OK),
    ("lead", "restart w1", OK),
    ("lead", "restart d1", DENIED),
    ("w1", "restart w2", DENIED),
    (HUMAN, "save {tmp}/by-human.toml", OK),
    (EXECUTIVE, "save {tmp}/by-executive.toml", OK),
    *[(who, "save {tmp}/by-agent.toml", DENIED) for who in ("boss", "lead", "w1")],
    (HUMAN, "adopt all", OK),
    *[(who, "adopt all", DENIED) for who in ("boss", "lead", "w1")],
    (HUMAN, "barrier b1 --members d1,w1", OK),
    ("boss", "barrier b1 --members d1,w1", OK),
    ("lead", "barrier b1 --members w3,boss", OK),
    ("lead", "barrier b1 --members w1,d1", DENIED),
    ("w1", "barrier b1 --members w1,w2,lead", OK),
    ("w1", "barrier b1 --count 3", OK),
    ("w1", "barrier b1 --members w1,d1", DENIED),
    (HUMAN, "send @d1 hello", OK),
    (EXECUTIVE, "send all hello", OK),
    ("boss", "send all hello", OK),
    ("lead", "send #api-db hello", OK),
    ("lead", "send @boss hello", OK),
    ("lead", "send @d1 hello", DENIED),
    ("lead", "send #data hello", DENIED),
    ("lead", "send all hello", DENIED),
    ("w1", "send @w2 hello", OK),
    ("w1", "send @lead hello", OK),
    ("w1", "send #api hello", OK),
    ("w1", "send @d1 hello", DENIED),
    ("w1", "send #api-db hello", DENIED),
    ("w1", "send @boss hello", DENIED),
    ("w1", "send all hello", DENIED),
    ("w3", "send @lead hello", OK),  # its team has no coordinator: the one above it is its coordinator
    ("w3", "send @w1 hello", DENIED),
    (HUMAN, "outbox", OK),
    *[(who, "outbox", DENIED) for who in ("boss", "lead", "w1")],
    *[(who, "health", OK) for who in (HUMAN, EXECUTIVE, "boss")],
    ("lead", "health w1", OK),
    ("lead", "health d1", DENIED),
    ("lead", "health", DENIED),  # the whole org's health is beyond its team
    ("w1", "health w2", DENIED),
    (HUMAN, "recover w1", OK),
    (EXECUTIVE, "recover lead", OK),
    ("boss", "recover lead", OK),
    ("lead", "recover w1", OK),
    ("lead", "recover d1", DENIED),
    ("lead", "recover boss", DENIED),
    ("w1", "recover w2", DENIED),
    (HUMAN, "breaker reset w1", OK),
    *[(who, "breaker reset w1", DENIED) for who in (EXECUTIVE, "boss", "lead", "w1")],
]


@pytest.mark.parametrize(("who", "line", "expected"), COMMAND_CASES, ids=[f"{c[0]}:{c[1]}" for c in COMMAND_CASES])
async def test_each_command_by_each_role(org: Supervisor, tmp_path: Path, who: str, line: str, expected: str) -> None:
    supervisor = org
    approval = supervisor.request_approval("w2", "ship it?", "make ship")
    line = line.format(approval=approval, tmp=tmp_path)
    before, journaled = snapshot(supervisor), len(denials(supervisor))
    if expected == DENIED:
        with pytest.raises(Forbidden) as refused:
            await supervisor.commands.run_line(supervisor, line, actor(who))
        reason = str(refused.value)
        assert reason.startswith(roles.describe(supervisor.org, actor(who).principal) + " may "), reason
        assert snapshot(supervisor) == before, f"{who} changed the org with `{line}`"
        assert not list(tmp_path.glob("by-agent.toml"))
        (actor_name, ran), *_ = denials(supervisor)[journaled:]
        assert (actor_name, ran.name, ran.ok, ran.error) == (actor(who).name, line.split()[0], False, reason)
        return
    said = await supervisor.commands.run_line(supervisor, line, actor(who))
    assert said, line
    if line.startswith("status") and who not in (HUMAN, EXECUTIVE):
        assert "approval" not in said  # the approval queue is the human's
    assert denials(supervisor)[journaled:] == []


async def test_a_killed_agent_can_no_longer_run_what_its_role_allowed(org: Supervisor) -> None:
    supervisor = org
    await supervisor.commands.run_line(supervisor, "kill lead", Actor.human("line"))
    with pytest.raises(Forbidden, match=r"^lead may not run kill: it is no longer an agent of the org$"):
        await supervisor.commands.run_line(supervisor, "kill w1", Actor.agent("lead", "api"))
    assert "w1" in {agent.name for agent in supervisor.org.agents}


# --- routes by role, over the real control API -------------------------------------------------------------------


def client(supervisor: Supervisor, who: str) -> ControlClient:
    token = supervisor.human_token if who == HUMAN else supervisor.tokens[who]
    return ControlClient(supervisor.socket_path, token)


async def attempt(supervisor: Supervisor, who: str, method: str, path: str, body: dict | None) -> tuple[int, Any]:
    try:
        return 200, await client(supervisor, who).call(method, path, body, wait=5)
    except ControlRefused as error:
        return error.status, error.message


EVERYONE = (HUMAN, "boss", "lead", "w1")
AGENTS = ("boss", "lead", "w1")
# (method, path, body, who may): paths take {approval} (w2's request… or the caller's own), {message} (the caller's).
ROUTE_CASES: list[tuple[str, str, dict | None, tuple[str, ...]]] = [
    ("POST", "/v1/events", {"v": 1, "type": "heartbeat"}, AGENTS),
    ("POST", "/v1/approvals", {"text": "may I?"}, AGENTS),
    ("POST", "/v1/approvals/{own}/wait", {"timeout": 0.05}, AGENTS),
    ("POST", "/v1/barriers/solo/wait", {"count": 1}, AGENTS),
    ("POST", "/v1/locks/db/acquire", {"lease": 5}, AGENTS),
    ("POST", "/v1/locks/db/release", {}, AGENTS),  # after acquiring it
    ("POST", "/v1/votes/ship", {"voters": ["w1", "w2"]}, (HUMAN, "boss", "lead")),
    ("POST", "/v1/votes/open/cast", {"choice": "yes"}, AGENTS),
    ("GET", "/v1/messages", None, AGENTS),
    ("POST", "/v1/messages/{message}/ack", None, AGENTS),
    ("GET", "/v1/state", None, EVERYONE),
    ("GET", "/v1/approvals", None, (HUMAN,)),
    ("POST", "/v1/approvals/{approval}", {"approved": True}, (HUMAN,)),
    ("POST", "/v1/hooks/claude", {"hook_event_name": "Stop"}, AGENTS),
    ("GET", "/v1/agents/w2/explain", None, (HUMAN,)),
    ("GET", "/v1/commands", None, EVERYONE),
    ("POST", "/v1/commands/status", {}, EVERYONE),
]


@pytest.mark.parametrize(
    ("method", "path", "body", "allowed"), ROUTE_CASES, ids=[f"{case[0]} {case[1]}" for case in ROUTE_CASES]
)
@pytest.mark.parametrize("who", EVERYONE)
async def test_each_route_by_each_role(
    org: Supervisor, who: str, method: str, path: str, body: dict | None, allowed: tuple[str, ...]
) -> None:
    supervisor = org
    approval = supervisor.request_approval("w2", "ship it?", "make ship")
    await supervisor.open_vote(HUMAN, "open", None, ["boss", "lead", "w1"], "majority", None, None)
    own = supervisor.request_approval(who, "mine?", None) if who != HUMAN else approval
    if who != HUMAN:
        supervisor.submit(HUMAN, MessageSent(id=f"m-{who}", to=f"@{who}", text="for you"))
    if path.endswith("/release") and who in allowed:
        await attempt(supervisor, who, "POST", "/v1/locks/db/acquire", {"lease": 5})
    path = path.format(approval=approval, own=own, message=f"m-{who}")
    before, journaled = snapshot(supervisor), len(denials(supervisor))
    status, answer = await attempt(supervisor, who, method, path, body)
    if who in allowed:
        assert status == 200, f"{who} {method} {path}: {answer}"
        assert denials(supervisor)[journaled:] == []
        return
    assert status == 403, f"{who} {method} {path} was let through: {answer}"
    assert snapshot(supervisor) == before, f"{who} changed the state through {method} {path}"
    new = denials(supervisor)[journaled:]
    assert len(new) == 1, new
    actor_name, denied = new[0]
    assert actor_name == who
    if isinstance(denied, AccessDenied):
        assert denied.reason == answer and denied.operation.startswith(method)
    else:
        assert denied.error == answer


async def test_an_agent_cannot_decide_an_approval_through_the_api(org: Supervisor) -> None:
    supervisor = org
    approval = supervisor.request_approval("w2", "rm -rf ~/important", "rm -rf ~/important")
    for who in AGENTS:
        for method, path, body in (
            ("POST", f"/v1/approvals/{approval}", {"approved": True}),
            ("POST", "/v1/commands/approve", {"id": approval}),
            ("POST", "/v1/commands/approve-identical", {"id": approval}),
            ("POST", "/v1/commands/approve-always", {"id": approval}),
        ):
            status, answer = await attempt(supervisor, who, method, path, body)
            assert status == 403 and "only the human decides approvals" in answer, (who, path, answer)
    assert approval in supervisor.state.approvals and supervisor.state.decided == {}
    assert (await attempt(supervisor, HUMAN, "POST", f"/v1/approvals/{approval}", {"approved": False}))[0] == 200
    assert supervisor.state.decided[approval].by == HUMAN


async def test_a_coordinator_opens_votes_only_among_its_team(org: Supervisor) -> None:
    supervisor = org
    status, answer = await attempt(supervisor, "lead", "POST", "/v1/votes/v2", {"voters": ["w1", "d1"]})
    assert (status, answer) == (
        403,
        "coordinator lead may message its team 'api', the teams under it and the exec; 'd1' is in team 'data'",
    )
    status, answer = await attempt(supervisor, "lead", "POST", "/v1/votes/v2", {})
    assert status == 403 and answer.endswith("(name the voters with voters: [...])")
    assert "v2" not in supervisor.state.votes
    status, opened = await attempt(supervisor, "lead", "POST", "/v1/votes/v2", {"voters": ["w1", "w3"]})
    assert status == 200 and opened["voters"] == ["w1", "w3"]
    assert [r.actor for r in supervisor.recent_records() if r.event.type == "vote.open"] == ["lead"]


# --- events by role: through the API and the escape sequence on an agent's own terminal ----------------------------


@pytest.mark.parametrize(
    ("who", "event", "allowed"),
    [
        ("w1", {"type": "message", "id": "x1", "to": "@w2", "text": "hi"}, True),
        ("w1", {"type": "message", "id": "x1", "to": "@lead", "text": "hi"}, True),
        ("w1", {"type": "message", "id": "x1", "to": "@d1", "text": "hi"}, False),
        ("w1", {"type": "message", "id": "x1", "to": "#data", "text": "hi"}, False),
        ("w1", {"type": "message", "id": "x1", "to": "all", "text": "hi"}, False),
        ("lead", {"type": "message", "id": "x1", "to": "#api-db", "text": "hi"}, True),
        ("lead", {"type": "message", "id": "x1", "to": "@boss", "text": "hi"}, True),
        ("lead", {"type": "message", "id": "x1", "to": "@dl", "text": "hi"}, False),
        ("boss", {"type": "message", "id": "x1", "to": "all", "text": "hi"}, True),
        ("w1", {"type": "barrier.arrive", "name": "b", "members": ["w1", "w2"]}, True),
        ("w1", {"type": "barrier.arrive", "name": "b", "members": ["w1", "d1"]}, False),
        ("w1", {"type": "barrier.arrive", "name": "b", "count": 2}, True),
        ("w1", {"type": "lock.acquire", "name": "db"}, True),
        ("w1", {"type": "status", "state": "working"}, True),
        ("w1", {"type": "log", "text": "hello"}, True),
        ("w1", {"type": "metric", "name": "tests", "value": 3}, True),
    ],
)
async def test_each_event_by_each_role(org: Supervisor, who: str, event: dict, allowed: bool) -> None:
    supervisor = org
    before, journaled = snapshot(supervisor), len(denials(supervisor))
    status, answer = await attempt(supervisor, who, "POST", "/v1/events", {"v": 1, **event})
    if allowed:
        assert status == 200, answer
        assert denials(supervisor)[journaled:] == []
        return
    assert status == 403, answer
    assert snapshot(supervisor) == before
    [(actor_name, denied)] = denials(supervisor)[journaled:]
    assert (actor_name, denied.operation, denied.reason) == (who, f"event {event['type']}", answer)


async def test_a_message_beyond_its_team_printed_on_its_own_terminal_is_refused_and_journaled(
    org: Supervisor,
) -> None:
    supervisor = org
    terminal = supervisor.backend
    assert isinstance(terminal, FakeTerminal)
    pane = terminal.pane_of("w1").pane
    terminal.print(pane, encode(supervisor.tokens["w1"], MessageSent(id="esc1", to="@d1", text="psst")))
    terminal.print(pane, encode(supervisor.tokens["w1"], MessageSent(id="esc2", to="@w2", text="hi")))
    for _ in range(200):
        if "esc2" in supervisor.state.messages:
            break
        await asyncio.sleep(0.01)
    assert "esc1" not in supervisor.state.messages and "esc2" in supervisor.state.messages
    [(actor_name, denied)] = [(a, e) for a, e in denials(supervisor) if isinstance(e, AccessDenied)]
    assert actor_name == "w1" and denied.reason == (
        "worker w1 may message its team 'api' and its coordinator (lead); 'd1' is in team 'data'"
    )
    from agent_console.agents.spans import summary

    record = next(r for r in supervisor.recent_records() if isinstance(r.event, AccessDenied))
    assert summary(record) == f"refused event message: {denied.reason}"  # what the human reads in the trace


async def test_refusals_cannot_flood_the_journal(org: Supervisor) -> None:
    supervisor = org
    message = {"v": 1, "type": "message", "to": "@d1", "text": "spam"}
    started = time.monotonic()
    statuses = [
        (await attempt(supervisor, "w1", "POST", "/v1/events", {**message, "id": f"f{n}"}))[0] for n in range(100)
    ]
    took = time.monotonic() - started
    assert set(statuses) == {403, 429}
    journaled = [e for a, e in denials(supervisor) if isinstance(e, AccessDenied)]
    limits = supervisor.org.limits  # the burst, and what the bucket refilled while the 100 attempts ran
    assert len(journaled) <= limits.message_burst + math.ceil(limits.messages_per_second * took) + 1
    assert statuses.count(429) >= 100 - len(journaled)  # the rest were refused unjournaled
    assert any(r.event.type == "throttle" for r in supervisor.recent_records())


async def test_barrier_refused_by_its_members_leaves_nobody_waiting(org: Supervisor) -> None:
    supervisor = org
    status, _ = await attempt(supervisor, "w1", "POST", "/v1/barriers/b/wait", {"members": ["w1", "d1"]})
    assert status == 403 and "b" not in supervisor.state.barriers
    with pytest.raises(Exception, match="may message"):
        await supervisor.barrier_wait("w1", BarrierArrived(name="b", members=("w1", "d1")))
    assert supervisor._barriers.get("b", []) == []


# --- what an agent may read ----------------------------------------------------------------------------------


async def test_an_agent_sees_the_public_view_and_only_its_own_messages_and_approvals(org: Supervisor) -> None:
    supervisor = org
    await supervisor.commands.run_line(supervisor, "send @d1 the launch code is TOPSECRET-D1", Actor.human("line"))
    await supervisor.commands.run_line(supervisor, "send @w1 your task is OWN-W1", Actor.human("line"))
    secret_request = supervisor.request_approval("d1", "may I read SECRET-ASK-D1?", "cat SECRET-CMD-D1")
    own_request = supervisor.request_approval("w1", "may I run OWN-ASK-W1?", None)
    await supervisor.decide(supervisor.request_approval("d1", "DECIDED-D1", None), True, "DECIDED-REASON-D1")

    status, view = await attempt(supervisor, "w1", "GET", "/v1/state", None)
    assert status == 200
    text = json.dumps(view)
    for secret in ("TOPSECRET-D1", "SECRET-ASK-D1", "SECRET-CMD-D1", secret_request, "DECIDED", "the-terminal-server"):
        assert secret not in text, f"{secret!r} reached w1"
    assert [message["text"] for message in view["messages"]] == ["your task is OWN-W1"]
    assert [approval["id"] for approval in view["approvals"]] == [own_request]
    assert view["agents"]["d1"] == {
        "alive": True,
        "role": "worker",
        "state": view["agents"]["d1"]["state"],
        "team": "data",
    }
    assert view["agents"]["lead"]["role"] == "coordinator" and view["teams"]["api-db"] == "api"
    status, full = await attempt(supervisor, HUMAN, "GET", "/v1/state", None)
    assert status == 200 and "TOPSECRET-D1" in json.dumps(full)  # the human sees everything
    assert full["tmux"] == {"socket_name": "the-terminal-server"}


# --- identity and reserved names ----------------------------------------------------------------------------------


def test_reserved_names_cover_every_name_the_console_gives_meaning_to() -> None:
    assert {HUMAN, SUPERVISOR, EXECUTIVE, EXEC_SLOT, "all", "console", "system", "root", "admin"} <= RESERVED_NAMES


@pytest.mark.parametrize("name", sorted(RESERVED_NAMES))
def test_a_spec_with_a_reserved_agent_or_team_name_is_refused_naming_the_place(name: str, tmp_path: Path) -> None:
    as_agent = f'[org]\nname = "o"\n[[team]]\nname = "t"\n[[agent]]\nname = "{name}"\nteam = "t"\n'
    as_team = f'[org]\nname = "o"\n[[team]]\nname = "{name}"\n'
    for text, where in ((as_agent, f'agent[0] ("{name}").name'), (as_team, f'team[0] ("{name}").name')):
        spec = tmp_path / "org.toml"
        spec.write_text(text, encoding="utf-8")
        with pytest.raises(SpecError) as refused:
            load_spec(spec)
        assert f"{where}: '{name}' is reserved" in str(refused.value), str(refused.value)
    with pytest.raises(ValidationError):
        Agent(name=name, team="t")


async def test_spawn_and_team_refuse_reserved_names_in_one_line(org: Supervisor) -> None:
    supervisor = org
    before = snapshot(supervisor)
    for line, name in (
        ("spawn human --team api", "human"),
        ("spawn supervisor --team api", "supervisor"),
        ("team new system", "system"),
        ("team new all", "all"),
    ):
        with pytest.raises(InvalidInput) as refused:
            await supervisor.commands.run_line(supervisor, line, Actor.human("line"))
        message = str(refused.value)
        assert "\n" not in message and message.startswith(f"{line.split()[0]}: name: '{name}' is reserved"), message
    status, answer = await attempt(supervisor, HUMAN, "POST", "/v1/commands/spawn", {"name": "human", "team": "api"})
    assert status == 400 and answer.startswith("spawn: name: 'human' is reserved")
    assert snapshot(supervisor) == before


async def test_identity_is_the_tokens_kind_never_a_name(org: Supervisor) -> None:
    supervisor = org
    assert supervisor.principal_for_token(supervisor.human_token) == roles.Principal("human", HUMAN)
    assert supervisor.principal_for_token(supervisor.tokens["boss"]) == roles.Principal("agent", "boss")
    assert supervisor.principal_for_token("human") is None
    # the exec, the highest agent, is still an agent: nothing of the human's is open to it
    status, answer = await attempt(supervisor, "boss", "GET", "/v1/approvals", None)
    assert (status, answer) == (403, "exec boss may not GET /v1/approvals: the approval queue is the human's")


# --- the command line, in an agent's pane: its own token, never the human's -----------------------------------------


def test_an_agent_runs_the_org_commands_as_itself_from_the_command_line(served: Served) -> None:
    killed = served.cli_as("ann", "kill", "bob")
    assert killed.returncode == 4, killed.stderr  # 4: not allowed
    assert killed.stderr == (
        "agent-console: error: worker ann may not run kill: the human and the executive run the org; the exec "
        "within it, a coordinator within its team, and only over agents of a lower role\n"
    )
    everyone = served.cli_as("ann", "send", "all", "hello")
    assert everyone.returncode == 4, everyone.stderr
    assert "worker ann may message its team 'core'; everyone is beyond that" in everyone.stderr
    assert served.cli_as("ann", "send", "@bob", "hello").returncode == 0
    status = served.cli_as("ann", "status")
    assert status.returncode == 0 and status.stdout.startswith("3 agents: ") and "approval" not in status.stdout
    assert "bob" in served.agents()
    for words, why in (
        (("approve", "a0123abcd"), "only the human decides approvals"),
        (("approvals",), "the approval queue is the human's"),
    ):
        refused = served.cli_as("ann", *words)  # in its pane the agent is itself, even where the human's token is
        assert (refused.returncode, why in refused.stderr) == (4, True), refused.stderr
    served.stop()
    records = [
        (record.actor, record.event)
        for record in _journal(served)
        if isinstance(record.event, (CommandRan, AccessDenied))
    ]
    said = [
        (actor_name, f"{event.name} via {event.via}, ok={event.ok}")
        if isinstance(event, CommandRan)
        else (actor_name, f"denied {event.operation}: {event.reason}")
        for actor_name, event in records
    ]
    assert said == [
        ("ann", "kill via cli, ok=False"),
        ("ann", "denied event message: worker ann may message its team 'core'; everyone is beyond that"),
        ("ann", "status via cli, ok=True"),
        ("ann", "approve via cli, ok=False"),
        ("ann", "denied GET /v1/approvals: worker ann may not GET /v1/approvals: the approval queue is the human's"),
    ]


def _journal(served: Served) -> list:
    from agent_console.agents.journal import Journal, load_or_create_key

    state = served.root / "state" / "agent-console" / "crew"
    return list(Journal.read(state / "journal.jsonl", load_or_create_key(state / "journal.key")))


async def test_head_is_checked_as_get(org: Supervisor) -> None:
    import aiohttp

    supervisor = org
    supervisor.request_approval("w2", "ship it?", "make ship")

    async def head(token: str) -> int:
        connector = aiohttp.UnixConnector(path=str(supervisor.socket_path))
        async with (
            aiohttp.ClientSession(connector=connector) as session,
            session.head("http://console/v1/approvals", headers={"Authorization": f"Bearer {token}"}) as response,
        ):
            return response.status

    assert await head(supervisor.tokens["w1"]) == 403
    assert await head(supervisor.human_token) == 200
    [(actor_name, denied)] = [(a, e) for a, e in denials(supervisor) if isinstance(e, AccessDenied)]
    assert (actor_name, denied.operation) == ("w1", "GET /v1/approvals")
