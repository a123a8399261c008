"""Using the real `iterm2` library against the fake, one test at a time.

The library keeps process-wide state (the `App` singleton, notification handlers, delegates) that outlives a
connection; a test that starts fresh must clear it, or the previous test's handlers run on its notifications.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import iterm2
import iterm2.app
import iterm2.connection
import iterm2.notifications
import iterm2.session
import iterm2.tab
import iterm2.window


def reset_iterm2_library_state() -> None:
    """Forget the `App`, every notification handler and the delegates, as in a new process."""
    iterm2.app.App.instance = None
    iterm2.notifications._handlers.clear()
    iterm2.connection.gDisconnectCallbacks.clear()
    iterm2.session.Session.delegate = None
    iterm2.tab.Tab.delegate = None
    iterm2.window.Window.delegate = None


async def notifications_handled(connection: iterm2.Connection) -> None:
    """Until the library has run every handler for the notifications the fake sent so far.

    The library hands each notification to its handlers in a task of its own, walking the live list of handlers
    for that kind: a handler added while an earlier one awaits (the `App` refreshing itself after a split, say)
    is handed that older notification too. Wait for this before opening a monitor right after the fake changed
    something, or the monitor's first update may come from before it was opened."""
    await iterm2.rpc.async_get_focus_info(connection)  # its reply follows every notification sent before it
    while pending := [task for task in connection._Connection__tasks if not task.done()]:
        await asyncio.wait(pending)


async def close_iterm2_connection(connection: iterm2.Connection) -> None:
    """Stop the library's reader task and close its websocket (it has no public close)."""
    reader = getattr(connection, "_Connection__dispatch_forever_future", None)
    if reader is not None:
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await reader
    if connection.websocket is not None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(connection.websocket.close(), 2.0)


@contextlib.asynccontextmanager
async def iterm2_connection() -> AsyncIterator[iterm2.Connection]:
    """A library connection (it finds the socket under $HOME and reads ITERM2_COOKIE/ITERM2_KEY)."""
    connection = await iterm2.Connection.async_create()
    try:
        yield connection
    finally:
        await close_iterm2_connection(connection)
