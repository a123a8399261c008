"""An in-memory terminal backend: panes without programs, for fast `unit` tests of the supervisor, the screen
reader and delivery.

It does what `Supervisor` and `deployment.bring_up` ask of a backend (the `TerminalBackend` protocol of
`agent_console.terminal.base`, and the session calls deployment makes), the way the iTerm2 backend answers them:
one window per `new_window`, panes split off an anchor (`splits_per_plan`), layouts arranged, not swapped. No
program runs in a pane: a test plays the program, with `show` (its screen changes, and the output is pushed as a
`PaneOutput`), `print` (bytes the program wrote, e.g. a protocol sequence) and `exit`; what the console typed or
pressed is in `FakePane.typed` and `FakePane.keys`. Typing echoes, as a terminal line discipline does.
"""

from __future__ import annotations

import dataclasses
import itertools
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from agent_console.agents.errors import NotFound
from agent_console.terminal.arrangement import check_name
from agent_console.terminal.base import (
    BackendError,
    EventFeed,
    Launch,
    PaneClosed,
    PaneExited,
    PaneFocused,
    PaneInfo,
    PaneOutput,
    PaneStyle,
    TerminalEvent,
)


@dataclass
class FakePane:
    """One pane: what runs there (by its launch), what it shows, and what the console did to it."""

    pane: str
    window: str
    launch: Launch
    screen: str = ""
    alive: bool = True
    identity: dict[str, str] = field(default_factory=dict)  # org, agent and metadata, as set_identity stored them
    style: PaneStyle = field(default_factory=PaneStyle)
    typed: list[str] = field(default_factory=list)  # text the console typed (send_text), in order
    keys: list[str] = field(default_factory=list)  # keys the console pressed (send_keys), in order
    launches: int = 1  # 1, plus one per respawn
    buried: bool = False
    pulsing: bool = False
    pulses: int = 0  # pulses begun


