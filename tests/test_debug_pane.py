"""`trace-follow`: the org's log stream in a pane of its own, on both terminals (tmux, and iTerm2 through the
fake iTerm2 API server with real processes): it shows what is written while it is open, and closing it (by the
command, or Ctrl-C in it) leaves no pane behind."""

from __future__ import annotations

import asyncio
import json
import tempfile
from pathlib import Path

import pytest

from agent_console.runtime import logs, paths
from agent_console.runtime.debug_pane import WINDOW_NAME, DebugPane

from .event_recorder import Recorder
from .test_backend_conformance import Terminal, recorder, screen_shows, terminal  # noqa: F401  (fixtures)


def log_line(folder: Path, message: str) -> None:
    line = {"time": "2026-12-02T06:00:00.000Z", "level": "info", "logger": "journal", "message": message}
    with (folder / logs.LOG_FILE).open("a", encoding="utf-8") as handle:
        handle.write(json.dumps(line) + "\n")


@pytest.fixture
def state(monkeypatch: pytest.MonkeyPatch) -> Path:
    root = Path(tempfile.mkdtemp(prefix="acdp", dir="/tmp"))  # the pane's program finds it through the environment
    monkeypatch.setenv("XDG_STATE_HOME", str(root))
    folder = paths.state_dir("crew")
    log_line(folder, "before the pane opened")
    return folder


async def test_the_debug_pane_streams_the_log_and_closing_it_leaves_nothing(
    terminal: Terminal,  # noqa: F811
    recorder: Recorder,  # noqa: F811
    state: Path,
) -> None:
    backend = terminal.backend
    debug = DebugPane(backend, "crew")
    said = await debug.open()
    assert f"window {WINDOW_NAME!r}" in said and debug.pane is not None
    pane = debug.pane
    assert "already streams" in await debug.open()  # one at a time
    await screen_shows(backend, recorder, pane, "before the pane opened", timeout=20)
    log_line(state, "written while it is open \x1b[2J")
    shown = await screen_shows(backend, recorder, pane, "written while it is open", timeout=20)
    assert "␛[2J" in shown  # the stream's escape is shown, never acted on

    assert await debug.close() == f"closed the debug pane {pane}"
    assert pane not in {info.pane for info in await backend.list_panes(all_sessions=False)}
    assert await debug.close() == "no debug pane is open"

    await debug.open()  # Ctrl-C in it ends the follower: its pane goes with it
    again = debug.pane
    assert again is not None
    await screen_shows(backend, recorder, again, "before the pane opened", timeout=20)
    await backend.send_keys(again, ["C-c"])
    for _ in range(200):  # the follower ends, and its pane with it (tmux says so of the window, not the pane)
        if not await debug.is_open():
            break
        await asyncio.sleep(0.1)
    assert not await debug.is_open()
    assert again not in {info.pane for info in await backend.list_panes(all_sessions=False)}
