"""Self-healing with real agent programs against stub model APIs, in a private tmux: a hung Claude Code (its request
never answered, then its processes frozen with SIGSTOP) nudged with Escape and then restarted; a killed aider
restarted; an outage (the stub answering 529 Overloaded to every Claude Code) marking the agents
`error (provider)` and restarting none."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shlex
import signal
import sys
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from agent_console.agents.events import AgentState, ConditionDetected, RecoveryStep
from agent_console.agents.model import Agent, AgentKind, Org, Team
from agent_console.agents.recovery import RecoveryPolicy, recovery_label
from agent_console.runtime.supervisor import Supervisor
from agent_console.terminal.tmux import TmuxBackend
from tests.agent_clis import aider as aider_cli
from tests.agent_clis import claude as claude_cli
from tests.stub_models.anthropic import AnthropicStub
from tests.stub_models.openai import OpenAIStub

from .conftest import descendants, tmux

START_TIMEOUT = 60.0
STEP_TIMEOUT = 45.0
POLICY = RecoveryPolicy(ladder=("nudge", "wait 3", "restart", "page"), settle=5, breaker_failures=3)
Launch = Callable[[list[tuple[str, AgentKind, list[str], dict[str, str], Path]]], Awaitable[Supervisor]]


@pytest.fixture
async def launch(tmux_socket: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Launch]:
    for name in ("CI", "GITHUB_ACTIONS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("XDG_RUNTIME_DIR", tempfile.mkdtemp(prefix="acrg", dir="/tmp"))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    running: list[Supervisor] = []

    async def start(agents: list[tuple[str, AgentKind, list[str], dict[str, str], Path]]) -> Supervisor:
        org = Org(
            name="real",
            teams=(Team(name="t"),),
            agents=tuple(
                Agent(
                    name=name,
                    team="t",
                    kind=kind,
                    command=shlex.join(argv),
                    cwd=workdir,
                    env=env,
                    stuck_after=10,  # a turn that starts takes a few seconds to reach the model
                    recovery=POLICY,
                )
                for name, kind, argv, env, workdir in agents
            ),
        )
        supervisor = Supervisor(org, TmuxBackend(tmux_socket, "real", config_file="/dev/null"), (200, 50))
        await supervisor.start()
        running.append(supervisor)
        return supervisor

    yield start
    for supervisor in running:
        await supervisor.stop()
        await supervisor.backend.close()


async def until(supervisor: Supervisor, what: str, condition: Callable[[], object], timeout: float = STEP_TIMEOUT):
    async def wait() -> None:
        while not condition():
            await asyncio.sleep(0.05)

    try:
        await asyncio.wait_for(wait(), timeout)
    except TimeoutError:
        views = {name: (view.state, view.condition, view.recovery) for name, view in supervisor.state.agents.items()}
        found = [
            (record.event.agent, record.event.condition, record.event.evidence)
            for record in supervisor.recent_records()
            if isinstance(record.event, ConditionDetected)
        ]
        raise AssertionError(f"timed out waiting for {what}: {views}; conditions found: {found}") from None


def steps(supervisor: Supervisor, agent: str) -> list[tuple[str, str]]:
    return [
        (record.event.action, record.event.outcome)
        for record in supervisor.recent_records()
        if isinstance(record.event, RecoveryStep) and record.event.agent == agent
    ]


async def type_prompt(supervisor: Supervisor, socket: str, agent: str, text: str) -> None:
    pane = supervisor.pane_of(agent)
    tmux(socket, "send-keys", "-t", pane, "-l", text)
    for _ in range(100):
        if text in await supervisor.backend.capture(pane):
            break
        await asyncio.sleep(0.05)
    await supervisor.backend.send_keys(pane, ["Enter"])


def idle(supervisor: Supervisor, agent: str) -> bool:
    return supervisor.state.agents[agent].state is AgentState.IDLE


def pane_pid(socket: str, pane: str) -> int:
    return int(tmux(socket, "display-message", "-p", "-t", pane, "#{pane_pid}").strip())


async def test_a_hung_claude_code_is_nudged_then_restarted_once_frozen(
    launch: Launch, tmux_socket: str, tmp_path: Path
) -> None:
    stub = AnthropicStub()
    await stub.start()
    try:
        argv, env = claude_cli.prepare(tmp_path / "home", tmp_path / "work", stub.url)
        supervisor = await launch([("cc", AgentKind.CLAUDE, argv, env, tmp_path / "work")])
        await until(
            supervisor,
            "Claude Code at its prompt",
            lambda: supervisor.state.agents["cc"].state is AgentState.IDLE,
            START_TIMEOUT,
        )
        stub.hold()  # the request is never answered: Claude Code works on and on
        await type_prompt(supervisor, tmux_socket, "cc", "say hello")
        await until(supervisor, "the request held", lambda: stub.holding)
        root = pane_pid(tmux_socket, supervisor.pane_of("cc"))
        frozen = [root, *descendants(root)]
        for pid in frozen:
            os.kill(pid, signal.SIGSTOP)
        try:
            await until(supervisor, "Claude Code found hung", lambda: supervisor.state.agents["cc"].condition == "hung")
            await until(supervisor, "the nudge", lambda: ("nudge", "done") in steps(supervisor, "cc"))
            await until(supervisor, "the restart", lambda: ("restart", "recovered") in steps(supervisor, "cc"), 60)
        finally:
            for pid in frozen:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGCONT)
        assert steps(supervisor, "cc")[:3] == [("nudge", "done"), ("wait 3s", "trying"), ("wait 3s", "done")]
        assert supervisor.state.agents["cc"].restarts == 1
        await until(
            supervisor, "Claude Code back at its prompt", lambda: supervisor.state.agents["cc"].state is AgentState.IDLE
        )
    finally:
        await stub.stop()


async def test_a_killed_aider_is_restarted_in_its_pane(launch: Launch, tmux_socket: str, tmp_path: Path) -> None:
    stub = OpenAIStub(model=aider_cli.MODEL)
    await stub.start()
    try:
        work = tmp_path / "work"
        work.mkdir()
        argv, env = aider_cli.prepare(tmp_path / "home", work, stub.url)
        supervisor = await launch([("ai", AgentKind.AIDER, argv, env, work)])
        await until(
            supervisor,
            "aider at its prompt",
            lambda: supervisor.state.agents["ai"].state is AgentState.IDLE,
            START_TIMEOUT,
        )
        pane = supervisor.pane_of("ai")
        os.kill(pane_pid(tmux_socket, pane), signal.SIGKILL)
        await until(supervisor, "aider found crashed", lambda: supervisor.state.agents["ai"].condition == "crashed")
        await until(supervisor, "aider restarted", lambda: ("restart", "recovered") in steps(supervisor, "ai"), 60)
        assert supervisor.pane_of("ai") == pane and supervisor.state.agents["ai"].restarts == 1
        await until(
            supervisor, "aider back at its prompt", lambda: supervisor.state.agents["ai"].state is AgentState.IDLE, 60
        )
    finally:
        await stub.stop()


async def test_an_outage_of_the_provider_restarts_no_claude_code(
    launch: Launch, tmux_socket: str, tmp_path: Path
) -> None:
    stub = AnthropicStub()
    await stub.start()
    try:
        agents = []
        for name in ("c1", "c2"):
            argv, env = claude_cli.prepare(tmp_path / name / "home", tmp_path / name / "work", stub.url)
            agents.append((name, AgentKind.CLAUDE, argv, env, tmp_path / name / "work"))
        supervisor = await launch(agents)
        for name in ("c1", "c2"):
            await until(
                supervisor,
                f"{name} at its prompt",
                lambda n=name: supervisor.state.agents[n].state is AgentState.IDLE,
                START_TIMEOUT,
            )
        for _ in range(40):  # every request, retries included, is answered 529 Overloaded
            stub.fail(529, "overloaded_error", "Overloaded")
        for name in ("c1", "c2"):
            await type_prompt(supervisor, tmux_socket, name, "say hello")
        await until(
            supervisor,
            "the outage",
            lambda: all(supervisor.state.agents[name].outage for name in ("c1", "c2")),
        )
        for name in ("c1", "c2"):
            view = supervisor.state.agents[name]
            assert (view.state, recovery_label(view)) == (AgentState.ERROR, "error (provider)")
        await asyncio.sleep(POLICY.settle or 0)  # longer than a restart would take to be tried
        for name in ("c1", "c2"):
            assert supervisor.state.agents[name].restarts == 0
            assert [step for step in steps(supervisor, name) if step[0] in ("restart", "new-pane")] == []
    finally:
        await stub.stop()
