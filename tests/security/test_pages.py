"""Pages quote agents, and agents are hostile: what an agent writes in its error, its approval request or its
breaker's reason reaches the human's terminal and desktop as text, never as a tmux format or command, an escape
sequence, a notifier's option or markup, or AppleScript. Each test is the attack, attempted for real."""

from __future__ import annotations

import json
import os
import stat
import tempfile
from pathlib import Path
from typing import Any

import pytest

from agent_console.agents.events import AgentState, ApprovalRequested, StatusReported
from agent_console.agents.paging import Paging
from agent_console.runtime import paging
from agent_console.runtime.supervisor import Supervisor
from agent_console.terminal.base import Launch
from agent_console.terminal.iterm2 import ITerm2Backend

from ..conftest import tmux
from ..fake_iterm2.fixture import fake_iterm2_per_build
from ..test_paging import paged_records, pages, started
from ..test_paging_terminals import attach_a_client, outer_socket, screen, supervisor  # noqa: F401 (fixtures)
from ..test_supervisor import until

fake_iterm2 = fake_iterm2_per_build()


async def test_a_tmux_command_in_an_agents_error_is_shown_on_the_status_line_and_never_run(
    supervisor: Supervisor,  # noqa: F811
    tmux_socket: str,
    outer_socket: str,  # noqa: F811
) -> None:
    attach_a_client(outer_socket, tmux_socket, "paged")
    owned = Path(tempfile.mkdtemp(prefix="acpg", dir="/tmp")) / "owned"  # short: the page fits the status line
    hostile = f"#(touch {owned}) #{{pane_id}} #[fg=red]x"
    supervisor.submit("db", StatusReported(state=AgentState.ERROR, task=hostile))
    await until(lambda: f"paged: db is in error: {hostile}" in screen(outer_socket), "the page, shown as written")
    await supervisor.pager.settled()
    assert not owned.exists()
    # and the next page, an approval whose text tries the same, shows as written too
    supervisor.submit("db", ApprovalRequested(id="h1", text=f"#(touch {owned})#(touch {owned}2)"))
    await until(lambda: f"approval: #(touch {owned})#(touch {owned}2)" in screen(outer_socket), "the second page")
    assert not owned.exists() and not Path(f"{owned}2").exists()
    assert tmux(tmux_socket, "list-sessions", "-F", "#{session_name}").split() == ["mine", "paged"]


async def test_escape_sequences_in_a_page_cannot_forge_iterm2s_own(fake_iterm2: Any, tmp_path: Path) -> None:
    backend = ITerm2Backend("org")
    await backend.attach_or_create((160, 48), "exec", Launch("sleep 600", cwd=str(tmp_path)))
    try:
        console = (await backend.list_panes(all_sessions=False))[0].pane
        await backend.attach_to_pane(console)
        forged = "\x07\x1b]1337;RequestAttention=fireworks\x07\x1b]9;forged\x07\x1b]1337;SetUserVar=x=eA==\x07"
        assert await backend.page(f"4;1;50 db is in error: {forged}") is True
        await until(lambda: fake_iterm2.app.notifications, "the notification")
        assert fake_iterm2.app.attention_requests == [(console, "once")]  # the forged fireworks never came
        [(session, message)] = fake_iterm2.app.notifications  # one notification: "forged" is inside it
        assert session == console and "forged" in message
        assert "\x1b" not in message and "\x07" not in message
        assert not message.partition(";")[0].isdigit()  # not taken for a progress report ("4;1;50")
        assert "x" not in fake_iterm2.app.sessions[console].user_vars
    finally:
        await backend.close()


@pytest.fixture
def fake_notify_send(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A `notify-send` first on PATH that records its argv (one JSON list a line) and says nothing."""
    folder = tmp_path / "bin"
    folder.mkdir()
    log = tmp_path / "notify-send.log"
    script = folder / "notify-send"
    record = "import json, sys; print(json.dumps(sys.argv[1:]))"
    script.write_text(f"#!/bin/sh\nexec python3 -c '{record}' \"$@\" >> {log}\n")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{folder}{os.pathsep}{os.environ['PATH']}")
    return log


async def test_the_desktop_notification_gets_agent_text_as_data_never_as_options_or_markup(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fake_notify_send: Path
) -> None:
    monkeypatch.setattr(paging.sys, "platform", "linux")
    running = await started(tmp_path, monkeypatch, Paging(min_gap=0, channels=("desktop",)))
    try:
        running.submit("ann", StatusReported(state=AgentState.ERROR, task='--help <a href="x">click</a> & $(id)'))
        await until(lambda: fake_notify_send.exists() and paged_records(running), "the desktop notification")
        argv = json.loads(fake_notify_send.read_text().splitlines()[0])
        assert argv == [
            "--app-name=agent-console",
            "--urgency=critical",
            "--",
            "agent-console: crew",
            'ann is in error: --help &lt;a href="x"&gt;click&lt;/a&gt; &amp; $(id)',
        ]
        assert paged_records(running)[0].channels == ("desktop",)
        assert pages(running) == []  # not the terminal: the org's paging leaves it out
    finally:
        await running.stop()
        await running.backend.close()


def test_osascript_gets_the_text_as_an_argument_not_inside_its_script(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "bin"
    folder.mkdir()
    (folder / "osascript").write_text("#!/bin/sh\n")
    (folder / "osascript").chmod(0o755)
    monkeypatch.setenv("PATH", str(folder))
    text = 'x" & (do shell script "touch /tmp/owned") & "'
    argv = paging.desktop_argv("agent-console: crew", text, platform="darwin")
    assert argv is not None
    assert argv[-2:] == ["agent-console: crew", text]
    assert all(text not in part for part in argv[:-1])  # the script itself never holds the text


async def test_an_approval_text_cannot_inject_into_the_desktop_notification_either(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fake_notify_send: Path
) -> None:
    monkeypatch.setattr(paging.sys, "platform", "linux")
    running = await started(tmp_path, monkeypatch, Paging(approval_after=0, min_gap=0, channels=("desktop",)))
    try:
        running.submit("bob", ApprovalRequested(id="h2", text="-u low\n<img src=x>\x1b[2J"))
        await until(lambda: fake_notify_send.exists() and paged_records(running), "the desktop notification")
        argv = json.loads(fake_notify_send.read_text().splitlines()[0])
        assert argv[:3] == ["--app-name=agent-console", "--urgency=critical", "--"]
        body = argv[4]
        assert body.startswith("bob has waited 0s for approval: -u low") and "&lt;img src=x&gt;" in body
        assert "\x1b" not in body and "\n" not in body
        assert pages(running) == []
    finally:
        await running.stop()
        await running.backend.close()
