"""`agent-console hook claude|codex`: an agent program's hook reports to the console, fast and never failing.

The program waits for its hooks, so this path imports little (see `__main__`) and gives up after a few seconds.
"""

from __future__ import annotations

import asyncio
import json
import sys

from agent_console.runtime.client import ControlClient, ControlRefused, ControlUnreachable, agent_environment
from agent_console.runtime.paths import UnsafeRuntimeDir

HOOK_TIMEOUT = 3.0
MAX_HOOK_INPUT = 1024 * 1024
PROGRAMS = ("claude", "codex")


def main(argv: list[str]) -> int:
    """`hook PROGRAM [PAYLOAD]` without the rest of the command line's imports; --help goes the long way."""
    if not argv or argv[0] not in PROGRAMS or len(argv) > 2:
        return _warn(f"usage: agent-console hook {{{','.join(PROGRAMS)}}} [PAYLOAD]")
    return asyncio.run(report(argv[0], argv[1] if len(argv) == 2 else None))


async def report(program: str, payload_text: str | None) -> int:
    raw = payload_text if payload_text is not None else sys.stdin.read(MAX_HOOK_INPUT + 1)
    try:
        payload = json.loads(raw)
    except json.JSONDecodeError as error:
        return _warn(f"the {program} hook's input is not JSON ({error})")
    if not isinstance(payload, dict) or len(raw) > MAX_HOOK_INPUT:
        return _warn(f"the {program} hook's input is not a JSON object of at most {MAX_HOOK_INPUT} bytes")
    try:
        _, token, socket = agent_environment()
        if socket is None:
            return _warn("AGENT_CONSOLE_SOCKET is not set: this hook runs only in an agent's pane")
        client = ControlClient(socket, token)
        await asyncio.wait_for(client.call("POST", f"/v1/hooks/{program}", payload), HOOK_TIMEOUT)
    except (ControlUnreachable, ControlRefused, UnsafeRuntimeDir) as error:
        return _warn(getattr(error, "message", None) or str(error))
    except TimeoutError:
        return _warn(f"the console did not answer within {HOOK_TIMEOUT:.0f} s")
    return 0


def _warn(message: str) -> int:
    print(f"agent-console hook: {message}", file=sys.stderr)
    return 0  # a hook never fails its agent
