"""The iTerm2 backend: the terminal protocol over iTerm2's Python API, with the official `iterm2` package.

tmux's words map onto iTerm2's: a tmux session is an iTerm2 window, a tmux window is a tab, a pane is a
session (its id is the session's unique id; a pane keeps its id when the program in it is started again, even
where iTerm2 gives the restarted session a new one). Agent identity lives in session user variables
(`user.agent_console_agent`, `user.agent_console_org`, …), window tags in tab variables and session options in
window variables, so a restarted console finds and re-adopts everything.

Everything is pushed, nothing polled: a `ScreenStreamer` per pane says when its screen changed (published as
`PaneOutput` with empty data: `capture` reads the screen), custom control sequences arrive for every
session through one subscription (re-published as `PaneOutput` carrying the exact sequence, so the
supervisor reads the agent protocol the same way on both backends), and `FocusMonitor`,
`SessionTerminationMonitor`, `NewSessionMonitor`, `LayoutChangeMonitor` and `PromptMonitor` feed the rest.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import shlex
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from agent_console.agents.display import visible
from agent_console.agents.errors import NotFound
from agent_console.agents.layout import Node, Split
from agent_console.agents.layout import Pane as LayoutPane

from .arrangement import check_name
from .base import (
    BackendError,
    BackendGone,
    BackendLost,
    EventFeed,
    Launch,
    LayoutChanged,
    PaneClosed,
    PaneExited,
    PaneFocused,
    PaneInfo,
    PaneOutput,
    PanePrompt,
    PaneStyle,
    TerminalBackend,
    TerminalEvent,
    WindowClosed,
)
from .iterm2_connection import ITerm2Connection, iterm2
from .iterm2_layout import (
    Shape,
    cell_shape,
    layout_spec,
    leaf_sizes,
    shape_panes,
    shape_text,
    split_steps,
    tree_shape,
    tree_size,
)
from .select import take_probed_connection

if TYPE_CHECKING:
    from agent_console.agents.layout import Cell

VARIABLE_PREFIX = "user.agent_console_"
AGENT_VARIABLE = "user.agent_console_agent"
ORG_VARIABLE = "user.agent_console_org"
META_KEYS = ("team", "kind", "command")
SESSION_VARIABLE = "user.agent_console_session"  # on an iTerm2 window: the name `attach` finds it by
WINDOW_TAG_VARIABLE = "user.agent_console_window"  # on a tab: `org:index`
WINDOW_NAME_VARIABLE = "user.agent_console_window_name"  # on a tab
FIGURES_VARIABLE = "user.agent_console_figures"  # on the app: what the status-bar component shows
STATUS_BAR_ID = "com.agent-console.figures"
PULSE_COLOR = "#ffffff"  # a pane's tab, for the moment it pulses
BURIED = "buried"  # the window of a buried session (it has no tab)
# iTerm2 sends a buried session no screen updates: `bury` (PTYSession.m) detaches the session's text view, whose
# `textViewDidFindDirtyRects` is what posts them. A buried session's screen is read this often instead, and a
# change published as output, so that the screen reader still sees its prompts (its custom sequences and its
# end still arrive as they happen).
BURIED_POLL_SECONDS = 1.0
_PANE_VARIABLES = (AGENT_VARIABLE, ORG_VARIABLE, *(VARIABLE_PREFIX + key for key in META_KEYS), "jobName", "pid")
_KEYS = {
    "Enter": "\r",
    "Escape": "\x1b",
    "Tab": "\t",
    "BSpace": "\x7f",
    "Space": " ",
    "Up": "\x1b[A",
    "Down": "\x1b[B",
    "Right": "\x1b[C",
    "Left": "\x1b[D",
    "Home": "\x1b[H",
    "End": "\x1b[F",
    "PageUp": "\x1b[5~",
    "PageDown": "\x1b[6~",
    "DC": "\x1b[3~",
}


# What the backend uses beyond protocol 1.11 (iTerm2 3.6.x), by the protocol version that brings it.
CAPABILITIES = {
    "reshape": (1, 14),  # App.async_apply_layout; before it, panes are moved one by one (move_session, 1.11)
    "move_to_new_tab": (1, 13),  # Session.async_move_to_new_tab
    "background_tab": (1, 17),  # CreateTabRequest.select_tab is honoured; before it a new tab is selected
}
SEPARATE_COLORS = "Use Separate Colors for Light and Dark Mode"  # then iTerm2 draws from "… (Dark)"/"(Light)"
RESTART_SECONDS = 10.0  # for iTerm2 to end a restarted session's program and start it again


def _profile(launch: Launch | None, hold: bool) -> iterm2.LocalWriteOnlyProfile:
    """Session-local profile changes: the program to run (with its environment and directory), and whether
    the session stays, showing its last screen, when the program ends."""
    profile = iterm2.LocalWriteOnlyProfile()
    if launch is not None:
        profile.set_use_custom_command("Yes")
        profile.set_command(command_line(launch))
        if launch.cwd:
            profile.set_initial_directory_mode(iterm2.InitialWorkingDirectory.INITIAL_WORKING_DIRECTORY_CUSTOM)
            profile.set_custom_directory(launch.cwd)
    profile.set_close_sessions_on_end(not hold)
    return profile


def command_line(launch: Launch) -> str:
    """The command iTerm2 runs for `launch`: its environment through env(1), its directory and program
    through sh(1), as tmux runs a pane's command."""
    script = launch.command or 'exec "${SHELL:-/bin/sh}"'
    if launch.cwd:
        script = f"cd {shlex.quote(launch.cwd)} && {script}"
    env = [f"{key}={value}" for key, value in launch.env.items()]
    return iterm2_command(["/usr/bin/env", *env, "/bin/sh", "-c", script])


_PLAIN = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./:=+,@%()")
_CONTROL = {"\n": "n", "\t": "t", "\r": "r", "\a": "a"}  # the split's own escapes


def iterm2_command(argv: Sequence[str]) -> str:
    r"""argv as a profile's Command that iTerm2 splits back into exactly argv.

        iTerm2 reads a Command as a string template (`\` is one backslash, `
    ` a newline, `\(` an
        interpolation), trims it, then splits it by its own rules, where `
    ` is a newline even inside quotes.
        So a character that is not plain is escaped by one backslash, which the template leaves and the split
        removes; a backslash is written four times and a control character as the split's escape (two readings
        each); other white space is quoted, which the trim leaves."""
    return " ".join(_iterm2_word(arg) for arg in argv)


def _iterm2_word(arg: str) -> str:
    if not arg:
        return "''"
    out = []
    for char in arg:
        if char in _PLAIN:
            out.append(char)
        elif char == "\\":
            out.append("\\" * 4)
        elif char in _CONTROL:
            out.append("\\\\" + _CONTROL[char])
        elif char.isspace():
            out.append(f"'{char}'")
        else:
            out.append("\\" + char)
    return "".join(out)


PASTE_START, PASTE_END = "\x1b[200~", "\x1b[201~"  # bracketed paste (the text itself holds no ESC: see display)


