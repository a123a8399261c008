"""One effective state drives the panes and delivery: the human's messages are typed into an agent's pane when
the agent is idle, by whatever evidence, and nobody is typing there; a pane's badge and border show that state."""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
from pathlib import Path

import pytest

from agent_console.agents.events import (
    EXECUTIVE,
    HUMAN,
    SUPERVISOR,
    AgentState,
    ApprovalDecided,
    MessageSent,
    PromptSeen,
    StateObserved,
)
from agent_console.agents.model import Agent, Org, Team
from agent_console.runtime.supervisor import Supervisor
from agent_console.terminal.tmux import TmuxBackend
from agent_console.themes import state_color

from .conftest import tmux


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
    await until(lambda: (typed := supervisor.state.typed_message("ann")) is not None and typed.id == "m2")
    for _ in range(100):
        if "held-back-until-focus-leaves" in await supervisor.backend.capture(pane):
            break
        await asyncio.sleep(0.05)
    assert "held-back-until-focus-leaves" in await supervisor.backend.capture(pane)


async def test_the_executive_types_nothing_while_the_human_is_in_the_pane(supervisor: Supervisor) -> None:
    """Direct override: the executive's message waits, saying why, until the human leaves the pane."""
    pane = supervisor.pane_of("ann")
    await supervisor.backend.send_text(pane, "agent-console emit status idle")
    await supervisor.backend.send_keys(pane, ["Enter"])
    await until(lambda: supervisor.state.agents["ann"].state.value == "idle")
    await supervisor.backend.select_pane(pane)  # the human clicks into ann's pane
    await until(lambda: supervisor.human_at() == {"ann"})
    supervisor.submit(EXECUTIVE, MessageSent(id="x1", to="@ann", text="echo from-the-executive"))
    await asyncio.sleep(0.5)
    assert "from-the-executive" not in await supervisor.backend.capture(pane)
    assert supervisor.typist.why_waiting("ann") == (
        "a human is in its pane: the executive sends it nothing until they leave it (direct override)"
    )
    assert (await supervisor.explain("ann"))["override"] == (
        "the human is in its pane: the executive sends it nothing until they leave (1 message(s) wait)"
    )
    exec_pane = next(info.pane for info in await supervisor.backend.list_panes() if info.agent == "exec")
    await supervisor.backend.select_pane(exec_pane)  # the human leaves
    await until(lambda: (typed := supervisor.state.typed_message("ann")) is not None and typed.id == "x1")
    for _ in range(100):
        if "from-the-executive" in await supervisor.backend.capture(pane):
            break
        await asyncio.sleep(0.05)
    assert "from-the-executive" in await supervisor.backend.capture(pane)
    assert (await supervisor.explain("ann"))["override"] is None


def hook_says(supervisor: Supervisor, state: AgentState) -> None:
    """What `agent-console hook` journals when a program's hook reports a state."""
    supervisor.submit("ann", StateObserved(agent="ann", state=state, source="hook", rule="Stop"))


async def test_a_message_sent_in_error_is_typed_once_a_hook_says_idle(supervisor: Supervisor) -> None:
    pane = supervisor.pane_of("ann")
    notes: list[str] = []
    supervisor.typist.note_listeners.append(notes.append)
    await supervisor.backend.send_text(pane, "agent-console emit status error")
    await supervisor.backend.send_keys(pane, ["Enter"])
    await until(lambda: supervisor.state.agents["ann"].state is AgentState.ERROR)
    supervisor.submit(HUMAN, MessageSent(id="m3", to="@ann", text="agent-console emit status working --task retried"))
    (line,) = supervisor.typist.describe_outbox("ann")
    assert line.startswith("ann: “agent-console emit status working --task retried” (from human, queued ")
    assert line.endswith(" ago): it is in error: typed once it is idle")
    hook_says(supervisor, AgentState.IDLE)  # not a report from the agent: evidence of another source
    await until(lambda: supervisor.state.agents["ann"].task == "retried")
    await until(lambda: supervisor.state.outbox("ann") == [])
    assert [note.split(" (")[0] for note in notes] == [
        "typed into ann's pane: “agent-console emit status working --task retried”",
        "delivered to ann: “agent-console emit status working --task retried”",
    ]


async def test_the_outbox_says_why_each_message_waits(supervisor: Supervisor) -> None:
    pane = supervisor.pane_of("ann")
    await supervisor.backend.send_text(pane, "agent-console emit status working")
    await supervisor.backend.send_keys(pane, ["Enter"])
    await until(lambda: supervisor.state.agents["ann"].state is AgentState.WORKING)
    supervisor.submit(HUMAN, MessageSent(id="m4", to="@ann", text="first"))
    supervisor.submit(HUMAN, MessageSent(id="m5", to="@ann", text="second"))
    supervisor.submit(SUPERVISOR, MessageSent(id="m6", to="@ann", text="from the supervisor"))
    whys = [line.rpartition("): ")[2] for line in supervisor.typist.describe_outbox("ann")]
    assert whys == [
        "it is working: typed once it is idle",
        "after the message before it",
        "in its inbox, for it to read (agent-console inbox)",
    ]
    await supervisor.backend.select_pane(pane)  # the human clicks into ann's pane
    await until(lambda: supervisor.human_at() == {"ann"})
    hook_says(supervisor, AgentState.IDLE)
    assert supervisor.typist.why_waiting("ann") == "a human is in its pane (it has the focus): typed once they leave it"
    exec_pane = next(info.pane for info in await supervisor.backend.list_panes() if info.agent == "exec")
    await supervisor.backend.select_pane(exec_pane)
    await until(lambda: supervisor.state.typed_message("ann") is not None)
    assert supervisor.typist.why_waiting("ann").startswith("a message was typed in ")
    whys = [line.rpartition("): ")[2] for line in supervisor.typist.describe_outbox("ann")]
    assert whys[0].startswith("typed in ") and whys[0].endswith(" ago: delivered once it takes it up (starts working)")
    assert whys[1:] == ["after the message before it", "in its inbox, for it to read (agent-console inbox)"]


async def test_the_badge_and_border_follow_the_effective_state_by_any_evidence(
    supervisor: Supervisor, tmux_socket: str
) -> None:
    pane = supervisor.pane_of("ann")

    def shown() -> tuple[str, str]:
        line = tmux(tmux_socket, "display", "-p", "-t", pane, "#{@badge}\t#{@agent_console_border}").rstrip("\n")
        badge, border = line.split("\t")
        return badge, border

    await supervisor.backend.send_text(pane, "agent-console emit status error")
    await supervisor.backend.send_keys(pane, ["Enter"])
    await until(lambda: shown() == ("✖ error", state_color("error")))
    hook_says(supervisor, AgentState.IDLE)
    await until(lambda: shown()[0] == "○ idle")
    team_border = shown()[1]
    assert team_border != state_color("error")
    supervisor.submit(SUPERVISOR, PromptSeen(id="p1", agent="ann", text="Proceed?", source="hook"))
    hook_says(supervisor, AgentState.WAITING)
    await until(lambda: shown() == ("◆ waiting · 1 to approve", state_color("waiting")))
    supervisor.submit(SUPERVISOR, ApprovalDecided(id="p1", approved=True, reason="answered in the pane"))
    hook_says(supervisor, AgentState.IDLE)
    await until(lambda: shown() == ("○ idle", team_border))
