"""A page reaches the human through the terminal, for real: on tmux, the message on the status line of a client
attached to the org's session (that client runs in an outer tmux, whose screen we read) and its bell (the outer
window's bell flag); on iTerm2 (the fake), the attention request and the notification as iTerm2 reads them from
the console's session. Hostile text in pages: tests/security/test_pages.py."""

from __future__ import annotations

import subprocess
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from agent_console.agents.events import AgentState, HumanPaged, StatusReported
from agent_console.agents.model import Agent, Org, Team
from agent_console.agents.paging import Paging
from agent_console.runtime import paging
from agent_console.runtime.supervisor import Supervisor
from agent_console.terminal.base import Launch
from agent_console.terminal.iterm2 import ITerm2Backend
from agent_console.terminal.tmux import TmuxBackend

from .conftest import tmux, wait_for
from .fake_iterm2.fixture import fake_iterm2_per_build
from .test_supervisor import until

fake_iterm2 = fake_iterm2_per_build()


@pytest.fixture
def outer_socket() -> Iterator[str]:
    """A second private tmux server: the human's terminal, running a client of the org's server."""
    name = f"ac-outer-{uuid.uuid4().hex[:10]}"
    yield name
    subprocess.run(["tmux", "-L", name, "kill-server"], capture_output=True, check=False)


@pytest.fixture
async def supervisor(tmux_socket: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Supervisor]:
    monkeypatch.setattr(paging, "GATHER_SECONDS", 0.05)
    monkeypatch.setenv("XDG_RUNTIME_DIR", tempfile.mkdtemp(prefix="acpt", dir="/tmp"))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    subprocess.run(["tmux", "-L", tmux_socket, "-f", "/dev/null", "new-session", "-d", "-s", "mine"], check=True)
    org = Org(
        name="paged",
        teams=(Team(name="t"),),
        agents=(Agent(name="db", team="t", command="sleep 600", cwd=tmp_path),),
        paging=Paging(channels=("terminal",), min_gap=0, approval_after=0.1),
    )
    running = Supervisor(org, TmuxBackend(tmux_socket, "paged"), (100, 30))
    await running.start()
    yield running
    await running.stop()
    await running.backend.close()


def attach_a_client(outer: str, inner: str, session: str) -> None:
    """The human's client of the org's session, in a detached outer tmux (so that a bell there is flagged), once
    it shows the session's status line."""
    command = f"env -u TMUX tmux -L {inner} attach -t ={session}"
    subprocess.run(
        ["tmux", "-L", outer, "-f", "/dev/null", "new-session", "-d", "-x", "160", "-y", "12", command], check=True
    )
    wait_for(lambda: f"[{session}]" in tmux(outer, "capture-pane", "-p"), what="the client's status line")


async def test_a_page_shows_on_each_client_and_rings_its_bell(
    supervisor: Supervisor, tmux_socket: str, outer_socket: str
) -> None:
    assert await supervisor.backend.page("nobody attached yet") is False  # only the console's control client
    attach_a_client(outer_socket, tmux_socket, "paged")
    assert tmux(outer_socket, "display", "-p", "#{window_bell_flag}").strip() == "0"
    supervisor.submit("db", StatusReported(state=AgentState.ERROR, task="disk full"))
    await until(lambda: "paged: db is in error: disk full" in screen(outer_socket), "the page on the status line")
    await until(lambda: tmux(outer_socket, "display", "-p", "#{window_bell_flag}").strip() == "1", "the bell")
    await supervisor.pager.settled()
    paged = [event for event in journaled(supervisor) if isinstance(event, HumanPaged)]
    assert [(event.text, event.channels) for event in paged] == [("db is in error: disk full", ("terminal",))]


def screen(outer: str) -> str:
    """What the human's terminal shows: the client's screen, its status line at the bottom."""
    return tmux(outer, "capture-pane", "-p")


def journaled(supervisor: Supervisor) -> list[Any]:
    from agent_console.agents.journal import Journal, load_or_create_key
    from agent_console.runtime import paths

    supervisor.journal.flush()
    key = load_or_create_key(paths.state_dir(supervisor.org.name) / "journal.key")
    return [record.event for record in Journal.read(supervisor.journal_path, key)]


async def test_iterm2_gets_an_attention_request_and_a_notification_from_the_consoles_session(
    fake_iterm2: Any, tmp_path: Path
) -> None:
    backend = ITerm2Backend("org")
    await backend.attach_or_create((160, 48), "exec", Launch("sleep 600", cwd=str(tmp_path)))
    try:
        console = (await backend.list_panes(all_sessions=False))[0].pane
        await backend.attach_to_pane(console)
        await backend.split_pane(console, Launch("sleep 600"))  # an agent: not where the page comes from
        assert await backend.page("crew: db is in error: disk full") is True
        await until(lambda: fake_iterm2.app.notifications, "the notification")
        assert fake_iterm2.app.attention_requests == [(console, "once")]
        assert fake_iterm2.app.notifications == [(console, "crew: db is in error: disk full")]
    finally:
        await backend.close()


async def test_a_console_outside_iterm2_pages_through_the_org_windows_current_session(
    fake_iterm2: Any, tmp_path: Path
) -> None:
    backend = ITerm2Backend("org")  # the console runs elsewhere: it has no session of its own in iTerm2
    await backend.attach_or_create((160, 48), "exec", Launch("sleep 600", cwd=str(tmp_path)))
    try:
        first = (await backend.list_panes(all_sessions=False))[0].pane
        second = await backend.split_pane(first, Launch("sleep 600"))
        await backend.select_pane(second.pane)
        assert await backend.page("crew: db is in error") is True
        await until(lambda: fake_iterm2.app.notifications, "the notification")
        assert fake_iterm2.app.attention_requests == [(second.pane, "once")]
        assert fake_iterm2.app.notifications == [(second.pane, "crew: db is in error")]
    finally:
        await backend.close()