def key_text(key: str) -> str:
    """What typing a tmux-style key name sends (`Enter`, `C-c`, `M-x`, `Up` …); other words are typed as is."""
    if key in _KEYS:
        return _KEYS[key]
    if re.fullmatch(r"C-[a-zA-Z@\[\\\]^_?]", key):
        char = key[2]
        return "\x7f" if char == "?" else chr(ord(char.upper()) & 0x1F)
    if re.fullmatch(r"M-.", key):
        return "\x1b" + key[2]
    return key


def _color(value: str) -> iterm2.Color:
    match = re.fullmatch(r"#([0-9a-fA-F]{2})([0-9a-fA-F]{2})([0-9a-fA-F]{2})", value)
    if match is None:
        raise BackendError(f"not a colour: {value!r} (write it as #rrggbb)")
    red, green, blue = (int(part, 16) for part in match.groups())
    return iterm2.Color(red, green, blue)


def _decoded(raw: str) -> Any:
    try:
        return json.loads(raw) if raw else None
    except ValueError:
        return raw


def session_id_from_environment(value: str | None) -> str | None:
    """The session id in `ITERM_SESSION_ID` (`w0t1p0:<id>`), which iTerm2 sets in each of its sessions."""
    if not value:
        return None
    return value.partition(":")[2] or value


def _key_pattern(key: str) -> tuple[set[Any], str]:
    """A tmux-style key (`M-e`, `C-b`) as the modifiers and character a keystroke notification reports."""
    modifiers = {"C": iterm2.Modifier.CONTROL, "M": iterm2.Modifier.OPTION, "S": iterm2.Modifier.SHIFT}
    wanted: set[Any] = set()
    rest = key
    while len(rest) > 2 and rest[1] == "-" and rest[0] in modifiers:
        wanted.add(modifiers[rest[0]])
        rest = rest[2:]
    if len(rest) != 1:
        raise BackendError(f"cannot watch for key {key!r} in iTerm2: use a modifier and one character, like M-e")
    return wanted, rest.lower()


