"""One connection to iTerm2's Python API through the official `iterm2` package.

The package finds the API where iTerm2 serves it (a unix socket under `~/Library/Application Support/iTerm2`,
else `ws://localhost:1912`) and sends `ITERM2_COOKIE`/`ITERM2_KEY`. This module adds what a long-running
console needs on top: a refusal or an absent iTerm2 becomes one clear `BackendError` (never a traceback or a
`sys.exit` from inside the library), every request fails with `BackendGone` once the connection ends, and the
library's module-level state (its `App` singleton, its notification handlers) is left clean on close.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import warnings
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from .base import BackendError, BackendGone

with warnings.catch_warnings():
    # The package imports websockets' legacy client, which warns that it is deprecated.
    warnings.simplefilter("ignore", DeprecationWarning)
    import iterm2
    import iterm2.app
    import iterm2.auth
    import iterm2.notifications
    import iterm2.rpc
    import websockets
    from iterm2 import api_pb2
    from websockets.legacy.exceptions import InvalidStatusCode

CONNECT_SECONDS = 5.0
SETTING = "iTerm2 > Settings > General > Magic > Enable Python API"
OSASCRIPT = "/usr/bin/osascript"

T = TypeVar("T")


def socket_path() -> str:
    """Where iTerm2 serves its API (the path the `iterm2` package tries first)."""
    suite = os.environ.get("IT2_SUITE", "iTerm2")
    return os.path.join(os.path.expanduser(f"~/Library/Application Support/{suite}"), "private", "socket")


def api_address() -> str:
    path = socket_path()
    return path if os.path.exists(path) else "ws://localhost:1912"


class ITerm2Connection:
    """The websocket to iTerm2, its dispatch loop, and the one way to call the API (`call`)."""

    def __init__(self) -> None:
        self.connection: iterm2.Connection | None = None
        self.app: iterm2.App | None = None
        self.gone_reason: str | None = None
        self._lost: asyncio.Future[str] | None = None
        self._dispatcher: asyncio.Task[None] | None = None
        self._helpers: set[asyncio.Task[Any]] = set()
        self._handlers_before: dict[Any, list[Any]] = {}
        self.on_lost: list[Callable[[str], None]] = []

    @property
    def where(self) -> str:
        return f"iTerm2's Python API at {api_address()}"

    @property
    def connected(self) -> bool:
        return self._lost is not None and not self._lost.done()

    @property
    def protocol_version(self) -> tuple[int, int]:
        return self.connection.iterm2_protocol_version if self.connection else (0, 0)

    async def connect(self, timeout: float = CONNECT_SECONDS, say: Callable[[str], None] | None = None) -> None:
        """Open the connection and build the library's `App` (windows, tabs, sessions, kept current).

        A cookie admits one connection: without one, or when iTerm2 refuses the one given, a fresh one is asked
        for through AppleScript where that exists (iTerm2 may ask the user first; `timeout` does not count
        that wait, only iTerm2's answers)."""
        fresh = False
        if not os.environ.get("ITERM2_COOKIE"):
            fresh = await self._ask_for_cookie(say)
        try:
            websocket = await self._open(timeout)
        except _Refused as refusal:
            if refusal.status != 401 or fresh or not await self._ask_for_cookie(say):
                raise BackendError(_refusal(refusal.status)) from None
            try:
                websocket = await self._open(timeout)
            except _Refused as again:
                raise BackendError(_refusal(again.status)) from None
        await self._start(websocket, timeout)

    async def _open(self, timeout: float) -> Any:
        connection = iterm2.Connection()
        address = api_address()
        try:
            return await asyncio.wait_for(connection._get_connect_coro(), timeout)
        except InvalidStatusCode as error:
            raise _Refused(error.status_code) from None
        except TimeoutError:
            raise BackendError(f"iTerm2 did not answer within {timeout:g} s at {address}") from None
        except (ConnectionRefusedError, FileNotFoundError):
            raise BackendError(_not_running(address)) from None
        except websockets.exceptions.InvalidHandshake as error:
            raise BackendError(f"what answers at {address} is not iTerm2's Python API ({error})") from None
        except OSError as error:
            raise BackendError(f"{_not_running(address)} ({error.strerror or error})") from None

    async def _start(self, websocket: Any, timeout: float) -> None:
        connection = iterm2.Connection()
        connection.websocket = websocket
        self.connection = connection
        loop = asyncio.get_running_loop()
        self._lost = loop.create_future()
        self._handlers_before = {key: list(value) for key, value in iterm2.notifications._handlers.items()}
        self._dispatcher = loop.create_task(self._dispatch(), name="iterm2-dispatch")
        # The library keeps one App per process; one left by an earlier connection would talk to a dead socket.
        iterm2.app.App.instance = None
        try:
            self.app = await asyncio.wait_for(self.call(iterm2.async_get_app(connection), "list its windows"), timeout)
        except TimeoutError:
            raise BackendError(f"iTerm2 did not list its windows within {timeout:g} s") from None

    async def _ask_for_cookie(self, say: Callable[[str], None] | None) -> bool:
        """A fresh cookie and key in the environment, asked of iTerm2 through AppleScript as the library does;
        False where there is no osascript (not macOS)."""
        if not os.path.exists(OSASCRIPT):
            return False
        if say is not None:
            say("asking iTerm2 for access to its Python API (allow it in the dialog iTerm2 shows)")
        try:
            answer = await asyncio.to_thread(iterm2.auth.request_cookie_and_key, False, "agent-console", _AppleScript)
            cookie, key = answer.split(" ")
        except iterm2.auth.AuthenticationException as error:
            raise BackendError(f"iTerm2 gave no API cookie: {error} (is iTerm2 running? {SETTING})") from None
        except (OSError, AttributeError, ValueError) as error:
            raise BackendError(f"could not ask iTerm2 for an API cookie: {error}") from None
        os.environ["ITERM2_COOKIE"], os.environ["ITERM2_KEY"] = cookie, key
        return True

    async def _dispatch(self) -> None:
        """Route replies to their requests and notifications to the library's handlers, until the end."""
        assert self.connection is not None and self.connection.websocket is not None
        connection, websocket, loop = self.connection, self.connection.websocket, asyncio.get_running_loop()
        reason = "iTerm2 closed the connection"
        try:
            while True:
                data = await websocket.recv()
                message = api_pb2.ServerOriginatedMessage()
                message.ParseFromString(data)
                future = connection._get_receiver_future(message)
                if future is None:
                    task = loop.create_task(connection._async_dispatch_to_helper(message))
                    self._helpers.add(task)
                    task.add_done_callback(self._helper_done)
                else:
                    connection.set_message_in_future(loop, message, future)
        except asyncio.CancelledError:
            reason = "the connection to iTerm2 was closed"
            raise
        except websockets.exceptions.ConnectionClosed as error:
            if error.rcvd is not None and error.rcvd.reason:
                reason = f"iTerm2 closed the connection: {error.rcvd.reason}"
        except Exception as error:  # a malformed frame ends the connection, said once
            reason = f"the connection to iTerm2 broke: {error}"
        finally:
            self._end(reason)

    def _helper_done(self, task: asyncio.Task[Any]) -> None:
        self._helpers.discard(task)
        if not task.cancelled():
            task.exception()  # a notification handler's failure is not the connection's: retrieved, dropped

    def _end(self, reason: str) -> None:
        if self._lost is not None and not self._lost.done():
            self.gone_reason = reason
            self._lost.set_result(reason)
            for listener in list(self.on_lost):
                listener(reason)

    async def call(self, awaitable: Awaitable[T], what: str) -> T:
        """Await one API call; `BackendError` naming `what` if iTerm2 refuses, `BackendGone` if it goes away."""
        if self._lost is None:
            raise BackendGone("not connected to iTerm2")
        if self._lost.done():
            close = getattr(awaitable, "close", None)
            if close is not None:
                close()  # a coroutine never started: no "never awaited" warning
            raise BackendGone(f"iTerm2 went away ({self._lost.result()}) before it could {what}")
        task = asyncio.ensure_future(awaitable)
        try:
            either: set[asyncio.Future[Any]] = {task, self._lost}
            await asyncio.wait(either, return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:
            task.cancel()
            raise
        if not task.done():
            task.cancel()
            raise BackendGone(f"iTerm2 went away while trying to {what}: {self._lost.result()}")
        try:
            return task.result()
        except websockets.exceptions.ConnectionClosed:
            raise BackendGone(f"iTerm2 went away while trying to {what}") from None
        except (BackendError, asyncio.CancelledError):
            raise
        except Exception as error:  # the library's many exception types all mean "iTerm2 said no"
            raise BackendError(f"iTerm2 could not {what}: {_describe(error)}") from None

    async def close(self) -> None:
        if self._dispatcher is not None:
            self._dispatcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._dispatcher
        if self.connection is not None and self.connection.websocket is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.connection.websocket.close(), 1.0)
        for task in list(self._helpers):
            task.cancel()
        self._forget_library_state()

    def _forget_library_state(self) -> None:
        """Drop the handlers and the App this connection registered in the library's module globals."""
        handlers = iterm2.notifications._handlers
        for key in list(handlers):
            kept = [callback for callback in handlers[key] if callback in self._handlers_before.get(key, ())]
            if kept:
                handlers[key] = kept
            else:
                del handlers[key]
        if self.app is not None and iterm2.app.App.instance is self.app:
            iterm2.app.App.instance = None


class _Refused(Exception):
    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


class _AppleScript(iterm2.auth.CommandLineApplescriptRunner):
    """The library's osascript runner, run from `OSASCRIPT`."""

    def execute(self) -> None:
        done = subprocess.run([OSASCRIPT, "-"], input=self._script, capture_output=True, check=False)
        self._returncode = done.returncode
        self._output = done.stdout.decode("utf-8").rstrip()
        self._error = done.stderr.decode("utf-8").rstrip()


def _refusal(status: int) -> str:
    if status == 401:
        if os.environ.get("ITERM2_COOKIE"):
            return "iTerm2 refused the connection: the cookie in ITERM2_COOKIE is not (or no longer) valid"
        return (
            "iTerm2 refused the connection: no ITERM2_COOKIE was given (scripts started by iTerm2 get one; "
            "elsewhere the iterm2 package asks iTerm2 for one through AppleScript)"
        )
    if status == 406:
        return "this iterm2 package is too old for the running iTerm2: upgrade it (pip install -U iterm2)"
    return f"iTerm2 refused the connection (HTTP {status})"


def _not_running(address: str) -> str:
    return f"cannot reach iTerm2's Python API at {address}: is iTerm2 running, with {SETTING} on?"


def _describe(error: BaseException) -> str:
    text = str(error).strip()
    name = type(error).__name__
    return f"{name}: {text}" if text else name
