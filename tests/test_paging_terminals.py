"""A page reaches the human through the terminal, for real: on tmux, the message on the status line of a client
attached to the org's session (that client runs in an outer tmux, whose screen we read) and its bell (the outer
window's bell flag), an agent's `#(…)` shown and never run; on iTerm2 (the fake), the attention request and the
notification as iTerm2 reads them from the console's session."""

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

from .conftest import tmux
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
        paging=Paging(channels=("terminal",), min_gap=0),
    )
    running = Supervisor(org, TmuxBackend(tmux_socket, "paged"), (100, 30))
    await running.start()
    yield running
    await running.stop()
    await running.backend.close()


def attach_a_client(outer: str, inner: str, session: str) -> None:
    """The human's client of the org's session, in a detached outer tmux (so that a bell there is flagged)."""
    command = f"env -u TMUX tmux -L {inner} attach -t ={session}"
    subprocess.run(
        ["tmux", "-L", outer, "-f", "/dev/null", "new-session", "-d", "-x", "120", "-y", "12", command], check=True
    )


async def test_a_page_shows_on_each_client_and_rings_its_bell_and_runs_nothing_an_agent_wrote(
    supervisor: Supervisor, tmux_socket: str, outer_socket: str
) -> None:
    assert await supervisor.backend.page("nobody attached yet") is False  # only the console's control client
    attach_a_client(outer_socket, tmux_socket, "paged")
    await until(lambda: "paged" in tmux(tmux_socket, "list-clients", "-F", "#{session_name}"), "the human's client")
    await until(lambda: "[paged]" in tmux(outer_socket, "capture-pane", "-p"), "the client's status line")
    assert tmux(outer_socket, "display", "-p", "#{window_bell_flag}").strip() == "0"
    owned = Path(tempfile.mkdtemp(prefix="acpg", dir="/tmp")) / "owned"  # short: the page fits the status line
    supervisor.submit("db", StatusReported(state=AgentState.ERROR, task=f"#(touch {owned}) #{{pane_id}} #[fg=red]x"))
    shown = f"paged: db is in error: #(touch {owned}) #{{pane_id}} #[fg=red]x"
    await until(lambda: shown in tmux(outer_socket, "capture-pane", "-p"), "the page on the client's status line")
    await until(lambda: tmux(outer_socket, "display", "-p", "#{window_bell_flag}").strip() == "1", "the bell")
    assert not owned.exists()
    await supervisor.pager.settled()
    paged = [event for event in _journaled(supervisor) if isinstance(event, HumanPaged)]  # reached the terminal
    assert [event.channels for event in paged] == [("terminal",)]


def _journaled(supervisor: Supervisor) -> list[Any]:
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
        agent = await backend.split_pane(console, Launch("sleep 600"))
        text = "crew: 4; db is in error: \x07\x1b]1337;RequestAttention=fireworks\x07 \x1b]9;forged\x07"
        assert await backend.page(text) is True
        await until(lambda: fake_iterm2.app.notifications, "the notification")
        assert fake_iterm2.app.attention_requests == [(console, "once")]  # the forged fireworks never came through
        [(session, message)] = fake_iterm2.app.notifications
        assert session == console and session != agent.pane
        assert message.startswith("crew: 4; db is in error: ") and "\x1b" not in message and "\x07" not in message
        assert "forged" in message  # shown as text, inside the one notification
    finally:
        await backend.close()
