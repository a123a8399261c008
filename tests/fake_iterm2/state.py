"""The fake app's model: windows, tabs, sessions, focus, broadcast domains, arrangements, variables.

Every change goes through here and is reported to a `Notifier`, which turns it into iTerm2 notifications.
"""

from __future__ import annotations

import copy
import json
import os
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol

from iterm2 import api_pb2

from .builds import CURRENT, ITerm2Build
from .command import command_argv
from .layout import SplitNode, Tab, Window, summarize
from .osc import AttentionRequest, CustomSequence, Osc1337, UserNotification, UserVariable
from .rearrange import PaneMoves
from .sessions import LaunchSpec, PtySession

DEFAULT_PROFILE_GUID = "0DEFA17F-A4E2-4D8E-9C1E-FA4E17E2D000"
SCOPE_SESSION = api_pb2.VariableScope.Value("SESSION")
SCOPE_TAB = api_pb2.VariableScope.Value("TAB")
SCOPE_WINDOW = api_pb2.VariableScope.Value("WINDOW")
SCOPE_APP = api_pb2.VariableScope.Value("APP")
_WindowStatus = api_pb2.FocusChangedNotification.Window.WindowStatus


def amended_color_key(profile: Mapping[str, Any], key: str, dark: bool = True) -> str:
    """The key a colour is read from (iTermProfilePreferences.m, `amendedColorKey:dark:profile:`)."""
    if not profile.get(SEPARATE_COLORS):
        return key
    amended = f"{key} ({'Dark' if dark else 'Light'})"
    return amended if amended in profile else key


def colour(red: float, green: float, blue: float) -> dict[str, Any]:
    """A colour as iTerm2 stores it in a profile."""
    return {
        "Red Component": red,
        "Green Component": green,
        "Blue Component": blue,
        "Alpha Component": 1,
        "Color Space": "sRGB",
    }


SEPARATE_COLORS = "Use Separate Colors for Light and Dark Mode"  # KEY_USE_SEPARATE_COLORS_FOR_LIGHT_AND_DARK_MODE
_MODE_COLORS = {  # keys with (Light) and (Dark) variants on fresh installs
    "Background Color": colour(0.0, 0.0, 0.0),
    "Foreground Color": colour(0.78, 0.78, 0.78),
    "Tab Color": colour(0.0, 0.0, 0.0),
    "Use Tab Color": False,
    "Badge Color": colour(1.0, 0.15, 0.0),
}


def default_profile() -> dict[str, Any]:
    """A fresh install's default profile: separate colours for light and dark mode, base keys kept too."""
    variants = {f"{key} ({mode})": value for key, value in _MODE_COLORS.items() for mode in ("Light", "Dark")}
    return {
        "Name": "Default",
        "Guid": DEFAULT_PROFILE_GUID,
        **_MODE_COLORS,
        **variants,
        SEPARATE_COLORS: True,
        "Badge Text": "",
        "Custom Command": "No",
        "Command": "",
        "Custom Directory": "No",
        "Working Directory": "",
        "Close Sessions On End": True,
        "Columns": 80,
        "Rows": 25,
    }


class Notifier(Protocol):
    """Where the model's changes go (the API server fans them out to subscribed clients)."""

    def new_session(self, session_id: str) -> None: ...

    def terminate_session(self, session_id: str) -> None: ...

    def layout_changed(self) -> None: ...

    def focus_changed(self, event: api_pb2.FocusChangedNotification) -> None: ...

    def broadcast_changed(self) -> None: ...

    def custom_escape(self, session_id: str, identity: str, payload: str) -> None: ...

    def screen_changed(self, session_id: str) -> None: ...

    def variable_changed(self, scope: int, identifier: str, name: str, value: Any) -> None: ...

    def keystroke(self, notification: api_pb2.KeystrokeNotification) -> None: ...

    def wants_variables(self) -> bool: ...

    def changed(self) -> None: ...


class RequestFailed(Exception):
    """An operation failed with the status the matching iTerm2 response carries."""

    def __init__(self, status: str) -> None:
        super().__init__(status)
        self.status = status


@dataclass(frozen=True)
class SessionPlan:
    """A session to recreate from a saved arrangement."""

    profile: dict[str, Any]
    launch: LaunchSpec


