"""The tmux backend: the terminal protocol over one control-mode connection.

Pane exits are pushed through a tmux subscription on `pane_dead` (tmux checks subscriptions once a
second); output, focus and layout changes are pushed as they happen.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import re
import secrets
import shlex
import time
from collections.abc import AsyncIterator, Coroutine, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from agent_console.agents.display import pasteable, visible
from agent_console.agents.layout import canonical

from . import tmux_arrangement
from .arrangement import saved_names
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
    PaneStyle,
    TerminalBackend,
    TerminalEvent,
    WindowClosed,
)
from .tmux_control import Notification, TmuxCommandError, TmuxControlClient, escape_format, quote

if TYPE_CHECKING:
    from agent_console.agents.layout import Cell

AGENT_OPTION = "@agent_console_agent"
ORG_OPTION = "@agent_console_org"
WINDOW_OPTION = "@agent_console_window"
# A buried pane lives alone in a window of the console's own session marked with this option. Not another
# session: a control client is told the output only of panes in windows of the session it is attached to
# (measured on tmux 3.3a: another window's %output arrives, another session's does not), and that output is
# what finds the agent protocol's sequences and wakes the screen reader.
BURIED_OPTION = "@agent_console_buried"
BURIED_WINDOW_PREFIX = "buried:"
BADGE_OPTION = "@badge"
BORDER_OPTION = "@agent_console_border"
LABEL_OPTION = "@agent_console_label"  # the console's title for the pane: programs overwrite pane_title (OSC 2)
PULSE_OPTION = "@agent_console_pulse"  # set while the pane pulses: its border title is drawn reversed
FIGURES_OPTION = "@agent_console_figures"  # on the session: the org's figures, for its status line
# The session's own value of an option the console overrides, kept in the session until it is restored: `=value`,
# or `-` when the session had none of its own (it inherited the global one). A console that ends without
# restoring it (killed) leaves it there for the next one, which restores the user's value, not its own.
SAVED_OPTION_PREFIX = "@agent_console_saved_"
_STATUS_OPTIONS = ("status-right", "status-right-length")  # what the figures change in the session
STATUS_ROOM = 120  # columns the figures may add to the status line's right-hand side
META_OPTIONS = ("@agent_console_team", "@agent_console_kind", "@agent_console_command")
# A pane printing faster than we read holds tmux back from reading it (its program blocks in write): such a
# flood is paused for this connection (`refresh-client -A %N:pause`, tmux 3.2+: tmux reads on and lets it go)
# and resumed a moment later. Output only feeds the escape-sequence scanner and says "the screen changed";
# screens are read with capture-pane. tmux's own pause-after is not used: when the console falls behind on
# many moderate panes it would drop their status sequences; those writers are slowed instead.
FLOOD_BYTES = 128 * 1024  # more than this within FLOOD_SECONDS is a flood
FLOOD_SECONDS = 0.25
PAUSE_SECONDS = (0.5, 1.0, 2.0, 4.0, 8.0)  # how long a flood's output is let go: longer while it goes on
_DEAD_SUBSCRIPTION = "agent-console-dead"
PLACEHOLDER = "exec sleep 30"  # silent while a respawn settles tmux's offsets (`respawn_pane`)
DEAD_RECHECK_SECONDS = 1.5  # after a respawn: past tmux's next check of its subscriptions (once a second)
_DEAD_FORMAT = "#{pane_dead}/#{pane_dead_status}/#{pane_dead_signal}"
_SEP = "\t"
_PANE_FIELDS = (
    "#{pane_id}",
    "#{window_id}",
    "#{pane_index}",
    "#{pane_pid}",
    "#{pane_dead}",
    "#{pane_width}",
    "#{pane_height}",
    "#{pane_active}",
    "#{session_name}",
    f"#{{{AGENT_OPTION}}}",
    f"#{{{ORG_OPTION}}}",
    "#{pane_current_command}",
    "#{window_name}",
    *(f"#{{{option}}}" for option in META_OPTIONS),
    f"#{{{BURIED_OPTION}}}",  # a window option: a pane's options inherit its window's
)
PANE_FORMAT = _SEP.join(_PANE_FIELDS)
# The console's label, the badge, then the program's own title when it set one (`q/h` doubles its '#', so a
# title cannot inject a style or a format).
# A pulse reverses the label and badge: the border colour becomes the label's background, never hidden.
_PULSED = f"#{{?#{{{PULSE_OPTION}}},#[reverse],}}"
_PULSE_ENDS = f"#{{?#{{{PULSE_OPTION}}},#[default],}}"
BORDER_FORMAT = (
    f" #[fg=#{{?#{{{BORDER_OPTION}}},#{{{BORDER_OPTION}}},default}},bold]{_PULSED}#{{q/h:{LABEL_OPTION}}}#[default]"
    f"{_PULSED}#{{?#{{{BADGE_OPTION}}}, [#{{{BADGE_OPTION}}}],}}{_PULSE_ENDS}"
    f"#{{?#{{&&:#{{pane_title}},#{{!=:#{{pane_title}},#{{{LABEL_OPTION}}}}}}}, · #{{q/h:pane_title}},}} "
)
_WINDOW_TAG_FORMAT = f"#{{window_id}}{_SEP}#{{{WINDOW_OPTION}}}"
# Ahead of the user's status-right: the figures, in the org's windows only (other windows of the session, when
# the console runs inside the user's own, keep their status line as it was).
_FIGURES_SHOWN = f"#{{&&:#{{{WINDOW_OPTION}}},#{{{FIGURES_OPTION}}}}}"
_CLIENT_FORMAT = _SEP.join(("#{client_name}", "#{client_tty}", "#{client_control_mode}"))
PAGE_MILLISECONDS = 15_000  # how long a page stays on a client's status line (a key press ends it sooner)
_PLACEHOLDER = "exec cat"  # holds a new pane (reading its terminal, saying nothing) until its program replaces it
_LEAF = re.compile(r"\d+x\d+,\d+,\d+,(\d+)")


def _ring(tty: str) -> None:
    """The terminal bell of a tmux client: BEL written to its terminal, as tmux writes a pane's bell there. A
    terminal that is gone or busy misses this one bell (the message still shows)."""
    if not tty.startswith("/dev/"):
        return
    with contextlib.suppress(OSError):
        descriptor = os.open(tty, os.O_WRONLY | os.O_NOCTTY | os.O_NONBLOCK)
        try:
            if os.isatty(descriptor):
                os.write(descriptor, b"\a")
        finally:
            os.close(descriptor)


def parse_pane_line(line: str) -> tuple[PaneInfo, str, dict[str, str]]:
    """One `list-panes -F PANE_FORMAT` line → the pane, its session, and its agent metadata."""
    fields = line.split(_SEP)
    if len(fields) != len(_PANE_FIELDS):
        raise BackendError(f"unexpected list-panes line from tmux: {line!r}")
    pane, window, index, pid, dead, width, height, active, session, agent, org, current, window_name = fields[:13]
    *meta_values, buried = fields[13:]
    meta = {
        option.removeprefix("@agent_console_"): value for option, value in zip(META_OPTIONS, meta_values, strict=True)
    }
    info = PaneInfo(
        pane=pane,
        window=window,
        window_name=window_name,
        index=int(index),
        pid=int(pid) if pid.isdigit() else None,
        command=current,
        alive=dead != "1",
        width=int(width),
        height=int(height),
        agent=agent or None,
        org=org or None,
        active=active == "1",
        buried=buried == "1",
    )
    return info, session, meta


def layout_panes(layout: str) -> tuple[str, ...]:
    """Pane ids of a tmux layout string, in layout order."""
    return tuple(f"%{number}" for number in _LEAF.findall(layout))


def layout_checksum(layout: str) -> str:
    checksum = 0
    for char in layout.encode():
        checksum = ((checksum >> 1) + ((checksum & 1) << 15) + char) & 0xFFFF
    return f"{checksum:04x}"


def tmux_layout(cells: Cell, panes: Sequence[str]) -> str:
    """The tmux layout string for a cell tree; leaves take `panes` in order (tmux assigns by pane order)."""
    ids = iter(panes)

    def dump(cell: Cell) -> str:
        head = f"{cell.width}x{cell.height},{cell.x},{cell.y}"
        if cell.slot is not None or not cell.children:
            return f"{head},{next(ids).lstrip('%')}"
        inner = ",".join(dump(child) for child in cell.children)
        return f"{head}{{{inner}}}" if cell.direction == "h" else f"{head}[{inner}]"

    body = dump(canonical(cells))
    return f"{layout_checksum(body)},{body}"


def _launch_args(launch: Launch) -> str:
    parts = []
    if launch.cwd:
        parts += ["-c", quote(escape_format(launch.cwd))]
    for key, value in launch.env.items():
        parts += ["-e", quote(f"{key}={value}")]
    if launch.command:
        parts.append(quote(launch.command))
    return " ".join(parts)


class TmuxBackend(TerminalBackend):
    """The terminal protocol on a tmux server, through one control-mode connection attached to `session`."""

    def __init__(self, socket_name: str | None = None, session: str | None = None, config_file: str | None = None):
        self.client = TmuxControlClient(socket_name, config_file)
        self.session = session
        self.created_session = False
        self._feed = EventFeed()
        self._window_panes: dict[str, tuple[str, ...]] = {}
        self._dead: dict[str, bool] = {}
        self._tasks: set[asyncio.Task] = set()
        self._shell: str | None = None
        self._printed: dict[str, tuple[float, int]] = {}  # pane → start of its flood window, bytes in it
        self._paused: dict[str, asyncio.TimerHandle] = {}  # pane → when its output is resumed
        self._floods: dict[str, tuple[int, float]] = {}  # pane → pauses in a row, when it was last resumed
        self._jump_back: tuple[str, str, str | None] | None = None  # key, pane, the key's binding before
        self._status_options: dict[str, str] = {}  # session option → the value the console gave it
        self.client.subscribe(self._on_notification)

    @property
    def where(self) -> str:
        return self.client.where

    @property
    def _session_target(self) -> str:
        return quote(f"={self.session or ''}")

    # --- connection -------------------------------------------------------------------------------------

    async def attach(self) -> None:
        """Attach to `session` (or to the most recent session when None). BackendGone if there is none."""
        target = ["attach-session", "-t", f"={self.session}"] if self.session else ["attach-session"]
        try:
            await self.client.connect(target)
        except BackendGone as error:
            if "can't find session" in str(error):
                raise BackendGone(f"there is no session {self.session!r} on {self.where}") from None
            if "no sessions" in str(error):
                raise BackendGone(
                    f"no tmux server is running on {self._socket_label()} (nothing is up there)"
                ) from None
            raise
        self.session = self.client.session
        await self._watch()

    def _forget(self) -> None:
        """Drop what the last connection told us (a reconnect starts from what tmux says now)."""
        self._window_panes.clear()
        self._dead.clear()
        self._printed.clear()
        self._floods.clear()
        for handle in self._paused.values():
            handle.cancel()
        self._paused.clear()

    async def attach_to_pane(self, pane: str) -> None:
        """Attach to the session that holds `pane` (the console's own pane, when it runs inside tmux)."""
        await self.client.connect(["attach-session", "-t", pane])
        self.session = self.client.session
        await self._watch()

    async def install_jump_back(self, key: str, pane: str) -> None:
        """Bind `key` (no prefix) in tmux to bring the focus back to `pane` from any pane; `remove_jump_back`
        gives the key back what it did before."""
        self._jump_back = (key, pane, await self._key_binding(key))
        await self.client.command(f"bind-key -n {quote(key)} switch-client -t {quote(pane)}")

    async def remove_jump_back(self) -> None:
        """Unbind the jump-back key (restoring the binding it had before), unless it was bound anew since."""
        if self._jump_back is None:
            return
        key, pane, previous = self._jump_back
        self._jump_back = None
        current = await self._key_binding(key) or ""
        if "switch-client" not in current or pane not in current:
            return  # someone else's binding now: leave it
        await self.client.command(f"unbind-key -n {quote(key)}")
        if previous:
            await self.client.command(previous)

    async def install_status_bar(self) -> None:
        """Show the org's figures (`show_figures`) at the head of the session's status-right, in the org's windows,
        the user's own format after them. Only the session's own options change, never the global ones (the
        user's settings); `remove_status_bar` gives them back. A status-right that already shows
        `#{@agent_console_figures}` somewhere of the user's choosing is left as it is."""
        status = await self._users_option("status-right")
        if FIGURES_OPTION not in status:
            separator = " | " if status.strip() else " "
            await self._override("status-right", f"#{{?{_FIGURES_SHOWN},#{{{FIGURES_OPTION}}}{separator},}}{status}")
            length = await self._users_option("status-right-length")
            await self._override("status-right-length", str(int(length or 0) + STATUS_ROOM))

    async def show_figures(self, text: str) -> None:
        """The figures the status line shows: drawn as text (a '#' in them is doubled, so no style, format or
        command of tmux is obeyed), control characters shown visibly."""
        await self.set_session_option(FIGURES_OPTION, escape_format(visible(text)))

    async def remove_status_bar(self) -> None:
        """Give the session's options back as they were (its own values, or the global ones), unless the user
        set them anew meanwhile: those stay theirs."""
        overridden, self._status_options = self._status_options, {}
        commands = []
        for name in _STATUS_OPTIONS:
            saved = await self._own_option(SAVED_OPTION_PREFIX + name)
            if saved is not None and name in overridden and await self._own_option(name) == overridden[name]:
                if saved.startswith("="):
                    commands.append(f"set -t {self._session_target}: {quote(name)} {quote(saved[1:])}")
                else:
                    commands.append(f"set -u -t {self._session_target}: {quote(name)}")
            commands.append(f"set -u -t {self._session_target}: {quote(SAVED_OPTION_PREFIX + name)}")
        commands.append(f"set -u -t {self._session_target}: {FIGURES_OPTION}")
        await self.client.commands(commands)

    async def _users_option(self, name: str) -> str:
        """The session's `name` as the user had it before the console changed it: its own value, else the global
        one. Kept (in the session) the first time, for `remove_status_bar`."""
        saved = await self._own_option(SAVED_OPTION_PREFIX + name)
        if saved is None:
            own = await self._own_option(name)
            saved = "-" if own is None else "=" + own
            await self.set_session_option(SAVED_OPTION_PREFIX + name, saved)
        if saved.startswith("="):
            return saved[1:]
        return "\n".join(await self.client.command(f"show -gqv {quote(name)}"))

    async def _override(self, name: str, value: str) -> None:
        await self.set_session_option(name, value)
        self._status_options[name] = value

    async def _own_option(self, name: str) -> str | None:
        """The session's own value of `name`, None when it has none (it inherits the global value)."""
        target = self._session_target + ":"
        if not await self.client.command(f"show -q -t {target} {quote(name)}"):
            return None
        return "\n".join(await self.client.command(f"show -qv -t {target} {quote(name)}"))

    async def _key_binding(self, key: str) -> str | None:
        """The `bind-key …` line of `key` in the root table (no prefix), or None when it is not bound."""
        try:
            lines = await self.client.command(f"list-keys -T root {quote(key)}")
        except TmuxCommandError:
            return None  # "unknown key": not bound
        return lines[0] if lines else None

    async def attach_or_create(self, size: tuple[int, int], window_name: str, launch: Launch) -> None:
        """Attach to `session`, creating it (its first pane running `launch`) when it does not exist."""
        assert self.session is not None
        try:
            await self.attach()
            return
        except BackendGone:
            pass
        width, height = size
        command = ["new-session", "-s", self.session, "-x", str(width), "-y", str(height), "-n", window_name]
        for attempt in range(5):
            try:
                await self.client.connect([*command, *_raw_launch_args(launch)])
                break
            except BackendGone:
                # With no server, the attach above started one that exits at once for want of sessions;
                # a new session that reached it while it was exiting went down with it. Try again.
                if attempt == 4:
                    raise
                await asyncio.sleep(0.05 * (attempt + 1))
        self.created_session = True
        self.session = self.client.session
        await self._watch()

    async def _watch(self) -> None:
        self._forget()
        await self.client.command(f"refresh-client -B {quote(_DEAD_SUBSCRIPTION + ':%*:' + _DEAD_FORMAT)}")

    async def alive(self) -> bool:
        """Whether the server still answers (after an error, tells a refusal from a dying server)."""
        try:
            await self.client.command("display-message -p ok")
        except BackendGone:
            return False
        return True

    async def close(self) -> None:
        self._forget()
        for task in list(self._tasks):
            task.cancel()
        await self.client.close()

    def _socket_label(self) -> str:
        return f"socket {self.client.socket_name!r}" if self.client.socket_name else "the default socket"

    # --- events -----------------------------------------------------------------------------------------

    def events(self) -> AsyncIterator[TerminalEvent]:
        return self._feed.subscribe()

    def _publish(self, event: TerminalEvent) -> None:
        self._feed.publish(event)

    def _on_notification(self, note: Notification) -> None:
        name, args = note.name, note.args
        if name == "output":
            pane = args[0]
            if pane in self._paused:
                return  # sent before the pause took effect
            self._publish(PaneOutput(pane, note.data, note.received))
            if self._flooding(pane, len(note.data), note.received):
                self._pause(pane)
        elif name == "window-pane-changed" and len(args) >= 2:
            self._publish(PaneFocused(pane=args[1], window=args[0]))
        elif name == "layout-change" and len(args) >= 2:
            window, layout = args[0], args[1]
            panes = layout_panes(layout)
            previous = self._window_panes.get(window, ())
            self._window_panes[window] = panes
            self._publish(LayoutChanged(window, layout, panes))
            self._check_gone([pane for pane in previous if pane not in panes])
        elif name in ("window-close", "unlinked-window-close") and args:
            self._publish(WindowClosed(args[0]))
            self._check_gone(list(self._window_panes.pop(args[0], ())))
        elif name == "subscription-changed" and args and args[0] == _DEAD_SUBSCRIPTION:
            self._on_dead_report(args)
        elif name == "exit":
            self._publish(BackendLost(args[0] if args else f"{self.where} went away"))
            self._feed.end()

    def _flooding(self, pane: str, size: int, now: float) -> bool:
        start, printed = self._printed.get(pane, (now, 0))
        if now - start > FLOOD_SECONDS:
            start, printed = now, 0
        self._printed[pane] = (start, printed + size)
        return printed + size > FLOOD_BYTES

    def _pause(self, pane: str) -> None:
        """Let the pane's output go for PAUSE_SECONDS (tmux reads it on, its program never waits for us)."""
        if pane in self._paused:
            return
        now = time.monotonic()
        streak, resumed = self._floods.get(pane, (0, 0.0))
        streak = streak + 1 if now - resumed < 2 * FLOOD_SECONDS + 1.0 else 0  # flooding again since the resume
        self._floods[pane] = (streak, resumed)
        delay = PAUSE_SECONDS[min(streak, len(PAUSE_SECONDS) - 1)]
        self._paused[pane] = asyncio.get_running_loop().call_later(delay, self._resume, pane)
        self._spawn(self._pane_flow(pane, "pause"))
        self._publish(PaneOutput(pane, b"", time.monotonic(), gap=True))

    def _resume(self, pane: str) -> None:
        self._paused.pop(pane, None)
        self._printed.pop(pane, None)
        self._floods[pane] = (self._floods.get(pane, (0, 0.0))[0], time.monotonic())
        # said before any output that follows the resume: what it printed meanwhile is gone, its screen is not
        self._publish(PaneOutput(pane, b"", time.monotonic(), gap=True))
        self._spawn(self._pane_flow(pane, "continue"))

    async def _pane_flow(self, pane: str, action: Literal["pause", "continue"]) -> None:
        with contextlib.suppress(BackendError):  # the pane closed meanwhile, or the connection ended
            await self.client.command(f"refresh-client -A {quote(f'{pane}:{action}')}")

    def _on_dead_report(self, args: tuple[str, ...]) -> None:
        # %subscription-changed NAME $session @window index %pane : dead/status/signal
        try:
            pane = args[4]
            value = args[args.index(":") + 1]
        except (IndexError, ValueError):
            return
        dead, _, rest = value.partition("/")
        was_dead = self._dead.get(pane, False)
        self._dead[pane] = dead == "1"
        if dead == "1" and not was_dead:
            self._spawn(self._report_exit(pane, rest))

    async def _report_exit(self, pane: str, status_and_signal: str) -> None:
        """Publish PaneExited; tmux marks a pane dead at end of output, a moment before it reaps the child
        (and now and then never records the status: then it is None)."""
        delay = 0.02
        for _ in range(3):
            if status_and_signal.strip("/"):
                break
            await asyncio.sleep(delay)
            delay *= 2
            try:
                lines = await self.client.command(
                    f"display-message -p -t {quote(pane)} '#{{pane_dead_status}}/#{{pane_dead_signal}}'"
                )
            except BackendError:
                break
            status_and_signal = lines[0] if lines else ""
        status, _, signal = status_and_signal.partition("/")
        self._publish(
            PaneExited(
                pane,
                status=int(status) if status.isdigit() else None,
                signal=int(signal) if signal.isdigit() else None,
            )
        )

    def _spawn(self, coroutine: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _check_gone(self, candidates: list[str]) -> None:
        """Panes missing from a layout may have moved to another window: confirm they are gone."""
        if not candidates:
            return

        async def confirm() -> None:
            with contextlib.suppress(BackendError):
                alive = set(await self.client.command("list-panes -a -F '#{pane_id}'"))
                for pane in candidates:
                    if pane not in alive:
                        self._dead.pop(pane, None)
                        self._publish(PaneClosed(pane))

        self._spawn(confirm())

    # --- panes ------------------------------------------------------------------------------------------

    async def list_panes(self, all_sessions: bool = True) -> list[PaneInfo]:
        return [info for info, _, _ in await self.list_panes_detailed(all_sessions)]

    async def list_panes_detailed(self, all_sessions: bool = True) -> list[tuple[PaneInfo, str, dict[str, str]]]:
        scope = "-a" if all_sessions else f"-s -t {self._session_target}"
        lines = await self.client.command(f"list-panes {scope} -F {quote(PANE_FORMAT)}")
        return [parse_pane_line(line) for line in lines if line]

    async def pane(self, pane: str) -> PaneInfo:
        lines = await self.client.command(f"display-message -p -t {quote(pane)} {quote(PANE_FORMAT)}")
        return parse_pane_line(lines[0])[0]

    async def new_window(self, name: str, launch: Launch, hold: bool = True) -> PaneInfo:
        """A new window running `launch`. With `hold`, the pane stays when its program exits.

        A held window is made held before its program starts: a placeholder that cannot exit runs while
        the option is set, then gives way to `launch` (a program that exits at once would otherwise take
        its window with it before tmux is told to keep it).
        """
        target = f"-t {quote(f'={self.session}:')} " if self.session else ""
        start = _launch_args(Launch(command=_PLACEHOLDER, cwd=launch.cwd)) if hold else _launch_args(launch)
        lines = await self.client.command(f"new-window -d -P -F {quote(PANE_FORMAT)} {target}-n {quote(name)} " + start)
        pane = parse_pane_line(lines[0])[0]
        if not hold:
            return pane
        await self.hold_window(pane.window)
        await self.respawn_pane(pane.pane, launch)
        return await self.pane(pane.pane)

    async def split_pane(
        self, target: str, launch: Launch, direction: Literal["h", "v"] = "v", before: bool = False, hold: bool = True
    ) -> PaneInfo:
        """A new pane next to `target` (after it in pane order, or before).

        With `hold`, the pane stays when its program exits; the target's window should already be held
        (`hold_window`) so that a program that fails at once cannot take its pane with it.
        """
        flags = ("-h" if direction == "h" else "-v") + (" -b" if before else "")
        lines = await self.client.command(
            f"split-window -d -P -F {quote(PANE_FORMAT)} -t {quote(target)} {flags} " + _launch_args(launch)
        )
        pane = parse_pane_line(lines[0])[0]
        if hold:
            await self.client.command(f"set -p -t {quote(pane.pane)} remain-on-exit on")
        return pane

    async def hold_window(self, window: str) -> None:
        """Panes of `window` (and new ones split in it) stay, showing their last screen, when their program exits."""
        await self.client.command(f"set -w -t {quote(window)} remain-on-exit on")

    async def join_pane(self, pane: str, target: str, before: bool = False) -> None:
        """Move `pane` next to `target` (after it in pane order, or before with `before`)."""
        await self.client.command(f"join-pane -d {'-b ' if before else ''}-s {quote(pane)} -t {quote(target)}")

    async def spread_evenly(self, window: str) -> None:
        """Give the window's panes equal space (tiled), keeping their order."""
        await self.client.command(f"select-layout -t {quote(window)} tiled")

    async def swap_panes(self, first: str, second: str) -> None:
        await self.client.command(f"swap-pane -d -s {quote(first)} -t {quote(second)}")

    async def close_pane(self, pane: str) -> None:
        await self.client.command(f"kill-pane -t {quote(pane)}")

    async def kill_session(self, session: str | None = None) -> None:
        """Kill a session (default: this connection's, which ends the connection with it)."""
        with contextlib.suppress(BackendGone):
            await self.client.command(f"kill-session -t {quote('=' + (session or self.session or ''))}")

    async def break_pane(self, pane: str, window_name: str) -> PaneInfo:
        """Move `pane` out into a new window of its own, held (panes split in it later stay when their program
        exits)."""
        await self.client.command(f"break-pane -d -s {quote(pane)} -n {quote(window_name)}")
        info = await self.pane(pane)
        await self.hold_window(info.window)
        return info

    async def bury(self, pane: str, buried: bool = True) -> PaneInfo:
        """Buried: the pane alone in a window of its own (not selected, so nobody's view moves), marked buried and
        untagged (no plan window is it). Unburied: the mark goes; the layout then moves the pane to its place."""
        info = await self.pane(pane)
        if buried == info.buried:
            return info
        if buried:
            name = BURIED_WINDOW_PREFIX + (info.agent or pane)
            await self.client.command(f"break-pane -d -s {quote(pane)} -n {quote(name)}")
            window = quote((await self.pane(pane)).window)
            await self.client.commands(
                [
                    f"set -w -t {window} {BURIED_OPTION} 1",
                    f"set -wu -t {window} {WINDOW_OPTION}",
                    f"set -w -t {window} remain-on-exit on",
                ]
            )
        else:
            await self.client.command(f"set -wu -t {quote(info.window)} {BURIED_OPTION}")
        return await self.pane(pane)

    async def respawn_pane(self, pane: str, launch: Launch) -> None:
        self._dead.pop(pane, None)
        if not launch.command:
            # Without a command tmux runs the pane's first one again (for a held window, its placeholder).
            launch = dataclasses.replace(launch, command=await self._login_shell())
        # tmux up to 3.6 keeps its offsets into the old program's output across a respawn (tmux issue 5499): if
        # the server had not yet sent this console (a control client) all of that output, or not yet dropped it
        # from the pane's buffer (it never does once the program is dead), the server crashes at the new
        # program's first output, taking every pane with it. So, one step at a time:
        # - this console stops following the pane; the reply comes after what was queued for it (none is left);
        await self.client.command(f"refresh-client -A {quote(pane + ':off')}")
        # - a silent placeholder runs in the pane for a turn of the server's loop, which settles the offsets on
        #   its empty output;
        target = quote(pane)
        await self.client.command(f"respawn-pane -k -t {target} {quote(PLACEHOLDER)}")
        await self.client.command(f"display-message -p -t {target} ''")
        # - then the program, and the console follows the pane again in the same breath (tmux runs both lines,
        #   whether the respawn works or not): none of the new program's output is missed.
        respawn = f"respawn-pane -k -t {target} {_launch_args(launch)}"
        await self.client.commands([respawn, f"refresh-client -A {quote(pane + ':on')}"])
        self._spawn(self._recheck_dead(pane))

    async def _recheck_dead(self, pane: str) -> None:
        """A program that dies within the second after a respawn leaves `pane_dead` as the subscription last saw
        it (dead before, dead now): tmux reports no change, and the exit would never be heard of (a crash loop
        invisible). Read it once, after the subscription's next check."""
        await asyncio.sleep(DEAD_RECHECK_SECONDS)
        with contextlib.suppress(BackendError):  # closed meanwhile: its close is reported on its own
            lines = await self.client.command(f"display-message -p -t {quote(pane)} {quote(_DEAD_FORMAT)}")
            if lines and not self._dead.get(pane, False):
                self._on_dead_report(("", "", "", "", pane, ":", lines[0]))

    async def _login_shell(self) -> str:
        """The command tmux starts in a pane given none: its default shell, as a login shell."""
        if self._shell is None:
            lines = await self.client.command("show -gv default-shell")
            self._shell = f"exec {shlex.quote(lines[0] if lines and lines[0] else '/bin/sh')} -l"
        return self._shell

    async def send_text(self, pane: str, text: str) -> None:
        """Paste `text` into `pane` (bracketed, when its program asked for that): a line break in it does not
        submit it, and a control character other than a line break or a tab arrives as its visible marker."""
        buffer = f"agent-console-{secrets.token_hex(6)}"
        await self.client.commands(
            [
                f"set-buffer -b {buffer} -- {quote_text(pasteable(text))}",
                f"paste-buffer -p -d -b {buffer} -t {quote(pane)}",
            ]
        )

    async def send_keys(self, pane: str, keys: Sequence[str]) -> None:
        if keys:
            await self.client.command(f"send-keys -t {quote(pane)} {' '.join(quote(key) for key in keys)}")

    async def capture(self, pane: str, escapes: bool = False, history: int = 0) -> str:
        """The visible screen, preceded by up to `history` lines of scrollback."""
        start = f"-S -{history} " if history else ""
        lines = await self.client.command(f"capture-pane -p {'-e ' if escapes else ''}{start}-t {quote(pane)}")
        return "\n".join(lines)

    async def style_pane(self, pane: str, style: PaneStyle) -> None:
        target = quote(pane)
        commands = []
        if style.background is not None:
            value = quote("bg=default" if style.background == "default" else f"bg={style.background}")
            commands += [f"set -p -t {target} window-style {value}", f"set -p -t {target} window-active-style {value}"]
        if style.border is not None:
            # Per-pane pane-border-style does not stick in tmux 3.3; the border format reads this option.
            commands.append(f"set -p -t {target} {BORDER_OPTION} {quote(style.border)}")
        if style.title is not None:
            # the pane's own title starts as the label, so the border shows a program's title only once it sets one
            title = visible(style.title)
            commands.append(f"set -p -t {target} {LABEL_OPTION} {quote(title)}")
            commands.append(f"select-pane -t {target} -T {quote(escape_format(title))}")
        if style.badge is not None:
            commands.append(f"set -p -t {target} {BADGE_OPTION} {quote(escape_format(visible(style.badge)))}")
        await self.client.commands(commands)

    async def pulse_pane(self, pane: str, on: bool) -> None:
        """The pane's border title reversed (its colour as the background), or back as it was."""
        target = quote(pane)
        await self.client.command(
            f"set -p -t {target} {PULSE_OPTION} 1" if on else f"set -pu -t {target} {PULSE_OPTION}"
        )

    async def page(self, text: str) -> bool:
        """On every client attached to the org's session (people, not control clients like the console's own):
        `text` on its status line for `PAGE_MILLISECONDS` and its terminal's bell. tmux expands formats in a
        message, and `#(…)` there runs a shell command: every '#' of the text is doubled, so it shows as is."""
        lines = await self.client.command(f"list-clients -t {self._session_target} -F {quote(_CLIENT_FORMAT)}")
        clients = [line.split(_SEP) for line in lines if line.count(_SEP) == 2]
        people = [(name, tty) for name, tty, control in clients if control != "1"]
        message = escape_format(visible(text))
        commands = [f"display-message -d {PAGE_MILLISECONDS} -c {quote(name)} {quote(message)}" for name, _ in people]
        await self.client.commands(commands)
        for _, tty in people:
            _ring(tty)
        return bool(people)

    async def show_pane_borders(self, window: str) -> None:
        """Turn on the title line above each pane of `window` (title, team colour and badge), and focus events.

        Programs that ask for focus events (Claude Code does, and shows a hint without them) get them when a
        pane gains or loses the focus; tmux has this as a server option only.
        """
        target = quote(window)
        await self.client.commands(
            [
                f"set -w -t {target} pane-border-status top",
                f"set -w -t {target} pane-border-format {quote(BORDER_FORMAT)}",
                "set -s focus-events on",
            ]
        )

    async def select_pane(self, pane: str) -> None:
        await self.client.commands([f"select-window -t {quote(pane)}", f"select-pane -t {quote(pane)}"])

    async def set_identity(self, pane: str, org: str, agent: str, meta: dict[str, str] | None = None) -> None:
        target = quote(pane)
        commands = [
            f"set -p -t {target} {ORG_OPTION} {quote(org)}",
            f"set -p -t {target} {AGENT_OPTION} {quote(agent)}",
        ]
        for key, value in (meta or {}).items():
            commands.append(f"set -p -t {target} @agent_console_{key} {quote(value)}")
        await self.client.commands(commands)

    async def tag_window(self, window: str, org: str, index: int) -> None:
        await self.client.commands([f"set -w -t {quote(window)} {WINDOW_OPTION} {quote(f'{org}:{index}')}"])

    async def window_tags(self) -> dict[str, str]:
        """Window id → its `org:index` tag, for the windows of this session."""
        lines = await self.client.command(f"list-windows -t {self._session_target} -F {quote(_WINDOW_TAG_FORMAT)}")
        tags = {}
        for line in lines:
            window, _, tag = line.partition(_SEP)
            if tag:
                tags[window] = tag
        return tags

    async def session_option(self, name: str) -> str | None:
        lines = await self.client.command(f"show -qv -t {self._session_target + ':'} {quote(name)}")
        return "\n".join(lines) if lines else None

    async def set_session_option(self, name: str, value: str) -> None:
        await self.client.command(f"set -t {self._session_target + ':'} {quote(name)} {quote(value)}")

    async def window_size(self, window: str) -> tuple[int, int]:
        lines = await self.client.command(
            f"display-message -p -t {quote(window)} '#{{window_width}} #{{window_height}}'"
        )
        width, height = lines[0].split()
        return int(width), int(height)

    async def window_layout(self, window: str) -> str:
        return (await self.client.command(f"display-message -p -t {quote(window)} '#{{window_layout}}'"))[0]

    def state_location(self) -> dict[str, dict[str, str | None]]:
        return {"tmux": {"socket_name": self.client.socket_name, "session": self.session}}

    async def arrange(self, window: str, cells: Cell, panes: Sequence[str]) -> bool:
        """Put the window's panes in the order of `panes` (tmux assigns a layout's cells by pane order), then
        apply `cells`; True if anything changed."""
        changed = False
        current = [
            pane for pane in await self.client.command(f"list-panes -t {quote(window)} -F '#{{pane_id}}'") if pane
        ]
        for position, pane in enumerate(panes):
            if current[position] != pane:
                other = current.index(pane)
                await self.swap_panes(current[position], pane)
                current[position], current[other] = current[other], current[position]
                changed = True
        before = await self.window_layout(window)
        if before != tmux_layout(cells, layout_panes(before)):
            await self.apply_layout(window, cells)
            changed = changed or await self.window_layout(window) != before
        return changed

    async def save_arrangement(self, name: str, folder: Path) -> str:
        return await tmux_arrangement.save(self, name, folder)

    async def restore_arrangement(self, name: str, folder: Path) -> list[str]:
        return await tmux_arrangement.restore(self, name, folder)

    async def arrangement_names(self, folder: Path) -> list[str]:
        return saved_names(folder)

    async def apply_layout(self, window: str, cells: Cell) -> None:
        panes = layout_panes(await self.window_layout(window))
        layout = tmux_layout(cells, panes)
        try:
            await self.client.command(f"select-layout -t {quote(window)} {quote(layout)}")
        except TmuxCommandError as error:
            raise BackendError(f"tmux rejected the layout for window {window}: {error.tmux_message}") from None


def quote_text(value: str) -> str:
    """Quote any text (line breaks and tabs too) as one argument for tmux's command parser: double quotes,
    with the characters tmux interprets there (backslash, quote, `$`) escaped."""
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("$", "\\$")
    return '"' + escaped.replace("\n", "\\n").replace("\t", "\\t") + '"'


def _raw_launch_args(launch: Launch) -> list[str]:
    """Launch arguments for the tmux command line itself (argv, not the control-mode parser)."""
    args: list[str] = []
    if launch.cwd:
        args += ["-c", escape_format(launch.cwd)]
    for key, value in launch.env.items():
        args += ["-e", f"{key}={value}"]
    if launch.command:
        args.append(launch.command)
    return args