class ITerm2Backend(TerminalBackend):
    """The terminal protocol on iTerm2: an org lives in one iTerm2 window, its tmux windows are tabs."""

    splits_per_plan = True  # iTerm2 cannot apply a layout string: deployment splits panes in the plan's order

    def __init__(self, session: str | None = None) -> None:
        self.session = session  # the window's name, like a tmux session's
        self.window_id: str | None = None
        self.created_session = False
        self.link = ITerm2Connection()
        self.link.on_lost.append(self._on_lost)
        self._feed = EventFeed()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._watchers: dict[str, list[asyncio.Task[Any]]] = {}
        self._buried_polls: dict[str, asyncio.Task[Any]] = {}
        self._exited: set[str] = set()
        self._tab_panes: dict[str, tuple[str, ...]] = {}
        self._sessions: set[str] = set()
        self._focused: str | None = None
        self._own_pane: str | None = None
        self._backgrounds: dict[str, dict[str, str]] = {}  # pane → its profile's background colours
        self._tab_colors: dict[str, dict[str, str]] = {}  # pane → its tab colour keys as a pulse's end restores them
        self._watching = False
        self._closing = False
        self._status_bar: Any = None
        self._multi_get = True
        # A restart can put a new session (a new id) in a pane: callers keep the pane's first id.
        self._stable: dict[str, str] = {}  # session id → the pane id callers know
        self._real: dict[str, str] = {}  # pane id → the session id in it now
        self._retired: set[str] = set()  # sessions replaced in their pane: their end is not the pane's
        self._restarting: set[str] = set()
        self._terminated: dict[str, asyncio.Future[None]] = {}  # sessions whose end a restart awaits
        self._stale_pids: dict[str, int] = {}  # restarted session → the pid its `pid` shows until iTerm2 learns anew
        self._separate_colors: dict[str, bool] = {}  # pane → its profile draws (Light)/(Dark) colour keys

    @property
    def where(self) -> str:
        return self.link.where

    @property
    def _connection(self) -> iterm2.Connection:
        assert self.link.connection is not None
        return self.link.connection

    @property
    def _app(self) -> iterm2.App:
        if self.link.app is None:
            raise BackendGone("not connected to iTerm2")
        return self.link.app

    async def _call(self, awaitable: Awaitable[Any], what: str) -> Any:
        return await self.link.call(awaitable, what)

    def _id(self, pane: str) -> str:
        """The session now in `pane`."""
        return self._real.get(pane, pane)

    def _pane(self, session_id: str) -> str:
        """The pane id callers know `session_id` by."""
        return self._stable.get(session_id, session_id)

    def _replaced(self, pane: str, old: str, new: str) -> None:
        self._retired.add(old)
        self._stable.pop(old, None)
        if new != pane:
            self._real[pane] = new
            self._stable[new] = pane
        else:
            self._real.pop(pane, None)

    # --- connection -------------------------------------------------------------------------------------

    async def connect(self) -> None:
        """Connect (once), on the probe's connection where it left one; `BackendError` with one clear line when
        iTerm2 is not there or refuses."""
        if self.link.connected:
            return
        probed = take_probed_connection(asyncio.get_running_loop())
        if probed is not None and probed.connected:
            self.link.on_lost.remove(self._on_lost)
            self.link = probed
            probed.on_lost.append(self._on_lost)
            return
        await self.link.connect()

    def _can(self, capability: str) -> bool:
        return iterm2.capabilities.ge(self.link.protocol_version, CAPABILITIES[capability])

    async def attach(self) -> None:
        """Attach to the window named `session` (or the frontmost window when None); BackendGone if none."""
        await self.connect()
        window = await self._find_window(self.session)
        if window is None:
            what = f"no iTerm2 window is named {self.session!r}" if self.session else "iTerm2 has no window open"
            raise BackendGone(f"{what} ({self.where})")
        self.window_id = window.window_id
        await self._watch()

    async def attach_to_pane(self, pane: str) -> None:
        """Work in the window that holds `pane` (the console's own session, when it runs inside iTerm2)."""
        await self.connect()
        await self._refresh()
        window, _ = self._app.get_window_and_tab_for_session(self._session(pane))
        if window is None:
            raise BackendError(f"iTerm2 session {pane} is not in a window (is it buried?)")
        self.window_id = window.window_id
        self._own_pane = pane
        if self.session is None:
            self.session = _text(await self._window_variable(SESSION_VARIABLE)) or window.window_id
        await self._watch()

    async def attach_or_create(self, size: tuple[int, int], window_name: str, launch: Launch) -> None:
        """Attach to the window named `session`, opening it (its first pane running `launch`) when missing."""
        assert self.session is not None
        try:
            await self.attach()
            return
        except BackendGone:
            if not self.link.connected:
                raise
        window = await self._call(
            iterm2.Window.async_create(self._connection, profile_customizations=_profile(launch, hold=True)),
            "open a window",
        )
        if window is None:
            raise BackendError(f"iTerm2 opened a window for {window_name!r} but its program ended at once")
        self.window_id = window.window_id
        self.created_session = True
        await self._set_variables({SESSION_VARIABLE: self.session}, window_id=window.window_id)
        tab = window.tabs[0]
        await self._set_variables({WINDOW_NAME_VARIABLE: window_name}, tab_id=tab.tab_id)
        width, height = size
        with contextlib.suppress(BackendError):  # a fullscreen window keeps its size
            await self._call(tab.sessions[0].async_set_grid_size(iterm2.Size(width, height)), "size the window")
        await self._watch()

    async def select_window(self) -> None:
        """Bring this window to the front."""
        await self._call(self._window().async_activate(), "bring its window to the front")

    async def alive(self) -> bool:
        """Whether iTerm2 still answers."""
        if not self.link.connected:
            return False
        try:
            await self._call(iterm2.rpc.async_get_focus_info(self._connection), "say what has the focus")
        except BackendError:
            return False
        return True

    async def close(self) -> None:
        self._closing = True
        tasks = [*self._tasks, *(task for tasks in self._watchers.values() for task in tasks)]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=2)
        self._watchers.clear()
        await self.link.close()

    def _on_lost(self, reason: str) -> None:
        if self._closing:
            return
        self._publish(BackendLost(reason))
        self._feed.end()

    # --- events -----------------------------------------------------------------------------------------

    def events(self) -> AsyncIterator[TerminalEvent]:
        return self._feed.subscribe()

    def _publish(self, event: TerminalEvent) -> None:
        self._feed.publish(event)

    def _spawn(self, coroutine: Awaitable[Any], name: str) -> asyncio.Task[Any]:
        task = asyncio.ensure_future(coroutine)
        task.set_name(name)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled():
            task.exception()  # a watcher ends with the connection: BackendLost already says so

    async def _watch(self) -> None:
        """Subscribe to everything iTerm2 pushes (once), then watch the screens of this window's panes."""
        if self._watching:
            await self._sync()
            return
        self._watching = True
        connection = self._connection
        await self._monitor(iterm2.FocusMonitor(connection), self._next_focus, "focus")
        await self._monitor(iterm2.SessionTerminationMonitor(connection), self._next_exit, "session ends")
        await self._monitor(iterm2.NewSessionMonitor(connection), self._next_new_session, "new sessions")
        await self._monitor(iterm2.LayoutChangeMonitor(connection), self._next_layout, "layout changes")
        # CustomControlSequenceMonitor drops every identity but one and does not say which session sent it;
        # the subscription underneath it gives both, for all sessions at once.
        await self._call(
            iterm2.notifications.async_subscribe_to_custom_escape_sequence_notification(
                connection, self._on_custom_sequence, None
            ),
            "watch custom control sequences",
        )
        await self._sync()

    async def _monitor(self, monitor: Any, step: Callable[[Any], Awaitable[None]], what: str) -> asyncio.Task[Any]:
        await self._call(monitor.__aenter__(), f"watch {what}")
        return self._spawn(self._run_monitor(monitor, step), f"iterm2-{what}")

    async def _run_monitor(self, monitor: Any, step: Callable[[Any], Awaitable[None]]) -> None:
        try:
            while True:
                await step(monitor)
        finally:
            if not self._closing and self.link.connected:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(monitor.__aexit__(None, None, None), 2)

    async def _next_focus(self, monitor: Any) -> None:
        update = await monitor.async_get_next_update()
        if update.application_active is not None:
            # Nobody types in any pane while another app has the keyboard; coming back, the active one again.
            if not update.application_active.application_active:
                self._focused = None
                self._publish(PaneFocused(pane="", window=""))
            else:
                window = self._app.current_terminal_window
                session = window.current_tab.current_session if window and window.current_tab else None
                if session is not None:
                    self._focus(session.session_id)
        elif update.active_session_changed is not None:
            self._focus(update.active_session_changed.session_id)
        elif update.selected_tab_changed is not None:
            tab = self._app.get_tab_by_id(update.selected_tab_changed.tab_id)
            if tab is not None and tab.active_session_id:
                self._focus(tab.active_session_id)

    def _focus(self, session_id: str) -> None:
        if session_id == self._focused:
            return
        self._focused = session_id
        session = self._app.get_session_by_id(session_id)
        tab = session.tab if session is not None else None
        self._publish(PaneFocused(pane=self._pane(session_id), window=tab.tab_id if tab is not None else ""))

    async def _next_exit(self, monitor: Any) -> None:
        self._exit(await monitor.async_get())

    def _exit(self, session_id: str) -> None:
        """TERMINATE_SESSION: the program ended (iTerm2 keeps `pid` as it was), or the pane closed."""
        waiter = self._terminated.pop(session_id, None)
        if waiter is not None and not waiter.done():
            waiter.set_result(None)
        if session_id not in self._exited and session_id not in self._retired | self._restarting:
            self._exited.add(session_id)
            self._publish(PaneExited(self._pane(session_id)))

    async def _next_new_session(self, monitor: Any) -> None:
        await monitor.async_get()
        await self._sync()

    async def _next_layout(self, monitor: Any) -> None:
        await monitor.async_get()
        await self._sync()

    async def _on_custom_sequence(self, _connection: Any, note: Any) -> None:
        sequence = f"\x1b]1337;Custom=id={note.sender_identity}:{note.payload}\x07".encode()
        self._publish(PaneOutput(self._pane(note.session), sequence, time.monotonic()))

    async def _sync(self) -> None:
        """Compare what iTerm2 holds now with what it held: layout changes, closed panes, panes to watch."""
        app = self._app
        tabs: dict[str, tuple[str, ...]] = {}
        shapes: dict[str, Shape] = {}
        ours: set[str] = {session.session_id for session in app.buried_sessions}
        everything: set[str] = set(ours)
        for window in app.terminal_windows:
            for tab in window.tabs:
                sessions = tuple(session.session_id for session in tab.sessions)
                everything.update(session.session_id for session in tab.all_sessions)
                if window.window_id == self.window_id:
                    tabs[tab.tab_id] = sessions
                    shapes[tab.tab_id] = tree_shape(tab.root)
                    ours.update(session.session_id for session in tab.all_sessions)
        for tab_id, panes in tabs.items():
            if self._tab_panes.get(tab_id) != panes:
                shown = tuple(self._pane(pane) for pane in panes)
                self._publish(LayoutChanged(tab_id, shape_text(self._stable_shape(shapes[tab_id])), shown))
        for tab_id in self._tab_panes.keys() - tabs.keys():
            self._publish(WindowClosed(tab_id))
        for gone in sorted(self._sessions - everything):
            self._exited.discard(gone)
            self._stop_watching(gone)
            # a retired session stays retired: its TERMINATE may come after it has left the layout
            if gone not in self._retired | self._restarting:
                pane = self._pane(gone)
                self._stable.pop(gone, None)
                self._real.pop(pane, None)
                self._publish(PaneClosed(pane))
        self._tab_panes = tabs
        self._sessions = everything
        for session_id in sorted(ours - self._watchers.keys()):
            if session_id != self._own_pane and not self._closing:
                await self._watch_session(session_id)
        for session_id in sorted(self._watchers.keys() - ours):
            self._stop_watching(session_id)
        buried = {session.session_id for session in app.buried_sessions} - {self._own_pane}
        for session_id in sorted(buried - self._buried_polls.keys()):
            if not self._closing:
                self._buried_polls[session_id] = self._spawn(
                    self._poll_buried(session_id), f"iterm2-buried-{session_id}"
                )
        for session_id in sorted(self._buried_polls.keys() - buried):
            self._buried_polls.pop(session_id).cancel()

    async def _poll_buried(self, session_id: str) -> None:
        """A buried session's screen, read every `BURIED_POLL_SECONDS`: a change is published as output."""
        last: str | None = None
        while True:
            try:
                screen = await self.capture(self._pane(session_id))
            except BackendError:
                return  # gone: the layout change says so
            if screen != last:
                self._publish(PaneOutput(self._pane(session_id), b"", time.monotonic()))
                last = screen
            await asyncio.sleep(BURIED_POLL_SECONDS)

    async def _watch_session(self, session_id: str) -> None:
        """Screen changes of one pane, pushed by a ScreenStreamer; prompts, where shell integration exists."""
        connection = self._connection
        streamer = iterm2.ScreenStreamer(connection, session_id, want_contents=False)
        modes = [iterm2.PromptMonitor.Mode.PROMPT]
        if iterm2.capabilities.supports_prompt_monitor_modes(connection):
            modes += [iterm2.PromptMonitor.Mode.COMMAND_START, iterm2.PromptMonitor.Mode.COMMAND_END]
        prompts = iterm2.PromptMonitor(connection, session_id, modes)
        self._watchers[session_id] = []
        try:
            tasks = [
                await self._monitor(streamer, self._screen_step(session_id), f"screen of {session_id}"),
                await self._monitor(prompts, self._prompt_step(session_id), f"prompts of {session_id}"),
            ]
        except BackendError:  # the session ended while we subscribed: the layout change will say so
            self._stop_watching(session_id)
            return
        if session_id in self._watchers:
            self._watchers[session_id] = tasks
        else:
            for task in tasks:
                task.cancel()

    def _screen_step(self, session_id: str) -> Callable[[Any], Awaitable[None]]:
        async def step(streamer: Any) -> None:
            await streamer.async_get()
            self._publish(PaneOutput(self._pane(session_id), b"", time.monotonic()))

        return step

    def _prompt_step(self, session_id: str) -> Callable[[Any], Awaitable[None]]:
        async def step(monitor: Any) -> None:
            mode, value = await monitor.async_get()
            pane = self._pane(session_id)
            if mode == iterm2.PromptMonitor.Mode.COMMAND_START:
                self._publish(PanePrompt(pane, "command", command=value))
            elif mode == iterm2.PromptMonitor.Mode.COMMAND_END:
                self._publish(PanePrompt(pane, "finished", status=value))
            else:
                self._publish(PanePrompt(pane, "prompt"))

        return step

    def _stop_watching(self, session_id: str) -> None:
        for task in self._watchers.pop(session_id, []):
            task.cancel()

    # --- finding things -----------------------------------------------------------------------------------

    async def _refresh(self) -> None:
        await self._call(self._app.async_refresh(), "list its windows")

    def _session(self, pane: str) -> Any:
        session = self._app.get_session_by_id(self._id(pane))
        if session is None:
            raise BackendError(f"iTerm2 has no session {pane}")
        return session

    async def _fresh_session(self, pane: str) -> Any:
        if self._app.get_session_by_id(self._id(pane)) is None:
            await self._refresh()
        return self._session(pane)

    def _tab(self, window: str) -> Any:
        tab = self._app.get_tab_by_id(window)
        if tab is None:
            raise BackendError(f"iTerm2 has no tab {window}")
        return tab

    def _window(self) -> Any:
        window = self._app.get_window_by_id(self.window_id or "")
        if window is None:
            raise BackendGone(f"the iTerm2 window {self.session or self.window_id} is gone")
        return window

    async def _find_window(self, name: str | None) -> Any:
        await self._refresh()
        windows = self._app.terminal_windows
        if name is None:
            return self._app.current_terminal_window or (windows[0] if windows else None)
        for window in windows:
            if await self._get_variables([SESSION_VARIABLE], window_id=window.window_id) == [name]:
                return window
        return None

    # --- variables ----------------------------------------------------------------------------------------

    async def _get_variables(
        self,
        names: Sequence[str],
        session_id: str | None = None,
        tab_id: str | None = None,
        window_id: str | None = None,
    ) -> list[Any]:
        """Values of variables of one session, tab, window or (none given) the app; None where unset."""
        if not self._multi_get and len(names) > 1:
            return [(await self._get_variables([name], session_id, tab_id, window_id))[0] for name in names]
        response = await self._call(
            iterm2.rpc.async_variable(
                self._connection, session_id=session_id, gets=list(names), tab_id=tab_id, window_id=window_id
            ),
            f"read variables of {session_id or tab_id or window_id or 'the app'}",
        )
        reply = response.variable_response
        status = iterm2.api_pb2.VariableResponse.Status.Name(reply.status)
        if status == "MULTI_GET_DISALLOWED":
            self._multi_get = False
            return await self._get_variables(names, session_id, tab_id, window_id)
        if status != "OK":
            raise BackendError(f"iTerm2 could not read variables of {session_id or tab_id or window_id}: {status}")
        values = [_decoded(raw) for raw in reply.values]
        return [value if value != "" else None for value in values] + [None] * (len(names) - len(values))

    async def _set_variables(
        self,
        values: dict[str, str] | None,
        session_id: str | None = None,
        tab_id: str | None = None,
        window_id: str | None = None,
    ) -> None:
        if not values:
            return
        response = await self._call(
            iterm2.rpc.async_variable(
                self._connection,
                session_id=session_id,
                sets=[(name, json.dumps(value)) for name, value in values.items()],
                tab_id=tab_id,
                window_id=window_id,
            ),
            f"set variables of {session_id or tab_id or window_id or 'the app'}",
        )
        status = iterm2.api_pb2.VariableResponse.Status.Name(response.variable_response.status)
        if status != "OK":
            raise BackendError(f"iTerm2 could not set variables of {session_id or tab_id or window_id}: {status}")

    async def _window_variable(self, name: str) -> Any:
        return (await self._get_variables([name], window_id=self.window_id))[0]

    # --- panes ------------------------------------------------------------------------------------------

    async def list_panes(self, all_sessions: bool = True) -> list[PaneInfo]:
        return [info for info, _, _ in await self.list_panes_detailed(all_sessions)]

    async def list_panes_detailed(self, all_sessions: bool = True) -> list[tuple[PaneInfo, str, dict[str, str]]]:
        """Every pane (of every window, or of this one), with its window's name and its agent metadata."""
        await self._refresh()
        app = self._app
        places: list[tuple[Any, Any, Any, int]] = []
        for window in app.terminal_windows:
            if all_sessions or window.window_id == self.window_id:
                for tab in window.tabs:
                    places += [(session, tab, window, index) for index, session in enumerate(tab.sessions)]
        places += [(session, None, None, 0) for session in app.buried_sessions]
        names = {
            window.window_id: (await self._get_variables([SESSION_VARIABLE], window_id=window.window_id))[0]
            for window in {id(w): w for _, _, w, _ in places if w is not None}.values()
        }
        tabs = {id(tab): tab for _, tab, _, _ in places if tab is not None}.values()
        tab_names = dict(
            zip(
                (tab.tab_id for tab in tabs),
                await asyncio.gather(*(self._tab_name(tab) for tab in tabs)),
                strict=True,
            )
        )
        rows = await asyncio.gather(*(self._info(*place, tab_names) for place in places))
        return [
            (info, str(names.get(window.window_id) or window.window_id) if window else BURIED, meta)
            for (info, meta), (_, _, window, _) in zip(rows, places, strict=True)
        ]

    async def _tab_name(self, tab: Any) -> Any:
        return (await self._get_variables([WINDOW_NAME_VARIABLE], tab_id=tab.tab_id))[0]

    async def _info(
        self, session: Any, tab: Any, window: Any, index: int, tab_names: dict[str, Any] | None = None
    ) -> tuple[PaneInfo, dict[str, str]]:
        values = await self._get_variables(_PANE_VARIABLES, session_id=session.session_id)
        agent, org, *meta_values, job, pid = values
        window_name = None
        if tab is not None:
            window_name = tab_names[tab.tab_id] if tab_names is not None else await self._tab_name(tab)
        size = session.grid_size
        pid_number = int(pid) if isinstance(pid, int | float) or (isinstance(pid, str) and pid.isdigit()) else None
        if pid_number is not None and self._stale_pids.get(session.session_id) == pid_number:
            pid_number = None  # the program before a restart: the new one's is not known yet
        info = PaneInfo(
            pane=self._pane(session.session_id),
            window=tab.tab_id if tab is not None else BURIED,
            window_name=str(window_name or (tab.tab_id if tab is not None else BURIED)),
            index=index,
            pid=pid_number,
            command=str(job or ""),
            # iTerm2 learns a pid late and never clears it: no pid yet is a program starting.
            alive=session.session_id not in self._exited and not _process_gone(pid_number),
            width=size.width if size is not None else 0,
            height=size.height if size is not None else 0,
            agent=str(agent) if agent else None,
            org=str(org) if org else None,
            active=tab is not None and tab.active_session_id == session.session_id,
            buried=tab is None,
        )
        meta = {key: str(value) for key, value in zip(META_KEYS, meta_values, strict=True) if value}
        return info, meta

    async def pane(self, pane: str) -> PaneInfo:
        await self._refresh()
        session = self._session(pane)
        window, tab = self._app.get_window_and_tab_for_session(session)
        index = tab.sessions.index(session) if tab is not None and session in tab.sessions else 0
        return (await self._info(session, tab, window, index))[0]

    async def new_window(self, name: str, launch: Launch, hold: bool = True) -> PaneInfo:
        """A new tab (in this window) running `launch`; with `hold`, its pane stays when the program exits."""
        window = self._window()
        keyboard = window.current_tab.current_session if window.current_tab is not None else None
        tab = await self._call(
            window.async_create_tab(profile_customizations=_profile(launch, hold), select=False), f"open tab {name!r}"
        )
        if tab is None or not tab.sessions:
            raise BackendError(f"iTerm2 opened tab {name!r} but its program ended at once")
        if keyboard is not None and not self._can("background_tab"):  # the new tab took the selection
            await self._give_focus_back(keyboard.session_id, select_tab=True)
        await self._set_variables({WINDOW_NAME_VARIABLE: name}, tab_id=tab.tab_id)
        await self._sync()
        return await self.pane(tab.sessions[0].session_id)

    async def split_pane(
        self, target: str, launch: Launch, direction: Literal["h", "v"] = "v", before: bool = False, hold: bool = True
    ) -> PaneInfo:
        """A new pane beside `target`: right of it ("h") or below it ("v"), or left/above with `before`.

        The focus stays where it was (iTerm2 gives it to the new session; it is handed back)."""
        session = await self._fresh_session(target)
        tab = session.tab
        previous = tab.active_session_id if tab is not None else None
        window = tab.window if tab is not None else None
        shown = window is not None and window.current_tab is tab  # re-selecting it changes nothing on screen
        keyboard = window.current_tab.current_session if window is not None and window.current_tab else None

        def split() -> Awaitable[Any]:
            return session.async_split_pane(
                vertical=direction == "h", before=before, profile_customizations=_profile(launch, hold)
            )

        try:
            created = await self._call(split(), f"split pane {target}")
            retried = False
        except BackendError as error:
            if "CANNOT_SPLIT" not in str(error):
                raise
            # iTerm2 measures the focused pane of the window, not the target: split from the target instead.
            await self._give_focus_back(session.session_id, select_tab=True)
            created = await self._call(split(), f"split pane {target}")
            retried = True
        if previous:
            await self._give_focus_back(previous, select_tab=shown or retried)
        if retried and keyboard is not None:
            await self._give_focus_back(keyboard.session_id, select_tab=True)
        await self._sync()
        return await self.pane(created.session_id)

    async def _give_focus_back(self, session_id: str, select_tab: bool) -> None:
        with contextlib.suppress(BackendError):
            await self._call(
                iterm2.rpc.async_activate(self._connection, True, select_tab, False, session_id=session_id),
                "give the focus back",
            )

    async def hold_window(self, window: str) -> None:
        """Panes of `window` stay, showing their last screen, when their program exits."""
        await self._refresh()
        for session in self._tab(window).sessions:
            await self._call(session.async_set_profile_properties(_profile(None, hold=True)), "keep ended panes")

    async def close_pane(self, pane: str) -> None:
        session = await self._fresh_session(pane)
        await self._call(session.async_close(force=True), f"close pane {pane}")

    async def kill_session(self, session: str | None = None) -> None:
        """Close the window named `session` (default: this one) and everything in it."""
        window = await self._find_window(session) if session and session != self.session else self._window()
        if window is not None:
            with contextlib.suppress(BackendGone):
                await self._call(window.async_close(force=True), f"close window {session or self.session}")

    async def respawn_pane(self, pane: str, launch: Launch) -> None:
        """Run `launch` in `pane` again; the pane keeps its id, its identity and its style.

        iTerm2 restarts the program a session was launched with (newer versions in a session with a new id):
        the same launch restarts the session, another launch replaces it by a new session in its place.
        """
        session = await self._fresh_session(pane)
        old = session.session_id
        launched = _decoded(await self._profile_value(pane, "Command"))
        (old_pid,) = await self._get_variables(["pid"], session_id=old)
        self._restarting.add(old)
        try:
            if launched == command_line(launch):
                new = await self._restart(pane, session)
            else:
                new = await self._replace(pane, session, launch)
            if new != old:
                self._replaced(pane, old, new)
            if isinstance(old_pid, int):
                self._stale_pids[new] = old_pid
        finally:
            self._restarting.discard(old)
            self._exited.discard(old)
        await self._sync()

    async def _restart(self, pane: str, session: Any) -> str:
        """iTerm2 answers at once; a running program is killed, and its end (TERMINATE) comes with a new
        session, a new id in the same place, with no layout notification: wait for it and follow it."""
        old, tab = session.session_id, session.tab
        before = {s.session_id for s in (tab.sessions if tab is not None else self._app.buried_sessions)}
        ended = self._terminated.setdefault(old, asyncio.get_running_loop().create_future())
        try:
            await self._call(session.async_restart(only_if_exited=False), f"restart pane {pane}")
            await self._refresh()
            if self._app.get_session_by_id(old) is not None:
                try:
                    await asyncio.wait_for(self.link.call(ended, f"restart pane {pane}"), RESTART_SECONDS)
                except TimeoutError:
                    raise BackendError(f"iTerm2 did not restart pane {pane} within {RESTART_SECONDS:g} s") from None
                await self._refresh()
        finally:
            self._terminated.pop(old, None)
        if self._app.get_session_by_id(old) is not None:
            return old
        now = self._tab(tab.tab_id).sessions if tab is not None else self._app.buried_sessions
        fresh = [s.session_id for s in now if s.session_id not in before]
        if len(fresh) != 1:
            raise BackendError(f"iTerm2 restarted pane {pane} but it cannot be found again")
        return fresh[0]

    async def _replace(self, pane: str, session: Any, launch: Launch) -> str:
        tab = session.tab
        if tab is None:
            raise BackendError(f"pane {pane} is buried: unbury it before starting it again")
        parent = _parent(tab.root, session.session_id)
        direction: Literal["h", "v"] = "h" if parent is None or parent.vertical else "v"
        identity = [VARIABLE_PREFIX + key for key in ("agent", "org", *META_KEYS)]
        values = await self._get_variables([*identity, "name"], session_id=session.session_id)
        looks = iterm2.LocalWriteOnlyProfile()
        for key in ("Tab Color", "Use Tab Color", "Badge Text", "Background Color"):
            looks.values[key] = await self._profile_value(pane, key)
        created = await self.split_pane(pane, launch, direction=direction)
        new = await self._fresh_session(created.pane)
        kept = {name: value for name, value in zip(identity, values, strict=False) if value is not None}
        await self._set_variables(kept, session_id=new.session_id)
        await self._call(new.async_set_profile_properties(looks), f"style pane {pane}")
        if values[-1]:
            await self._call(new.async_set_name(str(values[-1])), f"name pane {pane}")
        await self._call(session.async_close(force=True), f"close the old session of pane {pane}")
        return new.session_id

    async def send_text(self, pane: str, text: str, broadcast: bool = False) -> None:
        """Type `text` into `pane` only (`suppress_broadcast`), unless `broadcast` lets its domain see it too. Text
        of several lines goes as a bracketed paste, as iTerm2 pastes it: its line breaks press no Enter."""
        if "\n" in text:
            text = f"{PASTE_START}{text}{PASTE_END}"
        await self._type(pane, text, broadcast)

    async def _type(self, pane: str, text: str, broadcast: bool = False) -> None:
        session = await self._fresh_session(pane)
        await self._call(session.async_send_text(text, suppress_broadcast=not broadcast), f"type into {pane}")

    async def send_keys(self, pane: str, keys: Sequence[str]) -> None:
        if keys:
            await self._type(pane, "".join(key_text(key) for key in keys))

    async def capture(self, pane: str, escapes: bool = False, history: int = 0) -> str:
        """The visible screen, preceded by up to `history` lines of scrollback (`escapes` is not supported)."""
        session = await self._fresh_session(pane)
        screen = await self._call(session.async_get_screen_contents(), f"read the screen of {pane}")
        lines = [screen.line(i).string.rstrip() for i in range(screen.number_of_lines)]
        if history:  # iTerm2 never says how many lines are above the screen: its line info does
            info = await self._call(session.async_get_line_info(), f"count the lines of {pane}")
            top = info.overflow + info.scrollback_buffer_height
        if history and top > info.overflow:
            wanted = iterm2.util.WindowedCoordRange(
                iterm2.util.CoordRange(
                    iterm2.util.Point(0, max(info.overflow, top - history)), iterm2.util.Point(0, top)
                )
            )
            response = await self._call(
                iterm2.rpc.async_get_screen_contents(self._connection, self._id(pane), wanted),
                f"read the history of {pane}",
            )
            lines = [line.text.rstrip() for line in response.get_buffer_response.contents] + lines
        return "\n".join(lines)

    async def style_pane(self, pane: str, style: PaneStyle) -> None:
        """Background, tab colour (the border's counterpart) and badge in one batched profile change; the
        title is the session's name."""
        session = await self._fresh_session(pane)
        profile = iterm2.LocalWriteOnlyProfile()
        if style.background is not None:
            keys = await self._color_keys(pane, "Background Color")
            if pane not in self._backgrounds:
                self._backgrounds[pane] = {key: await self._profile_value(pane, key) for key in keys}
            for key in keys:
                if style.background == "default":
                    profile.values[key] = self._backgrounds[pane][key]
                else:
                    profile.values[key] = json.dumps(_color(style.background).get_dict())
        if style.border is not None:
            tab = await self._tab_values(pane, style.border)
            self._tab_colors[pane] = tab
            profile.values.update(tab)
        if style.badge is not None:
            profile.set_badge_text(style.badge)
        if profile.values:
            await self._call(session.async_set_profile_properties(profile), f"style pane {pane}")
        if style.title is not None:
            await self._call(session.async_set_name(style.title), f"name pane {pane}")

    async def pulse_pane(self, pane: str, on: bool) -> None:
        """The pane's tab in the pulse colour, or back in the colour the console last gave it (as its profile had
        it, when the console gave none)."""
        session = await self._fresh_session(pane)
        if pane not in self._tab_colors:
            keys = [*await self._color_keys(pane, "Tab Color"), *await self._color_keys(pane, "Use Tab Color")]
            self._tab_colors[pane] = {key: await self._profile_value(pane, key) for key in keys}
        profile = iterm2.LocalWriteOnlyProfile()
        profile.values.update(await self._tab_values(pane, PULSE_COLOR) if on else self._tab_colors[pane])
        await self._call(session.async_set_profile_properties(profile), f"pulse pane {pane}")

    async def page(self, text: str) -> bool:
        """A dock bounce and a notification, as a program asks iTerm2 for them: the sequences injected into the
        console's own session (else the org window's current one), as though printed there. iTerm2 reads
        `OSC 1337 ; RequestAttention=once` in `VT100Terminal.m` `executeXtermSetKvp:` (PTYSession
        `screenRequestAttention:` bounces the dock icon once) and `OSC 9 ; message` as `ITERM_USER_NOTIFICATION`
        (`VT100XtermParser.m`; `terminalPostUserNotification:` posts it, where the profile allows notifications).
        `text` has no control character, so it cannot end the sequence; it never starts with a number and ';'
        (which iTerm2 would read as a progress report)."""
        if self._own_pane is not None:
            session = await self._fresh_session(self._own_pane)
        else:
            await self._refresh()
            window = self._window()
            session = window.current_tab.current_session if window.current_tab is not None else None
            if session is None:
                return False
        message = visible(text)
        if message[:1].isdigit():
            message = "· " + message
        data = b"\x1b]1337;RequestAttention=once\x07\x1b]9;" + message.encode() + b"\x07"
        await self._call(session.async_inject(data), "ask for the human's attention")
        return True

    async def _tab_values(self, pane: str, color: str) -> dict[str, str]:
        """Profile values that show `color` as the pane's tab colour."""
        values = {key: json.dumps(_color(color).get_dict()) for key in await self._color_keys(pane, "Tab Color")}
        values.update({key: json.dumps(True) for key in await self._color_keys(pane, "Use Tab Color")})
        return values

    async def _color_keys(self, pane: str, key: str) -> list[str]:
        """Where iTerm2 reads a colour of this pane's profile: with separate light and dark colours (fresh
        installs), from "<key> (Light)" and "<key> (Dark)", never the base key."""
        if pane not in self._separate_colors:
            self._separate_colors[pane] = _decoded(await self._profile_value(pane, SEPARATE_COLORS)) is True
        return [f"{key} (Light)", f"{key} (Dark)"] if self._separate_colors[pane] else [key]

    async def _profile_value(self, pane: str, key: str) -> str:
        response = await self._call(
            iterm2.rpc.async_get_profile(self._connection, self._id(pane), [key]), f"read the profile of {pane}"
        )
        for prop in response.get_profile_property_response.properties:
            if prop.key == key:
                return prop.json_value
        return "null"

    async def show_pane_borders(self, window: str) -> None:
        """Nothing to do: iTerm2 shows each pane's title (and badge) itself."""

    async def select_pane(self, pane: str) -> None:
        """Jump: activate the pane, its tab and its window."""
        session = await self._fresh_session(pane)
        await self._call(session.async_activate(select_tab=True, order_window_front=True), f"jump to pane {pane}")

    async def set_identity(self, pane: str, org: str, agent: str, meta: dict[str, str] | None = None) -> None:
        values = {ORG_VARIABLE: org, AGENT_VARIABLE: agent}
        values.update({VARIABLE_PREFIX + key: value for key, value in (meta or {}).items()})
        await self._set_variables(values, session_id=self._id(pane))

    # --- windows (tabs) -----------------------------------------------------------------------------------

    async def tag_window(self, window: str, org: str, index: int) -> None:
        await self._set_variables({WINDOW_TAG_VARIABLE: f"{org}:{index}"}, tab_id=window)

    async def window_tags(self) -> dict[str, str]:
        """Tab id → its `org:index` tag, for the tabs of this window."""
        await self._refresh()
        tags = {}
        for tab in self._window().tabs:
            tag = (await self._get_variables([WINDOW_TAG_VARIABLE], tab_id=tab.tab_id))[0]
            if tag:
                tags[tab.tab_id] = str(tag)
        return tags

    async def session_option(self, name: str) -> str | None:
        return _text(await self._window_variable(_option_variable(name)))

    async def set_session_option(self, name: str, value: str) -> None:
        await self._set_variables({_option_variable(name): value}, window_id=self.window_id)

    async def window_size(self, window: str) -> tuple[int, int]:
        await self._refresh()
        root = self._tab(window).root
        sizes = {session.session_id: _grid(session) for session in root.sessions}
        return tree_size(root, sizes)

    async def window_layout(self, window: str) -> str:
        await self._refresh()
        return shape_text(self._stable_shape(tree_shape(self._tab(window).root)))

    def _stable_shape(self, shape: Shape) -> Shape:
        if isinstance(shape, str):
            return self._pane(shape)
        return (shape[0], tuple(self._stable_shape(child) for child in shape[1]))

    async def apply_layout(self, window: str, cells: Cell) -> None:
        """Arrange the tab's panes (in pane order) as the plan's cell tree."""
        await self._refresh()
        await self.arrange(window, cells, [session.session_id for session in self._tab(window).sessions])

    async def arrange(self, window: str, cells: Cell, panes: Sequence[str]) -> bool:
        """Lay out tab `window` as `cells`, its leaves taking `panes` in order; True if anything changed.

        The split tree is reshaped (`App.async_apply_layout`) only when it differs from the plan's; the sizes
        then follow from each pane's preferred size (`Tab.async_update_layout`)."""
        await self._refresh()
        tab = self._tab(window)
        panes = [self._id(pane) for pane in panes]
        wanted = cell_shape(cells, panes)
        changed = False
        if tree_shape(tab.root) != wanted:
            await self._reshape(tab, wanted)
            changed = True
            await self._refresh()
            tab = self._tab(window)
        sizes = leaf_sizes(cells, panes)
        sessions = {session.session_id: session for session in tab.sessions}
        if any(_grid(sessions[pane]) != size for pane, size in sizes.items() if pane in sessions):
            for pane, (width, height) in sizes.items():
                if pane in sessions:
                    sessions[pane].preferred_size = iterm2.Size(width, height)
            await self._call(tab.async_update_layout(), f"size the panes of tab {window}")
            changed = True
        return changed

    async def _reshape(self, tab: Any, shape: Shape) -> None:
        if isinstance(shape, str):
            return  # one pane: nothing to arrange
        spec = {"tabs": [{"tab_id": tab.tab_id, "root": layout_spec(shape)}]}
        moved_from = {
            other.tab_id
            for pane in shape_panes(shape)
            if (other := self._session(pane).tab) is not None and other.tab_id != tab.tab_id
        }
        for other in sorted(moved_from):
            rest = [s.session_id for s in self._tab(other).sessions if s.session_id not in shape_panes(shape)]
            if rest:
                spec["tabs"].append({"tab_id": other, "root": layout_spec(tree_shape(self._tab(other).root))})
        if not self._can("reshape"):
            await self._reshape_by_moves(shape)
            return
        await self._call(self._app.async_apply_layout(spec), f"arrange tab {tab.tab_id}")

    async def _reshape_by_moves(self, shape: Shape) -> None:
        """Without `apply_layout` (iTerm2 3.6): move each pane beside the one it was split from in the plan,
        in the order that builds the plan's tree by splitting; the first pane stays where it is."""
        for pane, anchor, direction in split_steps(_shape_node(shape)):
            if anchor is None:
                continue
            await self._refresh()
            moved, destination = self._app.get_session_by_id(pane), self._app.get_session_by_id(anchor)
            if moved is None or destination is None:
                raise BackendError(f"iTerm2 has no session {pane if moved is None else anchor}")
            await self._call(
                self._app.async_move_session(moved, destination, direction == "h", False), f"move pane {pane}"
            )

    async def join_pane(self, pane: str, target: str, before: bool = False) -> None:
        """Move `pane` next to `target` (below it, or above with `before`)."""
        session, destination = await self._fresh_session(pane), await self._fresh_session(target)
        await self._call(self._app.async_move_session(session, destination, False, before), f"move pane {pane}")
        await self._sync()

    async def swap_panes(self, first: str, second: str) -> None:
        await self._refresh()
        one, other = self._session(first).tab, self._session(second).tab
        if one is None or other is None or one.tab_id != other.tab_id:
            raise BackendError(f"panes {first} and {second} are not in one tab")
        swapped = {self._id(first): self._id(second), self._id(second): self._id(first)}

        def swap(shape: Shape) -> Shape:
            if isinstance(shape, str):
                return swapped.get(shape, shape)
            return (shape[0], tuple(swap(child) for child in shape[1]))

        await self._reshape(one, swap(tree_shape(one.root)))

    async def spread_evenly(self, window: str) -> None:
        """Nothing to do: iTerm2 splits a pane only when both halves fit."""

    async def break_pane(self, pane: str, window_name: str) -> PaneInfo:
        """Move `pane` out into a new tab of its own."""
        session = await self._fresh_session(pane)
        if not self._can("move_to_new_tab"):
            raise BackendError(
                f"this iTerm2 (API protocol {'.'.join(map(str, self.link.protocol_version))}) cannot move pane "
                f"{pane} to a tab of its own: that needs protocol 1.13 (iTerm2 newer than 3.6)"
            )
        tab_id = await self._call(session.async_move_to_new_tab(window=self._window()), f"move {pane} to a tab")
        if tab_id:
            await self._set_variables({WINDOW_NAME_VARIABLE: window_name}, tab_id=str(tab_id))
        await self._sync()
        return await self.pane(pane)

    # --- what iTerm2 has beyond tmux ------------------------------------------------------------------------

    async def bury(self, pane: str, buried: bool = True) -> PaneInfo:
        """Hide a background worker's session (it keeps running, off screen), or bring it back (iTerm2 puts it
        back in the tab it came from, or a new tab). iTerm2 sends a buried session no screen updates: its
        custom control sequences (the agent protocol) and its end still arrive; its screen is read on demand."""
        session = await self._fresh_session(pane)
        await self._call(session.async_set_buried(buried), f"{'bury' if buried else 'unbury'} pane {pane}")
        await self._refresh()
        await self._sync()
        return await self.pane(pane)

    async def set_broadcast(self, groups: Sequence[Sequence[str]]) -> None:
        """Broadcast domains: typing in one pane of a group types in all of them (e.g. a team)."""
        await self._refresh()
        domains = []
        for group in groups:
            domain = iterm2.BroadcastDomain()
            for pane in group:
                domain.add_session(self._session(pane))
            domains.append(domain)
        await self._call(iterm2.async_set_broadcast_domains(self._connection, domains), "set broadcast domains")

    async def broadcast_groups(self) -> list[list[str]]:
        await self._call(self._app.async_refresh_broadcast_domains(), "list broadcast domains")
        return [
            [self._pane(session.session_id) for session in domain.sessions] for domain in self._app.broadcast_domains
        ]

    async def save_arrangement(self, name: str, folder: Path) -> str:
        """Save this window (its tabs and panes) as iTerm2 arrangement `name`, which iTerm2 keeps (`folder` is not
        used). The status is read from the reply itself: `Window.async_save_window_as_arrangement` reads another
        reply's field, so it never reports a failure."""
        check_name(name)
        reply = await self._call(
            iterm2.rpc.async_save_arrangement(self._connection, name, self._window().window_id),
            f"save arrangement {name!r}",
        )
        _arrangement_status(reply, name)
        return f"this iTerm2 window, {len(await self.list_panes(all_sessions=False))} pane(s), kept by iTerm2"

    async def restore_arrangement(self, name: str, folder: Path) -> list[str]:
        """Open arrangement `name` as iTerm2 does: in new windows, with new sessions."""
        check_name(name)
        reply = await self._call(iterm2.rpc.async_restore_arrangement(self._connection, name), f"load {name!r}")
        _arrangement_status(reply, name)
        return [
            "iTerm2 opens an arrangement in new windows with new sessions, not the running agents: "
            "the agents keep running in their own panes"
        ]

    async def arrangement_names(self, folder: Path) -> list[str]:
        return sorted(await self._call(iterm2.Arrangement.async_list(self._connection), "list arrangements"))

    async def install_status_bar(self) -> None:
        """Offer a status-bar component showing the org's figures (`show_figures` updates it)."""
        if self._status_bar is not None:
            return
        component = iterm2.StatusBarComponent(
            short_description="agent-console",
            detailed_description="The org's figures: agents by state and requests pending",
            knobs=[],
            exemplar="crew: 3 pending · ◆2 ●4",
            update_cadence=None,
            identifier=STATUS_BAR_ID,
        )

        @iterm2.StatusBarRPC
        async def agent_console_figures(knobs: Any, figures: Any = _FIGURES_REFERENCE) -> str:
            return str(figures or "agent-console")

        await self._call(component.async_register(self._connection, agent_console_figures), "add a status bar item")
        self._status_bar = agent_console_figures

    async def show_figures(self, text: str) -> None:
        """What the status-bar component shows (iTerm2 redraws it when this app variable changes)."""
        await self._call(self._app.async_set_variable(FIGURES_VARIABLE, text), "update the status bar")

    async def remove_status_bar(self) -> None:
        """The component stays offered (iTerm2 keeps it in the user's status bar): it shows no figures now."""
        if self._status_bar is not None:
            await self.show_figures("")

    async def install_jump_back(self, key: str, pane: str) -> None:
        """`key` (tmux style, e.g. M-e), pressed in any session, brings the focus back to `pane`."""
        modifiers, char = _key_pattern(key)
        pattern = iterm2.KeystrokePattern()
        pattern.required_modifiers = sorted(modifiers, key=lambda modifier: modifier.value)
        pattern.characters_ignoring_modifiers = [char]
        connection = self._connection
        # The filter keeps iTerm2 from also typing the key; the monitor tells us it was pressed.
        await self._call(iterm2.KeystrokeFilter(connection, [pattern]).__aenter__(), f"reserve key {key}")

        async def step(monitor: Any) -> None:
            keystroke = await monitor.async_get()
            pressed = {modifier for modifier in keystroke.modifiers if modifier in modifiers.union(_MODIFIERS)}
            if pressed == modifiers and keystroke.characters_ignoring_modifiers.lower() == char:
                with contextlib.suppress(BackendError):
                    await self.select_pane(pane)

        await self._monitor(iterm2.KeystrokeMonitor(connection), step, f"key {key}")