class FakeApp(PaneMoves):
    """The state behind the API: iTerm2's windows → tabs → split panes, each pane a real pty session."""

    def __init__(
        self,
        notifier: Notifier,
        *,
        window_size: tuple[int, int],
        default_command: Sequence[str] | None,
        profiles: Mapping[str, Mapping[str, Any]],
        env: Mapping[str, str],
        build: ITerm2Build = CURRENT,
        pid_delay: float = 0.0,
        min_pane_size: tuple[int, int] = (2, 2),
    ) -> None:
        self.notifier = notifier
        self.build = build
        self.pid_delay = pid_delay
        self.min_pane_size = min_pane_size
        self.window_size = window_size
        self.default_command = list(default_command) if default_command else None
        base = {**default_profile(), **profiles.get("Default", {})}
        self.profiles: dict[str, dict[str, Any]] = {"Default": base}
        for name, values in profiles.items():
            if name != "Default":
                guid = str(uuid.uuid4()).upper()
                self.profiles[name] = {**copy.deepcopy(base), "Guid": guid, **values, "Name": name}
        self.default_profile_name = "Default"
        self.env = dict(env)
        self.windows: list[Window] = []
        self.sessions: dict[str, PtySession] = {}
        self.buried: list[str] = []
        # A buried session's window, tab, tab-mates and split direction: where disinterring puts it back.
        self.burial_places: dict[str, tuple[str, str, list[str], bool]] = {}
        self.retired: list[PtySession] = []
        self.current_window_id: str | None = None
        self.broadcast_domains: list[list[str]] = []
        self.arrangements: dict[str, list[dict[str, Any]]] = {}
        self.preferences: dict[str, Any] = {}
        self.app_user_vars: dict[str, Any] = {}
        # What sessions' programs asked of the app, as (session id, value): dock bounces and notifications
        self.attention_requests: list[tuple[str, str]] = []
        self.notifications: list[tuple[str, str]] = []
        self._next_tab_id = 1
        self._reported_vars: dict[str, dict[str, Any]] = {}
        self.application_active = True
        self.former_ids: dict[str, str] = {}  # a relaunched session's old id → its new one

    # --- lookups ----------------------------------------------------------------------------------------

    def session(self, session_id: str) -> PtySession:
        try:
            return self.sessions[session_id]
        except KeyError:
            raise RequestFailed("SESSION_NOT_FOUND") from None

    def find_session(self, session_id: str) -> tuple[Window | None, Tab | None, PtySession]:
        session = self.session(session_id)
        for window in self.windows:
            for tab in window.tabs:
                if tab.contains(session_id):
                    return window, tab, session
        return None, None, session

    def find_tab(self, tab_id: str) -> tuple[Window, Tab] | None:
        for window in self.windows:
            for tab in window.tabs:
                if tab.tab_id == tab_id:
                    return window, tab
        return None

    def find_window(self, window_id: str) -> Window | None:
        return next((window for window in self.windows if window.window_id == window_id), None)

    @property
    def current_window(self) -> Window | None:
        return self.find_window(self.current_window_id) if self.current_window_id else None

    def active_session_id(self) -> str | None:
        """The session keyboard input goes to: the key window's selected tab's active pane."""
        window = self.current_window
        tab = window.selected_tab if window else None
        return tab.active_session_id if tab else None

    def session_ids(self) -> list[str]:
        """Sessions in layout order (window, tab, pane), then buried ones."""
        ordered = [pane.session_id for window in self.windows for tab in window.tabs for pane in tab.panes()]
        return ordered + list(self.buried)

    # --- creating sessions ------------------------------------------------------------------------------

    def _profile_for(self, profile_name: str | None, customizations: Iterable[tuple[str, str]]) -> dict[str, Any]:
        name = profile_name or self.default_profile_name
        if name not in self.profiles:
            raise RequestFailed("INVALID_PROFILE_NAME")
        profile = copy.deepcopy(self.profiles[name])
        for key, json_value in customizations:
            try:
                profile[key] = json.loads(json_value)
            except ValueError:
                raise RequestFailed("MALFORMED_CUSTOM_PROFILE_PROPERTY") from None
        return profile

    def _launch_for(
        self,
        profile: Mapping[str, Any],
        parent: PtySession | None,
        extra_env: Mapping[str, str] | None = None,
        argv: Sequence[str] | None = None,
    ) -> LaunchSpec:
        """The command and directory a profile asks for, as iTerm2 resolves them (a test may give argv)."""
        mode, command = profile.get("Custom Command"), profile.get("Command") or ""
        custom = command_argv(command) if mode == "Yes" and command.strip() else None
        if argv is not None:
            argv = list(argv)
        elif custom is not None:
            argv = custom
        elif mode == "Custom Shell" and command.strip():
            argv = [command]
        else:
            argv = self.default_command or [os.environ.get("SHELL") or "/bin/bash"]
        home = os.environ.get("HOME") or "/"
        directory_mode = profile.get("Custom Directory")
        if directory_mode == "Yes":
            cwd = profile.get("Working Directory") or home
        elif directory_mode == "Recycle" and parent is not None:
            cwd = parent.builtin_variables()["path"]
        else:
            cwd = home
        if not os.path.isdir(cwd):
            cwd = home
        env = {
            **self.env,
            "TERM": "xterm-256color",
            "COLORTERM": "truecolor",
            "TERM_PROGRAM": "iTerm.app",
            "TERM_PROGRAM_VERSION": "3.6.0",
            "LC_TERMINAL": "iTerm2",
            "LC_TERMINAL_VERSION": "3.6.0",
            "ITERM_PROFILE": str(profile.get("Name", "Default")),
            "PWD": cwd,
            **(extra_env or {}),
        }
        return LaunchSpec(argv=argv, cwd=cwd, env=env)

    def _new_session(self, profile: dict[str, Any], launch: LaunchSpec) -> PtySession:
        columns, rows = self.window_size
        session_id = str(uuid.uuid4()).upper()
        session = PtySession(session_id, "", launch, columns, rows, profile, self, self.pid_delay)
        self.sessions[session_id] = session
        return session

    def _start(self, session: PtySession) -> None:
        """Start a session already placed in the layout (its termid is known then)."""
        session.termid = self._termid(session.session_id)
        termid = f"{session.termid}:{session.session_id}"
        env = {**session.launch.env, "ITERM_SESSION_ID": termid, "TERM_SESSION_ID": termid}
        session.launch = replace(session.launch, env=env)
        session.start()
        # What variable monitors see as changed is measured from here.
        self._reported_vars[session.session_id] = session.variables()

    def _termid(self, session_id: str) -> str:
        """`w<window number>t<tab index>p<pane index>`, as in ITERM_SESSION_ID."""
        for window in self.windows:
            for t, tab in enumerate(window.tabs):
                for p, pane in enumerate(tab.panes()):
                    if pane.session_id == session_id:
                        return f"w{window.number}t{t}p{p}"
        return "w0t0p0"

    def _new_tab(self, root: SplitNode) -> Tab:
        tab = Tab(tab_id=str(self._next_tab_id), root=root)
        self._next_tab_id += 1
        return tab

    def _show_tab(self, window: Window, tab: Tab, select: bool) -> None:
        """Focus a tab just added (notifying), or only give it an active pane."""
        first = tab.panes()[0].session_id
        if select:
            self._focus(window, tab, first)
        if tab.active_session_id is None:
            tab.active_session_id = first

    def create_tab(
        self,
        window_id: str | None,
        profile_name: str | None,
        customizations: Sequence[tuple[str, str]],
        index: int | None = None,
        select: bool = True,
        extra_env: Mapping[str, str] | None = None,
        argv: Sequence[str] | None = None,
    ) -> tuple[Window, Tab, PtySession]:
        """A new tab in a window, or a new window when `window_id` is None."""
        window = None
        if window_id:
            window = self.find_window(window_id)
            if window is None:
                raise RequestFailed("INVALID_WINDOW_ID")
            if index is not None and not 0 <= index <= len(window.tabs):
                raise RequestFailed("INVALID_TAB_INDEX")
        profile = self._profile_for(profile_name, customizations)
        session = self._new_session(profile, self._launch_for(profile, None, extra_env, argv))
        tab = self._new_tab(SplitNode(False, [session]))
        if window is None or not self.build.honours_select_tab:
            select = True
        if window is None:
            window = self._add_window()
        window.tabs.insert(len(window.tabs) if index is None else index, tab)
        window.layout()
        self._start(session)
        self.notifier.new_session(session.session_id)
        self.notifier.layout_changed()
        self._show_tab(window, tab, select)
        self.notifier.changed()
        return window, tab, session

    def _add_window(self) -> Window:
        columns, rows = self.window_size
        # iTerm2 numbers windows from 0 and reuses the lowest free number.
        taken = {window.number for window in self.windows}
        number = next(n for n in range(len(taken) + 1) if n not in taken)
        window = Window(number=number, columns=columns, rows=rows)
        self.windows.append(window)
        return window

    def split(
        self,
        session_id: str,
        vertical: bool,
        before: bool,
        profile_name: str | None,
        customizations: Sequence[tuple[str, str]],
        extra_env: Mapping[str, str] | None = None,
        argv: Sequence[str] | None = None,
    ) -> PtySession:
        window, tab, parent = self.find_session(session_id)
        if window is None or tab is None:
            raise RequestFailed("CANNOT_SPLIT")  # a buried session has no pane to split
        if not self._can_split(window, vertical):
            raise RequestFailed("CANNOT_SPLIT")
        profile = self._profile_for(profile_name, customizations)
        session = self._new_session(profile, self._launch_for(profile, parent, extra_env, argv))
        # Only a split of the active pane of its window's current tab moves the focus, to the new pane
        # (PseudoTerminal.m, `splitVertically:before:addingSession:targetSession:performSetup:`).
        takes_focus = window.selected_tab is tab and tab.active_session_id == session_id
        tab.split(session_id, session, vertical, before)
        tab.layout(window.columns, window.rows)
        self._start(session)
        self.notifier.new_session(session.session_id)
        self.notifier.layout_changed()
        if takes_focus:
            self._focus(window, tab, session.session_id, front=False)
        self._report_sizes(tab)
        self.notifier.changed()
        return session

    def _can_split(self, window: Window, vertical: bool) -> bool:
        """iTerm2 asks whether the active pane of the window's current tab, not the target, is still at least
        the minimum size (PseudoTerminal.m, `canSplitPaneVertically:withBookmark:`; PTYTab.m,
        `canSplitVertically:withSize:`): a squeezed pane that has the focus refuses every split."""
        tab = window.selected_tab
        active = self.sessions.get(tab.active_session_id or "") if tab else None
        if active is None:
            return True
        columns, rows = self.min_pane_size
        return active.columns >= columns if vertical else active.rows >= rows

    # --- focus ------------------------------------------------------------------------------------------

    def _focus(
        self,
        window: Window | None,
        tab: Tab | None,
        session_id: str | None,
        *,
        front: bool = True,
        select_tab: bool = True,
    ) -> None:
        """Move focus, notifying each level that changed: the key window, its selected tab, the tab's pane."""
        if window is not None and front and self.current_window_id != window.window_id:
            previous = self.current_window_id
            self.current_window_id = window.window_id
            if previous is not None and self.find_window(previous):
                self.notifier.focus_changed(_window_focus(previous, "TERMINAL_WINDOW_RESIGNED_KEY"))
            self.notifier.focus_changed(_window_focus(window.window_id, "TERMINAL_WINDOW_BECAME_KEY"))
        if select_tab and window is not None and tab is not None and window.selected_tab_id != tab.tab_id:
            window.selected_tab_id = tab.tab_id
            self.notifier.focus_changed(api_pb2.FocusChangedNotification(selected_tab=tab.tab_id))
        if tab is not None and session_id is not None and tab.active_session_id != session_id:
            tab.active_session_id = session_id
            self.notifier.focus_changed(api_pb2.FocusChangedNotification(session=session_id))

    def focus_session(self, session_id: str) -> None:
        """What a click in the pane does: its window to the front, its tab selected, it active."""
        window, tab, _ = self.find_session(session_id)
        if window is None:
            raise RequestFailed("SESSION_NOT_FOUND")
        self._focus(window, tab, session_id)
        self.notifier.changed()

    def activate(self, request: api_pb2.ActivateRequest) -> None:
        target = request.WhichOneof("identifier")
        if target == "session_id":
            window, tab, _ = self.find_session(request.session_id)
            if window is None:
                raise RequestFailed("BAD_IDENTIFIER")
            self._focus(
                window,
                tab,
                request.session_id if request.select_session else None,
                front=request.order_window_front,
                select_tab=request.select_tab,
            )
        elif target == "tab_id":
            found = self.find_tab(request.tab_id)
            if found is None:
                raise RequestFailed("BAD_IDENTIFIER")
            window, tab = found
            self._focus(window, tab, None, front=request.order_window_front, select_tab=request.select_tab)
        elif target == "window_id":
            window = self.find_window(request.window_id)
            if window is None:
                raise RequestFailed("BAD_IDENTIFIER")
            self._focus(window, None, None, front=request.order_window_front)
        self.notifier.changed()

    def focus_events(self) -> list[api_pb2.FocusChangedNotification]:
        """The full focus picture, as FocusResponse reports it."""
        events = [api_pb2.FocusChangedNotification(application_active=self.application_active)]
        if self.current_window_id:
            events.append(_window_focus(self.current_window_id, "TERMINAL_WINDOW_BECAME_KEY"))
        for window in self.windows:
            if window.selected_tab_id:
                events.append(api_pb2.FocusChangedNotification(selected_tab=window.selected_tab_id))
            for tab in window.tabs:
                if tab.active_session_id:
                    events.append(api_pb2.FocusChangedNotification(session=tab.active_session_id))
        return events

    # --- removing sessions ------------------------------------------------------------------------------

    def _detach(self, session_id: str) -> None:
        """Take a session out of the layout (or the buried list), fixing focus and empty tabs/windows."""
        if session_id in self.buried:
            self.buried.remove(session_id)
            return
        for window in list(self.windows):
            for tab in list(window.tabs):
                if not tab.contains(session_id):
                    continue
                was_active = tab.active_session_id == session_id
                if not tab.remove(session_id):
                    tab.layout(window.columns, window.rows)
                    if was_active and tab.active_session_id:
                        self.notifier.focus_changed(api_pb2.FocusChangedNotification(session=tab.active_session_id))
                    self._report_sizes(tab)
                    return
                position = window.tabs.index(tab)
                window.tabs.remove(tab)
                if not window.tabs:
                    self.windows.remove(window)
                    if self.current_window_id == window.window_id:
                        self.current_window_id = None
                        if self.windows:
                            last = self.windows[-1]
                            self._focus(last, last.selected_tab, None)
                elif window.selected_tab_id == tab.tab_id:
                    neighbour = window.tabs[min(position, len(window.tabs) - 1)]
                    self._focus(window, neighbour, None, front=False)
                return

    def _drop_from_domains(self, session_id: str) -> None:
        domains = [[sid for sid in domain if sid != session_id] for domain in self.broadcast_domains]
        domains = [domain for domain in domains if len(domain) > 1]
        if domains != self.broadcast_domains:
            self.broadcast_domains = domains
            self.notifier.broadcast_changed()

    def close_session(self, session_id: str) -> None:
        """Close a pane: hang up its process and remove it (as the user closing it)."""
        session = self.session(session_id)
        self._detach(session_id)
        del self.sessions[session_id]
        self._reported_vars.pop(session_id, None)
        session.close()
        self.retired.append(session)
        self._drop_from_domains(session_id)
        self.notifier.terminate_session(session_id)
        self.notifier.layout_changed()
        self.notifier.changed()

    def close_tab(self, tab_id: str) -> None:
        found = self.find_tab(tab_id)
        if found is None:
            raise RequestFailed("NOT_FOUND")
        for pane in found[1].panes():
            self.close_session(pane.session_id)

    def close_window(self, window_id: str) -> None:
        window = self.find_window(window_id)
        if window is None:
            raise RequestFailed("NOT_FOUND")
        for tab in list(window.tabs):
            self.close_tab(tab.tab_id)

    # --- SessionEvents ----------------------------------------------------------------------------------

    def session_output(self, session: PtySession) -> None:
        # A buried session's screen changes are not posted: PTYSession.m `bury` detaches its text view, whose
        # `textViewDidFindDirtyRects` is what posts screen updates to the API.
        if session.session_id not in self.buried:
            self.notifier.screen_changed(session.session_id)
        self.notifier.changed()

    def session_sequence(self, session: PtySession, sequence: Osc1337) -> None:
        if isinstance(sequence, CustomSequence):
            self.notifier.custom_escape(session.session_id, sequence.identity, sequence.payload)
        elif isinstance(sequence, UserVariable):
            self.set_session_variable(session, f"user.{sequence.name}", sequence.value)
        elif isinstance(sequence, AttentionRequest):
            self.attention_requests.append((session.session_id, sequence.value))
        elif isinstance(sequence, UserNotification):
            self.notifications.append((session.session_id, sequence.message))

    def session_exited(self, session: PtySession) -> None:
        """The end of a session's program is TERMINATE_SESSION, whether its pane closes or stays
        (PTYSession.m, `brokenPipeWithError:` → `cleanUpAfterBrokenPipe`); `pid` keeps its last value."""
        if session.session_id not in self.sessions:
            return
        if session.should_restart:
            self.notifier.terminate_session(session.session_id)
            self._relaunch(session)
        elif _closes_on_end(session):
            self.close_session(session.session_id)
        else:
            self.notifier.terminate_session(session.session_id)
            self.check_variables(session)
            self.notifier.changed()

    def session_pid_known(self, session: PtySession) -> None:
        self.check_variables(session)
        self.notifier.changed()

    # --- restart, bury, input ---------------------------------------------------------------------------

    def restart(self, session_id: str, only_if_exited: bool) -> None:
        """Run the command the session was launched with again, in the same pane, as a session with a new id.

        An ended session is relaunched at once; a running one is killed and the reply goes out now: its
        TERMINATE and the new id follow when the kill lands (PTYSession.m, `restartSession`, `brokenPipe`,
        `replaceTerminatedShellWithNewInstance`, which sets a new guid; no NEW_SESSION, no layout change)."""
        session = self.session(session_id)
        if only_if_exited and session.alive:
            raise RequestFailed("SESSION_NOT_RESTARTABLE")
        if session.alive:
            session.should_restart = True
            session.kill()
            return
        self._relaunch(session)

    def _relaunch(self, session: PtySession) -> None:
        session.should_restart = False
        self._give_new_id(session)
        session.relaunch()
        self._reported_vars[session.session_id] = session.variables()
        self.notifier.changed()

    def _give_new_id(self, session: PtySession) -> None:
        """A relaunched session has a new guid (its API id) in the same pane (PTYSession.m, `setGuid:`)."""
        old, new = session.session_id, str(uuid.uuid4()).upper()
        session.session_id = new
        self.sessions = {new if sid == old else sid: s for sid, s in self.sessions.items()}
        self.buried = [new if sid == old else sid for sid in self.buried]
        self.broadcast_domains = [[new if sid == old else sid for sid in domain] for domain in self.broadcast_domains]
        for window in self.windows:
            for tab in window.tabs:
                if tab.active_session_id == old:
                    tab.active_session_id = new
                if old in tab.geometry:
                    tab.geometry[new] = tab.geometry.pop(old)
        self._reported_vars.pop(old, None)
        self.former_ids[old] = new
        termid = f"{session.termid}:{new}"
        env = {**session.launch.env, "ITERM_SESSION_ID": termid, "TERM_SESSION_ID": termid}
        session.launch = replace(session.launch, env=env)

    def set_buried(self, session_id: str, buried: bool) -> None:
        """Bury or disinter a session, as iTerm2's API does (iTermAPIHelper.m, the `setBuried` block of
        `setSessionProperty`): asking for the state it is in already is OK and does nothing; burying takes
        it out of its tab (PTYSession `bury`); disinterring (iTermBuriedSessions.m,
        `restoreSession:withRestorableSession:`) puts it back in the tab it was buried from when that tab still
        exists, else in a new tab of its window, else in a new window."""
        session = self.session(session_id)
        if buried == (session_id in self.buried):
            return
        if buried:
            window, tab, _ = self.find_session(session_id)
            if window is not None and tab is not None:
                found = tab.root.find_parent(session_id)
                neighbours = [pane.session_id for pane in tab.panes() if pane.session_id != session_id]
                vertical = found[0].vertical if found else False
                self.burial_places[session_id] = (window.window_id, tab.tab_id, neighbours, vertical)
            self._detach(session_id)
            self.buried.append(session_id)
            self.notifier.layout_changed()
            self.notifier.changed()
            return
        self.buried.remove(session_id)
        window_id, tab_id, neighbours, vertical = self.burial_places.pop(session_id, (None, None, [], False))
        place = self.find_tab(tab_id) if tab_id else None
        anchor = next((sid for sid in neighbours if place and place[1].contains(sid)), None)
        if place is not None and anchor is not None:
            # The arrangement iTerm2 recreates the tab with is approximated: next to a pane it was beside.
            window, tab = place
            tab.split(anchor, session, vertical, before=False)
            tab.layout(window.columns, window.rows)
            self.notifier.layout_changed()
            self._report_sizes(tab)
        else:
            window = (
                (self.find_window(window_id) if window_id else None)
                or self.current_window
                or (self.windows[-1] if self.windows else None)
                or self._add_window()
            )
            tab = self._new_tab(SplitNode(False, [session]))
            window.tabs.append(tab)
            tab.layout(window.columns, window.rows)
            self.notifier.layout_changed()
            self._show_tab(window, tab, True)
        self.notifier.changed()

    def _broadcast_targets(self, session_id: str, suppress: bool) -> list[str]:
        if not suppress:
            for domain in self.broadcast_domains:
                if session_id in domain:
                    return list(domain)
        return [session_id]

    def send_text(self, session_id: str, text: str, suppress_broadcast: bool) -> None:
        self.session(session_id)
        for target in self._broadcast_targets(session_id, suppress_broadcast):
            self.sessions[target].send_input(text.encode())

    def type_keys(self, session_id: str, keys: Iterable[tuple[bytes, api_pb2.KeystrokeNotification, bool]]) -> None:
        """A human typing: a keystroke notification per key; keys no filter took go in, broadcast like input."""
        self.session(session_id)
        typed = b""
        for data, note, filtered in keys:
            self.notifier.keystroke(note)
            if not filtered:
                typed += data
        if typed:
            for target in self._broadcast_targets(session_id, False):
                self.sessions[target].send_input(typed)

    def set_broadcast_domains(self, domains: Sequence[Sequence[str]]) -> None:
        seen: set[str] = set()
        cleaned: list[list[str]] = []
        for domain in domains:
            windows = set()
            for session_id in domain:
                window, _, _ = self.find_session(session_id)
                if session_id in seen:
                    raise RequestFailed("BROADCAST_DOMAINS_NOT_DISJOINT")
                seen.add(session_id)
                windows.add(window.window_id if window else None)
            if len(windows) > 1 or None in windows:
                raise RequestFailed("SESSIONS_NOT_IN_SAME_WINDOW")
            if domain:
                cleaned.append(list(domain))
        self.broadcast_domains = cleaned
        self.notifier.broadcast_changed()
        self.notifier.changed()

    # --- sizes ------------------------------------------------------------------------------------------

    def _report_sizes(self, tab: Tab) -> None:
        for pane in tab.panes():
            session = self.sessions.get(pane.session_id)
            if session is not None:
                self.check_variables(session)

    def resize_window(self, window: Window, columns: int, rows: int) -> None:
        window.columns, window.rows = max(1, columns), max(1, rows)
        window.layout()
        for tab in window.tabs:
            self._report_sizes(tab)
        self.notifier.layout_changed()
        self.notifier.changed()

    def set_tab_layout(self, tab_id: str, root: api_pb2.SplitTreeNode) -> None:
        found = self.find_tab(tab_id)
        if found is None:
            raise RequestFailed("BAD_TAB_ID")
        window, tab = found
        if not tab.set_preferred_sizes(root):
            raise RequestFailed("WRONG_TREE")
        tab.layout(window.columns, window.rows)
        self._report_sizes(tab)
        self.notifier.layout_changed()
        self.notifier.changed()

    # --- variables --------------------------------------------------------------------------------------

    def set_session_variable(self, session: PtySession, name: str, value: Any) -> None:
        name = name.removeprefix("session.")
        if not name.startswith("user."):
            raise RequestFailed("INVALID_NAME")
        session.user_vars[name[5:]] = value
        self.check_variables(session, force={name})
        self.notifier.changed()

    def check_variables(self, session: PtySession, force: frozenset[str] | set[str] = frozenset()) -> None:
        """Notify monitors of every session variable whose value changed since the last check."""
        if not self.notifier.wants_variables() and not force:
            return
        current = session.variables()
        before = self._reported_vars.get(session.session_id, current)
        self._reported_vars[session.session_id] = current
        for name, value in current.items():
            if name in force or before.get(name) != value:
                self.notifier.variable_changed(SCOPE_SESSION, session.session_id, name, value)

    def get_variables(self, scope: str, identifier: str, names: Sequence[str]) -> list[Any]:
        values = self._scope_values(scope, identifier)
        return [values.get(name.removeprefix("session.") if scope == "session_id" else name) for name in names]

    def _scope_values(self, scope: str, identifier: str) -> dict[str, Any]:
        if scope == "session_id":
            return self.session(identifier).variables()
        if scope == "tab_id":
            found = self.find_tab(identifier)
            if found is None:
                raise RequestFailed("TAB_NOT_FOUND")
            window, tab = found
            values = {"id": tab.tab_id, "title": tab.title, "window": window.window_id}
            values["currentSession"] = tab.active_session_id
            return values | {f"user.{k}": v for k, v in tab.user_vars.items()}
        if scope == "window_id":
            window = self.find_window(identifier)
            if window is None:
                raise RequestFailed("WINDOW_NOT_FOUND")
            values = {"id": window.window_id, "number": window.number, "title": window.title}
            values["currentTab"] = window.selected_tab_id
            return values | {f"user.{k}": v for k, v in window.user_vars.items()}
        values = {"pid": os.getpid(), "effectiveTheme": "dark", "localhostName": os.uname().nodename}
        return values | {f"user.{k}": v for k, v in self.app_user_vars.items()}

    def set_variables(self, scope: str, identifier: str, assignments: Sequence[tuple[str, Any]]) -> None:
        for name, _ in assignments:
            if not name.removeprefix("session.").startswith("user."):
                raise RequestFailed("INVALID_NAME")
        if scope == "session_id":
            session = self.session(identifier)
            for name, value in assignments:
                self.set_session_variable(session, name, value)
            return
        if scope == "tab_id":
            found = self.find_tab(identifier)
            if found is None:
                raise RequestFailed("TAB_NOT_FOUND")
            store, scope_value, ident = found[1].user_vars, SCOPE_TAB, identifier
        elif scope == "window_id":
            window = self.find_window(identifier)
            if window is None:
                raise RequestFailed("WINDOW_NOT_FOUND")
            store, scope_value, ident = window.user_vars, SCOPE_WINDOW, identifier
        else:
            store, scope_value, ident = self.app_user_vars, SCOPE_APP, ""
        for name, value in assignments:
            store[name[5:]] = value
            self.notifier.variable_changed(scope_value, ident, name, value)
        self.notifier.changed()

    def rename_session(self, session_id: str, name: str) -> None:
        session = self.session(session_id)
        session.explicit_name = name or None
        self.check_variables(session)
        self.notifier.changed()

    # --- profiles ---------------------------------------------------------------------------------------

    def set_profile_properties(self, session_id: str, assignments: Sequence[tuple[str, str]]) -> None:
        session = self.session(session_id)
        decoded = []
        for key, json_value in assignments:
            try:
                decoded.append((key, json.loads(json_value)))
            except ValueError:
                raise RequestFailed("REQUEST_MALFORMED") from None
        for key, value in decoded:
            session.profile[key] = value
            session.profile_writes.append((key, value))
        self.notifier.changed()

    def set_shared_profile_properties(self, guids: Sequence[str], assignments: Sequence[tuple[str, str]]) -> None:
        by_guid = {profile["Guid"]: profile for profile in self.profiles.values()}
        if any(guid not in by_guid for guid in guids):
            raise RequestFailed("BAD_GUID")
        for guid in guids:
            for key, json_value in assignments:
                by_guid[guid][key] = json.loads(json_value)

    # --- arrangements -----------------------------------------------------------------------------------

    def save_arrangement(self, name: str, window_id: str | None) -> None:
        windows = self.windows
        if window_id:
            window = self.find_window(window_id)
            if window is None:
                raise RequestFailed("WINDOW_NOT_FOUND")
            windows = [window]
        self.arrangements[name] = [
            {"columns": w.columns, "rows": w.rows, "tabs": [self._snapshot(tab.root) for tab in w.tabs]}
            for w in windows
        ]

    def _snapshot(self, node: SplitNode) -> dict[str, Any]:
        children = []
        for child in node.children:
            if isinstance(child, SplitNode):
                children.append(self._snapshot(child))
            else:
                session = self.sessions[child.session_id]
                children.append({"session": SessionPlan(copy.deepcopy(session.profile), session.launch)})
        return {"vertical": node.vertical, "children": children}

    def restore_arrangement(self, name: str, window_id: str | None) -> None:
        """iTermAPIHelper.m `-restoreArrangementNamed:windowID:handler:` looks the window up first, then
        `loadWindowArrangementWithName:asTabsInTerminal:` fails for an unknown name."""
        target = None
        if window_id:
            target = self.find_window(window_id)
            if target is None:
                raise RequestFailed("WINDOW_NOT_FOUND")
        if name not in self.arrangements:
            raise RequestFailed("ARRANGEMENT_NOT_FOUND")
        for saved in self.arrangements[name]:
            window = target or self._add_window()
            if target is None:
                window.columns, window.rows = saved["columns"], saved["rows"]
            created: list[PtySession] = []
            tabs = [self._new_tab(self._rebuild(tree, created)) for tree in saved["tabs"]]
            window.tabs.extend(tabs)
            window.layout()
            for session in created:
                self._start(session)
                self.notifier.new_session(session.session_id)
            self.notifier.layout_changed()
            for tab in tabs:
                self._show_tab(window, tab, tab is tabs[-1])
        self.notifier.changed()

    def _rebuild(self, tree: dict[str, Any], created: list[PtySession]) -> SplitNode:
        node = SplitNode(tree["vertical"])
        for child in tree["children"]:
            if "session" in child:
                plan: SessionPlan = child["session"]
                env = {k: v for k, v in plan.launch.env.items() if k not in ("ITERM_SESSION_ID", "TERM_SESSION_ID")}
                session = self._new_session(copy.deepcopy(plan.profile), replace(plan.launch, env=env))
                created.append(session)
                node.children.append(session)
            else:
                node.children.append(self._rebuild(child, created))
        return node

    # --- protobufs --------------------------------------------------------------------------------------

    def list_sessions(self, out: api_pb2.ListSessionsResponse) -> None:
        for window in self.windows:
            window.to_proto(out.windows.add())
        for session_id in self.buried:
            summarize(self.sessions[session_id], None, out.buried_sessions.add())

    # --- shutdown ---------------------------------------------------------------------------------------

    async def terminate_all(self) -> None:
        """Kill every process any session ever started."""
        for session in [*self.sessions.values(), *self.retired]:
            await session.terminate()
        self.sessions.clear()
        self.retired.clear()
        self.windows.clear()
        self.buried.clear()


def _closes_on_end(session: PtySession) -> bool:
    """The profile's "Close Sessions On End": yes, no, or (2) only after a clean exit."""
    setting = session.profile.get("Close Sessions On End", True)
    if not isinstance(setting, bool) and setting == 2:
        return session.exit_status == 0
    return bool(setting)


def _window_focus(window_id: str, status: str) -> api_pb2.FocusChangedNotification:
    event = api_pb2.FocusChangedNotification()
    event.window.window_id = window_id
    event.window.window_status = _WindowStatus.Value(status)
    return event
