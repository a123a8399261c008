"""Pulses: a pane flashes when its agent sends a message, or receives one.

Sent is the sender's `MessageSent`; received is the message typed into the recipient's pane (`MessageTyped`)
or, for one it fetched itself, its `MessageAcknowledged` (once a message and recipient: a message typed in and
then taken up is one receipt). A pulse lasts `PULSE_SECONDS`; a pane pulses at most once every
`PULSE_GAP_SECONDS`: messages meanwhile make one more pulse at the end of the gap, so a flood shows as a steady
slow beat, with the state's colour on screen most of the time. Timers, no polling.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Protocol

from agent_console.agents.events import MessageAcknowledged, MessageSent, MessageTyped
from agent_console.agents.journal import Record
from agent_console.agents.state import OrgState
from agent_console.terminal.base import BackendError, TerminalBackend

PULSE_SECONDS = 0.3  # how long a pane shows its pulse
PULSE_GAP_SECONDS = 1.0  # from one pulse's start to the next one's, at the least


class PulseHost(Protocol):
    """What pulses need of the supervisor: its state (where panes are), the terminal, and its records."""

    @property
    def state(self) -> OrgState: ...

    @property
    def backend(self) -> TerminalBackend: ...

    @property
    def listeners(self) -> list[Callable[[Record], None]]: ...


class Pulses:
    """Makes agents' panes pulse as messages pass, as the supervisor's records say."""

    def __init__(self, host: PulseHost) -> None:
        self.host = host
        self._started: dict[str, float] = {}  # pane → when its last pulse began (loop time)
        self._due: dict[str, asyncio.TimerHandle] = {}  # pane → its next pulse, waiting out the gap
        self._ends: dict[str, asyncio.TimerHandle] = {}  # pane → the end of its pulse now showing
        self._sending: dict[str, asyncio.Task[None]] = {}  # pane → the last change sent to the terminal
        # (message, recipient) not received yet: a receipt pulses once (typed in, then taken up, is one)
        self._unreceived = {
            (message.id, agent)
            for message in host.state.messages.values()
            for agent in message.pending
            if agent not in message.typed
        }
        host.listeners.append(self.on_record)

    def on_record(self, record: Record) -> None:
        event = record.event
        if isinstance(event, MessageSent):
            self.pulse(record.actor)
            message = self.host.state.messages.get(event.id)
            if message is not None:
                self._unreceived.update((event.id, agent) for agent in message.pending)
            return
        if isinstance(event, MessageTyped):
            receipt = (event.id, event.agent)
        elif isinstance(event, MessageAcknowledged):
            receipt = (event.id, record.actor)
        else:
            return
        if receipt in self._unreceived:
            self._unreceived.discard(receipt)
            self.pulse(receipt[1])

    def pulse(self, agent: str) -> None:
        """Pulse `agent`'s pane now, or once its gap is over (one pulse for all that comes meanwhile)."""
        view = self.host.state.agents.get(agent)
        pane = view.pane if view is not None and view.alive else None
        if pane is None or pane in self._due:
            return
        loop = asyncio.get_running_loop()
        started = self._started.get(pane)
        if started is not None and loop.time() < started + PULSE_GAP_SECONDS:
            self._due[pane] = loop.call_at(started + PULSE_GAP_SECONDS, self._begin, pane)
            return
        self._begin(pane)

    def close(self) -> None:
        """Stop pulsing (the console stops): pulses showing end at once, those due never begin."""
        for handle in self._due.values():
            handle.cancel()
        for pane, handle in list(self._ends.items()):
            handle.cancel()
            self._send(pane, False)
        self._due.clear()
        self._ends.clear()

    async def settled(self) -> None:
        """Wait until the terminal has every change sent so far (before closing the connection to it)."""
        await asyncio.gather(*self._sending.values(), return_exceptions=True)

    def _begin(self, pane: str) -> None:
        loop = asyncio.get_running_loop()
        self._due.pop(pane, None)
        self._started[pane] = loop.time()
        self._send(pane, True)
        self._ends[pane] = loop.call_later(PULSE_SECONDS, self._end, pane)

    def _end(self, pane: str) -> None:
        self._ends.pop(pane, None)
        self._send(pane, False)

    def _send(self, pane: str, on: bool) -> None:
        """Changes reach a pane in the order they were made: each waits for the one before."""
        before = self._sending.get(pane)
        task = self._sending[pane] = asyncio.get_running_loop().create_task(self._apply(pane, on, before))
        task.add_done_callback(lambda done: self._sending.pop(pane, None) if self._sending.get(pane) is done else None)

    async def _apply(self, pane: str, on: bool, before: asyncio.Task[None] | None) -> None:
        if before is not None:
            await asyncio.gather(before, return_exceptions=True)
        with contextlib.suppress(BackendError):  # a pane that just closed: nothing to show
            await self.host.backend.pulse_pane(pane, on)
