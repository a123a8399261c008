"""Typing the human's messages into agents' panes: the way to talk to an interactive agent.

A message from the human waits in the agent's outbox until the agent is idle and no human is typing in
its pane; then it is typed in (one at a time). It counts as delivered — acknowledged in the journal on
the agent's behalf — when the agent visibly starts working.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING

from agent_console.agents.display import pasteable
from agent_console.agents.events import HUMAN, AgentState, MessageAcknowledged, MessageSent, StatusReported
from agent_console.agents.journal import Record

from .terminal.base import BackendError

if TYPE_CHECKING:
    from .supervisor import Supervisor

BUSY = {AgentState.WORKING, AgentState.THINKING}


class OutboxTypist:
    """Delivers the human's messages by typing them, as the supervisor's records say when it may."""

    def __init__(self, supervisor: Supervisor) -> None:
        self.supervisor = supervisor
        self.typed: dict[str, str] = {}  # agent → id of the message typed in, not yet seen taken up
        self._tasks: set[asyncio.Task] = set()
        supervisor.listeners.append(self.on_record)
        supervisor.focus_listeners.append(self.on_focus)

    def on_record(self, record: Record) -> None:
        event = record.event
        if isinstance(event, StatusReported):
            agent = record.actor
            if event.state in BUSY and agent in self.typed:
                message_id = self.typed.pop(agent)
                if message_id in {m["id"] for m in self.supervisor.state.outbox(agent)}:
                    self.supervisor.submit(agent, MessageAcknowledged(id=message_id))  # it took the message up
            if event.state is AgentState.IDLE:
                self._soon(agent)
        elif isinstance(event, MessageSent) and record.actor == HUMAN:
            for agent in self.supervisor.state.agents:
                self._soon(agent)

    def on_focus(self) -> None:
        for agent in self.supervisor.state.agents:
            self._soon(agent)  # a human who left a pane no longer holds its messages back

    def _soon(self, agent: str) -> None:
        task = asyncio.get_running_loop().create_task(self.deliver(agent))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def deliver(self, agent: str) -> bool:
        """Type the agent's oldest message from the human, if now is the time; True if typed."""
        state = self.supervisor.state
        view = state.agents.get(agent)
        if view is None or not view.alive or view.pane is None or view.state is not AgentState.IDLE:
            return False
        if agent in self.typed or agent in self.supervisor.human_at():
            return False  # one at a time; and never under a human's fingers
        waiting = [m for m in state.outbox(agent) if m["from"] == HUMAN]
        if not waiting:
            return False
        message = waiting[0]
        self.typed[agent] = message["id"]
        with contextlib.suppress(BackendError):
            # pasted as text: a control character in it is typed as its marker, never as a key
            await self.supervisor.backend.send_text(view.pane, pasteable(message["text"]))
            await self.supervisor.backend.send_keys(view.pane, ["Enter"])
            return True
        self.typed.pop(agent, None)
        return False
