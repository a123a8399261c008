"""The preview end to end: the console in a real tmux at 120x40, shell agents in theirs; `p` shows the selected
agent's screen, and what the agent prints next appears in it."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from .conftest import tmux, wait_for, when

SHELL = "bash --norc --noprofile"
SPEC = f"""
[org]
name = "peek"

[[team]]
name = "core"

[[agent]]
name = "printer"
team = "core"
command = "{SHELL}"

[[agent]]
name = "other"
team = "core"
command = "{SHELL}"
"""


class Running:
    """The console (`agent-console SPEC`) as the program of a private tmux session of 120x40."""

    def __init__(self, socket: str, root: Path, runtime: Path) -> None:
        self.socket = socket
        env = {k: v for k, v in os.environ.items() if k not in ("TMUX", "TMUX_PANE")}
        env.update(XDG_RUNTIME_DIR=str(runtime), XDG_STATE_HOME=str(root / "state"), TERM="xterm-256color")
        spec = root / "peek.toml"
        spec.write_text(SPEC)
        command = shlex.join([sys.executable, "-m", "agent_console.cli", str(spec)])
        new = ["tmux", "-L", socket, "-f", "/dev/null", "new-session", "-d", "-s", "peek", "-x", "120", "-y", "40"]
        subprocess.run([*new, command], check=True, env=env, cwd=root)
        self.console = tmux(socket, "display", "-p", "-t", "peek:", "#{pane_id}").strip()

    def pane_of(self, agent: str) -> str:
        rows = tmux(self.socket, "list-panes", "-a", "-F", "#{@agent_console_agent} #{pane_id}").splitlines()
        panes = dict(row.split(" ", 1) for row in rows if row.split(" ", 1)[0])
        return panes.get(agent, "")

    def screen(self) -> str:
        return tmux(self.socket, "capture-pane", "-p", "-t", self.console)

    def shows(self, text: str, what: str, timeout: float = 15) -> str:
        try:
            return wait_for(lambda: when(self.screen(), lambda screen: text in screen), timeout, what)
        except AssertionError as error:
            raise AssertionError(f"{error}; the console shows:\n{self.screen()}") from None

    def keys(self, pane: str, *keys: str) -> None:
        tmux(self.socket, "send-keys", "-t", pane, *keys)


@pytest.fixture
def running(tmux_socket: str, tmp_path: Path) -> Iterator[Running]:
    runtime = Path(tempfile.mkdtemp(prefix="acrt", dir="/tmp"))  # short: unix socket paths are capped
    console = Running(tmux_socket, tmp_path, runtime)
    yield console
    shutil.rmtree(runtime, ignore_errors=True)


def preview_rows(screen: str) -> list[str]:
    """The preview's column of the console at 120x40 (the right-hand half), row by row."""
    return [line[60:] for line in screen.splitlines()]


def test_the_preview_follows_a_shell_agent_s_screen_and_the_cursor(running: Running) -> None:
    running.shows("Ready.", "the console on screen", 60)
    printer = wait_for(lambda: running.pane_of("printer"), 30, "printer's pane")
    running.shows("○ idle", "the agents idle at their prompts", 30)
    running.keys(running.console, "p")
    running.shows("Preview · printer", "the preview of the health table's first agent")

    # What the agent prints next appears in the preview: the shell's answer, not the typed command.
    running.keys(printer, "echo marker-$((6*7))", "Enter")
    screen = running.shows("marker-42", "printer's output in the preview")
    assert any("marker-42" in row for row in preview_rows(screen))

    # Agent text is data: markup stays literal, a secret is redacted.
    key = "sk-ant-" + "x9" * 12
    running.keys(printer, f"printf '\\033]0;pwned\\007[red]hi[/red] {key}\\n'", "Enter")
    screen = running.shows("[red]hi[/red] [redacted:anthropic-key]", "the hostile line, as text")
    assert key not in screen  # neither in the output nor in the typed command line

    # A flood: the newest line is in view (the preview follows the bottom).
    running.keys(printer, "seq 1 300 | sed 's/^/flood-/'", "Enter")
    running.shows("flood-300", "the end of the flood in the preview")

    # The cursor moves to the next agent: the preview follows it, from a capture of its pane.
    running.keys(running.pane_of("other"), "echo in-the-other-pane", "Enter")
    running.keys(running.console, "Down")
    screen = running.shows("Preview · other", "the preview of the next agent")
    running.shows("in-the-other-pane", "other's screen in the preview")
    assert "flood-300" not in running.screen()

    # enter still jumps to the real pane (the health table has the focus).
    running.keys(running.console, "Enter")
    wait_for(
        lambda: tmux(running.socket, "display", "-p", "#{pane_id}").strip() == running.pane_of("other"),
        10,
        "tmux's focus on other's pane",
    )
