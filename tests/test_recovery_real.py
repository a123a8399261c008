"""Self-healing against real programs in a private tmux: a shell killed with SIGKILL, a pane closed under its agent,
a program that crashes as it starts, a hung command nudged with Ctrl-C. The decisions themselves are unit-tested in
tests/test_recovery.py; real Claude Code and aider are in tests/test_recovery_agents.py."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from agent_console.agents.events import AgentState, BreakerChanged, RecoveryStep, StatusReported
from agent_console.agents.model import Agent, Org, Team
from agent_console.agents.recovery import RecoveryPolicy
from agent_console.runtime.supervisor import Supervisor
from agent_console.terminal.tmux import TmuxBackend

from .conftest import descendants, tmux

FAST = RecoveryPolicy(
    ladder=("nudge", "wait 1", "restart", "restart", "new-pane", "page"),
    settle=1.0,
    breaker_failures=2,
    breaker_cooldown=600,
)
Start = Callable[..., Awaitable[Supervisor]]


@pytest.fixture
async def running(tmux_socket: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Start]:
    monkeypatch.setenv("XDG_RUNTIME_DIR", tempfile.mkdtemp(prefix="acrr", dir="/tmp"))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    started: list[Supervisor] = []

    async def start(*agents: Agent) -> Supervisor:
        org = Org(name="heal", teams=(Team(name="t"),), agents=agents)
        supervisor = Supervisor(org, TmuxBackend(tmux_socket, "heal", config_file="/dev/null"), (160, 48))
        await supervisor.start()
        started.append(supervisor)
        return supervisor

    yield start
    for supervisor in started:
        await supervisor.stop()
        await supervisor.backend.close()


def shell(tmp_path: Path, name: str = "bob", command: str = "bash --norc --noprofile", **fields: object) -> Agent:
    return Agent(name=name, team="t", command=command, cwd=tmp_path, recovery=FAST, **fields)  # type: ignore[arg-type]


async def until(condition: Callable[[], object], what: str, timeout: float = 20.0) -> None:
    async def wait() -> None:
        while not condition():
            await asyncio.sleep(0.05)

    try:
        await asyncio.wait_for(wait(), timeout)
    except TimeoutError:
        raise AssertionError(f"timed out waiting for {what}") from None


def steps(supervisor: Supervisor, agent: str = "bob") -> list[tuple[str, str]]:
    return [
        (record.event.action, record.event.outcome)
        for record in supervisor.recent_records()
        if isinstance(record.event, RecoveryStep) and record.event.agent == agent
    ]


def pane_pid(socket: str, pane: str) -> int:
    return int(tmux(socket, "display-message", "-p", "-t", pane, "#{pane_pid}").strip())


async def test_a_shell_killed_with_sigkill_is_restarted_in_its_pane(running: Start, tmux_socket: str, tmp_path) -> None:
    supervisor = await running(shell(tmp_path))
    pane = supervisor.pane_of("bob")
    before = pane_pid(tmux_socket, pane)
    os.kill(before, signal.SIGKILL)
    await until(lambda: steps(supervisor)[-1:] == [("restart", "recovered")], "bob to be restarted")
    assert supervisor.pane_of("bob") == pane  # the same pane
    assert pane_pid(tmux_socket, pane) != before
    bob = supervisor.state.agents["bob"]
    assert bob.alive and bob.restarts == 1 and bob.mttr is not None


async def test_an_agent_whose_pane_was_closed_gets_a_new_pane(running: Start, tmux_socket: str, tmp_path) -> None:
    supervisor = await running(shell(tmp_path), shell(tmp_path, "ann"))
    pane = supervisor.pane_of("bob")
    tmux(tmux_socket, "kill-pane", "-t", pane)
    await until(lambda: steps(supervisor)[-1:] == [("restart", "recovered")], "bob to be started again")
    assert supervisor.pane_of("bob") != pane
    assert supervisor.state.agents["bob"].alive
    assert supervisor.state.agents["ann"].restarts == 0


async def test_a_program_that_crashes_as_it_starts_stops_at_the_breaker(running: Start, tmp_path) -> None:
    supervisor = await running(shell(tmp_path, command="bash --norc --noprofile -c 'exit 3'"))
    try:
        await until(lambda: supervisor.state.agents["bob"].breaker == "open", "the breaker to open")
    finally:
        for r in supervisor.recent_records():
            print(r.time, r.actor, r.event)
    await until(lambda: steps(supervisor)[-1:] == [("page", "paged")], "the human to be paged")
    await asyncio.sleep(1.5)  # longer than a restart takes to fail: no restart after the breaker opened
    assert supervisor.state.agents["bob"].restarts <= FAST.breaker_failures  # type: ignore[operator]
    opened = [r.event for r in supervisor.recent_records() if isinstance(r.event, BreakerChanged)]
    assert [(event.agent, event.state) for event in opened] == [("bob", "open")]  # type: ignore[union-attr]


async def test_a_hung_command_is_nudged_with_ctrl_c_and_the_shell_comes_back(running: Start, tmp_path) -> None:
    supervisor = await running(shell(tmp_path, stuck_after=1))
    pane = supervisor.pane_of("bob")
    await supervisor.backend.send_text(pane, "clear; sleep 600")
    await supervisor.backend.send_keys(pane, ["Enter"])
    supervisor.submit("bob", StatusReported(state=AgentState.WORKING, task="a long sleep"))
    supervisor.screens.schedule("bob")
    await until(lambda: supervisor.state.agents["bob"].condition == "hung", "bob to be found hung")
    await until(lambda: ("nudge", "recovered") in steps(supervisor), "the nudge to bring the prompt back")
    assert supervisor.state.agents["bob"].restarts == 0
    assert "^C" in await supervisor.backend.capture(pane)


async def test_a_frozen_program_is_not_fooled_by_its_echo_and_is_restarted(
    running: Start, tmux_socket: str, tmp_path
) -> None:
    """SIGSTOP freezes the shell and its command: Ctrl-C's "^C" echo moves the screen, but nothing comes back,
    so the ladder goes on to a restart."""
    supervisor = await running(shell(tmp_path, stuck_after=1))
    pane = supervisor.pane_of("bob")
    await supervisor.backend.send_text(pane, "clear; sleep 600")
    await supervisor.backend.send_keys(pane, ["Enter"])
    supervisor.submit("bob", StatusReported(state=AgentState.WORKING, task="a long sleep"))
    await asyncio.sleep(0.5)
    root = pane_pid(tmux_socket, pane)
    frozen = [root, *descendants(root)]
    for pid in frozen:
        os.kill(pid, signal.SIGSTOP)
    try:
        supervisor.screens.schedule("bob")
        await until(lambda: supervisor.state.agents["bob"].condition == "hung", "bob to be found hung")
        await until(lambda: steps(supervisor)[-1:] == [("restart", "recovered")], "bob to be restarted", timeout=30)
        assert [action for action, outcome in steps(supervisor) if outcome == "done"][:2] == ["nudge", "wait 1s"]
        assert supervisor.state.agents["bob"].restarts == 1
    finally:
        for pid in frozen:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)
