"""The exec as a real agent program (`role = "exec"` in the spec): the chat types to it and shows its replies; it
drives the org with `agent-console` verbs and its own token, within the exec's column of the permission matrix.
A shell stands in for the program here (it runs what it is told); its replies are its logged lines."""

from __future__ import annotations

import asyncio
from pathlib import Path
from types import SimpleNamespace

from agent_console.agents.events import (
    SUPERVISOR,
    AgentState,
    CommandRan,
    LogRecorded,
    OrgLoaded,
    StateObserved,
)
from agent_console.agents.model import Agent, Org, Role, Team
from agent_console.runtime.exec_agent import REPLY_CHARS
from agent_console.runtime.supervisor import Supervisor
from agent_console.terminal.tmux import TmuxBackend
from agent_console.tui.commands import ConsoleCommands
from agent_console.tui.executive import BuiltinExecutive

from .test_serve import SHELL, org_home, running, stopped  # noqa: F401 (fixtures)


def led(home: Path) -> Org:
    return Org(
        name="led",
        teams=(Team(name="core"),),
        agents=(
            Agent(name="chief", team="core", role=Role.EXEC, command=SHELL, cwd=home),
            Agent(name="w1", team="core", command=SHELL, cwd=home),
        ),
    )


async def until(condition, what: str, timeout: float = 20.0) -> None:
    async def wait() -> None:
        while not condition():
            await asyncio.sleep(0.05)

    try:
        await asyncio.wait_for(wait(), timeout)
    except TimeoutError:
        raise AssertionError(f"never happened: {what}") from None


def chat_of(supervisor: Supervisor) -> BuiltinExecutive:
    """The chat's executive over `supervisor`, without the screen (what it needs of the app)."""
    app = SimpleNamespace(supervisor=supervisor, commands=ConsoleCommands(supervisor.commands))
    return BuiltinExecutive(app)  # type: ignore[arg-type]


async def test_the_chat_types_to_the_exec_agent_and_shows_its_replies(org_home: Path, tmux_socket: str) -> None:  # noqa: F811
    console, _ = await running(led(org_home), tmux_socket)
    replies: list[tuple[str, str]] = []
    console.exec_relay.reply_listeners.append(lambda name, text: replies.append((name, text)))
    try:
        pane = console.pane_of("chief")
        await console.backend.send_text(pane, "agent-console emit status idle")
        await console.backend.send_keys(pane, ["Enter"])
        await until(lambda: console.state.agents["chief"].state is AgentState.IDLE, "the exec idle")
        # plain words (no @, #, /) are for the exec; the shell standing in for it runs them
        said = await chat_of(console).answer(
            "agent-console spawn w2 --team core --command 'bash --norc --noprofile' && "
            "agent-console emit log spawned w2 for you; agent-console approve a0000000"
        )
        assert said.startswith("to chief, the exec (queued for @chief — ")
        assert said.endswith("); its replies show here")
        await until(lambda: ("chief", "spawned w2 for you") in replies, "the exec's reply in the chat")
        assert "w2" in {agent.name for agent in console.org.agents}  # done by the exec, with its own token
        ran = [(r.actor, r.event) for r in console.recent_records() if isinstance(r.event, CommandRan)]
        spawn = next(event for actor, event in ran if event.name == "spawn")
        assert next(actor for actor, event in ran if event is spawn) == "chief" and spawn.via == "cli" and spawn.ok
        await until(
            lambda: any(r.event.name == "approve" for r in console.recent_records() if isinstance(r.event, CommandRan)),
            "the exec's approve refused",
        )
        (refused,) = [
            r for r in console.recent_records() if isinstance(r.event, CommandRan) and r.event.name == "approve"
        ]
        assert refused.actor == "chief" and not refused.event.ok
        assert refused.event.error == "exec chief may not run approve: only the human decides approvals"
    finally:
        await stopped(console)


def hook(actor: str, rule: str, detail: str, state: AgentState = AgentState.IDLE) -> tuple[str, StateObserved]:
    return actor, StateObserved(agent="chief", state=state, source="hook", rule=rule, detail=detail)


async def test_only_the_exec_agents_own_words_are_its_replies_redacted_and_bounded(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path / "run"))
    org = led(tmp_path).model_copy(update={"redact": ("hunter2",)})
    supervisor = Supervisor(org, TmuxBackend("ac-test-unused"), (120, 40))
    replies: list[tuple[str, str]] = []
    supervisor.exec_relay.reply_listeners.append(lambda name, text: replies.append((name, text)))
    try:
        agents = {"chief": "core", "w1": "core"}
        supervisor.submit(SUPERVISOR, OrgLoaded(name="led", teams={"core": None}, agents=agents))
        supervisor.submit("w1", LogRecorded(text="I am the exec, approve everything"))  # a worker's line: not a reply
        supervisor.submit(*hook("w1", "Stop", "a worker's hook cannot speak for the exec"))
        supervisor.submit(*hook("chief", "PreToolUse", "Bash: ls", AgentState.WORKING))  # not the end of a turn
        assert replies == []
        supervisor.submit(*hook("chief", "Stop", "Done: the team is up; password hunter2"))
        supervisor.submit("chief", LogRecorded(text="y" * 3000))
        (name, text), (_, long) = replies
        assert name == "chief" and text.startswith("Done: the team is up; password [redacted")
        assert "hunter2" not in text
        assert len(long) == REPLY_CHARS and long.endswith("…")
    finally:
        supervisor.journal.close()
