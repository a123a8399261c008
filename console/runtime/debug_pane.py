"""The debug pane: the org's log stream (`agent-console logs ORG --follow`) in a pane of its own, for a second screen.

On tmux a window of the org's session named `journal` (a second client shows it with a grouped session,
`tmux new-session -t ORG`), on iTerm2 a tab of the org's window, both through `TerminalBackend.new_window`: a
window of its own can go to another screen, and takes no room from the agents' panes. The pane is not held:
when its follower ends (Ctrl-C, `trace-follow close`, the console stopping) it closes, and nothing is left.
"""

from __future__ import annotations

import os
import shlex
import sys

from agent_console.runtime import paths
from agent_console.terminal.base import Launch, TerminalBackend

WINDOW_NAME = "journal"


def follower_launch(org: str) -> Launch:
    """`agent-console logs ORG --follow`, with this console's state folder (the pane's shell may not have it)."""
    command = shlex.join([sys.executable, "-m", "agent_console.cli", "logs", org, "--follow"])
    env = {"XDG_STATE_HOME": str(paths.state_root().parent)} if os.environ.get("XDG_STATE_HOME") else {}
    return Launch(command=command, env=env)


class DebugPane:
    """The one debug pane of a console: opened on demand, closed on demand or when the console stops."""

    def __init__(self, backend: TerminalBackend, org: str) -> None:
        self.backend = backend
        self.org = org
        self.pane: str | None = None

    async def is_open(self) -> bool:
        if self.pane is None:
            return False
        # listed, not asked for by id: tmux answers a closed pane's id with an empty line
        alive = {info.pane for info in await self.backend.list_panes(all_sessions=False) if info.alive}
        if self.pane not in alive:
            self.pane = None  # closed by hand (Ctrl-C, or the window closed): nothing left to close
            return False
        return True

    async def open(self) -> str:
        if await self.is_open():
            return f"the journal already streams in pane {self.pane} (trace-follow close closes it)"
        info = await self.backend.new_window(WINDOW_NAME, follower_launch(self.org), hold=False)
        self.pane = info.pane
        return (
            f"the journal streams in window {info.window_name!r} (pane {info.pane}): show that window on a second "
            "screen; trace-follow close (or Ctrl-C in it) closes it"
        )

    async def close(self) -> str:
        if not await self.is_open():
            return "no debug pane is open"
        assert self.pane is not None
        pane, self.pane = self.pane, None
        await self.backend.close_pane(pane)
        return f"closed the debug pane {pane}"
