"""`agent-console --demo` end to end: the console in a real tmux pane, demo agents in theirs, keys typed by tmux."""

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

from .conftest import tmux, wait_for, when

DEMO_AGENTS = {"planner", "writer", "api", "tester", "ci", "db"}


class Console:
    def __init__(self, socket: str, root: Path, runtime: Path, size: tuple[int, int] = (240, 60)) -> None:
        self.socket = socket
        self.env = {k: v for k, v in os.environ.items() if k not in ("TMUX", "TMUX_PANE")}
        self.env.update(
            XDG_RUNTIME_DIR=str(runtime),
            XDG_STATE_HOME=str(root / "state"),
            PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
            TERM="xterm-256color",
        )
        command = shlex.join([sys.executable, "-m", "agent_console.cli", "--demo"])
        subprocess.run(
            [
                "tmux",
                "-L",
                socket,
                "-f",
                "/dev/null",
                "new-session",
                "-d",
                "-s",
                "demo",
                "-x",
                str(size[0]),
                "-y",
                str(size[1]),
                command,
            ],
            check=True,
            env=self.env,
            cwd=root,
        )

    def panes(self) -> dict[str, str]:
        rows = tmux(self.socket, "list-panes", "-a", "-F", "#{@agent_console_agent} #{pane_id}").splitlines()
        return dict(row.split(" ", 1) for row in rows if row.split(" ", 1)[0])

    def approvals(self) -> list[dict]:
        result = subprocess.run(
            [sys.executable, "-m", "agent_console.cli", "approvals", "--json", "--org", "demo"],
            capture_output=True,
            text=True,
            env=self.env,
            timeout=30,
            check=False,
        )
        return json.loads(result.stdout) if result.returncode == 0 and result.stdout.strip() else []

    def screen(self, pane: str) -> str:
        return tmux(self.socket, "capture-pane", "-p", "-S", "-200", "-t", pane)

    def active_pane(self) -> str:
        return tmux(self.socket, "display", "-p", "-t", "demo:", "#{pane_id}").strip()


@pytest.fixture
def console(tmux_socket: str, tmp_path: Path) -> Iterator[Console]:
    runtime = Path(tempfile.mkdtemp(prefix="acrt", dir="/tmp"))
    yield Console(tmux_socket, tmp_path, runtime)
    shutil.rmtree(runtime, ignore_errors=True)


def test_demo_runs_and_is_driven_by_keys(console: Console, tmux_socket: str) -> None:
    panes = wait_for(lambda: when(console.panes(), lambda p: set(p) >= DEMO_AGENTS), 30, "the demo panes")
    exec_pane = panes["exec"]
    assert wait_for(lambda: "Org" in console.screen(exec_pane), 15, "the console on screen")
    widths = {
        line.split()[0]: int(line.split()[1])
        for line in tmux(tmux_socket, "list-panes", "-t", "demo:", "-F", "#{pane_id} #{pane_left}").splitlines()
    }
    assert widths[exec_pane] == 0  # the executive pane is the leftmost

    # A demo agent asks; `y` typed into the console approves the oldest request, and the agent goes on.
    pending = wait_for(console.approvals, 40, "a demo agent's approval request")
    oldest = pending[0]
    shown = "$ " + oldest["command"][:12]
    wait_for(lambda: shown in console.screen(exec_pane), 5, "the request in the console's queue")
    tmux(tmux_socket, "send-keys", "-t", exec_pane, "y")
    try:
        wait_for(lambda: oldest["id"] not in {item["id"] for item in console.approvals()}, 10, "the request answered")
    except AssertionError:
        raise AssertionError(
            f"{oldest} still pending; now {console.approvals()}\n{console.screen(exec_pane)}"
        ) from None
    agent_pane = console.panes()[oldest["agent"]]
    wait_for(lambda: f"approved: {oldest['command']}" in console.screen(agent_pane), 10, "the agent going on")

    # enter on an agent (the health table has the focus; its first row) moves tmux's focus to its pane.
    first_agent = _first_health_row(console.screen(exec_pane))
    tmux(tmux_socket, "send-keys", "-t", exec_pane, "Enter")
    wait_for(lambda: console.active_pane() == console.panes()[first_agent], 10, f"focus on {first_agent}'s pane")
    bound = tmux(tmux_socket, "list-keys", "-T", "root", "M-e")
    assert f"switch-client -t {exec_pane}" in bound.replace('"', "")

    # The jump-back key, pressed by a real tmux client (attached from an outer tmux that types it).
    outer = f"{tmux_socket}-outer"
    attach = f"env -u TMUX tmux -L {tmux_socket} attach -t demo"
    subprocess.run(
        ["tmux", "-L", outer, "-f", "/dev/null", "new-session", "-d", "-x", "240", "-y", "60", attach],
        check=True,
        env=console.env,
    )
    try:
        wait_for(lambda: tmux(tmux_socket, "list-clients").strip(), 10, "the client attached")
        time.sleep(0.3)
        assert console.active_pane() != exec_pane
        tmux(outer, "send-keys", "M-e")
        wait_for(lambda: console.active_pane() == exec_pane, 10, "alt+e bringing the focus back to the console")
    finally:
        tmux(outer, "kill-server")