class FakeTerminal:
    """A terminal held in memory; pane ids `%0`, `%1`… and window ids `@0`, `@1`… as tmux names them."""

    splits_per_plan = True

    def __init__(self, size: tuple[int, int] = (160, 48)) -> None:
        self.size = size
        self.session: str | None = None
        self.created_session = False
        self.panes: dict[str, FakePane] = {}
        self.window_names: dict[str, str] = {}
        self.window_tag: dict[str, str] = {}
        self.arrangements: dict[str, dict[str, str]] = {}  # name → agent → the window it was in
        self.options: dict[str, str] = {}
        self.focused: str | None = None
        self.closed = False
        self.status_bar = False  # whether the org's figures are in the status bar
        self.figures: list[str] = []  # what the status bar was given to show, in order
        self.pages: list[str] = []  # the pages the human got, in order
        self._feed = EventFeed()
        self._pane_ids = itertools.count()
        self._window_ids = itertools.count()

    @property
    def where(self) -> str:
        return "the in-memory test terminal"

    # --- what a test does as the programs in the panes --------------------------------------------------

    def pane_of(self, agent: str) -> FakePane:
        return next(pane for pane in self.panes.values() if pane.identity.get("agent") == agent)

    def show(self, pane: str, screen: str) -> None:
        """The program in `pane` draws `screen` (the whole visible screen)."""
        self.panes[pane].screen = screen
        self._feed.publish(PaneOutput(pane=pane, data=screen.encode(), received=time.monotonic()))

    def print(self, pane: str, data: bytes) -> None:
        """The program writes `data` without changing what the screen shows (an escape sequence, say)."""
        self._feed.publish(PaneOutput(pane=pane, data=data, received=time.monotonic()))

    def exit(self, pane: str, status: int | None = 0, signal: int | None = None) -> None:
        """The program ends; the pane stays, as a pane with remain-on-exit does."""
        self.panes[pane].alive = False
        self._feed.publish(PaneExited(pane=pane, status=status, signal=signal))

    def focus(self, pane: str) -> None:
        """A human clicks into `pane`."""
        self.focused = pane
        self._feed.publish(PaneFocused(pane=pane, window=self.panes[pane].window))

    # --- the protocol ---------------------------------------------------------------------------------------

    async def close(self) -> None:
        self.closed = True
        self._feed.end()

    def events(self) -> AsyncIterator[TerminalEvent]:
        return self._feed.subscribe()

    async def list_panes(self, all_sessions: bool = True) -> list[PaneInfo]:
        return [info for info, _, _ in await self.list_panes_detailed(all_sessions)]

    async def list_panes_detailed(self, all_sessions: bool = True) -> list[tuple[PaneInfo, str, dict[str, str]]]:
        meta = lambda pane: {k: v for k, v in pane.identity.items() if k not in ("org", "agent")}  # noqa: E731
        return [(self._info(pane), self.session or "", meta(pane)) for pane in self.panes.values()]

    async def pane(self, pane: str) -> PaneInfo:
        return self._info(self._get(pane))

    async def new_window(self, name: str, launch: Launch, hold: bool = True) -> PaneInfo:
        window = f"@{next(self._window_ids)}"
        self.window_names[window] = name
        return self._info(self._make(window, launch))

    async def split_pane(
        self, target: str, launch: Launch, direction: Literal["h", "v"] = "v", before: bool = False
    ) -> PaneInfo:
        return self._info(self._make(self._get(target).window, launch))

    async def bury(self, pane: str, buried: bool = True) -> PaneInfo:
        """As iTerm2 does: a buried pane is in no window; unburied, it comes back in a window of its own."""
        found = self._get(pane)
        if found.buried != buried:
            found.buried = buried
            found.window = "buried" if buried else f"@{next(self._window_ids)}"
            self.window_names[found.window] = found.window
        return self._info(found)

    async def join_pane(self, pane: str, target: str, before: bool = False) -> None:
        self._get(pane).window = self._get(target).window

    async def close_pane(self, pane: str) -> None:
        self._get(pane)
        del self.panes[pane]
        self._feed.publish(PaneClosed(pane=pane))

    async def respawn_pane(self, pane: str, launch: Launch) -> None:
        found = self._get(pane)
        found.launch, found.alive, found.screen = launch, True, ""
        found.launches += 1

    async def send_text(self, pane: str, text: str) -> None:
        self._get(pane).typed.append(text)
        self.print(pane, text.encode())  # the echo

    async def send_keys(self, pane: str, keys: Sequence[str]) -> None:
        self._get(pane).keys.extend(keys)

    async def capture(self, pane: str, escapes: bool = False, history: int = 0) -> str:
        return self._get(pane).screen

    async def style_pane(self, pane: str, style: PaneStyle) -> None:
        found = self._get(pane)
        changes = {name: getattr(style, name) for name in PaneStyle.__slots__ if getattr(style, name) is not None}
        found.style = dataclasses.replace(found.style, **changes)  # None leaves that aspect as it is

    async def select_pane(self, pane: str) -> None:
        self.focus(self._get(pane).pane)

    async def pulse_pane(self, pane: str, on: bool) -> None:
        found = self._get(pane)
        found.pulses += on and not found.pulsing
        found.pulsing = on

    async def install_status_bar(self) -> None:
        self.status_bar = True

    async def show_figures(self, text: str) -> None:
        self._check_open()
        self.figures.append(text)

    async def remove_status_bar(self) -> None:
        self.status_bar = False

    async def page(self, text: str) -> bool:
        self._check_open()
        self.pages.append(text)
        return True

    async def set_identity(self, pane: str, org: str, agent: str, meta: dict[str, str] | None = None) -> None:
        self._get(pane).identity = {"org": org, "agent": agent, **(meta or {})}

    async def apply_layout(self, window: str, cells: Any) -> None:
        pass  # geometry is not modelled

    # --- the session calls deployment makes --------------------------------------------------------------

    async def attach_or_create(self, size: tuple[int, int], window_name: str, launch: Launch) -> None:
        if self.session is None:
            self.session, self.created_session, self.size = "org", True, size
            await self.new_window(window_name, launch)

    async def hold_window(self, window: str) -> None:
        pass

    async def window_size(self, window: str) -> tuple[int, int]:
        return self.size

    async def session_option(self, name: str) -> str | None:
        return self.options.get(name)

    async def set_session_option(self, name: str, value: str) -> None:
        self.options[name] = value

    async def tag_window(self, window: str, org: str, index: int) -> None:
        self.window_tag[window] = f"{org}:{index}"

    async def window_tags(self) -> dict[str, str]:
        return dict(self.window_tag)

    async def show_pane_borders(self, window: str) -> None:
        pass

    async def arrange(self, window: str, cells: Any, panes: Sequence[str]) -> bool:
        return False  # geometry is not modelled: nothing to change

    async def save_arrangement(self, name: str, folder: Path) -> str:
        check_name(name)
        self.arrangements[name] = {p.identity["agent"]: p.window for p in self.panes.values() if "agent" in p.identity}
        return f"{len(set(self.arrangements[name].values()))} window(s), {len(self.arrangements[name])} pane(s)"

    async def restore_arrangement(self, name: str, folder: Path) -> list[str]:
        """Each agent's pane back in the window it was in (geometry is not modelled)."""
        check_name(name)
        if name not in self.arrangements:
            raise NotFound(f"there is no arrangement {name!r}")
        problems = []
        for agent, window in self.arrangements[name].items():
            pane = next((p for p in self.panes.values() if p.identity.get("agent") == agent), None)
            if pane is None:
                problems.append(f"{agent} has no pane any more (no longer in the org, or not running)")
            else:
                pane.window = window
        return problems

    async def arrangement_names(self, folder: Path) -> list[str]:
        return sorted(self.arrangements)

    # --- inside -------------------------------------------------------------------------------------------

    def _check_open(self) -> None:
        if self.closed:
            raise BackendError("the test terminal is closed")

    def _get(self, pane: str) -> FakePane:
        self._check_open()
        try:
            return self.panes[pane]
        except KeyError:
            raise BackendError(f"no pane {pane} in the test terminal") from None

    def _make(self, window: str, launch: Launch) -> FakePane:
        pane = FakePane(pane=f"%{next(self._pane_ids)}", window=window, launch=launch)
        self.panes[pane.pane] = pane
        return pane

    def _info(self, pane: FakePane) -> PaneInfo:
        in_window = [other.pane for other in self.panes.values() if other.window == pane.window]
        return PaneInfo(
            pane=pane.pane,
            window=pane.window,
            window_name=self.window_names[pane.window],
            index=in_window.index(pane.pane),
            pid=None,  # no process: the supervisor reads no /proc environment
            command=pane.launch.command or "sh",
            alive=pane.alive,
            width=self.size[0],
            height=self.size[1],
            agent=pane.identity.get("agent"),
            org=pane.identity.get("org"),
            active=self.focused == pane.pane,
            buried=pane.buried,
        )
