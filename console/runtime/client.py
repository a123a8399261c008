"""A client of the control API over its unix socket, for the command line (agents' and the human's)."""

from __future__ import annotations

import os
import socket
import struct
from pathlib import Path
from typing import Any

import aiohttp

from agent_console.agents.errors import Conflict, ConsoleError, Forbidden, InvalidInput, NotFound, Unavailable
from agent_console.runtime.paths import UnsafeRuntimeDir, check_socket


class ControlUnreachable(Unavailable):
    """No console answers on the socket (not running, or stale)."""


class ControlRefused(ConsoleError):
    """The console answered with an error; `status` and the console's own message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message

    @property
    def kind(self) -> type[ConsoleError]:
        return _KIND_OF_STATUS.get(self.status, ConsoleError)


_KIND_OF_STATUS: dict[int, type[ConsoleError]] = {
    400: InvalidInput,
    401: Forbidden,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    413: InvalidInput,
    422: InvalidInput,
    503: Unavailable,
    507: Unavailable,  # the journal cannot be written
}


class ControlClient:
    def __init__(self, socket: Path | str, token: str, traceparent: str | None = None) -> None:
        """`traceparent`: a W3C trace parent every request names (its records join that trace, if allowed)."""
        self.socket = Path(socket)
        self.token = token
        self.traceparent = traceparent

    async def call(
        self,
        method: str,
        path: str,
        body: dict | None = None,
        wait: float | None = None,
        headers: dict[str, str] | None = None,
    ) -> Any:
        """One request; `wait` bounds how long the console may take to answer (None: as long as it takes)."""
        if not self.socket.exists():
            raise ControlUnreachable(f"no console is serving on {self.socket}")
        check_socket(self.socket)  # the token goes only to a socket of ours, in a folder only we can change
        timeout = aiohttp.ClientTimeout(total=None if wait is None else wait + 10, connect=5)
        headers = {**(headers or {}), "Authorization": f"Bearer {self.token}"}
        if self.traceparent:
            headers["traceparent"] = self.traceparent
        try:
            connector = _OwnUnixConnector(path=str(self.socket))
            async with (
                aiohttp.ClientSession(connector=connector, timeout=timeout) as session,
                session.request(method, f"http://console{path}", json=body, headers=headers) as response,
            ):
                data = await response.json(content_type=None)
                if response.status >= 400:
                    message = data.get("error") if isinstance(data, dict) else None
                    raise ControlRefused(response.status, message or f"HTTP {response.status}")
                return data
        except (aiohttp.ClientConnectorError, ConnectionRefusedError, FileNotFoundError) as error:
            raise ControlUnreachable(f"no console answers on {self.socket} ({error.__class__.__name__})") from None
        except aiohttp.ClientError as error:
            raise ControlUnreachable(f"the console on {self.socket} stopped answering ({error})") from None


class _OwnUnixConnector(aiohttp.UnixConnector):
    """Connects only to a server process running as this user (its credentials, read from the connected socket
    before anything is sent): the file checks above can be raced, the peer's credentials cannot."""

    async def _create_connection(self, req: Any, traces: Any, timeout: Any) -> Any:
        protocol = await super()._create_connection(req, traces, timeout)
        transport = protocol.transport
        if transport is None:
            return protocol
        peer = transport.get_extra_info("socket")
        uid = _peer_uid(peer) if peer is not None else None
        if uid is not None and uid != os.getuid():
            transport.abort()
            raise UnsafeRuntimeDir(
                f"the process serving {self.path} runs as uid {uid}, not as you (uid {os.getuid()}): "
                "it is not your console, and no token is sent to it"
            )
        return protocol


def _peer_uid(connected: Any) -> int | None:
    """The uid of the process at the other end of a unix socket, where the platform tells (Linux: SO_PEERCRED)."""
    option = getattr(socket, "SO_PEERCRED", None)
    if option is None:
        return None
    try:
        _, uid, _ = struct.unpack("3i", connected.getsockopt(socket.SOL_SOCKET, option, struct.calcsize("3i")))
    except OSError:
        return None
    return uid


def agent_environment() -> tuple[str, str, Path | None]:
    """(agent name, token, socket) from the pane's environment, or a clear error when not in an agent's pane."""
    token = os.environ.get("AGENT_CONSOLE_TOKEN")
    agent = os.environ.get("AGENT_CONSOLE_AGENT", "")
    if not token:
        raise ControlUnreachable(
            "AGENT_CONSOLE_TOKEN is not set: run this inside an agent's pane started by `agent-console serve`"
        )
    socket = os.environ.get("AGENT_CONSOLE_SOCKET")
    return agent, token, Path(socket) if socket else None
