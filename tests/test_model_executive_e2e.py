"""The model executive end to end: `agent-console ORG.toml` in a private tmux, the executive pointed at a stub model
server by the environment, the human typing into the chat; the screen and the panes are read from outside."""

from __future__ import annotations

import asyncio
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent_console.terminal.tmux import BORDER_OPTION
from agent_console.themes.palette import team_color

from .conftest import tmux, wait_for, when
from .stub_models.anthropic import AnthropicStub
from .stub_models.openai import OpenAIStub

NEW = ("backend", "frontend", "testing", "database")
SHELL = "bash --norc --noprofile"
SPEC = """
[org]
name = "scene"

[[team]]
name = "ops"

[[agent]]
name = "ann"
team = "ops"
command = "bash --norc --noprofile"
"""


@pytest.fixture(params=["anthropic", "openai"])
def stub(request: pytest.FixtureRequest) -> Iterator[AnthropicStub | OpenAIStub]:
    """A stub model server on its own thread's loop (the test polls tmux synchronously)."""
    server = AnthropicStub(main_tool="status") if request.param == "anthropic" else OpenAIStub()
    loop = asyncio.new_event_loop()
    loop.run_until_complete(server.start())
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    yield server
    asyncio.run_coroutine_threadsafe(server.stop(), loop).result(10)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)
    loop.close()


def test_create_a_team_typed_in_the_chat_lays_out_the_team_and_a_kill_waits_for_the_human(
    stub: AnthropicStub | OpenAIStub, tmux_socket: str, tmp_path: Path
) -> None:
    provider = "anthropic" if isinstance(stub, AnthropicStub) else "openai"

    def tool(name: str, arguments: dict) -> None:
        if isinstance(stub, AnthropicStub):
            stub.use_tool(name, arguments)
        else:
            stub.call_tool(name, arguments)

    tool("team", {"action": "new", "name": "api"})
    for name in NEW:
        tool("spawn", {"name": name, "team": "api", "command": SHELL})
    stub.say("The api team is up.")
    tool("kill", {"name": "ann"})
    stub.say("Killing ann waits for you.")

    spec = tmp_path / "scene.toml"
    spec.write_text(SPEC)
    runtime = Path(tempfile.mkdtemp(prefix="acmx", dir="/tmp"))
    env = {k: v for k, v in os.environ.items() if k not in ("TMUX", "TMUX_PANE")}
    env.update(
        XDG_RUNTIME_DIR=str(runtime),
        XDG_STATE_HOME=str(tmp_path / "state"),
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        TERM="xterm-256color",
        AGENT_CONSOLE_EXECUTIVE_PROVIDER=provider,
        AGENT_CONSOLE_EXECUTIVE_MODEL="stub-model",
        AGENT_CONSOLE_EXECUTIVE_BASE_URL=stub.url,
        ANTHROPIC_API_KEY="sk-ant-e2e-0123456789abcdef",
        OPENAI_API_KEY="sk-e2e-0123456789abcdef",
    )
    command = shlex.join([sys.executable, "-m", "agent_console.cli", str(spec)])
    new_session = ["new-session", "-d", "-s", "scene", "-x", "120", "-y", "40", command]
    subprocess.run(["tmux", "-L", tmux_socket, "-f", "/dev/null", *new_session], check=True, env=env, cwd=tmp_path)
    try:
        console = wait_for(lambda: panes(tmux_socket).get("exec"), 30, "the console's pane")

        def screen() -> str:
            return " ".join(tmux(tmux_socket, "capture-pane", "-p", "-t", console).split())

        wait_for(lambda: "Plain English goes to" in screen(), 30, "the console, with the model")
        type_in_chat(tmux_socket, console, "Create a team to build the new API")
        borders = wait_for(
            lambda: when(agent_borders(tmux_socket), lambda found: all(found.get(name) for name in NEW)),
            60,
            "the api team's panes, styled",
        )
        assert {borders[name] for name in NEW} == {team_color(1, None)}
        wait_for(lambda: "The api team is up." in screen(), 30, "the executive's answer")

        type_in_chat(tmux_socket, console, "ann is stuck, kill it")
        wait_for(lambda: "Killing ann waits for you." in screen(), 30, "the executive's answer")
        # in the approval queue, asked by the executive, the exact command
        shown = wait_for(lambda: when(screen(), lambda text: "1 pending" in text), 10, "the request in the queue")
        assert "│ executive " in shown and "$ kill ann" in shown
        tmux(tmux_socket, "send-keys", "-t", console, "Escape")  # out of the chat: keys answer requests
        wait_for(lambda: "n deny" in screen(), 10, "the lists' keys in the footer")  # else ESC n reads as Alt-n
        tmux(tmux_socket, "send-keys", "-t", console, "n")
        wait_for(lambda: "0 pending" in screen(), 30, "the denial")
        assert "ann" in agent_borders(tmux_socket)  # denied: nothing killed
    finally:
        tmux(tmux_socket, "kill-server")
        shutil.rmtree(runtime, ignore_errors=True)


def panes(socket: str) -> dict[str, str]:
    rows = tmux(socket, "list-panes", "-a", "-F", "#{@agent_console_agent} #{pane_id}").splitlines()
    return dict(row.split(" ", 1) for row in rows if row.split(" ", 1)[0])


def agent_borders(socket: str) -> dict[str, str]:
    rows = tmux(socket, "list-panes", "-a", "-F", f"#{{@agent_console_agent}} #{{{BORDER_OPTION}}}").splitlines()
    return dict(row.split(" ", 1) for row in rows if row.split(" ", 1)[0] not in ("", "exec"))


def type_in_chat(socket: str, pane: str, text: str) -> None:
    tmux(socket, "send-keys", "-t", pane, "c")  # c: the chat's input
    tmux(socket, "send-keys", "-t", pane, "-l", text)
    wait_for(lambda: text in tmux(socket, "capture-pane", "-p", "-t", pane), 10, "the line typed in the chat")
    tmux(socket, "send-keys", "-t", pane, "Enter")
