"""The human's messages are typed into an agent's pane when it is idle and nobody is typing there."""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
from pathlib import Path

import pytest

from agent_console.agents.events import HUMAN, MessageSent
from agent_console.agents.model import Agent, Org, Team
from agent_console.supervisor import Supervisor
from agent_console.terminal.tmux import TmuxBackend


@pytest.fixture
async def supervisor(tmux_socket: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    runtime = tempfile.mkdtemp(prefix="acdl", dir="/tmp")
    monkeypatch.setenv("XDG_RUNTIME_DIR", runtime)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    org = Org(
        name="typing",
        teams=(Team(name="t"),),
        agents=(Agent(name="ann", team="t", command="bash --norc --noprofile", cwd=tmp_path),),
    )
    running = Supervisor(org, TmuxBackend(tmux_socket, "typing", config_file="/dev/null"), (160, 48))
    await running.start()
    yield running
    await running.stop()
    await running.backend.close()


async def until(condition, timeout: float = 10.0) -> None:
    async def wait() -> None:
        while not condition():
            await asyncio.sleep(0.05)

    await asyncio.wait_for(wait(), timeout)


async def test_message_is_typed_when_idle_and_delivered_when_work_starts(supervisor: Supervisor) -> None:
    pane = supervisor.pane_of("ann")
    await supervisor.backend.send_text(pane, "agent-console emit status idle")
    await supervisor.backend.send_keys(pane, ["Enter"])
    await until(lambda: supervisor.state.agents["ann"].state.value == "idle")
    supervisor.submit(HUMAN, MessageSent(id="m1", to="@ann", text="agent-console emit status working --task typed"))
    await until(lambda: supervisor.state.agents["ann"].task == "typed")
    await until(lambda: supervisor.state.outbox("ann") == [])  # acknowledged on its behalf: it took it up
    assert "agent-console emit status working --task typed" in await supervisor.backend.capture(pane)


async def test_message_waits_while_a_human_is_in_the_pane(supervisor: Supervisor) -> None:
    pane = supervisor.pane_of("ann")
    await supervisor.backend.send_text(pane, "agent-console emit status idle")
    await supervisor.backend.send_keys(pane, ["Enter"])
    await until(lambda: supervisor.state.agents["ann"].state.value == "idle")
    await supervisor.backend.select_pane(pane)  # the human clicks into ann's pane
    await until(lambda: supervisor.human_at() == {"ann"})
    supervisor.submit(HUMAN, MessageSent(id="m2", to="@ann", text="echo held-back-until-focus-leaves"))
    await asyncio.sleep(0.5)
    assert "held-back-until-focus-leaves" not in await supervisor.backend.capture(pane)
    exec_pane = next(info.pane for info in await supervisor.backend.list_panes() if info.agent == "exec")
    await supervisor.backend.select_pane(exec_pane)  # the human leaves
    await until(lambda: supervisor.typist.typed.get("ann") == "m2")
    for _ in range(100):
        if "held-back-until-focus-leaves" in await supervisor.backend.capture(pane):
            break
        await asyncio.sleep(0.05)
    assert "held-back-until-focus-leaves" in await supervisor.backend.capture(pane)
