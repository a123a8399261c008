"""iTerm2's API endpoint: a websocket on a unix socket, one protobuf message per binary frame.

Checks the cookie and key the `iterm2` library sends, answers every request with the same id, and fans the
model's changes out as notifications to the connections that subscribed to them.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import logging
import os
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from http import HTTPStatus
from pathlib import Path
from typing import TYPE_CHECKING, Any

from google.protobuf.message import DecodeError
from iterm2 import api_pb2
from websockets.asyncio.server import Server, ServerConnection, unix_serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from .keys import matches
from .state import SCOPE_SESSION

if TYPE_CHECKING:
    from .dispatch import RequestDispatcher
    from .state import FakeApp

log = logging.getLogger(__name__)

# Notifications that are about the whole app: any subscription of the type receives them.
GLOBAL_NOTIFICATIONS = frozenset(
    {
        api_pb2.NOTIFY_ON_NEW_SESSION,
        api_pb2.NOTIFY_ON_TERMINATE_SESSION,
        api_pb2.NOTIFY_ON_LAYOUT_CHANGE,
        api_pb2.NOTIFY_ON_FOCUS_CHANGE,
        api_pb2.NOTIFY_ON_BROADCAST_CHANGE,
    }
)
SCREEN_UPDATE_DELAY = 0.02  # iTerm2 coalesces screen updates; so does the fake


@dataclass(frozen=True)
class Deferred:
    """A reply that comes later (it waits on another client), so the connection keeps reading meanwhile."""

    reply: Awaitable[api_pb2.ServerOriginatedMessage]


@dataclass(frozen=True)
class Registration:
    """An RPC a client registered (a function, title provider, status-bar component or context menu)."""

    client: str
    request: api_pb2.RPCRegistrationRequest

    @property
    def signature(self) -> str:
        return signature_of(self.request)


def signature_of(rpc: api_pb2.RPCRegistrationRequest | api_pb2.ServerOriginatedRPC) -> str:
    """How the library keys an RPC: `name(arg1,arg2)` with sorted argument names."""
    return rpc.name + "(" + ",".join(sorted(arg.name for arg in rpc.arguments)) + ")"


class ClientConnection:
    """One script's websocket: its subscriptions and an ordered outbox."""

    def __init__(self, websocket: ServerConnection, name: str) -> None:
        self.websocket = websocket
        self.name = name
        self.outbox: asyncio.Queue[bytes | None] = asyncio.Queue()
        self.subscriptions: set[tuple[int, str]] = set()
        self.variable_monitors: set[tuple[int, str, str]] = set()
        self.rpcs: dict[str, api_pb2.RPCRegistrationRequest] = {}
        self.keystroke_filters: dict[str, list[api_pb2.KeystrokePattern]] = {}
        self.sending = False
        # Request ids start at 0 and a notification's id reads as 0: the library would take a notification
        # sent before the first reply for the reply to request 0. Hold them until then.
        self._replied = False
        self._held: list[bytes] = []

    def reply(self, message: api_pb2.ServerOriginatedMessage) -> None:
        self.outbox.put_nowait(message.SerializeToString())
        if not self._replied:
            self._replied = True
            for data in self._held:
                self.outbox.put_nowait(data)
            self._held.clear()

    def notify(self, notification: api_pb2.Notification) -> None:
        data = api_pb2.ServerOriginatedMessage(notification=notification).SerializeToString()
        if self._replied:
            self.outbox.put_nowait(data)
        else:
            self._held.append(data)

    def wants(self, notification_type: int, session_id: str | None = None) -> bool:
        if notification_type in GLOBAL_NOTIFICATIONS:
            return any(kind == notification_type for kind, _ in self.subscriptions)
        return (notification_type, "all") in self.subscriptions or (
            notification_type,
            session_id or "",
        ) in self.subscriptions

    @property
    def idle(self) -> bool:
        return self.outbox.empty() and not self.sending

    async def send_forever(self) -> None:
        while (data := await self.outbox.get()) is not None:
            self.sending = True
            try:
                await self.websocket.send(data)
            except ConnectionClosed:
                return
            finally:
                self.sending = False


