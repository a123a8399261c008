"""`agent-console --demo` end to end: the console in a real tmux pane, demo agents in theirs, keys typed by tmux."""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import shutil
import signal
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

        def agreeing() -> str | None:  # the demo keeps asking: the count on screen follows the API's
            screen, count = console.screen(exec_pane), len(console.approvals())
            return screen if shown in screen and f"{count} pending" in screen else None

        wait_for(agreeing, 10, "the request in full, and the pending count the API gives")
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
        exec_pane = tmux(tmux_socket, "display", "-p", "-t", "demo:0.0", "#{pane_id}").strip()
        # its pane outlives it, with what it said on its way out and its exit status
        assert tmux(tmux_socket, "show", "-p", "-t", exec_pane, "remain-on-exit").strip() == "remain-on-exit on"
    finally:
        tmux(tmux_socket, "kill-server")
        terminal.kill()
        terminal.wait(timeout=10)
        shutil.rmtree(runtime, ignore_errors=True)


# --- never crash: commands against a real tmux ----------------------------------------------------------------------


async def _answered(pilot, text: str, rounds: int = 400) -> str:
    """Send `text` in the chat and wait for the executive's answer to it (a command may take a while)."""
    from agent_console.widgets import ChatPanel

    from .test_app import chat, chat_text

    before = chat_text(pilot.app).count("executive: ")
    await chat(pilot, text)
    for _ in range(rounds):
        said = chat_text(pilot.app)
        if said.count("executive: ") > before:
            return said.rsplit("executive: ", 1)[1]
        await pilot.pause(0.05)
    raise AssertionError(f"no answer to {text!r}: {pilot.app.query_one(ChatPanel).log_lines}")


@pytest.fixture
def console_app(tmux_socket: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator:
    """`make(org)`: the console app over a real supervisor, its executive pane a private tmux server's pane."""
    from agent_console.runtime.supervisor import Supervisor
    from agent_console.terminal.tmux import TmuxBackend
    from agent_console.tui.app import ConsoleApp

    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    runtime = Path(tempfile.mkdtemp(prefix="acrt", dir="/tmp"))
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(runtime))

    def make(org) -> ConsoleApp:
        tmux(tmux_socket, "-f", "/dev/null", "new-session", "-d", "-s", "console", "-x", "120", "-y", "40", "sleep 600")
        exec_pane = tmux(tmux_socket, "display", "-p", "-t", "console:", "#{pane_id}").strip()
        supervisor = Supervisor(org, TmuxBackend(tmux_socket), (120, 40), exec_pane=exec_pane)
        return ConsoleApp(supervisor, jump_back_key="M-e")

    yield make
    shutil.rmtree(runtime, ignore_errors=True)


async def _started(pilot) -> None:
    for _ in range(400):
        if pilot.app.supervisor.report is not None:
            return
        await pilot.pause(0.05)
    raise AssertionError("the org did not start")


async def test_spawning_and_killing_programs_that_exit_at_once_never_ends_the_console(
    tmux_socket: str, console_app
) -> None:
    """`false` exits before tmux is told to keep its pane: over rounds of /spawn and /kill, and agents that
    spill into windows of their own, every command answers and the console stays up."""
    from agent_console.agents.model import Org

    app = console_app(Org(name="console"))
    tmux(tmux_socket, "bind-key", "-n", "M-e", "display-message", "mine")  # the user's own, before the console's
    async with app.run_test(size=(120, 40)) as pilot:
        await _started(pilot)
        assert await _answered(pilot, "/team new ops") == "team ops created"
        for round_ in range(4):
            name = f"f{round_}"
            assert await _answered(pilot, f"/spawn {name} --team ops --command false") == (
                f"spawned {name} (shell) in team ops"
            )
            assert await _answered(pilot, f"/kill {name}") == f"killed {name} and closed its pane"
        kept = [f"k{number}" for number in range(7)]  # more than one window holds: panes move and spill
        for name in kept:
            assert await _answered(pilot, f"/spawn {name} --team ops --command false") == (
                f"spawned {name} (shell) in team ops"
            )
        panes = tmux(tmux_socket, "list-panes", "-a", "-F", "#{@agent_console_agent} #{pane_dead}").split("\n")
        assert sorted(line.split()[0] for line in panes if line.strip() and line.split()[0] in kept) == kept
        assert all(line.endswith(" 1") for line in panes if line.split(" ")[0] in kept)  # held, not gone
        assert app.crash_error is None
        assert "switch-client" in tmux(tmux_socket, "list-keys", "-T", "root", "M-e")
    assert app.crash_error is None and not app.return_code
    assert "display-message mine" in tmux(tmux_socket, "list-keys", "-T", "root", "M-e")  # the user's, back


async def test_an_org_whose_program_is_not_there_starts_and_says_which(
    console_app, monkeypatch: pytest.MonkeyPatch
) -> None:
    from agent_console.agents.model import Agent, Org, Team

    ghost = Agent(name="ghost", team="ops", command="nosuchprogram --serve")
    app = console_app(Org(name="ghosts", teams=(Team(name="ops"),), agents=(ghost,)))
    notes: list[str] = []
    monkeypatch.setattr(app, "notify", lambda message, **options: notes.append(str(message)))
    async with app.run_test(size=(120, 40)) as pilot:
        await _started(pilot)
        await pilot.pause()
        assert "program not found (not on PATH): ghost's 'nosuchprogram'" in notes
        assert (await _answered(pilot, "/status")).startswith("1 agents")  # up, and answering
    assert app.crash_error is None


