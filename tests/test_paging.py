"""Paging the human: what pages (an approval left waiting, an agent in error, a breaker opening) and what does not
(settled first, looked at, paged already), one page for a flood, the journal's record of it, the spec's
settings (on the in-memory terminal). The real tmux and the fake iTerm2: `test_paging_terminals.py`; hostile
text in pages, the desktop notifiers' argv: `security/test_pages.py`."""

from __future__ import annotations

import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from agent_console.agents.events import (
    HUMAN,
    SUPERVISOR,
    AgentState,
    ApprovalDecided,
    ApprovalRequested,
    BreakerChanged,
    HumanPaged,
    StatusReported,
)
from agent_console.agents.journal import Journal, load_or_create_key
from agent_console.agents.model import Agent, Org, Team
from agent_console.agents.paging import Paging
from agent_console.agents.spec import SpecError, dump_spec, load_spec, parse_spec
from agent_console.runtime import paging, paths
from agent_console.runtime.supervisor import Supervisor

from .fake_terminal import FakeTerminal
from .test_supervisor import until

NAMES = ("ann", "bob", "cat", "dan", "eve")


def crew(tmp_path: Path, settings: Paging) -> Org:
    return Org(
        name="crew",
        teams=(Team(name="t"),),
        agents=tuple(Agent(name=name, team="t", cwd=tmp_path) for name in NAMES),
        paging=settings,
    )


