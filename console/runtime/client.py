"""A client of the control API over its unix socket, for the command line (agents' and the human's)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import aiohttp

from agent_console.agents.errors import Conflict, ConsoleError, Forbidden, InvalidInput, NotFound, Unavailable


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
    def __init__(self, socket: Path | str, token: str) -> None:
        self.socket = Path(socket)
        self.token = token

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
        timeout = aiohttp.ClientTimeout(total=None if wait is None else wait + 10, connect=5)
        headers = {**(headers or {}), "Authorization": f"Bearer {self.token}"}
        try:
            connector = aiohttp.UnixConnector(path=str(self.socket))
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
