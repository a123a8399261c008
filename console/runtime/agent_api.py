"""The agent's side of the control API, shared by the agent commands of the command line and the demo agent:
tell the console of an event, ask and wait for the answer.

An event that needs no answer falls back to the escape sequence on the pane's own terminal when the socket
cannot be reached, so it also works from a remote host inside an ssh session in the pane.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time

from agent_console.agents.events import AgentEvent
from agent_console.agents.protocol import encode
from agent_console.runtime.client import ControlClient, ControlUnreachable


async def ask_and_wait(client: ControlClient, text: str, command: str | None, timeout: float | None) -> dict:
    """Ask, then wait for the answer, waiting again through a restart of the console."""
    created = await client.call("POST", "/v1/approvals", {"text": text, "command": command})
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        left = None if deadline is None else max(0.1, deadline - time.monotonic())
        try:
            return await client.call("POST", f"/v1/approvals/{created['id']}/wait", {"timeout": left}, wait=left)
        except ControlUnreachable:
            if deadline is not None and time.monotonic() >= deadline:
                return {"timed_out": True}
            await asyncio.sleep(0.5)  # the console is restarting: the request is in its journal


def wire(event: AgentEvent) -> dict:
    """The event as the control API takes it."""
    return {"v": 1, **event.model_dump(mode="json", exclude_none=True)}


async def tell(client: ControlClient | None, token: str, event: AgentEvent) -> int:
    """Send an event that needs no answer: through the socket, else as an escape sequence on the terminal."""
    if client is not None:
        try:
            await client.call("POST", "/v1/events", wire(event))
            return 0
        except ControlUnreachable:
            pass
    _write_to_terminal(encode(token, event))
    return 0


def _write_to_terminal(sequence: bytes) -> None:
    # The pane's terminal, even when our stdout is captured (as in an agent's hook); else stdout.
    try:
        descriptor = os.open("/dev/tty", os.O_WRONLY | os.O_NOCTTY)
    except OSError:
        sys.stdout.buffer.write(sequence)
        sys.stdout.flush()
        return
    try:
        os.write(descriptor, sequence)
    finally:
        os.close(descriptor)
