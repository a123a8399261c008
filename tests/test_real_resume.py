"""Real programs resume their conversations when the console starts them again, offline against the stub APIs:
Claude Code after the whole tmux server was killed (the console started again, as `agent-console ORG.toml` does,
starts it with `--resume <its session>`, and a shell agent is back in its place), aider after its program was
killed and `restart` ran (`--restore-chat-history`). "Resumed" means what the model sees: the next request to the
stub carries the earlier prompt and answer."""

from __future__ import annotations

import asyncio
import json
import os
import shlex
import signal
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest

from agent_console.agents.events import AgentLaunched, AgentSession, AgentState, ConditionDetected
from agent_console.agents.model import Agent, AgentKind, Org, Team
from agent_console.runtime.supervisor import Supervisor
from agent_console.terminal.tmux import TmuxBackend
from tests.agent_clis import aider as aider_cli
from tests.agent_clis import claude as claude_cli
from tests.stub_models.anthropic import AnthropicStub
from tests.stub_models.openai import OpenAIStub

from .conftest import tmux

START_TIMEOUT = 60.0
STEP_TIMEOUT = 30.0
EARLIER = "remember the code word PELICAN"
GEOMETRY = "#{@agent_console_agent}\t#{window_index}\t#{pane_left},#{pane_top},#{pane_width},#{pane_height}"


