"""The terminal backend protocol and the events a backend pushes.

A backend drives the panes of one terminal (a tmux server, an iTerm2 app). Pane ids are the backend's own
(`%3` in tmux). Agent identity is stored in the terminal itself, so a restarted console re-adopts its panes.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal, Protocol

if TYPE_CHECKING:
    from agent_console.agents.layout import Cell


class BackendError(Exception):
    """A backend operation failed; the message says what and where, for the user."""


class BackendGone(BackendError):
    """The terminal went away (tmux server killed, iTerm2 quit) while we were talking to it."""


# --- events -----------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PaneOutput:
    """Bytes a pane's program wrote, as the terminal pushed them (escape sequences included).

    iTerm2 pushes screen changes, not bytes: there `data` is empty (the screen changed; `capture` reads it),
    or one whole custom control sequence (`ESC ] 1337 ; Custom=id=…:… BEL`) that the program printed.
    """

    pane: str
    data: bytes
    received: float  # time.monotonic() when the backend read it
    gap: bool = False
    """Output was let go before this (a flood): what follows does not continue what came before."""


@dataclass(frozen=True, slots=True)
class PaneFocused:
    """The terminal's focus moved to `pane` (a human clicked or a command selected it)."""

    pane: str
    window: str


@dataclass(frozen=True, slots=True)
class PaneExited:
    """The pane's program ended; the pane stays, showing its last screen, until respawned or closed."""

    pane: str
    status: int | None = None
    signal: int | None = None


@dataclass(frozen=True, slots=True)
class PaneClosed:
    """The pane no longer exists."""

    pane: str


@dataclass(frozen=True, slots=True)
class LayoutChanged:
    """A window's pane layout changed (split, close, resize); `panes` in layout order."""

    window: str
    layout: str
    panes: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class PanePrompt:
    """Shell integration saw a prompt (`phase` "prompt"), a command start ("command") or end ("finished")."""

    pane: str
    phase: Literal["prompt", "command", "finished"]
    command: str | None = None
    status: int | None = None


@dataclass(frozen=True, slots=True)
class WindowClosed:
    window: str


@dataclass(frozen=True, slots=True)
class BackendLost:
    """The connection to the terminal ended; `reason` is for the user."""

    reason: str


TerminalEvent = (
    PaneOutput | PaneFocused | PaneExited | PaneClosed | LayoutChanged | PanePrompt | WindowClosed | BackendLost
)


class EventFeed:
    """A backend's events to every subscriber: each `subscribe()` gets all events from that moment on, and
    ends after `BackendLost` or `end()`."""

    def __init__(self) -> None:
        self._queues: list[asyncio.Queue[TerminalEvent | None]] = []

    def subscribe(self) -> AsyncIterator[TerminalEvent]:
        queue: asyncio.Queue[TerminalEvent | None] = asyncio.Queue()
        self._queues.append(queue)  # subscribed now, not at the first read
        return self._drain(queue)

    async def _drain(self, queue: asyncio.Queue[TerminalEvent | None]) -> AsyncIterator[TerminalEvent]:
        try:
            while True:
                event = await queue.get()
                if event is None:
                    return
                yield event
                if isinstance(event, BackendLost):
                    return
        finally:
            self._queues.remove(queue)

    def publish(self, event: TerminalEvent) -> None:
        for queue in self._queues:
            queue.put_nowait(event)

    def end(self) -> None:
        for queue in self._queues:
            queue.put_nowait(None)


# --- values -----------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PaneInfo:
    """What the terminal knows of a pane, including the agent identity stored in it."""

    pane: str
    window: str
    window_name: str
    index: int
    pid: int | None
    command: str
    alive: bool
    width: int
    height: int
    agent: str | None  # the agent id stored in the pane, None for a pane we did not make
    org: str | None
    active: bool = False


@dataclass(frozen=True, slots=True)
class PaneStyle:
    """How a pane looks. None leaves that aspect as it is."""

    background: str | None = None  # '#rrggbb' tint, 'default' to reset
    border: str | None = None  # border colour '#rrggbb'
    title: str | None = None
    badge: str | None = None


@dataclass(frozen=True, slots=True)
class Launch:
    """A program to start in a new pane."""

    command: str | None  # None: the user's shell
    cwd: str | None = None
    env: Mapping[str, str] = field(default_factory=dict)


class TerminalBackend(Protocol):
    """What the supervisor needs from a terminal. Every method raises `BackendError` with a clear message."""

    async def close(self) -> None: ...

    def events(self) -> AsyncIterator[TerminalEvent]:
        """A new subscription: every event from now on, pushed (never polled)."""
        ...

    async def list_panes(self) -> list[PaneInfo]: ...

    async def new_window(self, name: str, launch: Launch) -> PaneInfo: ...

    async def split_pane(
        self, target: str, launch: Launch, direction: Literal["h", "v"] = "v", before: bool = False
    ) -> PaneInfo: ...

    async def close_pane(self, pane: str) -> None: ...

    async def respawn_pane(self, pane: str, launch: Launch) -> None: ...

    async def send_text(self, pane: str, text: str) -> None:
        """Type `text` literally (no key names interpreted)."""

    async def send_keys(self, pane: str, keys: Sequence[str]) -> None:
        """Press named keys (`Enter`, `Escape`, `C-c`, `Up` …)."""

    async def capture(self, pane: str, escapes: bool = False, history: int = 0) -> str:
        """The pane's visible screen, preceded by up to `history` lines of scrollback."""
        ...

    async def style_pane(self, pane: str, style: PaneStyle) -> None: ...

    async def select_pane(self, pane: str) -> None: ...

    async def set_identity(self, pane: str, org: str, agent: str) -> None:
        """Store the agent's identity in the pane, where `list_panes` finds it after a restart."""

    async def apply_layout(self, window: str, cells: Cell) -> None:
        """Arrange the window's panes (in pane order) as the plan's cell tree."""
