"""The console in a real private tmux, attacked from its agent's pane and by a paste into its own pane."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ..conftest import tmux, wait_for, when

SPEC = """
[org]
name = "sec"

[[team]]
name = "core"

[[agent]]
name = "mallory"
team = "core"
command = "bash --norc --noprofile"
"""
# what mallory types in its own pane (bash $'…' quoting makes the escapes real)
TASK = r"$'\e]2;pwned\a[/x] \e[2Kreal task'"
COMMAND = r"$'rm -rf ~\b\b\b\b\b\b\b\bls -la'"


class Console:
    def __init__(self, socket: str, root: Path, runtime: Path) -> None:
        self.socket = socket
        self.env = {k: v for k, v in os.environ.items() if k not in ("TMUX", "TMUX_PANE")}
        self.env.update(
            XDG_RUNTIME_DIR=str(runtime),
            XDG_STATE_HOME=str(root / "state"),
            PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
            TERM="xterm-256color",
        )
        spec = root / "sec.toml"
        spec.write_text(SPEC)
        command = shlex.join([sys.executable, "-m", "agent_console.cli", str(spec)])
        size = ["-x", "360", "-y", "50"]  # the console's pane wide enough for the task column
        subprocess.run(
            ["tmux", "-L", socket, "-f", "/dev/null", "new-session", "-d", "-s", "sec", *size, command],
            check=True,
            env=self.env,
            cwd=root,
        )

    def panes(self) -> dict[str, str]:
        rows = tmux(self.socket, "list-panes", "-a", "-F", "#{@agent_console_agent} #{pane_id}").splitlines()
        return dict(row.split(" ", 1) for row in rows if row.split(" ", 1)[0])

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "agent_console.cli", *args],
            capture_output=True,
            text=True,
            env=self.env,
            timeout=30,
            check=False,
        )

    def type_in(self, pane: str, line: str) -> None:
        tmux(self.socket, "send-keys", "-t", pane, "-l", line)
        tmux(self.socket, "send-keys", "-t", pane, "Enter")

    def screen(self, pane: str) -> str:
        return tmux(self.socket, "capture-pane", "-p", "-t", pane)


@pytest.fixture
def console(tmux_socket: str, tmp_path: Path) -> Iterator[Console]:
    runtime = Path(tempfile.mkdtemp(prefix="acrt", dir="/tmp"))
    yield Console(tmux_socket, tmp_path, runtime)
    shutil.rmtree(runtime, ignore_errors=True)


def test_an_agents_escapes_and_markup_reach_neither_the_terminal_nor_the_human_as_control(console: Console) -> None:
    panes = wait_for(lambda: when(console.panes(), lambda p: {"exec", "mallory"} <= set(p)), 30, "the panes")
    exec_pane, agent = panes["exec"], panes["mallory"]
    wait_for(lambda: "Health" in console.screen(exec_pane), 20, "the console on screen")
    title = "sec · executive\n"  # what the console names its own pane
    wait_for(lambda: tmux(console.socket, "display", "-p", "-t", exec_pane, "#{pane_title}") == title, 20, "title")

    console.type_in(agent, f"agent-console emit status working --task {TASK}")
    console.type_in(agent, f"agent-console ask 'clean up?' --command {COMMAND} &")
    pending = wait_for(lambda: json.loads(console.cli("approvals", "--json", "--org", "sec").stdout or "[]"), 20, "ask")
    # shown as data: neither markup that crashes the console nor a title for the terminal
    wait_for(lambda: "␛]2;pwned␇[/x] ␛[2Kreal" in console.screen(exec_pane), 20, "the task shown")
    assert tmux(console.socket, "display", "-p", "-t", exec_pane, "#{pane_title}") == title
    listed = console.cli("approvals", "--org", "sec").stdout
    assert "rm -rf ~⌫⌫⌫⌫⌫⌫⌫⌫ls -la" in listed and "\b" not in listed
    wait_for(lambda: "rm -rf ~⌫⌫⌫⌫⌫⌫⌫⌫ls -la" in console.screen(exec_pane), 10, "the real command in the queue")

    # a paste into the console whose text ends the paste early: the rest would be the keys A (approve all), y
    tmux(console.socket, "set-buffer", "-b", "hostile", "--", "x \x1b[201~Ay")
    tmux(console.socket, "paste-buffer", "-p", "-d", "-b", "hostile", "-t", exec_pane)
    time.sleep(0.3)  # then the human presses a key of their own, later: `?` opens the help
    tmux(console.socket, "send-keys", "-t", exec_pane, "?")
    wait_for(lambda: "approve all" in console.screen(exec_pane) and "Keys" in console.screen(exec_pane), 10, "help")
    still = json.loads(console.cli("approvals", "--json", "--org", "sec").stdout or "[]")
    assert [item["id"] for item in still] == [item["id"] for item in pending]