def test_in_a_120x40_terminal_the_whole_request_is_on_screen_before_y_approves_exactly_it(
    tmux_socket: str, tmp_path: Path
) -> None:
    runtime = Path(tempfile.mkdtemp(prefix="acrt", dir="/tmp"))
    try:
        console = Console(tmux_socket, tmp_path, runtime, size=(120, 40))
        panes = wait_for(lambda: when(console.panes(), lambda p: set(p) >= DEMO_AGENTS), 30, "the demo panes")
        exec_pane = panes["exec"]
        window = tmux(tmux_socket, "display", "-p", "-t", exec_pane, "#{window_id} #{pane_width}").split()
        assert window[1] == "120", "the console keeps the whole width: the agents spill to other windows"
        placed = tmux(tmux_socket, "list-panes", "-a", "-F", "#{window_id} #{@agent_console_agent}").splitlines()
        assert {line.split()[1] for line in placed if line.split()[0] == window[0]} == {"exec"}

        pending = wait_for(lambda: when(console.approvals(), lambda p: len(p) >= 2), 60, "two pending requests")
        oldest = pending[0]
        shown = f"{oldest['agent']} asks $ {oldest['command']}"
        screen = wait_for(lambda: when(console.screen(exec_pane), lambda s: shown in s), 10, "the request in full")
        assert f"{len(console.approvals())} pending" in screen
        tmux(tmux_socket, "send-keys", "-t", exec_pane, "y")
        wait_for(lambda: oldest["id"] not in {item["id"] for item in console.approvals()}, 10, "the request answered")
        still = {item["id"] for item in console.approvals()}
        assert {item["id"] for item in pending[1:]} <= still, "the others are still pending"
        agent_pane = console.panes()[oldest["agent"]]
        wait_for(lambda: f"approved: {oldest['command']}" in console.screen(agent_pane), 10, "the agent going on")
        answered = [name for name in DEMO_AGENTS if "approved: " in console.screen(console.panes()[name])]
        assert answered == [oldest["agent"]]
    finally:
        shutil.rmtree(runtime, ignore_errors=True)


def _first_health_row(screen: str) -> str:
    lines = screen.splitlines()
    header = next((i for i, line in enumerate(lines) if "State" in line and "Last" in line), None)
    if header is not None and header + 1 < len(lines):
        for name in ("planner", "writer", "api", "tester", "ci", "db"):
            if f"│ {name} " in lines[header + 1]:
                return name
    raise AssertionError("no agent row on the console screen:\n" + screen)


def test_a_pane_the_org_does_not_own_is_reported(tmux_socket: str, tmp_path: Path) -> None:
    runtime = Path(tempfile.mkdtemp(prefix="acrt", dir="/tmp"))
    try:
        env = {k: v for k, v in os.environ.items() if k not in ("TMUX", "TMUX_PANE")}
        env.update(XDG_RUNTIME_DIR=str(runtime), XDG_STATE_HOME=str(tmp_path / "state"), TERM="xterm-256color")
        # The user's window already has a pane of theirs; the console is started in a second one.
        subprocess.run(
            [
                "tmux",
                "-L",
                tmux_socket,
                "-f",
                "/dev/null",
                "new-session",
                "-d",
                "-s",
                "mine",
                "-x",
                "240",
                "-y",
                "60",
                "sleep 600",
            ],
            check=True,
            env=env,
        )
        command = shlex.join([sys.executable, "-m", "agent_console.cli", "--demo"])
        console_pane = tmux(tmux_socket, "split-window", "-h", "-P", "-F", "#{pane_id}", "-t", "mine:", command).strip()
        stranger = wait_for(
            lambda: "also holds" in (screen := tmux(tmux_socket, "capture-pane", "-p", "-t", console_pane)) and screen,
            30,
            "the console's warning",
        )
        assert "%0" in stranger  # the user's own pane, named
        assert tmux(tmux_socket, "display", "-p", "-t", "%0", "#{pane_current_command}").strip() == "sleep"
    finally:
        shutil.rmtree(runtime, ignore_errors=True)


def test_outside_tmux_it_starts_a_session_with_itself_and_attaches(tmux_socket: str, tmp_path: Path) -> None:
    runtime = Path(tempfile.mkdtemp(prefix="acrt", dir="/tmp"))
    env = {k: v for k, v in os.environ.items() if k not in ("TMUX", "TMUX_PANE")}
    env.update(XDG_RUNTIME_DIR=str(runtime), XDG_STATE_HOME=str(tmp_path / "state"), TERM="xterm-256color")
    command = shlex.join([sys.executable, "-m", "agent_console.cli", "--demo", "--socket-name", tmux_socket])
    # `script` gives the command a terminal of its own, as a user's shell would.
    terminal = subprocess.Popen(
        ["script", "-qfec", f"stty cols 240 rows 60; exec {command}", "/dev/null"],
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for(lambda: tmux(tmux_socket, "list-clients", "-F", "#{client_session}").strip() == "demo", 30, "attach")
        panes = wait_for(
            lambda: when(
                dict(
                    line.split(" ", 1)
                    for line in tmux(
                        tmux_socket, "list-panes", "-a", "-F", "#{@agent_console_agent} #{pane_current_command}"
                    ).splitlines()
                    if line.split(" ", 1)[0]
                ),
                lambda found: set(found) >= DEMO_AGENTS | {"exec"},
            ),
            30,
            "the demo laid out around the console",
        )
        assert panes["exec"].startswith("python")  # the console itself runs in the executive pane
    finally:
        tmux(tmux_socket, "kill-server")
        terminal.kill()
        terminal.wait(timeout=10)
        shutil.rmtree(runtime, ignore_errors=True)
