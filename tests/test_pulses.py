"""Panes pulse when their agent sends or receives a message: on the in-memory terminal (who pulses, and how
often under a flood), and on a real tmux (the border title drawn reversed, then as before)."""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from agent_console.agents.events import HUMAN, MessageAcknowledged, MessageSent, MessageTyped
from agent_console.agents.model import Agent, Org, Team
from agent_console.runtime import pulses
from agent_console.runtime.supervisor import Supervisor
from agent_console.terminal.tmux import TmuxBackend

from .conftest import tmux
from .fake_terminal import FakePane, FakeTerminal
from .test_supervisor import until

GAP = 0.3  # the gap between pulses in these tests: short, so that the trailing pulse comes soon


def two_agents(tmp_path: Path, command: str | None = None) -> Org:
    return Org(
        name="pulsing",
        teams=(Team(name="t"),),
        agents=tuple(Agent(name=name, team="t", command=command, cwd=tmp_path) for name in ("ann", "bob")),
    )


@pytest.fixture
def quick(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pulses, "PULSE_SECONDS", 0.05)
    monkeypatch.setattr(pulses, "PULSE_GAP_SECONDS", GAP)


@pytest.fixture
async def supervisor(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, quick: None) -> AsyncIterator[Supervisor]:
    monkeypatch.setenv("XDG_RUNTIME_DIR", tempfile.mkdtemp(prefix="acpu", dir="/tmp"))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    running = Supervisor(two_agents(tmp_path), FakeTerminal(), (160, 48))  # type: ignore[arg-type]
    await running.start()
    yield running
    await running.stop()
    await running.backend.close()


def fake(supervisor: Supervisor, agent: str) -> FakePane:
    assert isinstance(supervisor.backend, FakeTerminal)
    return supervisor.backend.pane_of(agent)


async def test_the_sender_pulses_when_it_sends_and_the_recipient_when_it_receives(supervisor: Supervisor) -> None:
    supervisor.submit("ann", MessageSent(id="m1", to="@bob", text="hello"))
    await until(lambda: fake(supervisor, "ann").pulses == 1 and not fake(supervisor, "ann").pulsing, "ann's pulse")
    assert fake(supervisor, "bob").pulses == 0  # in its outbox, not received yet
    supervisor.submit("bob", MessageAcknowledged(id="m1"))  # fetched it itself (`agent-console inbox --ack`)
    await until(lambda: fake(supervisor, "bob").pulses == 1 and not fake(supervisor, "bob").pulsing, "bob's pulse")
    assert fake(supervisor, "ann").pulses == 1


async def test_a_message_typed_in_pulses_once_not_again_when_taken_up(supervisor: Supervisor) -> None:
    supervisor.submit(HUMAN, MessageSent(id="m2", to="@bob", text="hello"))
    supervisor.submit(HUMAN, MessageTyped(id="m2", agent="bob"))
    await until(lambda: fake(supervisor, "bob").pulses == 1, "bob's pulse as the message is typed in")
    await asyncio.sleep(GAP)  # past the gap: a second pulse would show now
    supervisor.submit("bob", MessageAcknowledged(id="m2"))
    await asyncio.sleep(GAP)
    assert fake(supervisor, "bob").pulses == 1


async def test_a_flood_of_messages_is_one_pulse_and_one_more_after_the_gap(supervisor: Supervisor) -> None:
    for number in range(40):
        supervisor.submit("ann", MessageSent(id=f"f{number}", to="@bob", text=f"flood {number}"))
    await until(lambda: fake(supervisor, "ann").pulses == 2 and not fake(supervisor, "ann").pulsing, "two pulses")
    await asyncio.sleep(2 * GAP)
    assert fake(supervisor, "ann").pulses == 2
    assert not fake(supervisor, "ann").pulsing


# --- on a real tmux ----------------------------------------------------------------------------------------


@pytest.fixture
async def on_tmux(tmux_socket: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Supervisor]:
    monkeypatch.setenv("XDG_RUNTIME_DIR", tempfile.mkdtemp(prefix="acpt", dir="/tmp"))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    org = two_agents(tmp_path, "bash --norc --noprofile")
    running = Supervisor(org, TmuxBackend(tmux_socket, "pulsing", config_file="/dev/null"), (160, 48))
    await running.start()
    yield running
    await running.stop()
    await running.backend.close()


def border(socket: str, pane: str) -> str:
    """The pane's border title as tmux draws it (its styles as `#[…]`)."""
    return tmux(socket, "display", "-p", "-t", pane, "#{E:pane-border-format}")


async def test_a_message_sent_and_received_pulses_both_borders_on_tmux(
    on_tmux: Supervisor, tmux_socket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pulses, "PULSE_SECONDS", 1.5)  # long enough to be seen between two reads
    ann, bob = on_tmux.pane_of("ann"), on_tmux.pane_of("bob")
    await until(lambda: "bold]" in border(tmux_socket, ann) and "[○ idle" in border(tmux_socket, ann), "styled")
    calm = border(tmux_socket, ann)
    assert "reverse" not in calm
    # the agent's own program sends, through the real CLI and control API
    await on_tmux.backend.send_text(ann, "agent-console send @bob hello-bob")
    await on_tmux.backend.send_keys(ann, ["Enter"])
    await until(lambda: "#[reverse]" in border(tmux_socket, ann), "ann's border pulsing")
    assert "#[reverse]" not in border(tmux_socket, bob)
    await until(lambda: border(tmux_socket, ann) == calm, "ann's border as it was")
    await on_tmux.backend.send_text(bob, "agent-console inbox --ack")
    await on_tmux.backend.send_keys(bob, ["Enter"])
    await until(lambda: "#[reverse]" in border(tmux_socket, bob), "bob's border pulsing as it takes the message")
    await until(lambda: "#[reverse]" not in border(tmux_socket, bob), "bob's border as it was")
    assert "hello-bob" in await on_tmux.backend.capture(bob)


async def test_a_flood_on_tmux_pulses_twice_and_leaves_the_state_colour(on_tmux: Supervisor, tmux_socket: str) -> None:
    ann = on_tmux.pane_of("ann")
    await until(lambda: "[○ idle" in border(tmux_socket, ann), "ann styled")
    colour = tmux(tmux_socket, "show", "-pv", "-t", ann, "@agent_console_border")
    sent: list[bool] = []
    pulse = on_tmux.backend.pulse_pane

    async def counted(pane: str, on: bool) -> None:
        sent.append(on)
        await pulse(pane, on)

    on_tmux.backend.pulse_pane = counted  # type: ignore[method-assign]
    for number in range(30):
        on_tmux.submit("ann", MessageSent(id=f"f{number}", to="@bob", text=f"flood {number}"))
    await until(lambda: sent == [True, False, True, False], "a pulse, and one more after the gap")
    await asyncio.sleep(2 * GAP)
    assert sent == [True, False, True, False]
    assert tmux(tmux_socket, "show", "-pqv", "-t", ann, "@agent_console_pulse") == ""
    assert tmux(tmux_socket, "show", "-pv", "-t", ann, "@agent_console_border") == colour
    assert "#[reverse]" not in border(tmux_socket, ann)
