"""A backend's pushed events, collected in the background for a test to wait on (bounded waits)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from agent_console.terminal.base import PaneOutput, TerminalEvent


class Recorder:
    """Collects a backend's pushed events in the background; waits are bounded."""

    def __init__(self, backend: Any) -> None:
        self.events: list[TerminalEvent] = []
        self._changed = asyncio.Event()
        self._stream = backend.events()
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        async for event in self._stream:
            self.events.append(event)
            self._changed.set()

    async def wait_for(self, predicate: Callable[[TerminalEvent], Any], timeout: float = 10.0, start: int = 0) -> Any:
        """The first event from index `start` on that `predicate` accepts, waiting up to `timeout` for it."""

        async def wait() -> TerminalEvent:
            while True:
                for event in self.events[start:]:
                    if predicate(event):
                        return event
                self._changed.clear()
                await self._changed.wait()

        return await asyncio.wait_for(wait(), timeout)

    def output(self, pane: str) -> bytes:
        return b"".join(e.data for e in self.events if isinstance(e, PaneOutput) and e.pane == pane)

    async def stop(self) -> None:
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)