_FIGURES_REFERENCE = iterm2.Reference(f"iterm2.{FIGURES_VARIABLE}?")
_MODIFIERS = {iterm2.Modifier.CONTROL, iterm2.Modifier.OPTION, iterm2.Modifier.SHIFT, iterm2.Modifier.COMMAND}


def _shape_node(shape: Shape) -> Node:
    """A shape as a layout tree, for `split_steps`."""
    if isinstance(shape, str):
        return LayoutPane(shape)
    direction, children = shape
    return Split(direction, tuple(_shape_node(child) for child in children), (1,) * len(children))


def _parent(node: Any, session_id: str) -> Any:
    """The splitter holding `session_id` in a live split tree (None if it is the tree's only pane)."""
    for child in node.children:
        if getattr(child, "session_id", None) == session_id:
            return node if len(node.children) > 1 else None
        if not hasattr(child, "session_id") and (found := _parent(child, session_id)) is not None:
            return found
    return None


def _text(value: Any) -> str | None:
    return str(value) if value not in (None, "") else None


def _option_variable(name: str) -> str:
    """A tmux-style option name (`@agent_console_plan`) as a user variable (`user.agent_console_plan`)."""
    return "user." + re.sub(r"[^A-Za-z0-9_]", "_", name.lstrip("@"))


def _grid(session: Any) -> tuple[int, int]:
    size = session.grid_size
    return (size.width, size.height) if size is not None else (0, 0)


def _process_gone(pid: int | None) -> bool:
    """Whether `pid` (a pane's program, on this machine: iTerm2's API is local) has ended."""
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:
        return False
    return False


def _arrangement_status(reply: Any, name: str) -> None:
    status = iterm2.api_pb2.SavedArrangementResponse.Status.Name(reply.saved_arrangement_response.status)
    if status == "ARRANGEMENT_NOT_FOUND":
        raise NotFound(f"iTerm2 has no arrangement {name!r}")
    if status != "OK":
        raise BackendError(f"iTerm2 refused arrangement {name!r}: {status}")
