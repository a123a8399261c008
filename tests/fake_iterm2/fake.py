"""`FakeITerm2`: the fake app and its API server, plus what a test does as the human at the keyboard."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import secrets
import shlex
import signal
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import iterm2
from iterm2 import api_pb2

from .builds import BUILDS
from .client import iterm2_connection, reset_iterm2_library_state
from .dispatch import RequestDispatcher
from .keys import keystrokes
from .server import ApiServer
from .sessions import PtySession
from .state import FakeApp, amended_color_key

SOCKET_PATH_LIMIT = 107  # sun_path holds 108 bytes with the terminating NUL
PID_DELAY = 0.3  # iTerm2 learns a session's pid from its job poller, some time after the session starts
MIN_PANE_SIZE = (2, 2)  # kVT100ScreenMinColumns, kVT100ScreenMinRows (VT100Screen.m)
_OSASCRIPT = """#!{python}
import socket, sys
script = sys.stdin.read()
if "is running" in script:
    print("yes")
else:
    with socket.socket(socket.AF_UNIX) as link:
        link.connect({socket!r})
        print(link.makefile().readline().strip())
"""
_T = TypeVar("_T")


def socket_path_for(home: Path) -> Path:
    """Where the `iterm2` library looks for the API socket."""
    suite = os.environ.get("IT2_SUITE", "iTerm2")
    return home / "Library" / "Application Support" / suite / "private" / "socket"


def _command_customizations(command: str | None, cwd: str | os.PathLike[str] | None) -> list:
    customizations = []
    if command is not None:
        customizations += [("Custom Command", json.dumps("Yes")), ("Command", json.dumps(command))]
    if cwd is not None:
        customizations += [("Custom Directory", json.dumps("Yes")), ("Working Directory", json.dumps(str(cwd)))]
    return customizations


def _argv(command: str | Sequence[str] | None) -> list[str] | None:
    """A test's command given as argv runs as it is; a string goes through iTerm2's command grammar."""
    return None if command is None or isinstance(command, str) else list(command)


class FakeITerm2:
    """A stand-in for iTerm2 that the real `iterm2` library talks to, with real processes in real ptys.

    Start it under a HOME (the library finds the socket there); a client must send a cookie the fake handed
    out (`cookie`, as ITERM2_COOKIE; `mint_cookie()`; or its osascript stand-in), each good for one connection.
    `build` is "current" or "3.6.11" (see builds.py). `default_command` replaces the user's shell in new
    sessions; `profiles` adds named profiles or overrides "Default" keys (e.g. {"Default": {"Close Sessions
    On End": False}}). A session's `pid` variable appears `pid_delay` seconds after it starts. A split is
    refused while the current tab's active pane is smaller than `min_pane_size` (columns, rows).
    """

    def __init__(
        self,
        home: str | os.PathLike[str] | None = None,
        *,
        build: str = "current",
        key: str | None = None,
        window_size: tuple[int, int] = (160, 48),
        default_command: str | Sequence[str] | None = None,
        profiles: Mapping[str, Mapping[str, Any]] | None = None,
        env: Mapping[str, str] | None = None,
        pid_delay: float = PID_DELAY,
        min_pane_size: tuple[int, int] = MIN_PANE_SIZE,
    ) -> None:
        self.home = Path(home if home is not None else os.environ["HOME"])
        self.socket_path = socket_path_for(self.home)
        if len(os.fsencode(self.socket_path)) > SOCKET_PATH_LIMIT:
            raise ValueError(
                f"the iTerm2 API socket path is {len(os.fsencode(self.socket_path))} bytes, over the unix socket "
                f"limit of {SOCKET_PATH_LIMIT}: use a shorter HOME than {self.home}"
            )
        self.build = BUILDS[build]
        self.key = key or str(uuid.uuid4())
        self._changed = asyncio.Event()
        self.server = ApiServer(self.socket_path, set(), self.build.protocol_version, self._changed.set)
        self.cookie = self.mint_cookie()  # what a script iTerm2 starts finds in ITERM2_COOKIE
        self.cookie_requests = 0
        self.cookie_dialog = 0.0  # seconds osascript waits, as while the user reads iTerm2's permission dialog
        self._osascript_server: asyncio.Server | None = None
        command = shlex.split(default_command) if isinstance(default_command, str) else default_command
        self.app = FakeApp(
            self.server,
            window_size=window_size,
            default_command=command,
            profiles=profiles or {},
            env=env or {},
            build=self.build,
            pid_delay=pid_delay,
            min_pane_size=min_pane_size,
        )
        self.dispatcher = RequestDispatcher(self.app, self.server)
        self.server.app = self.app
        self.server.dispatcher = self.dispatcher
        self._started = False

    # --- lifecycle --------------------------------------------------------------------------------------

    async def start(self) -> FakeITerm2:
        await self.server.start()
        self._started = True
        return self

    async def stop(self) -> None:
        """Close every client connection, kill every process any session started, remove the sockets."""
        if self._osascript_server is not None:
            self._osascript_server.close()
            await self._osascript_server.wait_closed()
            self._osascript_server = None
        if self._started:
            await self.server.stop()
        await self.app.terminate_all()
        self._started = False

    async def __aenter__(self) -> FakeITerm2:
        return await self.start()

    async def __aexit__(self, *_exc: object) -> None:
        await self.stop()

    # --- cookies ------------------------------------------------------------------------------------------

    def mint_cookie(self) -> str:
        """A new cookie, good for one connection (iTermWebSocketCookieJar.m, `randomStringForCookie`)."""
        cookie = secrets.token_hex(16)
        self.server.cookies.add(cookie)
        return cookie

    def client_env(self) -> dict[str, str]:
        """The environment a client process needs to reach this fake (its cookie admits one connection)."""
        return {"HOME": str(self.home), "ITERM2_COOKIE": self.cookie, "ITERM2_KEY": self.key}

    async def osascript(self, directory: Path) -> Path:
        """An executable standing in for /usr/bin/osascript: it answers the `iterm2` package's AppleScript (is
        iTerm2 running; request cookie and key) with a fresh cookie and key, as iTerm2 does
        (iTermRequestCookieCommand.m, `performDefaultImplementation`)."""
        socket = directory / "osascript.sock"
        if self._osascript_server is None:
            self._osascript_server = await asyncio.start_unix_server(self._answer_cookie_request, str(socket))
        script = directory / "osascript"
        script.write_text(_OSASCRIPT.format(python=sys.executable, socket=str(socket)))
        script.chmod(0o700)
        return script

    async def _answer_cookie_request(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.cookie_requests += 1
        self._changed.set()
        if self.cookie_dialog:
            await asyncio.sleep(self.cookie_dialog)
        writer.write(f"{self.mint_cookie()} {uuid.uuid4()}\n".encode())
        with contextlib.suppress(ConnectionError):
            await writer.drain()
        writer.close()

    @contextlib.asynccontextmanager
    async def connect(self) -> AsyncIterator[iterm2.Connection]:
        """A real `iterm2.Connection` to this fake, with a fresh cookie (HOME must be this fake's)."""
        os.environ["ITERM2_COOKIE"] = self.mint_cookie()
        os.environ["ITERM2_KEY"] = self.key
        async with iterm2_connection() as connection:
            yield connection

    # --- acting as the human ----------------------------------------------------------------------------

    async def open_window(
        self,
        command: str | Sequence[str] | None = None,
        *,
        cwd: str | os.PathLike[str] | None = None,
        env: Mapping[str, str] | None = None,
        profile: str | None = None,
    ) -> str:
        """Open a window (as iTerm2 does at launch); returns its session id. A string `command` is a profile's
        Command (iTerm2's grammar); a sequence is argv."""
        text = command if isinstance(command, str) else None
        _, _, session = self.app.create_tab(
            None, profile, _command_customizations(text, cwd), extra_env=env, argv=_argv(command)
        )
        await self._flush()
        return session.session_id

    async def split(
        self,
        session_id: str,
        command: str | Sequence[str] | None = None,
        *,
        vertical: bool = True,
        before: bool = False,
        cwd: str | os.PathLike[str] | None = None,
        env: Mapping[str, str] | None = None,
    ) -> str:
        """Split a pane as the human would from the menu; returns the new session id."""
        text = command if isinstance(command, str) else None
        customizations = _command_customizations(text, cwd)
        session = self.app.split(session_id, vertical, before, None, customizations, env, argv=_argv(command))
        await self._flush()
        return session.session_id

    async def close(self, session_id: str) -> None:
        """Close a pane as the human would."""
        self.app.close_session(session_id)
        await self._flush()

    async def type_keys(self, session_id: str, data: bytes | str) -> None:
        """Type into a pane as a human: a keystroke notification per key; what no client's KeystrokeFilter
        took goes to the pty (broadcast like real typing). `b"\x1be"` is Option-e (M-e)."""
        raw = data.encode() if isinstance(data, str) else data
        keys = [(key, note, self.server.filters_key(note)) for key, note in keystrokes(session_id, raw)]
        self.app.type_keys(session_id, keys)
        await self._flush()

    async def focus(self, session_id: str) -> None:
        """Click in a pane: focus notifications for whatever changed (window, tab, pane)."""
        self.app.focus_session(session_id)
        await self._flush()

    async def switch_app(self, active: bool) -> None:
        """The human leaves iTerm2 for another app, or comes back (iTermAPIHelper.m,
        `applicationDidResignActive:` / `applicationDidBecomeActive:`)."""
        self.app.application_active = active
        self.server.focus_changed(api_pb2.FocusChangedNotification(application_active=active))
        await self._flush()

    def kill_process(self, session_id: str, sig: signal.Signals = signal.SIGKILL) -> None:
        """Signal the session's process (default SIGKILL), as if it crashed."""
        self._session(session_id).send_signal(sig)

    # --- calling what clients registered ----------------------------------------------------------------

    async def call_rpc(self, name: str, session_id: str | None = None, timeout: float = 5.0, **arguments: Any) -> Any:
        """Invoke a function a client registered, as iTerm2 does; unset arguments come from their defaults."""
        registered = self.server.registration_for(name)
        if registered is None:
            raise KeyError(f"no client registered a function named {name}")
        connection, rpc = registered
        values = self._default_arguments(rpc, session_id)
        values.update(arguments)
        return await self.dispatcher.call_registered(connection, rpc, values, timeout)

    async def evaluate_status_bar_component(
        self, identifier: str, session_id: str | None = None, knobs: Mapping[str, Any] | None = None
    ) -> Any:
        """What a registered status-bar component would show in a session's status bar."""
        for connection in self.server.connections:
            for rpc in connection.rpcs.values():
                attributes = rpc.status_bar_component_attributes
                if rpc.HasField("status_bar_component_attributes") and attributes.unique_identifier == identifier:
                    values = self._default_arguments(rpc, session_id)
                    knob_values = {knob.key: _json_or_none(knob.json_default_value) for knob in attributes.knobs}
                    knob_values.update(knobs or {})
                    # The library decodes `knobs` itself: iTerm2 passes it as a JSON string.
                    values["knobs"] = json.dumps(knob_values)
                    return await self.dispatcher.call_registered(connection, rpc, values, rpc.timeout or 5.0)
        raise KeyError(f"no status-bar component {identifier} is registered")

    def _default_arguments(self, rpc: api_pb2.RPCRegistrationRequest, session_id: str | None) -> dict[str, Any]:
        return {default.name: self.dispatcher.lookup(session_id or "", default.path) for default in rpc.defaults}

    # --- reading the state ------------------------------------------------------------------------------

    def _session(self, session_id: str) -> PtySession:
        session = self.app.sessions.get(session_id)
        if session is None:
            session = next((s for s in self.app.retired if s.session_id == session_id), None)
        if session is None:
            raise KeyError(f"no session {session_id}")
        return session

    def sessions(self, include_buried: bool = True) -> list[str]:
        """Session ids in layout order (window, tab, pane), then the buried ones."""
        ids = self.app.session_ids()
        return ids if include_buried else [sid for sid in ids if sid not in self.app.buried]

    def windows(self) -> list[str]:
        return [window.window_id for window in self.app.windows]

    def tabs(self, window_id: str | None = None) -> list[str]:
        return [tab.tab_id for w in self.app.windows if window_id in (None, w.window_id) for tab in w.tabs]

    def buried_sessions(self) -> list[str]:
        return list(self.app.buried)

    def active_session(self) -> str | None:
        """The pane keyboard input goes to."""
        return self.app.active_session_id()

    def screen_text(self, session_id: str) -> str:
        """The visible screen, one line per row (trailing blanks trimmed); also for ended sessions."""
        return self._session(session_id).screen.text()

    def screen_lines(self, session_id: str) -> list[str]:
        return self._session(session_id).screen.visible_lines()

    def session_size(self, session_id: str) -> tuple[int, int]:
        """(columns, rows) of the pane, which is also the pty's size."""
        session = self._session(session_id)
        return session.columns, session.rows

    def session_pid(self, session_id: str) -> int | None:
        return self._session(session_id).pid

    def session_alive(self, session_id: str) -> bool:
        return session_id in self.app.sessions and self.app.sessions[session_id].alive

    def input_log(self, session_id: str) -> bytes:
        """Every byte typed or sent into the session, in order."""
        return bytes(self._session(session_id).input_log)

    def launch(self, session_id: str) -> tuple[list[str], str, dict[str, str]]:
        """(argv, cwd, extra environment) the session was started with."""
        spec = self._session(session_id).launch
        return list(spec.argv), spec.cwd, dict(spec.env)

    def profile(self, session_id: str) -> dict[str, Any]:
        """The session's profile as it is now: defaults, creation customizations and every property set."""
        return dict(self._session(session_id).profile)

    def shown(self, session_id: str, key: str, dark: bool = True) -> Any:
        """A colour setting as iTerm2 draws it: from the key the profile uses in that mode."""
        profile = self._session(session_id).profile
        return profile.get(amended_color_key(profile, key, dark))

    def current_id(self, session_id: str) -> str:
        """The id a session has now (a relaunched session has a new one)."""
        while session_id in self.app.former_ids:
            session_id = self.app.former_ids[session_id]
        return session_id

    def profile_writes(self, session_id: str) -> list[tuple[str, Any]]:
        """The profile properties clients set on the session, in order."""
        return list(self._session(session_id).profile_writes)

    def variables(self, session_id: str) -> dict[str, Any]:
        """The session's variables (built-ins such as jobName, path, columns, and `user.*`)."""
        return self._session(session_id).variables()

    def tab_title(self, tab_id: str) -> str:
        found = self.app.find_tab(tab_id)
        if found is None:
            raise KeyError(f"no tab {tab_id}")
        return found[1].title

    def broadcast_domains(self) -> list[list[str]]:
        return [list(domain) for domain in self.app.broadcast_domains]

    def arrangements(self) -> list[str]:
        return sorted(self.app.arrangements)

    @property
    def rpc_registrations(self) -> list[dict[str, Any]]:
        """Every RPC clients registered (functions, title providers, status-bar components, menus)."""
        return [_registration_dict(r.request, r.client) for r in self.server.registrations]

    @property
    def status_bar_components(self) -> list[dict[str, Any]]:
        """The status-bar components clients registered, with their attributes."""
        components = []
        for registration in self.server.registrations:
            rpc = registration.request
            if rpc.role != api_pb2.RPCRegistrationRequest.STATUS_BAR_COMPONENT:
                continue
            attributes = rpc.status_bar_component_attributes
            components.append(
                {
                    **_registration_dict(rpc, registration.client),
                    "identifier": attributes.unique_identifier,
                    "short_description": attributes.short_description,
                    "detailed_description": attributes.detailed_description,
                    "exemplar": attributes.exemplar,
                    "update_cadence": attributes.update_cadence if attributes.HasField("update_cadence") else None,
                    "format": api_pb2.RPCRegistrationRequest.StatusBarComponentAttributes.Format.Name(
                        attributes.format
                    ),
                    "knobs": [
                        {"name": k.name, "key": k.key, "default": _json_or_none(k.json_default_value)}
                        for k in attributes.knobs
                    ],
                }
            )
        return components

    @property
    def tools(self) -> list[dict[str, str]]:
        return [{"name": t.name, "identifier": t.identifier, "url": t.URL} for t in self.dispatcher.tools]

    @property
    def unread_counts(self) -> dict[str, int]:
        return dict(self.dispatcher.unread_counts)

    @property
    def subscriptions(self) -> list[tuple[str, str]]:
        """What the connected clients subscribed to: (notification type, session id or "all"); variable
        monitors as ("NOTIFY_ON_VARIABLE_CHANGE", "<scope>:<identifier>:<name>")."""
        found = set()
        for connection in self.server.connections:
            found |= {(api_pb2.NotificationType.Name(kind), session) for kind, session in connection.subscriptions}
            for scope, identifier, name in connection.variable_monitors:
                scope_name = api_pb2.VariableScope.Name(scope)
                found.add(("NOTIFY_ON_VARIABLE_CHANGE", f"{scope_name}:{identifier}:{name}"))
        return sorted(found)

    @property
    def client_count(self) -> int:
        return len(self.server.connections)

    @property
    def rejected_connections(self) -> list[str]:
        """Why each refused handshake was refused (wrong cookie, wrong key, no cookie)."""
        return list(self.server.rejected)

    @property
    def errors(self) -> list[str]:
        """Requests the fake itself failed on (a bug in the fake; clients got an error reply)."""
        return list(self.server.errors)

    # --- waiting without sleeping -----------------------------------------------------------------------

    async def _flush(self, timeout: float = 5.0) -> None:
        """Until every queued notification has been written to the clients' sockets."""
        await self.wait_until(lambda: self.server.idle, timeout, "notifications to be sent")

    async def wait_until(self, predicate: Callable[[], _T], timeout: float = 10.0, what: str = "a condition") -> _T:
        """Wait (bounded) until `predicate()` is true, re-checking whenever the fake's state changes."""
        deadline = time.monotonic() + timeout
        while True:
            self._changed.clear()
            value = predicate()
            if value:
                return value
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"fake iTerm2: timed out after {timeout}s waiting for {what}")
            with contextlib.suppress(TimeoutError):
                # Some conditions (a socket write finishing) change without a state change: re-check often.
                await asyncio.wait_for(self._changed.wait(), min(remaining, 0.05))

    async def wait_for_screen(self, session_id: str, pattern: str | re.Pattern[str], timeout: float = 10.0) -> str:
        """Wait until the session's screen contains `pattern` (text or regex); returns the screen."""

        def matches() -> str | None:
            text = self.screen_text(session_id)
            found = pattern.search(text) if isinstance(pattern, re.Pattern) else pattern in text
            if not found and session_id not in self.app.sessions:
                raise AssertionError(f"session {session_id} ended before showing {pattern!r}; its screen:\n{text}")
            return text if found else None

        try:
            return await self.wait_until(matches, timeout, f"{pattern!r} on {session_id}")
        except TimeoutError as error:
            raise TimeoutError(f"{error}; the screen shows:\n{self.screen_text(session_id)}") from None

    async def wait_idle(self, timeout: float = 5.0, quiet: float = 0.05) -> None:
        """Wait until no session has printed for `quiet` seconds and every notification is sent (bounded)."""
        deadline = time.monotonic() + timeout
        while True:
            now = time.monotonic()
            live = list(self.app.sessions.values())
            busy = []
            if not self.server.idle:
                busy.append("notifications")
            if any(session.writing for session in live):
                busy.append("input")
            if any(now - session.last_output < quiet for session in live):
                busy.append("output")
            if not busy:
                return
            if now > deadline:
                raise TimeoutError(f"fake iTerm2 still busy ({', '.join(busy)}) after {timeout}s")
            await asyncio.sleep(0.01)


def _json_or_none(text: str) -> Any:
    try:
        return json.loads(text) if text else None
    except ValueError:
        return text


def _registration_dict(rpc: api_pb2.RPCRegistrationRequest, client: str) -> dict[str, Any]:
    return {
        "name": rpc.name,
        "role": api_pb2.RPCRegistrationRequest.Role.Name(rpc.role),
        "arguments": [argument.name for argument in rpc.arguments],
        "defaults": {default.name: default.path for default in rpc.defaults},
        "client": client,
    }


@contextlib.asynccontextmanager
async def running_fake_iterm2(
    home: str | os.PathLike[str] | None = None, *, set_env: bool = True, **options: Any
) -> AsyncIterator[FakeITerm2]:
    """A started `FakeITerm2`; with `set_env`, HOME and the cookie/key are in os.environ meanwhile.

    The `iterm2` library's process-wide state is reset on the way in and out. Everything is stopped and
    every child process killed at the end.
    """
    fake = FakeITerm2(home, **options)
    saved = {name: os.environ.get(name) for name in fake.client_env()}
    if set_env:
        os.environ.update(fake.client_env())
    reset_iterm2_library_state()
    try:
        await fake.start()
        yield fake
    finally:
        await fake.stop()
        reset_iterm2_library_state()
        if set_env:
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value
