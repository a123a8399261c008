"""The headless command layer: one registry, its permissions and its journal, through the control API and the
command line (the console's own front doors are in test_app.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from agent_console.agents.errors import Forbidden, InvalidInput, NotFound
from agent_console.agents.events import HUMAN, CommandRan
from agent_console.agents.journal import Journal, load_or_create_key
from agent_console.agents.model import Agent, Org, Team
from agent_console.runtime import paths
from agent_console.runtime.client import ControlClient, ControlRefused
from agent_console.runtime.commands import Actor
from agent_console.runtime.supervisor import Supervisor
from agent_console.terminal.tmux import TmuxBackend

from .test_serve import SHELL, Served, org_home, running, served, stopped  # noqa: F401 (fixtures)

SPAWN_ARGS = {"name": "w1", "team": "core", "command": SHELL}


def command_records(journal: Path, org: str) -> list[tuple[str, CommandRan]]:
    key = load_or_create_key(paths.state_dir(org) / "journal.key")
    return [(r.actor, r.event) for r in Journal.read(journal, key) if isinstance(r.event, CommandRan)]


def crew() -> Org:
    return Org(
        name="crew",
        teams=(Team(name="core"),),
        agents=(Agent(name="ann", team="core", command=SHELL),),
    )


@pytest.fixture
def idle_supervisor(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Supervisor]:
    """A supervisor that is never started (no tmux, no socket): enough for commands that only journal."""
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path / "run"))
    supervisor = Supervisor(crew(), TmuxBackend("ac-test-unused"), (120, 40))
    yield supervisor
    supervisor.journal.close()


# --- the registry -------------------------------------------------------------------------------------------------


async def test_only_the_human_decides_approvals(idle_supervisor: Supervisor) -> None:
    supervisor = idle_supervisor
    registry = supervisor.commands
    request = supervisor.request_approval("ann", "ship it?", "make ship")
    approve = registry.find("approve")
    args = registry.parse(approve, [request])
    for actor, who in ((Actor.executive("chat"), "the executive"), (Actor.agent("ann", "api"), "worker ann")):
        with pytest.raises(Forbidden, match=f"^{who} may not run approve: only the human decides approvals$"):
            await registry.run(supervisor, approve, args, actor)
    assert request in supervisor.state.approvals  # nothing decided
    assert await registry.run(supervisor, approve, args, Actor.human("key")) == "approved ann: make ship"
    assert request not in supervisor.state.approvals
    ran = [(r.actor, r.event.via, r.event.ok) for r in supervisor.recent_records() if isinstance(r.event, CommandRan)]
    assert ran == [("executive", "chat", False), ("ann", "api", False), (HUMAN, "key", True)]


async def test_the_executive_may_change_the_org_but_a_worker_only_what_its_row_allows(
    idle_supervisor: Supervisor,
) -> None:
    supervisor = idle_supervisor
    registry = supervisor.commands
    status = registry.find("status")
    assert (await registry.run(supervisor, status, registry.parse(status, []), Actor.executive("chat"))).startswith(
        "0 agents"
    )
    ann = Actor.agent("ann", "api")
    assert await registry.run(supervisor, status, registry.parse(status, []), ann) == "0 agents: no agents"
    words = {
        "spawn": ["w1", "--team", "core"],
        "team": ["new", "t2"],
        **{
            name: ["ann"]
            for name in (
                "kill",
                "restart",
                "bury",
                "unbury",
                "promote",
                "demote",
                "diff",
                "merge",
                "discard",
                "recover",
                "health",
            )
        },
        "arrangement": ["list"],
        "when": ["b", "send all x"],
        "delivery": ["m1"],
        "cancel-task": ["t1"],
        "breaker": ["reset", "ann"],
    }
    words |= {"adopt": ["all"], **{name: ["a1"] for name in ("approve", "deny", "approve-identical", "approve-always")}}
    for command in registry:
        if command.name in ("status", "send", "barrier"):  # the worker's rows (its team); tests/security/test_roles.py
            continue
        with pytest.raises(Forbidden, match=f"^worker ann may not run {command.name}: "):
            await registry.run(supervisor, command, registry.parse(command, words.get(command.name, [])), ann)


async def test_deciding_an_unknown_or_decided_request_names_it(idle_supervisor: Supervisor) -> None:
    supervisor = idle_supervisor
    request = supervisor.request_approval("ann", "ship it?", None)
    await supervisor.decide(request, True, None)
    with pytest.raises(NotFound, match="no pending approval 'nope'"):
        await supervisor.decide("nope", True, None)
    with pytest.raises(Exception, match=f"request '{request}' is already decided") as caught:
        await supervisor.decide(request, False, None)
    assert type(caught.value).__name__ == "Conflict"


async def test_an_unexpected_error_is_one_line_with_its_log_and_journaled_as_failed(
    idle_supervisor: Supervisor, monkeypatch: pytest.MonkeyPatch
) -> None:
    from agent_console.runtime.commands import CommandError

    def broken(path: Path, actor: str = HUMAN) -> str:
        raise ZeroDivisionError("division by zero")

    supervisor = idle_supervisor
    monkeypatch.setattr(supervisor, "save", broken)
    with pytest.raises(CommandError) as caught:
        await supervisor.commands.run_line(supervisor, "save here.toml", Actor.human("line"))
    said = str(caught.value)
    assert said.startswith("save failed: ZeroDivisionError: division by zero (traceback in ")
    assert "in broken" in Path(said.rsplit("traceback in ", 1)[1].rstrip(")")).read_text(encoding="utf-8")
    ran = [r.event for r in supervisor.recent_records() if isinstance(r.event, CommandRan)]
    assert [(event.name, event.args, event.ok, event.error) for event in ran] == [
        ("save", {"path": "here.toml"}, False, said)
    ]


async def test_the_trace_tells_a_command_run_in_one_line(idle_supervisor: Supervisor) -> None:
    from agent_console.agents.spans import summary

    supervisor = idle_supervisor
    with pytest.raises(NotFound):
        await supervisor.commands.run_line(supervisor, "kill nobody", Actor.executive("chat"))
    record = supervisor.recent_records()[-1]
    assert record.actor == "executive"
    assert summary(record) == "kill name=nobody (via chat) — failed: kill: no agent 'nobody'"


def test_words_become_the_same_arguments_as_json(idle_supervisor: Supervisor) -> None:
    registry = idle_supervisor.commands
    spawn = registry.find("spawn")
    typed = registry.parse(spawn, ["w1", "--team", "core", "--command", SHELL])
    assert typed == registry.arguments(spawn, SPAWN_ARGS)
    assert spawn.usage == "spawn NAME --team TEAM [--kind KIND] [--command COMMAND] [--worktree]"
    send = registry.find("send")
    assert registry.parse(send, ["@ann", "hello", "there"]).model_dump() == {"to": "@ann", "text": "hello there"}
    with pytest.raises(InvalidInput, match="spawn: team: Field required"):
        registry.arguments(spawn, {"name": "w1"})
    with pytest.raises(InvalidInput, match="spawn: colour: no such argument"):
        registry.arguments(spawn, {**SPAWN_ARGS, "colour": "red"})
    with pytest.raises(InvalidInput, match=r"spawn: the following arguments are required: --team \(usage: spawn NAME"):
        registry.parse(spawn, ["w1"])


# --- the control API ----------------------------------------------------------------------------------------------


async def test_post_spawn_runs_the_command_as_the_human_and_journals_it(
    org_home: Path,  # noqa: F811
    tmux_socket: str,
) -> None:
    supervisor, _ = await running(crew(), tmux_socket)
    try:
        human = ControlClient(supervisor.socket_path, supervisor.human_token)
        answer = await human.call("POST", "/v1/commands/spawn", SPAWN_ARGS)
        assert answer == {"command": "spawn", "result": "spawned w1 (shell) in team core"}
        assert "w1" in supervisor.state.agents and supervisor.pane_of("w1")
        listed = {item["name"]: item for item in (await human.call("GET", "/v1/commands"))["commands"]}
        assert listed["spawn"]["args"]["required"] == ["name", "team"]
        assert listed["approve"]["args"]["properties"]["id"]["type"] == "string"
        assert listed["approve"]["allowed"] == ["human"] and listed["kill"]["usage"] == "kill NAME"
        assert "details" not in listed and "theme" not in listed  # the screen's own commands are not offered
    finally:
        await stopped(supervisor)
    assert command_records(supervisor.journal_path, "crew") == [
        (HUMAN, CommandRan(name="spawn", args=SPAWN_ARGS, via="api"))
    ]
    key = load_or_create_key(paths.state_dir("crew") / "journal.key")
    journaled = list(Journal.read(supervisor.journal_path, key))
    ran = next(record for record in journaled if isinstance(record.event, CommandRan))
    in_its_trace = [record.event.type for record in journaled if record.trace == ran.trace]
    assert in_its_trace == ["org.edit", "org.load", "agent.launch", "command"]  # what it did, then the command


async def test_an_agents_token_cannot_approve_and_bad_requests_say_what_was_wrong(
    org_home: Path,  # noqa: F811
    tmux_socket: str,
) -> None:
    supervisor, _ = await running(crew(), tmux_socket)
    try:
        request = supervisor.request_approval("ann", "ship it?", "make ship")
        ann = ControlClient(supervisor.socket_path, supervisor.tokens["ann"])
        with pytest.raises(ControlRefused) as refused:
            await ann.call("POST", "/v1/commands/approve", {"id": request})
        assert refused.value.status == 403
        assert refused.value.message == "worker ann may not run approve: only the human decides approvals"
        assert request in supervisor.state.approvals  # nothing decided

        human = ControlClient(supervisor.socket_path, supervisor.human_token)
        with pytest.raises(ControlRefused) as unknown:
            await human.call("POST", "/v1/commands/frobnicate", {})
        assert unknown.value.status == 404 and unknown.value.message.startswith("no command 'frobnicate'; commands:")
        with pytest.raises(ControlRefused) as bad:
            await human.call("POST", "/v1/commands/spawn", {"name": "w1"})
        assert (bad.value.status, bad.value.message) == (400, "spawn: team: Field required")
        with pytest.raises(ControlRefused) as missing:
            await human.call("POST", "/v1/commands/approve", {"id": "a-nope"})
        assert (missing.value.status, missing.value.message) == (404, "no pending approval 'a-nope'")
        with pytest.raises(ControlRefused) as teamless:
            await human.call("POST", "/v1/commands/spawn", {**SPAWN_ARGS, "team": "nosuch"})
        assert teamless.value.status == 400 and "unknown team 'nosuch'" in teamless.value.message
        assert "w1" not in supervisor.state.agents
    finally:
        await stopped(supervisor)


# --- the command line ---------------------------------------------------------------------------------------------


def test_the_command_line_spawns_an_agent_in_a_served_org(served: Served) -> None:  # noqa: F811
    spawned = served.cli("spawn", "w1", "--team", "core", "--command", SHELL, "--org", "crew")
    assert (spawned.returncode, spawned.stdout) == (0, "spawned w1 (shell) in team core\n"), spawned.stderr
    assert "w1" in served.agents()
    again = served.cli("spawn", "w1", "--team", "core", "--org", "crew")
    assert again.returncode == 2 and "duplicate agent name 'w1'" in again.stderr  # 2: invalid arguments
    missing = served.cli("kill", "nobody", "--org", "crew")
    assert (missing.returncode, missing.stderr) == (3, "agent-console: error: kill: no agent 'nobody'\n")
    barrier = served.cli("barrier", "create", "b1", "--count", "2", "--org", "crew")
    assert barrier.returncode == 0 and barrier.stdout.startswith("barrier b1 waits for 2 agents;"), barrier.stderr
    served.stop()
    state = served.root / "state"
    journal = state / "agent-console" / "crew" / "journal.jsonl"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("XDG_STATE_HOME", str(state))
        records = command_records(journal, "crew")
    assert records[0] == (HUMAN, CommandRan(name="spawn", args=SPAWN_ARGS, via="cli"))
    assert [(actor, ran.name, ran.ok) for actor, ran in records[1:]] == [
        (HUMAN, "spawn", False),
        (HUMAN, "kill", False),
        (HUMAN, "barrier", True),
    ]