@pytest.fixture
def places(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in ("CI", "GITHUB_ACTIONS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("XDG_RUNTIME_DIR", tempfile.mkdtemp(prefix="acrr", dir="/tmp"))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    # the hooks call `agent-console hook …`: this one
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    return tmp_path


async def until(supervisor: Supervisor, agent: str, what: str, condition: Callable[[], object], timeout: float):
    async def wait():
        while not (value := condition()):
            await asyncio.sleep(0.1)
        return value

    try:
        return await asyncio.wait_for(wait(), timeout)
    except TimeoutError:
        view = supervisor.state.agents[agent]
        screen = await supervisor.backend.capture(supervisor.pane_of(agent))
        raise AssertionError(f"timed out waiting for {what}; {agent} is {view.state}, screen:\n{screen}") from None


async def type_prompt(supervisor: Supervisor, socket: str, agent: str, text: str) -> None:
    """As a person types at the program's prompt."""
    pane = supervisor.pane_of(agent)
    tmux(socket, "send-keys", "-t", pane, "-l", text)
    for _ in range(100):
        if text in await supervisor.backend.capture(pane):
            break
        await asyncio.sleep(0.05)
    await supervisor.backend.send_keys(pane, ["Enter"])


def main_requests(stub: AnthropicStub) -> list:
    return [request for request in stub.requests if request.kind == "main"]


async def until_screen(supervisor: Supervisor, agent: str, text: str) -> None:
    pane = supervisor.pane_of(agent)
    for _ in range(int(STEP_TIMEOUT * 10)):
        if text in await supervisor.backend.capture(pane):
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"{text!r} never showed in {agent}'s pane:\n{await supervisor.backend.capture(pane)}")


def places_of(socket: str) -> dict[str, tuple[str, str]]:
    """Each agent's window and pane geometry on the server."""
    rows = [line.split("\t") for line in tmux(socket, "list-panes", "-a", "-F", GEOMETRY).splitlines()]
    return {agent: (window, box) for agent, window, box in rows if agent}


async def test_killing_the_tmux_server_and_starting_the_console_again_resumes_every_agent(
    tmux_socket: str, places: Path
) -> None:
    stub = AnthropicStub()
    await stub.start()
    argv, env = claude_cli.prepare(places / "home", places / "work", stub.url)
    claude = shlex.join(argv)
    (places / "shell").mkdir()
    org = Org(
        name="reboot",
        teams=(Team(name="dev"), Team(name="ops")),
        agents=(
            Agent(name="ann", team="dev", kind=AgentKind.CLAUDE, command=claude, cwd=places / "work", env=env),
            Agent(name="sh", team="ops", kind=AgentKind.SHELL, cwd=places / "shell"),
        ),
    )

    def console() -> Supervisor:  # what `agent-console ORG.toml` runs, on the org's own server
        return Supervisor(org, TmuxBackend(tmux_socket, "reboot", config_file="/dev/null"), (160, 48))

    first = console()
    await first.start()
    try:
        await until(first, "ann", "Claude idle", lambda: first.state.agents["ann"].state is AgentState.IDLE, 60)
        stub.say("Noted: the code word is PELICAN.")
        await type_prompt(first, tmux_socket, "ann", EARLIER)
        session = await until(first, "ann", "its session from its hook", lambda: first.state.agents["ann"].session, 30)
        await until(first, "ann", "the answer", lambda: first.state.agents["ann"].state is AgentState.IDLE, 30)
        before = places_of(tmux_socket)
        tmux(tmux_socket, "kill-server")  # the server (or the machine) goes down with every pane
        await asyncio.wait_for(first.stopped.wait(), STEP_TIMEOUT)
    finally:
        await first.stop()
        await first.backend.close()

    again = console()
    report = await again.start()
    try:
        assert sorted(report.started) == ["ann", "sh"]
        assert report.resumed == {"ann": f"session {session}"}
        launched = [r.event for r in again.recent_records() if isinstance(r.event, AgentLaunched)][-2:]
        assert {event.agent: event.resumed for event in launched} == {"ann": f"session {session}", "sh": None}
        assert places_of(tmux_socket) == before  # each in its team's window, in the same place
        sh = await again.backend.pane(again.pane_of("sh"))
        assert sh.alive and again.state.agents["sh"].alive

        await until(again, "ann", "Claude idle again", lambda: again.state.agents["ann"].state is AgentState.IDLE, 60)
        await until_screen(again, "ann", EARLIER)  # the old turn is on its screen again
        asked = len(main_requests(stub))
        await type_prompt(again, tmux_socket, "ann", "what was the code word?")
        await until(again, "ann", "the next request", lambda: len(main_requests(stub)) > asked, STEP_TIMEOUT)
        request = main_requests(stub)[-1].body
        assert EARLIER in json.dumps(request["messages"])  # the model sees the earlier conversation
        assert "PELICAN." in json.dumps(request["messages"])
        sessions = {r.event.session for r in again.recent_records() if isinstance(r.event, AgentSession)}
        assert sessions == {session}  # resumed, Claude Code goes on in the same session
    finally:
        await again.stop()
        await again.backend.close()
        await stub.stop()


async def test_a_killed_aider_is_restarted_by_recovery_and_resumes_its_chat_history(
    tmux_socket: str, places: Path
) -> None:
    stub = OpenAIStub(model=aider_cli.MODEL)
    await stub.start()
    work = places / "work"
    work.mkdir()
    argv, env = aider_cli.prepare(places / "home", work, stub.url)
    agent = Agent(name="ada", team="t", kind=AgentKind.AIDER, command=shlex.join(argv), cwd=work, env=env)
    org = Org(name="aid", teams=(Team(name="t"),), agents=(agent,))
    supervisor = Supervisor(org, TmuxBackend(tmux_socket, "aid", config_file="/dev/null"), (160, 48))
    await supervisor.start()
    view = lambda: supervisor.state.agents["ada"]  # noqa: E731
    try:
        await until(supervisor, "ada", "aider idle", lambda: view().state is AgentState.IDLE, START_TIMEOUT)
        stub.say("Noted: the code word is PELICAN.")
        await type_prompt(supervisor, tmux_socket, "ada", EARLIER)
        await until(supervisor, "ada", "the answer", lambda: len(stub.conversation()) == 1, STEP_TIMEOUT)
        await until_screen(supervisor, "ada", "Tokens: ")  # the turn is over (and in its history file)
        await until(supervisor, "ada", "aider idle", lambda: view().state is AgentState.IDLE, STEP_TIMEOUT)
        pane = await supervisor.backend.pane(supervisor.pane_of("ada"))
        assert pane.pid is not None
        os.killpg(os.getpgid(pane.pid), signal.SIGKILL)  # the program dies: its pane stays, dead
        # nobody restarts it by hand: the console sees the crash and its recovery restarts it, resuming
        await until(supervisor, "ada", "the restart by recovery", lambda: view().launches == 2, STEP_TIMEOUT)
        found = [r.event for r in supervisor.recent_records() if isinstance(r.event, ConditionDetected)]
        assert [(event.agent, event.condition) for event in found] == [("ada", "crashed")]
        launched = [r.event for r in supervisor.recent_records() if isinstance(r.event, AgentLaunched)][-1]
        assert launched.resumed == "its last conversation in its folder"
        await until(supervisor, "ada", "aider idle again", lambda: view().state is AgentState.IDLE, START_TIMEOUT)
        await type_prompt(supervisor, tmux_socket, "ada", "what was the code word?")
        await until(supervisor, "ada", "the next request", lambda: len(stub.conversation()) == 2, STEP_TIMEOUT)
        assert EARLIER in json.dumps(stub.conversation()[-1])  # the model sees the earlier chat
        assert "PELICAN." in json.dumps(stub.conversation()[-1])
    finally:
        await supervisor.stop()
        await supervisor.backend.close()
        await stub.stop()
