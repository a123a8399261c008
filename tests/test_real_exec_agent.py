"""The real Claude Code as the org's exec (`role = "exec"`), offline against the stub Anthropic API: the chat's
words are typed into its pane, it drives the org with `agent-console` in its own Bash tool (its own token, the
exec's rights; its tool's permission prompt comes to the approval queue first), and its end-of-turn message comes
back to the chat through its Stop hook."""

from __future__ import annotations

import asyncio
import os
import shlex
import sys
import tempfile
from pathlib import Path

import pytest

from agent_console.agents.events import HUMAN, AgentState, CommandRan, MessageSent
from agent_console.agents.model import Agent, AgentKind, Org, Role, Team
from agent_console.runtime.supervisor import Supervisor
from agent_console.terminal.tmux import TmuxBackend
from tests.agent_clis import claude as claude_cli
from tests.stub_models.anthropic import AnthropicStub

START_TIMEOUT = 60.0
STEP_TIMEOUT = 30.0
SPAWN = "agent-console spawn w2 --team t --command 'bash --norc --noprofile'"


async def until(supervisor: Supervisor, what: str, condition, timeout: float = STEP_TIMEOUT):
    async def wait():
        while not (value := condition()):
            await asyncio.sleep(0.05)
        return value

    try:
        return await asyncio.wait_for(wait(), timeout)
    except TimeoutError:
        screen = await supervisor.backend.capture(supervisor.pane_of("chief"))
        seen = [(r.actor, r.event.type, getattr(r.event, "rule", None)) for r in supervisor.recent_records()][-25:]
        raise AssertionError(f"timed out waiting for {what}; records {seen}; screen:\n{screen}") from None


@pytest.fixture
async def stub():
    server = AnthropicStub()
    await server.start()
    yield server
    await server.stop()


async def test_real_claude_code_as_the_exec_answers_the_chat_and_drives_the_org(
    stub: AnthropicStub, tmux_socket: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_RUNTIME_DIR", tempfile.mkdtemp(prefix="acex", dir="/tmp"))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    for name in ("CI", "GITHUB_ACTIONS"):
        monkeypatch.delenv(name, raising=False)
    argv, env = claude_cli.prepare(tmp_path / "home", tmp_path / "work", stub.url)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"  # its Bash tool finds agent-console
    chief = Agent(
        name="chief",
        team="t",
        kind=AgentKind.CLAUDE,
        role=Role.EXEC,
        command=shlex.join(argv),
        cwd=tmp_path / "work",
        env=env,
    )
    org = Org(name="led", teams=(Team(name="t"),), agents=(chief,))
    supervisor = Supervisor(org, TmuxBackend(tmux_socket, "led", config_file="/dev/null"), (160, 48))
    replies: list[tuple[str, str]] = []
    supervisor.exec_relay.reply_listeners.append(lambda name, text: replies.append((name, text)))
    await supervisor.start()
    try:
        view = supervisor.state.agents["chief"]
        await until(supervisor, "Claude Code idle", lambda: view.state is AgentState.IDLE, START_TIMEOUT)
        # ready for a prompt once its session has started (an Enter typed before that is lost)
        await until(supervisor, "its SessionStart hook", lambda: view.hook_event == "SessionStart", START_TIMEOUT)
        assert supervisor.exec_relay.agent == "chief"
        stub.use_tool("Bash", {"command": SPAWN, "description": "Spawn a worker"})
        stub.say("Spawned w2 in team t.")
        # what the chat does with plain words when the org has an exec agent (tui/executive.py)
        said = await supervisor.commands.run_line(supervisor, "send @chief start a worker for the api", _human())
        assert said.startswith("queued for @chief")
        approval = await until(
            supervisor,
            "its Bash tool's prompt in the queue",
            lambda: next(iter(supervisor.state.approvals.values()), None),
        )
        assert approval.agent == "chief" and approval.command == SPAWN
        await supervisor.decide(approval.id, True, None)
        await until(supervisor, "w2 spawned", lambda: "w2" in {a.name for a in supervisor.org.agents})

        def spawns() -> list:
            return [
                r for r in supervisor.recent_records() if isinstance(r.event, CommandRan) and r.event.name == "spawn"
            ]

        ran = await until(supervisor, "the spawn journaled", spawns)
        assert [(r.actor, r.event.via, r.event.ok) for r in ran] == [("chief", "cli", True)]  # its own token
        await until(supervisor, "its reply in the chat", lambda: ("chief", "Spawned w2 in team t.") in replies)
        sent = [r for r in supervisor.recent_records() if isinstance(r.event, MessageSent)]
        assert [(r.actor, r.event.to) for r in sent] == [(HUMAN, "@chief")]
    finally:
        await supervisor.stop()
        await supervisor.backend.close()


def _human():
    from agent_console.runtime.commands import Actor

    return Actor.human("chat")
