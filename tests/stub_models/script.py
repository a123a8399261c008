"""What the OpenAI and Gemini stubs share: the script of replies a test queues, and the server's life cycle."""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Self

from aiohttp import web

DEFAULT_TEXT = "Done."


@dataclass
class Hold:
    released: asyncio.Event = field(default_factory=asyncio.Event)


@dataclass
class Say:
    text: str
    stall: Hold | None = None


@dataclass
class Fail:
    status: int
    message: str


class ScriptedServer:
    """A stub API on 127.0.0.1 answering the conversation from a queue of replies; `_routes` names its paths."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self._script: deque[Any] = deque()
        self._holds: deque[Hold] = deque()
        self._runner: web.AppRunner | None = None
        self._port = 0

    # -- the script ---------------------------------------------------------------------------------

    def say(self, text: str, stall: bool = False) -> None:
        """The model answers with `text` and ends its turn; with `stall`, the answer stops halfway through
        until `release()` (a program caught in the middle of a streamed answer)."""
        hold = None
        if stall:
            hold = Hold()
            self._holds.append(hold)
        self._script.append(Say(text, hold))

    def fail(self, status: int, message: str) -> None:
        """The request fails with HTTP `status` and the API's own style of error body."""
        self._script.append(Fail(status, message))

    def hold(self) -> None:
        """The request waits, unanswered, until `release()`; it then takes the next reply of the script."""
        hold = Hold()
        self._holds.append(hold)
        self._script.append(hold)

    def release(self) -> None:
        """Lets the oldest hold (or stalled answer) go on."""
        if not self._holds:
            raise RuntimeError("release() without a hold() or say(stall=True) to release")
        self._holds.popleft().released.set()

    @property
    def pending(self) -> int:
        """Replies not yet taken."""
        return len(self._script)

    async def _take(self) -> Any:
        """The next reply of the script, waiting out holds; an empty script says "Done."."""
        while self._script:
            reply = self._script.popleft()
            if not isinstance(reply, Hold):
                return reply
            await reply.released.wait()
        return Say(DEFAULT_TEXT)

    # -- the server ---------------------------------------------------------------------------------

    def _routes(self, app: web.Application) -> None:
        raise NotImplementedError

    async def start(self) -> None:
        app = web.Application()
        self._routes(app)
        self._runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=0.5)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self._port = self._runner.addresses[0][1]

    async def stop(self) -> None:
        for hold in self._holds:  # a held request would keep the server from closing
            hold.released.set()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()