class ApiServer:
    """The websocket endpoint and the notification fan-out (it is the model's `Notifier`)."""

    def __init__(
        self,
        socket_path: Path,
        cookies: set[str],
        protocol_version: str,
        on_change: Callable[[], None],
    ) -> None:
        self.socket_path = socket_path
        self.cookies = cookies
        self.spent: set[str] = set()
        self.protocol_version = protocol_version
        self.on_change = on_change
        self.app: FakeApp | None = None
        self.dispatcher: RequestDispatcher | None = None
        self.connections: list[ClientConnection] = []
        self.rejected: list[str] = []
        self.registrations: list[Registration] = []
        self.errors: list[str] = []
        self._server: Server | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._pending: list[Callable[[], None]] = []
        self._layout_pending = False
        self._flush_scheduled = False
        self._dirty_screens: list[str] = []
        self._screen_timer: asyncio.TimerHandle | None = None
        self._rpc_waiters: dict[str, asyncio.Future[api_pb2.ServerOriginatedRPCResultRequest]] = {}

    # --- lifecycle --------------------------------------------------------------------------------------

    async def start(self) -> None:
        self.socket_path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        with contextlib.suppress(FileNotFoundError):
            self.socket_path.unlink()
        self._server = await unix_serve(
            self._serve,
            str(self.socket_path),
            subprotocols=["api.iterm2.com"],  # type: ignore[list-item]
            process_request=self._check_auth,
            process_response=self._add_version,
            max_size=None,
            ping_interval=None,
        )
        os.chmod(self.socket_path, 0o600)

    async def stop(self) -> None:
        for connection in list(self.connections):
            with contextlib.suppress(Exception):
                await asyncio.wait_for(connection.websocket.close(), 2.0)
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._server.wait_closed(), 3.0)
        for task in list(self._tasks):
            task.cancel()
        if self._screen_timer is not None:
            self._screen_timer.cancel()
        for waiter in self._rpc_waiters.values():
            waiter.cancel()
        with contextlib.suppress(FileNotFoundError):
            self.socket_path.unlink()

    def _check_auth(self, connection: ServerConnection, request: Request) -> Response | None:
        # The key only names the script in iTerm2's script console; it admits nothing (iTermWebSocketConnection.m).
        cookie = request.headers.get("x-iterm2-cookie")
        if cookie is not None and self._consume(cookie):
            return None
        reason = "no cookie" if cookie is None else "spent cookie" if cookie in self.spent else "wrong cookie"
        self.rejected.append(reason)
        self.on_change()
        return connection.respond(HTTPStatus.UNAUTHORIZED, f"iTerm2 API: {reason}\n")

    def _consume(self, cookie: str) -> bool:
        """A cookie lets one connection in, then it is spent; one ending in `_` stays (iTermWebSocketCookieJar.m,
        `consumeCookie`, called from iTermWebSocketConnection.m). The library sends x-iterm2-disable-auth-ui,
        so a refused cookie is a 401, not a dialog (iTermAPIHelper.m, `apiServerAuthorizeProcesses:`)."""
        if cookie not in self.cookies:
            return False
        if not cookie.endswith("_"):
            self.cookies.discard(cookie)
            self.spent.add(cookie)
        return True

    def _add_version(self, connection: ServerConnection, request: Request, response: Response) -> None:
        response.headers["X-iTerm2-Protocol-Version"] = self.protocol_version

    # --- requests ---------------------------------------------------------------------------------------

    async def _serve(self, websocket: ServerConnection) -> None:
        name = websocket.request.headers.get("x-iterm2-advisory-name", "") if websocket.request else ""
        connection = ClientConnection(websocket, name)
        self.connections.append(connection)
        sender = asyncio.create_task(connection.send_forever())
        self.on_change()
        try:
            async for frame in websocket:
                if isinstance(frame, str):
                    continue
                request = api_pb2.ClientOriginatedMessage()
                try:
                    request.ParseFromString(frame)
                except DecodeError:
                    self.errors.append("undecodable frame")
                    continue
                await self._handle(connection, request)
        except ConnectionClosed:
            pass
        finally:
            self.connections.remove(connection)
            connection.outbox.put_nowait(None)
            with contextlib.suppress(Exception):
                await asyncio.wait_for(sender, 2.0)
            self.on_change()

    async def _handle(self, connection: ClientConnection, request: api_pb2.ClientOriginatedMessage) -> None:
        assert self.dispatcher is not None
        try:
            result = self.dispatcher.handle(connection, request)
            if isinstance(result, Deferred):
                self._spawn(self._reply_later(connection, request, result.reply))
                return
            response = await result if inspect.isawaitable(result) else result
        except Exception as error:  # a bug in the fake must answer, not hang the client
            log.exception("fake iTerm2 failed on %s", request.WhichOneof("submessage"))
            self.errors.append(f"{request.WhichOneof('submessage')}: {error!r}")
            response = api_pb2.ServerOriginatedMessage(error=f"fake iTerm2 failed: {error!r}")
        response.id = request.id
        connection.reply(response)
        self.on_change()

    async def _reply_later(
        self,
        connection: ClientConnection,
        request: api_pb2.ClientOriginatedMessage,
        reply: Awaitable[api_pb2.ServerOriginatedMessage],
    ) -> None:
        try:
            response = await reply
        except Exception as error:
            self.errors.append(f"{request.WhichOneof('submessage')}: {error!r}")
            response = api_pb2.ServerOriginatedMessage(error=f"fake iTerm2 failed: {error!r}")
        response.id = request.id
        connection.reply(response)
        self.on_change()

    def _spawn(self, coroutine: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # --- server-originated RPCs -------------------------------------------------------------------------

    def registration_for(self, name: str) -> tuple[ClientConnection, api_pb2.RPCRegistrationRequest] | None:
        """The live registration of a function by name (or by `name(args)` signature)."""
        for connection in self.connections:
            for signature, rpc in connection.rpcs.items():
                if name in (rpc.name, signature):
                    return connection, rpc
        return None

    async def invoke(
        self,
        connection: ClientConnection,
        rpc: api_pb2.RPCRegistrationRequest,
        json_arguments: dict[str, str],
        timeout: float,
    ) -> api_pb2.ServerOriginatedRPCResultRequest:
        """Ask the client that registered `rpc` to run it; its result request resolves the wait."""
        request_id = str(uuid.uuid4())
        notification = api_pb2.Notification()
        call = notification.server_originated_rpc_notification
        call.request_id = request_id
        call.rpc.name = rpc.name
        for argument in rpc.arguments:
            value = call.rpc.arguments.add(name=argument.name)
            if argument.name in json_arguments:
                value.json_value = json_arguments[argument.name]
        waiter = asyncio.get_running_loop().create_future()
        self._rpc_waiters[request_id] = waiter
        connection.notify(notification)
        try:
            return await asyncio.wait_for(waiter, timeout)
        finally:
            self._rpc_waiters.pop(request_id, None)

    def rpc_result(self, result: api_pb2.ServerOriginatedRPCResultRequest) -> None:
        waiter = self._rpc_waiters.get(result.request_id)
        if waiter is not None and not waiter.done():
            waiter.set_result(result)

    # --- Notifier ---------------------------------------------------------------------------------------

    def _later(self, send: Callable[[], None]) -> None:
        """Queue a notification; they go out together once the current change is complete."""
        self._pending.append(send)
        if not self._flush_scheduled:
            self._flush_scheduled = True
            asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_scheduled = False
        self._layout_pending = False
        pending, self._pending = self._pending, []
        for send in pending:
            send()

    def _fan_out(self, notification: api_pb2.Notification, kind: int, session_id: str | None = None) -> None:
        for connection in self.connections:
            if connection.wants(kind, session_id):
                connection.notify(notification)

    def new_session(self, session_id: str) -> None:
        note = api_pb2.Notification()
        note.new_session_notification.session_id = session_id
        self._later(lambda: self._fan_out(note, api_pb2.NOTIFY_ON_NEW_SESSION))

    def terminate_session(self, session_id: str) -> None:
        note = api_pb2.Notification()
        note.terminate_session_notification.session_id = session_id
        self._later(lambda: self._fan_out(note, api_pb2.NOTIFY_ON_TERMINATE_SESSION))

    def layout_changed(self) -> None:
        if self._layout_pending:
            return
        self._layout_pending = True

        def send() -> None:
            assert self.app is not None
            note = api_pb2.Notification()
            self.app.list_sessions(note.layout_changed_notification.list_sessions_response)
            self._fan_out(note, api_pb2.NOTIFY_ON_LAYOUT_CHANGE)

        self._later(send)

    def focus_changed(self, event: api_pb2.FocusChangedNotification) -> None:
        note = api_pb2.Notification()
        note.focus_changed_notification.CopyFrom(event)
        self._later(lambda: self._fan_out(note, api_pb2.NOTIFY_ON_FOCUS_CHANGE))

    def broadcast_changed(self) -> None:
        def send() -> None:
            assert self.app is not None
            note = api_pb2.Notification()
            for domain in self.app.broadcast_domains:
                note.broadcast_domains_changed.broadcast_domains.add().session_ids.extend(domain)
            note.broadcast_domains_changed.SetInParent()
            self._fan_out(note, api_pb2.NOTIFY_ON_BROADCAST_CHANGE)

        self._later(send)

    def custom_escape(self, session_id: str, identity: str, payload: str) -> None:
        note = api_pb2.Notification()
        event = note.custom_escape_sequence_notification
        event.session, event.sender_identity, event.payload = session_id, identity, payload
        self._later(lambda: self._fan_out(note, api_pb2.NOTIFY_ON_CUSTOM_ESCAPE_SEQUENCE, session_id))

    def keystroke(self, notification: api_pb2.KeystrokeNotification) -> None:
        note = api_pb2.Notification()
        note.keystroke_notification.CopyFrom(notification)
        self._later(lambda: self._fan_out(note, api_pb2.NOTIFY_ON_KEYSTROKE, notification.session))

    def screen_changed(self, session_id: str) -> None:
        if session_id not in self._dirty_screens:
            self._dirty_screens.append(session_id)
        if self._screen_timer is None:
            self._screen_timer = asyncio.get_running_loop().call_later(SCREEN_UPDATE_DELAY, self._flush_screens)

    def _flush_screens(self) -> None:
        self._screen_timer = None
        dirty, self._dirty_screens = self._dirty_screens, []
        for session_id in dirty:
            note = api_pb2.Notification()
            note.screen_update_notification.session = session_id
            self._fan_out(note, api_pb2.NOTIFY_ON_SCREEN_UPDATE, session_id)
            session = self.app.sessions.get(session_id) if self.app else None
            if session is not None and self.app is not None:
                self.app.check_variables(session)
        self.on_change()

    @property
    def screens_pending(self) -> bool:
        return self._screen_timer is not None or self._flush_scheduled

    def variable_changed(self, scope: int, identifier: str, name: str, value: Any) -> None:
        active = self.app.active_session_id() if self.app else None

        def send() -> None:
            for connection in self.connections:
                sent: set[str] = set()
                for monitor_scope, monitor_id, monitor_name in connection.variable_monitors:
                    if monitor_scope != scope or monitor_name != name:
                        continue
                    if monitor_id == "active" and scope == SCOPE_SESSION and identifier == active:
                        as_id = "active"
                    elif monitor_id in (identifier, "all"):
                        as_id = identifier
                    else:
                        continue
                    if as_id in sent:
                        continue
                    sent.add(as_id)
                    note = api_pb2.Notification()
                    event = note.variable_changed_notification
                    event.scope, event.identifier, event.name = scope, as_id, name
                    event.json_new_value = json.dumps(value)
                    connection.notify(note)

        self._later(send)

    def filters_key(self, note: api_pb2.KeystrokeNotification) -> bool:
        """Whether a client's KeystrokeFilter keeps this key from reaching the session."""
        for connection in self.connections:
            for session_id, patterns in connection.keystroke_filters.items():
                if session_id in ("all", note.session) and any(matches(p, note) for p in patterns):
                    return True
        return False

    def wants_variables(self) -> bool:
        return any(connection.variable_monitors for connection in self.connections)

    def changed(self) -> None:
        self.on_change()

    @property
    def idle(self) -> bool:
        return not self._pending and not self.screens_pending and all(c.idle for c in self.connections)
