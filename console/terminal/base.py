"""The terminal backend protocol and the events a backend pushes.

A backend drives the panes of one terminal (a tmux server, an iTerm2 app). Pane ids are the backend's own
(`%3` in tmux). Agent identity is stored in the terminal itself, so a restarted console re-adopts its panes.
"""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar, Literal

from agent_console.agents.errors import Unavailable

if TYPE_CHECKING:
    from agent_console.agents.layout import Cell


class BackendError(Unavailable):
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
    buried: bool = False  # off screen (no window shows it), still running and watched


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


class TerminalBackend(ABC):
    """What the console needs from a terminal. Every method raises `BackendError` with a clear message.

    Abstract methods are what every terminal must do; the others are features some terminals have (a status
    bar, a jump-back key) and do nothing where a terminal has no such thing.
    """

    session: str | None  # the tmux session, or the iTerm2 window's name, the org lives in
    created_session: bool  # whether attaching made that session (its first pane is then the console's)
    # A terminal that cannot apply a layout string (iTerm2) is built top-down, each pane split off its anchor.
    splits_per_plan: ClassVar[bool] = False

    @property
    @abstractmethod
    def where(self) -> str:
        """The terminal, for messages (`tmux socket 'x'`, `iTerm2 at …`)."""

    # --- connection -------------------------------------------------------------------------------------

    @abstractmethod
    async def attach(self) -> None:
        """Attach to `session` (or to the most recent one when None); `BackendGone` if there is none."""

    @abstractmethod
    async def attach_to_pane(self, pane: str) -> None:
        """Work in the session that holds `pane` (the console's own pane, when it runs inside the terminal)."""

    @abstractmethod
    async def attach_or_create(self, size: tuple[int, int], window_name: str, launch: Launch) -> None:
        """Attach to `session`, creating it (its first pane running `launch`) when it does not exist."""

    @abstractmethod
    async def alive(self) -> bool:
        """Whether the terminal still answers (after an error, tells a refusal from a dying terminal)."""

    @abstractmethod
    async def close(self) -> None: ...

    @abstractmethod
    def events(self) -> AsyncIterator[TerminalEvent]:
        """A new subscription: every event from now on, pushed (never polled)."""

    # --- panes and windows ------------------------------------------------------------------------------

    @abstractmethod
    async def list_panes(self, all_sessions: bool = True) -> list[PaneInfo]: ...

    @abstractmethod
    async def list_panes_detailed(self, all_sessions: bool = True) -> list[tuple[PaneInfo, str, dict[str, str]]]:
        """Each pane with its session and the agent metadata stored in it (`team`, `kind`, `command`)."""

    @abstractmethod
    async def pane(self, pane: str) -> PaneInfo: ...

    @abstractmethod
    async def new_window(self, name: str, launch: Launch, hold: bool = True) -> PaneInfo:
        """A new window running `launch`; with `hold`, the pane stays when its program exits."""

    @abstractmethod
    async def split_pane(
        self, target: str, launch: Launch, direction: Literal["h", "v"] = "v", before: bool = False, hold: bool = True
    ) -> PaneInfo:
        """A new pane next to `target` (after it in pane order, or before)."""

    @abstractmethod
    async def hold_window(self, window: str) -> None:
        """Panes of `window` stay, showing their last screen, when their program exits."""

    @abstractmethod
    async def join_pane(self, pane: str, target: str, before: bool = False) -> None:
        """Move `pane` next to `target` (after it in pane order, or before with `before`)."""

    @abstractmethod
    async def break_pane(self, pane: str, window_name: str) -> PaneInfo:
        """Move `pane` out into a new window of its own."""

    @abstractmethod
    async def swap_panes(self, first: str, second: str) -> None: ...

    async def spread_evenly(self, window: str) -> None:
        """Give the window's panes equal space, keeping their order (to make room for one more split)."""

    @abstractmethod
    async def close_pane(self, pane: str) -> None: ...

    @abstractmethod
    async def kill_session(self, session: str | None = None) -> None:
        """Close a session (default: this one, which ends the connection with it)."""

    @abstractmethod
    async def respawn_pane(self, pane: str, launch: Launch) -> None: ...

    async def select_window(self) -> None:
        """Bring the session's window to the front, where the terminal has more than one on screen."""

    @abstractmethod
    async def bury(self, pane: str, buried: bool = True) -> PaneInfo:
        """Take `pane` off screen (its program runs on, its output and exit still reach `events`), or bring it
        back: an unburied pane is in a window of its own until the layout puts it in its place."""

    # --- input and output -------------------------------------------------------------------------------

    @abstractmethod
    async def send_text(self, pane: str, text: str) -> None:
        """Paste `text` (no key names interpreted)."""

    @abstractmethod
    async def send_keys(self, pane: str, keys: Sequence[str]) -> None:
        """Press named keys (`Enter`, `Escape`, `C-c`, `Up` …)."""

    @abstractmethod
    async def capture(self, pane: str, escapes: bool = False, history: int = 0) -> str:
        """The pane's visible screen, preceded by up to `history` lines of scrollback."""

    # --- looks and focus --------------------------------------------------------------------------------

    @abstractmethod
    async def style_pane(self, pane: str, style: PaneStyle) -> None: ...

    @abstractmethod
    async def show_pane_borders(self, window: str) -> None:
        """Show each pane's title, team colour and badge in `window`."""

    @abstractmethod
    async def select_pane(self, pane: str) -> None: ...

    async def install_jump_back(self, key: str, pane: str) -> None:
        """Make `key`, pressed in any pane, bring the focus back to `pane`."""

    async def remove_jump_back(self) -> None:
        """Give the jump-back key back what it did before."""

    async def install_status_bar(self) -> None:
        """Offer the org's figures in the terminal's own status bar (the user's own status bar kept)."""

    async def show_figures(self, text: str) -> None:
        """What the terminal's status bar shows of the org."""

    async def remove_status_bar(self) -> None:
        """Give the terminal's status bar back as it was before `install_status_bar`."""

    async def pulse_pane(self, pane: str, on: bool) -> None:
        """Flash `pane` (its border, or its tab) to show a message passing, or end the flash: its state's colour
        shows again when the flash ends."""

    async def page(self, text: str) -> bool:
        """Get the human's attention where they look at the org (a message and a bell, a dock bounce and a
        notification), saying `text`: one plain line the console made safe to show (it may quote an agent, so a
        terminal that interprets anything in it escapes that). True if it reached someone, False where there was
        nobody to tell (no client attached) or the terminal has no such thing."""
        return False

    # --- what the terminal keeps for us -----------------------------------------------------------------

    @abstractmethod
    async def set_identity(self, pane: str, org: str, agent: str, meta: dict[str, str] | None = None) -> None:
        """Store the agent's identity in the pane, where `list_panes` finds it after a restart."""

    @abstractmethod
    async def tag_window(self, window: str, org: str, index: int) -> None:
        """Mark `window` as the org's plan window `index`."""

    @abstractmethod
    async def window_tags(self) -> dict[str, str]:
        """Window id → its `org:index` tag, for the windows of this session."""

    @abstractmethod
    async def session_option(self, name: str) -> str | None: ...

    @abstractmethod
    async def set_session_option(self, name: str, value: str) -> None: ...

    def state_location(self) -> dict[str, dict[str, str | None]]:
        """Where the org's panes are, for the state others read (`ls --org` finds a tmux server by it)."""
        return {}

    # --- layout -----------------------------------------------------------------------------------------

    @abstractmethod
    async def window_size(self, window: str) -> tuple[int, int]: ...

    @abstractmethod
    async def window_layout(self, window: str) -> str:
        """The window's layout as text, to tell whether applying a plan changed it."""

    @abstractmethod
    async def apply_layout(self, window: str, cells: Cell) -> None:
        """Arrange the window's panes (in pane order) as the plan's cell tree."""

    @abstractmethod
    async def arrange(self, window: str, cells: Cell, panes: Sequence[str]) -> bool:
        """Lay out `window` as `cells`, its leaves taking `panes` in order; True if anything changed."""

    # --- named arrangements -----------------------------------------------------------------------------

    async def save_arrangement(self, name: str, folder: Path) -> str:
        """Keep how the session's windows are laid out and which agent is in which, as `name` (replacing one of
        that name); `folder` is the org's, for a terminal that keeps none itself. Returns what was kept, in words."""
        raise BackendError(f"{self.where} cannot save arrangements")

    async def restore_arrangement(self, name: str, folder: Path) -> list[str]:
        """Lay the windows out as arrangement `name` says; returns what could not be restored, each in words."""
        raise BackendError(f"{self.where} cannot restore arrangements")

    async def arrangement_names(self, folder: Path) -> list[str]:
        """The arrangements there are to restore."""
        return []
