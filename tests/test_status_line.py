"""The org's figures in tmux's status line: pushed when the org changes, shown in the org's windows ahead of the
user's own status-right, and the user's settings as they were once the console stops."""

from __future__ import annotations

import subprocess
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from agent_console.agents.events import HUMAN, AgentState, ApprovalDecided, ApprovalRequested, StatusReported
from agent_console.agents.model import Agent, Org, Team
from agent_console.agents.state import OrgState
from agent_console.runtime.status_line import figures_line
from agent_console.runtime.supervisor import Supervisor
from agent_console.terminal.tmux import TmuxBackend

from .conftest import tmux
from .test_pulses import until

USERS = "MINE #{session_name}"  # the user's global status-right


def test_figures_put_pending_first_then_states_by_urgency() -> None:
    state = OrgState()
    assert figures_line("demo", state) == "demo: 0 pending · no agents"
    assert figures_line("demo", state, breakers_open=2) == "demo: 0 pending · no agents · 2 breaker(s) open"


async def _nothing() -> None:
    pass


def org(tmp_path: Path) -> Org:
    return Org(
        name="figures",
        teams=(Team(name="t"),),
        agents=tuple(Agent(name=name, team="t", command="sleep 600", cwd=tmp_path) for name in ("ann", "bob")),
    )


@pytest.fixture
def user_server(tmux_socket: str) -> str:
    """The user's tmux server, with a session of their own and their own global status-right."""
    env = {"PATH": "/usr/bin:/bin", "HOME": str(Path.home())}
    subprocess.run(
        ["tmux", "-L", tmux_socket, "-f", "/dev/null", "new-session", "-d", "-s", "mine", "sleep 600"],
        check=True,
        env=env,
    )
    tmux(tmux_socket, "set", "-g", "status-right", USERS)
    return tmux_socket


@pytest.fixture
async def supervisor(user_server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Supervisor]:
    monkeypatch.setenv("XDG_RUNTIME_DIR", tempfile.mkdtemp(prefix="acst", dir="/tmp"))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    running = Supervisor(org(tmp_path), TmuxBackend(user_server, "figures"), (160, 48))
    await running.start()
    yield running
    await running.stop()
    await running.backend.close()


def status_right(socket: str, target: str) -> str:
    """The right-hand side of the status line of the client looking at `target`, as tmux expands it."""
    return tmux(socket, "display", "-p", "-t", target, "#{E:status-right}").rstrip("\n")


async def test_the_status_line_shows_the_figures_as_approvals_come_and_go_and_is_given_back(
    supervisor: Supervisor, user_server: str
) -> None:
    window = supervisor.pane_of("ann")
    supervisor.submit("ann", StatusReported(state=AgentState.WORKING))
    supervisor.submit("bob", StatusReported(state=AgentState.IDLE))
    figures = "figures: 0 pending · ●1 ○1 | MINE figures"  # working first: more urgent than idle
    await until(lambda: status_right(user_server, window) == figures, "the figures ahead of the user's status-right")
    supervisor.submit("ann", ApprovalRequested(id="a1", text="deploy?"))
    await until(lambda: status_right(user_server, window).startswith("figures: 1 pending · "), "the request counted")
    assert status_right(user_server, window) == f"{figures_line('figures', supervisor.state)} | MINE figures"
    supervisor.submit(HUMAN, ApprovalDecided(id="a1", approved=True))
    await until(lambda: status_right(user_server, window).startswith("figures: 0 pending · "), "answered")
    # the user's own session and global setting are untouched meanwhile
    assert status_right(user_server, "mine:") == "MINE mine"
    assert tmux(user_server, "show", "-gv", "status-right").rstrip("\n") == USERS

    await supervisor.stop()
    assert status_right(user_server, window) == "MINE figures"
    assert tmux(user_server, "show", "-t", "figures:", "status-right") == ""  # inherits the global one again
    assert tmux(user_server, "show", "-t", "figures:", "status-right-length") == ""
    assert tmux(user_server, "show", "-gv", "status-right").rstrip("\n") == USERS
    left = tmux(user_server, "show", "-t", "figures:")
    assert "@agent_console_saved" not in left and "@agent_console_figures" not in left


async def test_the_sessions_own_status_right_is_restored_and_a_crash_does_not_lose_it(
    user_server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_RUNTIME_DIR", tempfile.mkdtemp(prefix="acst", dir="/tmp"))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    tmux(user_server, "new-session", "-d", "-s", "figures", "sleep 600")
    tmux(user_server, "set", "-t", "figures:", "status-right", "OWN %H")
    first = Supervisor(org(tmp_path), TmuxBackend(user_server, "figures"), (160, 48))
    await first.start()
    window = first.pane_of("ann")
    await until(lambda: status_right(user_server, window).startswith("figures: 0 pending"), "the figures")
    monkeypatch.setattr(first.backend, "remove_status_bar", _nothing)  # as if killed: nothing given back
    await first.stop()
    await first.backend.close()
    assert status_right(user_server, window).startswith("figures: ")

    second = Supervisor(org(tmp_path), TmuxBackend(user_server, "figures"), (160, 48))
    await second.start()
    await until(lambda: status_right(user_server, window).startswith("figures: 0 pending"), "the figures again")
    assert status_right(user_server, window).count("figures: ") == 1  # not shown twice
    await second.stop()
    await second.backend.close()
    assert tmux(user_server, "show", "-v", "-t", "figures:", "status-right").rstrip("\n") == "OWN %H"


async def test_a_status_right_the_user_changed_meanwhile_stays_theirs(supervisor: Supervisor, user_server: str) -> None:
    window = supervisor.pane_of("ann")
    await until(lambda: status_right(user_server, window).startswith("figures: "), "the figures")
    tmux(user_server, "set", "-t", "figures:", "status-right", "CHANGED")
    await supervisor.stop()
    assert status_right(user_server, window) == "CHANGED"


async def test_a_status_right_showing_the_figures_already_is_left_as_it_is(
    user_server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_RUNTIME_DIR", tempfile.mkdtemp(prefix="acst", dir="/tmp"))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    placed = "[#{@agent_console_figures}] MINE"
    tmux(user_server, "set", "-g", "status-right", placed)
    running = Supervisor(org(tmp_path), TmuxBackend(user_server, "figures"), (160, 48))
    await running.start()
    window = running.pane_of("ann")
    await until(lambda: status_right(user_server, window).startswith("[figures: 0 pending"), "where the user put them")
    assert tmux(user_server, "show", "-t", "figures:", "status-right") == ""
    await running.stop()
    await running.backend.close()
    assert status_right(user_server, window) == "[] MINE"