@pytest.fixture(autouse=True)
def quick(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(paging, "GATHER_SECONDS", 0.1)


async def started(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, settings: Paging) -> Supervisor:
    monkeypatch.setenv("XDG_RUNTIME_DIR", tempfile.mkdtemp(prefix="acpg", dir="/tmp"))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    running = Supervisor(crew(tmp_path, settings), FakeTerminal(), (160, 48))  # type: ignore[arg-type]
    await running.start()
    return running


@pytest.fixture
async def supervisor(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Supervisor]:
    running = await started(tmp_path, monkeypatch, Paging(approval_after=0.2, min_gap=0.3, channels=("terminal",)))
    yield running
    await running.stop()
    await running.backend.close()


def pages(supervisor: Supervisor) -> list[str]:
    assert isinstance(supervisor.backend, FakeTerminal)
    return supervisor.backend.pages


def paged_records(supervisor: Supervisor) -> list[HumanPaged]:
    supervisor.journal.flush()  # appends are written by the journal's commit thread
    key = load_or_create_key(paths.state_dir(supervisor.org.name) / "journal.key")
    journaled = Journal.read(supervisor.journal_path, key)
    return [record.event for record in journaled if isinstance(record.event, HumanPaged)]


async def test_an_approval_left_waiting_pages_once_and_one_decided_in_time_never(supervisor: Supervisor) -> None:
    supervisor.submit("ann", ApprovalRequested(id="r1", text="may I push?"))
    supervisor.submit(HUMAN, ApprovalDecided(id="r1", approved=True))  # decided at once: nothing to page
    supervisor.submit("bob", ApprovalRequested(id="r2", text="may I deploy?", command="make deploy"))
    await until(lambda: pages(supervisor), "a page for bob's request")
    assert pages(supervisor) == ["crew: bob has waited 0.2s for approval: make deploy"]
    await supervisor.pager.settled()
    assert paged_records(supervisor) == [
        HumanPaged(
            text="bob has waited 0.2s for approval: make deploy",
            subjects=("approval:r2",),
            count=1,
            channels=("terminal",),
        )
    ]


async def test_an_agent_turning_error_pages_with_what_it_said_and_not_again_soon(supervisor: Supervisor) -> None:
    supervisor.submit("ann", StatusReported(state=AgentState.ERROR, task="disk full"))
    await until(lambda: pages(supervisor), "a page for ann's error")
    supervisor.submit("ann", StatusReported(state=AgentState.WORKING))
    supervisor.submit("ann", StatusReported(state=AgentState.ERROR, task="disk full again"))  # within repeat_after
    supervisor.submit("bob", ApprovalRequested(id="r3", text="ok?"))  # the next page, to see what it holds
    await until(lambda: len(pages(supervisor)) == 2, "the page for bob's request")
    assert pages(supervisor) == ["crew: ann is in error: disk full", "crew: bob has waited 0.2s for approval: ok?"]


async def test_a_flood_of_errors_is_one_page_with_its_count(supervisor: Supervisor) -> None:
    for name in NAMES:
        supervisor.submit(name, StatusReported(state=AgentState.ERROR, task=f"{name} broke"))
    await until(lambda: pages(supervisor), "the flood's page")
    supervisor.submit("ann", ApprovalRequested(id="r4", text="ok?"))
    await until(lambda: len(pages(supervisor)) == 2, "the page after the flood's")
    assert pages(supervisor)[0] == "crew: ann is in error: ann broke (+4 more)"
    await supervisor.pager.settled()
    flood = paged_records(supervisor)[0]
    assert (flood.count, flood.subjects) == (5, tuple(f"error:{name}" for name in NAMES))


async def focus(supervisor: Supervisor, agent: str) -> None:
    assert isinstance(supervisor.backend, FakeTerminal)
    pane = supervisor.state.agents[agent].pane
    assert pane is not None
    supervisor.backend.focus(pane)
    await until(lambda: supervisor.focused_pane == pane, f"the focus in {agent}'s pane")


async def test_an_error_the_human_may_be_looking_at_pages_only_if_it_lasts(supervisor: Supervisor) -> None:
    await focus(supervisor, "ann")
    supervisor.submit("ann", StatusReported(state=AgentState.ERROR, task="seen"))
    supervisor.submit("bob", StatusReported(state=AgentState.ERROR, task="unseen"))
    await until(lambda: len(pages(supervisor)) == 2, "bob's page, then ann's")
    assert pages(supervisor) == ["crew: bob is in error: unseen", "crew: ann is in error: seen"]


async def test_an_error_the_human_settles_in_the_pane_never_pages(supervisor: Supervisor) -> None:
    await focus(supervisor, "ann")
    supervisor.submit("ann", StatusReported(state=AgentState.ERROR, task="seen"))
    supervisor.submit("ann", StatusReported(state=AgentState.WORKING))  # the human put it right
    supervisor.submit("bob", ApprovalRequested(id="r7", text="ok?"))  # the next page, to see what it holds
    await until(lambda: pages(supervisor), "the page for bob's request")
    assert pages(supervisor) == ["crew: bob has waited 0.2s for approval: ok?"]


async def test_an_error_settled_before_its_page_goes_out_never_pages(supervisor: Supervisor) -> None:
    supervisor.submit("ann", StatusReported(state=AgentState.ERROR, task="blip"))
    supervisor.submit("ann", StatusReported(state=AgentState.WORKING))  # within the gathering time
    supervisor.submit("bob", ApprovalRequested(id="r5", text="ok?"))
    await until(lambda: pages(supervisor), "the page for bob's request")
    assert pages(supervisor) == ["crew: bob has waited 0.2s for approval: ok?"]


async def test_an_open_breaker_pages_and_a_closed_one_does_not(supervisor: Supervisor) -> None:
    for agent, state in (("bob", "closed"), ("ann", "open")):
        supervisor.submit(SUPERVISOR, BreakerChanged(agent=agent, state=state, reason="3 restarts failed in 5 min"))
    await until(lambda: pages(supervisor), "the breaker's page")
    assert pages(supervisor) == ["crew: ann's circuit breaker is open: 3 restarts failed in 5 min"]


async def test_paging_turned_off_pages_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    running = await started(
        tmp_path, monkeypatch, Paging(approval_after=0.1, on_error=False, channels=("terminal",), min_gap=0)
    )
    try:
        running.submit("ann", StatusReported(state=AgentState.ERROR, task="not paged: on_error is off"))
        running.submit("bob", ApprovalRequested(id="r6", text="paged"))
        await until(lambda: pages(running), "the approval's page")
        assert pages(running) == ["crew: bob has waited 0.1s for approval: paged"]
    finally:
        await running.stop()
        await running.backend.close()


def test_no_desktop_notifier_is_no_desktop_channel(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    assert paging.desktop_argv("t", "x", platform="linux") is None
    assert paging.desktop_argv("t", "x", platform="darwin") is None


def test_paging_settings_in_the_spec_with_defaults_and_located_errors(tmp_path: Path) -> None:
    spec = tmp_path / "org.toml"
    spec.write_text('[org]\nname = "crew"\n[org.paging]\napproval_after = 120\nchannels = ["terminal"]\n')
    loaded = load_spec(spec)
    assert loaded.paging == Paging(approval_after=120, channels=("terminal",))
    assert load_spec(spec).paging.min_gap == Paging().min_gap
    assert parse_spec(dump_spec(loaded, spec), spec) == loaded  # written back as it was read
    assert parse_spec('[org]\nname = "crew"\n').paging == Paging()
    with pytest.raises(SpecError, match=r"org\.paging\.channels\[0\]: Input should be 'terminal' or 'desktop'"):
        parse_spec('[org]\nname = "crew"\n[org.paging]\nchannels = ["pager"]\n')
    with pytest.raises(SpecError, match=r"org\.paging\.min_gap: Input should be greater than or equal to 0"):
        parse_spec('[org]\nname = "crew"\n[org.paging]\nmin_gap = -1\n')
    with pytest.raises(SpecError, match=r"org\.paging\.every: unknown key"):
        parse_spec('[org]\nname = "crew"\n[org.paging]\nevery = 3\n')


async def test_a_flood_of_approvals_is_one_bounded_page(supervisor: Supervisor) -> None:
    for number in range(25):  # five from each agent: within their pending limit
        supervisor.submit(NAMES[number % 5], ApprovalRequested(id=f"q{number}", text=f"question {number}"))
    await until(lambda: pages(supervisor), "the flood's page")
    await supervisor.pager.settled()
    [flood] = paged_records(supervisor)
    assert flood.count == 25 and len(flood.subjects) == paging.SUBJECTS_KEPT
    assert pages(supervisor) == ["crew: ann has waited 0.2s for approval: question 0 (+24 more)"]


async def test_approvals_waiting_when_the_console_starts_page_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = await started(tmp_path, monkeypatch, Paging(approval_after=3600, channels=("terminal",)))
    first.submit("ann", ApprovalRequested(id="old", text="still there?"))
    await first.stop()
    # the same terminal: ann's program still runs and still asks (a program started anew would withdraw it)
    second = Supervisor(crew(tmp_path, Paging(approval_after=0.1, channels=("terminal",))), first.backend, (160, 48))  # type: ignore[arg-type]
    await second.start()
    try:
        await until(lambda: pages(second), "the page for the approval filed before the restart")
        assert pages(second) == ["crew: ann has waited 0.1s for approval: still there?"]
    finally:
        await second.stop()
        await second.backend.close()
