"""`replay --ui`: the console read-only on a journal, with a timeline. The demo org's journal (tests/test_app.py's
entries, fixed times) with a snapshot of what ci saw when it failed; stepping and jumping show the fold at that
record; whatever would change the org is refused. Times are shown in UTC (a fixture sets TZ)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from textual.widgets import Static

from agent_console.agents.events import SUPERVISOR, AgentState, ScreenSnapshotTaken
from agent_console.agents.journal import Journal, Record, load_or_create_key
from agent_console.agents.model import Org
from agent_console.agents.replay import Moment, parse_moment, state_at
from agent_console.runtime import paths
from agent_console.runtime.demo import demo_org
from agent_console.runtime.snapshots import SnapshotStore
from agent_console.tui.replay import READ_ONLY, ReplayApp, ReplayScreen
from agent_console.widgets.approval_queue import ApprovalQueue
from agent_console.widgets.health_table import HealthTable

from .test_app import T0, Console, Entry, demo_entries, make_console  # noqa: F401  (a fixture)

SIZE = (120, 40)
CI_SCREEN = "$ make test\nFAILED tests/test_orders.py::test_total - AssertionError\n\x1b[31m[bold]3 failed[/bold]\n$ "


@pytest.fixture(autouse=True)
def _utc(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.fixture
def journal(tmp_path: Path) -> tuple[Path, list[Record]]:
    """The demo org's day, and the snapshot of ci's screen when it reported its error (kept beside the journal)."""
    path = tmp_path / "journal.jsonl"
    key = load_or_create_key(tmp_path / "journal.key")
    store = SnapshotStore(tmp_path / "snapshots")
    with Journal.open(path, key) as writing:
        for actor, event, at, trace in demo_entries(demo_org()):
            record = writing.append(actor, event, trace=trace, now=at)
            if actor == "ci" and getattr(event, "state", None) is AgentState.ERROR:
                digest, size = store.put(CI_SCREEN)
                taken = ScreenSnapshotTaken(
                    agent="ci", digest=digest, reason="error", illustrates=record.seq, size=size
                )
                writing.append(SUPERVISOR, taken, trace=record.trace, now=at + 1)
    return path, list(Journal.read(path, key))


def ci_error(records: list[Record]) -> Record:
    return next(record for record in records if record.actor == "ci" and getattr(record.event, "state", None))


async def test_stepping_and_jumping_show_the_fold_at_that_record_and_changes_are_refused(
    journal: tuple[Path, list[Record]],
) -> None:
    path, records = journal
    middle = ci_error(records).seq
    app = ReplayApp(records, path, parse_moment(f"#{middle}"))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, ReplayScreen) and screen.position == middle
        said = screen.query_one("#saw-text", Static)
        assert "FAILED tests/test_orders.py" in str(said.content)
        assert "\x1b" not in str(said.content)  # the agent's escape is shown as a marker, never acted on

        await pilot.press("end")
        assert screen.position == len(records)
        assert app.screen.query_one(ApprovalQueue).row_count == len(
            state_at(records, Moment("end", seq=10**9)).approvals
        )
        await pilot.press("g", *"#3", "enter")
        assert screen.position == 3
        assert screen.query_one(HealthTable).row_count == len(state_at(records, Moment("#3", seq=3)).agents)
        await pilot.press("left")
        assert screen.position == 2

        await pilot.press("y")
        assert "approve refused" in str(screen.query_one("#replay-said", Static).content)
        await pilot.press("colon", *"spawn x", "enter")
        assert f"spawn refused: {READ_ONLY}" == str(screen.query_one("#replay-said", Static).content)
        await pilot.press("g", *"tomorrow", "enter")
        assert "moment 'tomorrow'" in str(screen.query_one("#replay-said", Static).content)
        assert screen.position == 2


def test_snapshot_replay_in_the_middle_of_the_demo_day(snap_compare: Any, journal: tuple[Path, list[Record]]) -> None:
    """You should see the replay at 120x40 at record #11 of 22 of the demo day: across the top the timeline, a dim
    track with its marker ● in the middle, then "#11/22  2023-11-14 22:18:20  ci  status"; under it the line "this
    is a replay of a journal, read-only: nothing can be changed from here". Left, the Org frame (backend with api,
    ci as a red ✖ with its task, tester and the sub-team data with db; product with planner and writer idle) over
    the Health frame (ci in error, 1 restart, its task cut; writer idle 1m; the others unknown 4m). Right, the
    "Pending then" frame with its column headers, no request and "0 pending" (the first ask comes later), the Trace
    frame from the org's load at 22:13:20 to "22:18:20 ci status error build #142 failed: 3 tests", and the frame
    "What ci saw (error, record #11)" with ci's screen as plain text: "$ make test", "FAILED
    tests/test_orders.py::test_total - AssertionError", "␛[31m[bold]3 failed[/bold]" (the escape as a marker, the
    markup as written), "$". The footer: ← back, → forward, g go to, q close, ^p palette."""
    path, records = journal
    middle = ci_error(records).seq
    assert snap_compare(ReplayApp(records, path, parse_moment(f"#{middle}")), terminal_size=SIZE)


def test_a_timeline_of_the_demo_day_has_ci_in_error_at_its_report_and_not_before(
    journal: tuple[Path, list[Record]],
) -> None:
    _, records = journal
    failed = ci_error(records)
    assert state_at(records, Moment("t", seq=failed.seq)).agents["ci"].state is AgentState.ERROR
    assert state_at(records, Moment("t", time=failed.time - 1)).agents["ci"].state is not AgentState.ERROR
    assert state_at(records, Moment("t", time=T0 - 1)).seq == 0


async def test_replay_in_the_console_opens_over_the_live_views_read_only_and_q_goes_back(
    make_console: Callable[[Org, list[Entry]], Console],  # noqa: F811  (the fixture)
) -> None:
    org = demo_org()
    app = make_console(org, demo_entries(org))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        pending = set(app.supervisor.state.approvals)
        await pilot.press("colon", *"replay tomorrow", "enter")
        await pilot.pause()
        assert not isinstance(app.screen, ReplayScreen)
        assert "moment 'tomorrow'" in str(app.command_result.content)

        await pilot.press("colon", *"replay #5", "enter")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, ReplayScreen) and screen.position == 5
        await pilot.press("end", "y", "n")
        assert screen.position == len(screen.timeline) and "deny refused" in str(
            screen.query_one("#replay-said", Static).content
        )
        assert set(app.supervisor.state.approvals) == pending  # nothing was decided
        await pilot.press("q")
        await pilot.pause()
        assert app.screen is app.screen_stack[0]


async def test_the_details_dialog_shows_what_the_agent_saw_as_plain_text(
    make_console: Callable[[Org, list[Entry]], Console],  # noqa: F811  (the fixture)
) -> None:
    org = demo_org()
    store = SnapshotStore(paths.state_dir(org.name) / "snapshots")
    digest, size = store.put(CI_SCREEN)
    taken = ScreenSnapshotTaken(agent="ci", digest=digest, reason="error", illustrates=11, size=size)
    app = make_console(org, [*demo_entries(org), (SUPERVISOR, taken, T0 + 301, None)])
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        health = app.query_one(HealthTable)
        health.focus()
        health.move_cursor(row=health.agent_names.index("ci"))
        await pilot.press("i")
        await pilot.pause()
        saw = app.screen.query_one("#agent-saw", Static)
        shown = str(saw.content)
        assert "FAILED tests/test_orders.py::test_total" in shown and "␛[31m[bold]3 failed[/bold]" in shown
        assert "on error, record #11" in str(app.screen.query_one(".saw-heading", Static).content)