def test_up_names_a_program_that_is_not_there(tmux_socket: str, tmp_path: Path) -> None:
    spec = tmp_path / "org.toml"
    spec.write_text(
        '[org]\nname = "ghosts"\n[[team]]\nname = "ops"\n'
        '[[agent]]\nname = "ghost"\nteam = "ops"\ncommand = "nosuchprogram --flag"\n',
        encoding="utf-8",
    )
    env = {k: v for k, v in os.environ.items() if k not in ("TMUX", "TMUX_PANE")}
    env["XDG_STATE_HOME"] = str(tmp_path / "state")
    result = subprocess.run(
        [sys.executable, "-m", "agent_console.cli", "up", str(spec), "--socket-name", tmux_socket, "--size", "120x40"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "note: ghost's program 'nosuchprogram' is not found (not on its PATH)" in result.stdout


def _console_in_tmux(socket: str, tmp_path: Path, prelude: str) -> tuple[str, dict[str, str]]:
    """The console (an empty org) as the program of a private tmux pane that stays when it ends, after
    `prelude` (Python run first in the same process); the pane and the environment."""
    env = {k: v for k, v in os.environ.items() if k not in ("TMUX", "TMUX_PANE")}
    # the control socket's path must stay short: not under tmp_path, longer still in a pytest-xdist worker
    runtime = tempfile.mkdtemp(prefix="acrt", dir="/tmp")
    env.update(XDG_STATE_HOME=str(tmp_path / "state"), XDG_RUNTIME_DIR=runtime, TERM="xterm-256color")
    code = f"{prelude}\nimport sys\nfrom agent_console.cli import main\nsys.exit(main([]))"
    command = shlex.join([sys.executable, "-c", code])
    tmux_command = ["tmux", "-L", socket, "-f", "/dev/null", "new-session", "-d", "-s", "console", "-x", "120"]
    subprocess.run(
        [*tmux_command, "-y", "40", command, ";", "set-option", "-p", "remain-on-exit", "on"],
        check=True,
        env=env,
        cwd=tmp_path,
    )
    pane = tmux(socket, "display", "-p", "-t", "console:", "#{pane_id}").strip()
    try:
        wait_for(lambda: "Ready." in tmux(socket, "capture-pane", "-p", "-t", pane), 60, "the console on screen")
    except AssertionError as error:
        raise AssertionError(f"{error}; the pane shows:\n{tmux(socket, 'capture-pane', '-p', '-t', pane)}") from None
    wait_for(lambda: "switch-client" in tmux(socket, "list-keys", "-T", "root", "M-e"), 15, "the jump-back key")
    return pane, env


def _ended(socket: str, pane: str) -> str:
    """Once the console's pane is dead: "1" and its exit status (tmux marks the pane dead a moment before it
    reaps the program and records the status)."""

    def dead() -> str | None:
        status = tmux(socket, "display", "-p", "-t", pane, "#{pane_dead}#{pane_dead_status}").strip()
        if status.startswith("1") and len(status) > 1:
            return status
        _nudge_if_unreaped(tmux(socket, "display", "-p", "-t", pane, "#{pane_pid}").strip())
        return None

    return wait_for(dead, 60, "the console to end")


def _nudge_if_unreaped(pid: str) -> None:
    """tmux 3.3a now and then leaves a pane's program a zombie, unreaped and the pane not dead, when it exits
    while the server is busy with its control client going away: a SIGCHLD to the server makes it look again."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except (OSError, ValueError):
        return
    fields = dict(line.split(":\t", 1) for line in status.splitlines() if ":\t" in line)
    if fields.get("State", "").startswith("Z"):
        with contextlib.suppress(OSError, ValueError):
            os.kill(int(fields["PPid"]), signal.SIGCHLD)


def test_an_unexpected_error_ends_the_console_with_status_1_one_paragraph_and_a_log(
    tmux_socket: str, tmp_path: Path
) -> None:
    prelude = (
        "from agent_console.tui.app import ConsoleApp\n"
        "def broken(self, start=''):\n"
        "    raise RuntimeError('injected for the test')\n"
        "ConsoleApp.action_focus_chat = broken"
    )
    pane, _ = _console_in_tmux(tmux_socket, tmp_path, prelude)
    tmux(tmux_socket, "send-keys", "-t", pane, "c")
    assert _ended(tmux_socket, pane) == "11"
    screen = " ".join(tmux(tmux_socket, "capture-pane", "-p", "-J", "-t", pane).split())
    assert "agent-console stopped on an unexpected error (RuntimeError: injected for the test)" in screen
    logs = list((tmp_path / "state" / "agent-console" / "console").glob("crash-*.log"))
    assert len(logs) == 1 and f"The full traceback is in {logs[0]}" in screen
    assert "in broken" in logs[0].read_text(encoding="utf-8")
    assert "Traceback" not in screen  # one paragraph, not the traceback
    assert tmux(tmux_socket, "list-keys", "-T", "root", "M-e") == ""


def test_ctrl_q_quits_with_status_0_and_takes_its_key_binding_along(tmux_socket: str, tmp_path: Path) -> None:
    pane, _ = _console_in_tmux(tmux_socket, tmp_path, "")
    tmux(tmux_socket, "send-keys", "-t", pane, "C-q")
    assert _ended(tmux_socket, pane) == "10"
    assert tmux(tmux_socket, "list-keys", "-T", "root", "M-e") == ""
