"""The org's figures in the terminal's own status line (tmux's status-right, iTerm2's status bar).

Pushed, never polled: a record that changes the figures schedules one update `FIGURES_SECONDS` later, so a
burst of records costs one; the terminal is told only when the text differs from what it shows.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Protocol

from agent_console.agents.events import AgentState
from agent_console.agents.journal import Record
from agent_console.agents.model import Org
from agent_console.agents.state import OrgState
from agent_console.runtime.pulses import PulseHost
from agent_console.terminal.base import BackendError
from agent_console.themes import state_glyph

FIGURES_SECONDS = 0.2  # the status line follows the org within this, however many records arrive
# Most urgent first: a narrow status line cuts the end.
STATE_ORDER = (
    AgentState.WAITING,
    AgentState.ERROR,
    AgentState.RECOVERING,
    AgentState.WORKING,
    AgentState.THINKING,
    AgentState.IDLE,
    AgentState.OFFLINE,
    AgentState.UNKNOWN,
)


def figures_line(org: str, state: OrgState, breakers_open: int = 0) -> str:
    """`crew: 2 pending · ◆1 ✖1 ●3 ○1`: approvals pending first (the human's job), then the agents by effective
    state, most urgent first, each state by the glyph its badge and the org tree show (a status line is narrow:
    the user's window list shares it); circuit breakers open, when there are any."""
    counts = {state_: 0 for state_ in STATE_ORDER}
    for view in state.agents.values():
        counts[view.state] = counts.get(view.state, 0) + 1
    parts = [f"{len(state.approvals)} pending"]
    parts.append(" ".join(f"{state_glyph(name)}{count}" for name, count in counts.items() if count) or "no agents")
    if breakers_open:
        parts.append(f"{breakers_open} breaker(s) open")
    return f"{org}: {' · '.join(parts)}"


class FiguresHost(PulseHost, Protocol):
    """What the status line needs of the supervisor: what pulses need (its state, the terminal, its records),
    and the org."""

    @property
    def org(self) -> Org: ...


class StatusLine:
    """Keeps the terminal's status line showing the org's figures, from `install` until `remove`."""

    def __init__(self, host: FiguresHost) -> None:
        self.host = host
        self.shown: str | None = None  # what the terminal was last told
        self._handle: asyncio.TimerHandle | None = None
        self._showing: asyncio.Task[None] | None = None
        self._installed = False
        host.listeners.append(self.on_record)

    async def install(self) -> None:
        """Put the figures in the terminal's status line (a terminal that cannot: nothing happens)."""
        try:
            await self.host.backend.install_status_bar()
        except BackendError:
            return
        self._installed = True
        self._due()
        if self._showing is not None:
            await asyncio.gather(self._showing, return_exceptions=True)

    async def remove(self) -> None:
        """Give the terminal's status line back as the user had it."""
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        if self._showing is not None:
            await asyncio.gather(self._showing, return_exceptions=True)
        if self._installed:
            self._installed = False
            with contextlib.suppress(BackendError):  # the terminal is going: nothing left to give back
                await self.host.backend.remove_status_bar()

    def on_record(self, record: Record) -> None:
        if self._installed and self._handle is None:
            loop = asyncio.get_running_loop()
            self._handle = loop.call_later(FIGURES_SECONDS, self._due)

    def _due(self) -> None:
        self._handle = None
        if self._showing is not None:  # one update at a time: the one showing now looks again when it ends
            return
        self._showing = asyncio.get_running_loop().create_task(self._show())

    async def _show(self) -> None:
        try:
            while self._installed:
                text = figures_line(self.host.org.name, self.host.state)
                if text == self.shown:
                    return
                with contextlib.suppress(BackendError):  # cosmetic: a closing terminal need not say so
                    await self.host.backend.show_figures(text)
                self.shown = text
        finally:
            self._showing = None
