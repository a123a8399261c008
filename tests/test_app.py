"""The console app over a real supervisor: snapshots of its screens and Pilot flows through its front doors.

Each test pre-writes the org's journal with fixed times, then builds a `Supervisor` over it (it replays the
journal at construction) and a `ConsoleApp` with `start_supervisor=False` and a fixed clock: no tmux, no
control socket, and ages and times that do not move. Times are shown in UTC (a fixture sets TZ).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from rich.text import Text
from textual.command import CommandList, CommandPalette
from textual.pilot import Pilot
from textual.widgets import Input, Static

from agent_console.agents.events import (
    HUMAN,
    SUPERVISOR,
    AgentExited,
    AgentLaunched,
    AgentState,
    ApprovalDecided,
    ApprovalRequested,
    Event,
    MessageAcknowledged,
    MessageSent,
    MessageTyped,
    OrgLoaded,
    StatusReported,
)
from agent_console.agents.journal import Journal, Record, load_or_create_key
from agent_console.agents.layout import layout_cells, plan_layout
from agent_console.agents.model import EXEC_SLOT, Agent, Org, Team
from agent_console.runtime import paths
from agent_console.runtime.demo import demo_org
from agent_console.runtime.supervisor import CONSOLE_MIN_COLS, CONSOLE_SHARE_PERCENT, Supervisor
from agent_console.terminal.tmux import TmuxBackend
from agent_console.themes import state_color
from agent_console.themes.textual_themes import DARK_THEME_NAME, LIGHT_THEME_NAME
from agent_console.tui.app import ConsoleApp
from agent_console.tui.dialogs import ApprovalDetails, HelpScreen
from agent_console.widgets import ApprovalPreview, ApprovalQueue, ChatPanel, HealthTable, OrgTree, TraceView

T0 = 1_700_000_000.0  # 2023-11-14 22:13:20 UTC
NOW = T0 + 900  # the app's clock: 22:28:20 UTC
SIZE = (120, 40)

Entry = tuple[str, Event, float, str | None]
"""What to journal before the supervisor starts: actor, event, time, trace (None: a trace of its own)."""


class Console(ConsoleApp):
    """The console, keeping every notification it shows (for assertions)."""

    def __init__(self, supervisor: Supervisor) -> None:
        super().__init__(supervisor, start_supervisor=False, clock=lambda: NOW)
        self.notes: list[str] = []

    def notify(self, message: str, *args: Any, **kwargs: Any) -> None:
        self.notes.append(str(message))
        super().notify(message, *args, **kwargs)


@pytest.fixture(autouse=True)
def _utc_and_private_dirs(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> Iterator[None]:
    """UTC times (the trace and the details dialog show local time); state and sockets under tmp_path."""
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path / "run"))
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.fixture
def make_console() -> Iterator[Callable[[Org, list[Entry]], Console]]:
    """Journal the entries for `org`, then a console over a supervisor that replays them."""
    supervisors: list[Supervisor] = []

    def make(org: Org, entries: list[Entry]) -> Console:
        state_dir = paths.state_dir(org.name)
        journal_path = state_dir / "journal.jsonl"
        key = load_or_create_key(state_dir / "journal.key")
        with Journal.open(journal_path, key, sync=False) as journal:
            for actor, event, at, trace in entries:
                journal.append(actor, event, trace=trace, now=at)
        # start_supervisor=False: the backend is never started (no tmux server is reached)
        supervisor = Supervisor(org, TmuxBackend("ac-test-unused"), SIZE, journal_path=journal_path)
        supervisors.append(supervisor)
        return Console(supervisor)

    yield make
    for supervisor in supervisors:
        supervisor.journal.close()


def loaded(org: Org) -> OrgLoaded:
    return OrgLoaded(
        name=org.name,
        teams={team.name: team.parent for team in org.teams},
        agents={agent.name: agent.team for agent in org.agents},
    )


def status(state: AgentState, task: str | None = None, progress: str | None = None) -> StatusReported:
    return StatusReported(state=state, task=task, progress=progress)


HTTPX = "pip install httpx"


def demo_entries(org: Org) -> list[Entry]:
    """The demo org at work: planner working, writer idle, api and db waiting, tester thinking, ci in error
    after a restart; three pending approvals (api's and tester's ask the same command), one decided earlier."""
    entries: list[Entry] = [(SUPERVISOR, loaded(org), T0, "boot")]
    for number, agent in enumerate(org.agents, start=1):
        entries.append((SUPERVISOR, AgentLaunched(agent=agent.name, pane=f"%{number}"), T0 + number, "boot"))
    entries += [
        (SUPERVISOR, AgentExited(agent="ci", status=1), T0 + 120, "ci"),
        (SUPERVISOR, AgentLaunched(agent="ci", pane="%7"), T0 + 121, "ci"),
        ("writer", status(AgentState.IDLE), T0 + 200, None),
        ("ci", status(AgentState.ERROR, "build #142 failed: 3 tests"), T0 + 300, None),
        ("planner", ApprovalRequested(id="a0", text="Open the v2 roadmap PR?", command="gh pr create"), T0 + 400, "a0"),
        (HUMAN, ApprovalDecided(id="a0", approved=True), T0 + 420, "a0"),
        ("planner", MessageSent(id="m1", to="#backend", text="v2 scope is frozen"), T0 + 450, None),
        ("api", status(AgentState.WAITING, "add the /orders endpoint", "3/5"), T0 + 500, None),
        ("api", ApprovalRequested(id="a1", text="Install the HTTP client?", command=HTTPX), T0 + 510, "a1"),
        ("planner", status(AgentState.WORKING, "plan the v2 release", "2/5"), T0 + 600, None),
        ("db", status(AgentState.WAITING, "migrate the orders table"), T0 + 640, None),
        (
            "db",
            ApprovalRequested(
                id="a2",
                text="The migration adds orders.customer_id.\nApply it to the staging database?",
                command="alembic -x env=staging upgrade head",
            ),
            T0 + 650,
            "a2",
        ),
        ("tester", status(AgentState.THINKING, "why does test_orders flake?"), T0 + 700, None),
        ("tester", ApprovalRequested(id="a3", text="Install httpx for the tests?", command=HTTPX), T0 + 840, "a3"),
    ]
    return entries


@pytest.fixture
def demo(make_console: Callable[[Org, list[Entry]], Console]) -> Console:
    org = demo_org()
    return make_console(org, demo_entries(org))


def big_org() -> Org:
    """Ten teams (five top-level, each with a sub-team) of twenty agents: 200 agents."""
    pairs = [("web", "ui"), ("backend", "api"), ("data", "etl"), ("infra", "ci"), ("qa", "perf")]
    teams = [team for top, sub in pairs for team in (Team(name=top), Team(name=sub, parent=top))]
    agents = [Agent(name=f"{team.name}-{n:02d}", team=team.name) for team in teams for n in range(1, 21)]
    return Org(name="big", teams=tuple(teams), agents=tuple(agents))


def big_entries(org: Org) -> list[Entry]:
    entries: list[Entry] = [(SUPERVISOR, loaded(org), T0, "boot")]
    for number, agent in enumerate(org.agents):
        entries.append((SUPERVISOR, AgentLaunched(agent=agent.name, pane=f"%{number}"), T0 + 1, "boot"))
    cycle = [
        status(AgentState.WORKING, "refactor the module", "1/4"),
        status(AgentState.THINKING, "read the failing test"),
        status(AgentState.IDLE),
        status(AgentState.WAITING, "needs a review"),
        status(AgentState.ERROR, "out of memory"),
    ]
    for number, agent in enumerate(org.agents):
        if number % 17 == 16:
            entries.append((SUPERVISOR, AgentExited(agent=agent.name, status=1), T0 + 10 + number, None))
        else:
            entries.append((agent.name, cycle[number % len(cycle)], T0 + 10 + number, None))
    entries += [
        ("web-04", ApprovalRequested(id="b1", text="Deploy the preview?", command="npm run deploy"), T0 + 600, None),
        ("api-09", ApprovalRequested(id="b2", text="Drop the cache table?"), T0 + 700, None),
    ]
    return entries


async def chat(pilot: Pilot, text: str) -> None:
    """Send `text` from the chat input (filled in whole: typing key by key is slow, and tested apart)."""
    chat_panel = pilot.app.query_one(ChatPanel)
    chat_panel.focus_input()
    chat_panel.query_one(Input).value = text
    await pilot.press("enter")
    await pilot.pause()


def chat_text(app: ConsoleApp) -> str:
    """The chat log as one text, its lines (wrapped by the log) joined and runs of spaces made one."""
    return " ".join(" ".join(app.query_one(ChatPanel).log_lines).split())


def records(app: ConsoleApp) -> list[Record]:
    supervisor = app.supervisor
    supervisor.journal.flush()  # appends are written by the journal's commit thread
    key = load_or_create_key(paths.state_dir(supervisor.org.name) / "journal.key")
    return list(Journal.read(supervisor.journal_path, key))


def decisions(app: ConsoleApp) -> list[tuple[str, str, bool]]:
    return [
        (record.actor, record.event.id, record.event.approved)
        for record in records(app)
        if isinstance(record.event, ApprovalDecided)
    ]


# --- snapshots ----------------------------------------------------------------------------------------------------


async def chat_a_little(pilot: Pilot) -> None:
    """Two chat exchanges (journaled as commands run by the human: see `journal_at_now`), then back to the table."""
    await chat(pilot, "/status")
    await chat(pilot, "@ops are you there?")
    pilot.app.query_one(HealthTable).focus()
    await pilot.pause()


@pytest.fixture
def journal_at_now(monkeypatch: pytest.MonkeyPatch) -> None:
    """Records journaled during the test are stamped with the app's clock, so the trace shows fixed times."""
    monkeypatch.setattr("agent_console.agents.journal.time", SimpleNamespace(time=lambda: NOW))


def test_snapshot_main_screen(snap_compare: Any, demo: Console, journal_at_now: None) -> None:
    """You should see the main screen at 120x40 (the medium layout) under the header "agent-console — demo — 3
    pending — 6 agents: 1 error · 1 idle · 1 thinking · 2 waiting · 1 working". Across the top the approvals in an
    amber frame, "3 pending" in its bottom edge: api 6m "$ pip install httpx  +1 same", db 4m "$ alembic -x
    env=staging upgrade head", tester 1m "$ pip install httpx  +1 same"; under it a shaded strip with the selected
    request in full, "api asks $ pip install httpx  Install the HTTP client?". Left, the org tree (teams in the
    replayed journal's order, alphabetical): backend with api (amber ◆, [1]), ci (red ✖), tester (cyan ◔, [1]) and
    its sub-team data with db (◆, [1]); product with planner (green ●) and writer (grey ○); under it the health
    table (focused, blue frame): api, ci, db, planner, tester, writer with their states, ages 6m, 10m, 4m, 5m, 1m,
    11m, pending 1 for api, db and tester, ci's 1 restart, and the first letters of each task. Right, the chat: the
    executive's "Ready." line, "you: /status" answered "6 agents: 1 error, 1 idle, 1 thinking, 2 waiting, 1
    working; 3 pending approval(s)", "you: @ops are you there?" answered "There is no agent 'ops' (agents: …)."; the
    input below; then the trace, compact, from writer's status at 22:16:40 to the human's two commands at
    22:28:20, "command status (via chat)" and "command send to=@ops text=are you there? (via chat) — failed: There
    is no agent 'ops' …" (cut at the right edge). The footer: i Evidence, ^q quit,
    y approve, n deny, A approve all like it, d details, ? help, t theme, v view, : comman(d, cut), ^p palette."""
    assert snap_compare(demo, terminal_size=SIZE, run_before=chat_a_little)


def test_snapshot_approval_details(snap_compare: Any, demo: Console) -> None:
    """You should see the approval details dialog (thick amber border, titled "Approval a1") over the main
    screen: "api asked at 2023-11-14 22:21:50 (6m ago) · 2 identical requests pending", the question "Install
    the HTTP client?", the command "pip install httpx" in bold on a shaded block and the hints "y approve
    n deny   esc close"; the footer shows "⏎ Details", "^q quit" and "^p palette" only (the main screen's single
    keys do not act under a dialog)."""

    async def open_details(pilot: Pilot) -> None:
        pilot.app.query_one(ApprovalQueue).focus()
        await pilot.pause()

    assert snap_compare(demo, terminal_size=SIZE, run_before=open_details, press=["enter"])


def test_snapshot_help_screen(snap_compare: Any, demo: Console) -> None:
    """You should see the "Keys" dialog over the main screen: a Key / Action / Where table with the keys
    y, n, A, d, ?, t, v, :, c, / ("anywhere but a text", the Where column cropped by the dialog's width), enter,
    i, ctrl+p ("command palette (asks for a command's arguments)"), escape, ctrl+q ("quit the console (the agents
    keep running)"), then the commands as ":approve" … ":save", ":adopt", ":barrier", ":jump" with their usage
    (":spawn  spawn NAME --team TEAM [--kind KIND] [--command COMMAND] [--worktree]") and ": line, chat /";
    the dialog has a scrollbar; the footer shows "i Evidence", "^q quit" and "^p palette"."""
    assert snap_compare(demo, terminal_size=SIZE, press=["question_mark"])


def test_snapshot_empty_org(snap_compare: Any, make_console: Callable[[Org, list[Entry]], Console]) -> None:
    """You should see the main screen of an org with no agents: the header "agent-console — console —
    0 pending — 0 agents: none"; the Approvals frame across the top with its headers (Agent, Age, Request), no
    amber colour, and "0 pending" in its bottom edge; no request strip; an empty Org frame; the chat with only the
    executive's "Ready. @agent text, #team text, /help." line; the Health frame with only its column headers
    (Agent, State, Last, Pending, Restarts, Task…); an empty trace; the footer."""
    assert snap_compare(make_console(Org(name="console"), []), terminal_size=SIZE)


def test_snapshot_light_theme(snap_compare: Any, demo: Console) -> None:
    """You should see the same main screen as the dark one (without the chat exchanges) on the light theme:
    dark text on light panels, every panel's frame a visible grey (blue for the focused health table), the state
    glyphs and the amber approvals frame still coloured, and a "theme: light" notification over the bottom right
    corner."""
    assert snap_compare(demo, terminal_size=SIZE, press=["t"])


def test_snapshot_200_agents(snap_compare: Any, make_console: Callable[[Org, list[Entry]], Console]) -> None:
    """You should see the main screen of a 200-agent org: the header "agent-console — big — 2 pending — 200
    agents: 38 error · 38 idle · 11 offline · 37 thinking · 38 wait…", cut at the edge after the pending
    count; the approvals across the top: web-04 5m "$ npm run deploy", api-09 3m "Drop the cache table?", and the
    strip "web-04 asks $ npm run deploy  Deploy the preview?"; the org tree from team backend (backend-01 …
    backend-13) with a vertical scrollbar; the health table from api-01 (13m) to api-12, api-09 3m with 1 pending;
    the trace scrolled to its end: perf statuses at 22:16:38…22:16:49, web-04's approval.request at 22:23:20 and
    api-09's at 22:25:00."""
    org = big_org()
    assert snap_compare(make_console(org, big_entries(org)), terminal_size=SIZE)


def console_pane(terminal: tuple[int, int]) -> tuple[int, int]:
    """The console's pane when the demo runs in a tmux of `terminal` cells, as the layout plan gives it: tmux's
    status line takes a row from the window, and the pane's title line (pane-border-status top) one from the pane."""
    window = (terminal[0], terminal[1] - 1)
    plan = plan_layout(demo_org(), window, exec_share=CONSOLE_SHARE_PERCENT, exec_min_width=CONSOLE_MIN_COLS)
    _, _, width, height = layout_cells(plan.windows[0].root, *window).rects()[EXEC_SLOT]
    return width, height - 1


def test_the_console_pane_sizes_the_snapshots_use() -> None:
    sizes = {terminal: console_pane(terminal) for terminal in ((80, 24), (120, 40), (200, 50), (300, 80))}
    assert sizes == {(80, 24): (80, 22), (120, 40): (120, 38), (200, 50): (100, 48), (300, 80): (150, 78)}


def test_snapshot_console_in_an_80x24_terminal(snap_compare: Any, demo: Console) -> None:
    """You should see the console alone in its window, 80x22, in the compact layout: the header (cut after the
    pending count: "agent-console — demo — 3 pending — 6 agents: 1 error · 1 idle…"); the Approvals frame (amber,
    "3 pending" in its bottom edge) with api 6m "$ pip install httpx  +1 same", db 4m "$ alembic -x env=staging
    upgrade head", tester 1m "$ pip install httpx  +1 same"; under it, on a shaded strip, the selected request in
    full: "api asks $ pip install httpx  Install the HTTP client?"; the view bar " Health  Org  Chat  Trace    v
    next view" with Health marked; the health table (focused, blue frame) with its six agents, Task in view, Team
    off the edge; the footer's keys from "i Evidence", cut after "d details"."""
    assert snap_compare(demo, terminal_size=console_pane((80, 24)))


def test_snapshot_console_in_a_120x40_terminal(snap_compare: Any, demo: Console) -> None:
    """You should see the console alone in its window, 120x38, in the medium layout: the header with the whole
    figures "agent-console — demo — 3 pending — 6 agents: 1 error · 1 idle · 1 thinking · 2 waiting · 1 working";
    the Approvals frame across the width (amber, "3 pending") with the three requests and their commands whole;
    the strip "api asks $ pip install httpx  Install the HTTP client?"; then the org tree over the health table
    (focused) on the left, the chat (the executive's "Ready." line, the input) over the trace on the right; the
    footer with i Evidence, y approve, n deny, A approve all like it, d details, ? help, t theme, v view, :
    command."""
    assert snap_compare(demo, terminal_size=console_pane((120, 40)))


def test_snapshot_console_in_a_200x50_terminal(snap_compare: Any, demo: Console) -> None:
    """You should see the console at 100x48 (half the window: the agents have the other half) in the medium layout:
    the header cut after "2 wa…"; the Approvals frame (amber, "3 pending") with the three requests whole; the strip
    "api asks $ pip install httpx  Install the HTTP client?"; the org tree over the health table (focused; State,
    Last, Pending and Restarts in view) on the left; the chat over the trace (its last line tester's
    approval.request at 22:27:20) on the right; the footer."""
    assert snap_compare(demo, terminal_size=console_pane((200, 50)))


def test_snapshot_console_in_a_300x80_terminal(snap_compare: Any, demo: Console) -> None:
    """You should see the console at 150x78 in the wide layout: the whole header; the Approvals frame across the
    width (amber, "3 pending") with the three requests; the strip "api asks $ pip install httpx  Install the HTTP
    client?"; below, side by side, the org tree (its tasks cut in the middle, their ends kept: "add…+19…nt 3/5"),
    the health table (focused; its Task column in view) and the chat over the trace (org.load at 22:13:20 down to
    tester's approval.request at 22:27:20); the footer."""
    assert snap_compare(demo, terminal_size=console_pane((300, 80)))


@pytest.mark.parametrize(
    ("size", "layout"),
    [
        ((80, 22), "-compact"),
        ((130, 25), "-compact"),
        ((120, 38), "-medium"),
        ((100, 48), "-medium"),
        ((150, 78), "-wide"),
    ],
)
async def test_the_layout_follows_the_pane_s_size_and_the_queue_is_always_on_screen(
    demo: Console, size: tuple[int, int], layout: str
) -> None:
    async with demo.run_test(size=size) as pilot:
        await pilot.pause()
        assert {name for name in ("-compact", "-medium", "-wide") if demo.has_class(name)} == {layout}
        queue = demo.query_one(ApprovalQueue)
        assert queue.display and queue.region.height >= 6, "the frame, the headers and the three requests"
        assert queue.border_subtitle == "3 pending"
        assert demo.query_one(ApprovalPreview).region.height >= 1
        shown = {view.id for view in demo.query("#tree, #health, #chat, #trace") if view.region.area}
        assert shown == ({"health"} if layout == "-compact" else {"tree", "health", "chat", "trace"})
        if layout != "-compact":
            assert demo.chat_view.query_one(Input).region.width >= 40, "a chat input one can type in"


async def test_a_resized_pane_changes_the_layout(demo: Console) -> None:
    async with demo.run_test(size=(150, 78)) as pilot:
        await pilot.pause()
        assert demo.has_class("-wide")
        await pilot.resize_terminal(80, 22)
        await pilot.pause()
        assert demo.has_class("-compact") and not demo.has_class("-wide")
        assert demo.queue_view.region.height >= 6 and not demo.org_view.region.area


async def test_v_shows_the_views_in_turn_and_a_focused_view_is_always_shown(demo: Console) -> None:
    async with demo.run_test(size=(80, 22)) as pilot:
        await pilot.pause()
        seen = []
        for _ in range(4):
            await pilot.press("v")
            await pilot.pause()
            seen.append([view.id for view in demo.query("#tree, #health, #chat, #trace") if view.region.area])
            assert demo.queue_view.region.height >= 6
        assert seen == [["tree"], ["chat"], ["trace"], ["health"]]
        assert demo.focused is demo.health_view
        demo.chat_view.focus_input()  # as a key or a click would
        await pilot.pause()
        assert demo.chat_view.region.area and not demo.health_view.region.area
        assert demo.chat_view.query_one(Input).region.width >= 60, "a chat input one can type in"


async def test_the_queue_s_ages_tick_without_new_records(demo: Console, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("agent_console.tui.app.AGE_SECONDS", 0.05)
    async with demo.run_test(size=SIZE) as pilot:
        await pilot.pause()
        queue = demo.query_one(ApprovalQueue)
        assert str(queue.get_row("a1")[1]) == "6m"
        demo.clock = lambda: NOW + 65
        for _ in range(100):
            await pilot.pause(0.05)
            if str(queue.get_row("a1")[1]) != "6m":
                break
        assert str(queue.get_row("a1")[1]) == "7m"
        assert str(demo.health_view.get_row("api")[2]) == "7m", "and the health table's Last column"


async def test_the_selected_request_is_shown_whole_before_y_and_y_approves_exactly_it(demo: Console) -> None:
    async with demo.run_test(size=console_pane((80, 24))) as pilot:
        await pilot.pause()
        queue = demo.query_one(ApprovalQueue)
        queue.focus()
        await pilot.press("down")  # a2, db's migration
        await pilot.pause()
        shown = " ".join(str(demo.query_one(ApprovalPreview).render()).split())
        assert shown == (
            "db asks $ alembic -x env=staging upgrade head The migration adds orders.customer_id. "
            "Apply it to the staging database?"
        )
        answer = asyncio.create_task(demo.supervisor.wait_approval("db", "a2", 10))
        await pilot.pause()
        await pilot.press("y")
        decided = await asyncio.wait_for(answer, 5)
        assert decided is not None and decided.approved
        assert decisions(demo)[1:] == [(HUMAN, "a2", True)]
        await pilot.pause()
        shown = " ".join(str(demo.query_one(ApprovalPreview).render()).split())
        assert shown == f"api asks $ {HTTPX} Install the HTTP client?", "the highlight went back to the oldest"


async def test_a_long_command_cut_in_the_queue_is_whole_under_it_and_d_shows_it_all(
    make_console: Callable[[Org, list[Entry]], Console],
) -> None:
    org = demo_org()
    command = 'psql -h db.internal -U admin -c "DELETE FROM orders WHERE created < now() - interval 90 days"'
    command += " && psql -c 'VACUUM FULL orders' && rm -rf /var/backups/orders-*"
    entries = [
        *demo_entries(org)[:8],
        ("db", ApprovalRequested(id="long", text="Clean up old orders?", command=command), T0 + 880, "long"),
    ]
    app = make_console(org, entries)
    async with app.run_test(size=console_pane((80, 24))) as pilot:
        await pilot.pause()
        queue = app.query_one(ApprovalQueue)
        assert queue.selected_id == "long" and len(command) > 150
        assert command not in str(queue.get_row("long")[2]), "the queue cuts it"
        lines = str(app.query_one(ApprovalPreview).render()).splitlines()
        assert len(lines) <= ApprovalPreview.MAX_LINES and all(len(line) <= 78 for line in lines)
        assert f"db asks $ {command}" in "".join(lines), "whole, wrapped to the pane"
        await pilot.press("d")
        await pilot.pause()
        assert isinstance(app.screen, ApprovalDetails) and app.screen.approval.command == command


# --- approvals ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("key", "approved"), [("y", True), ("n", False)])
async def test_y_and_n_answer_the_agent_that_asked(demo: Console, key: str, approved: bool) -> None:
    async with demo.run_test(size=SIZE) as pilot:
        await pilot.pause()
        queue = demo.query_one(ApprovalQueue)
        assert queue.approval_ids == ["a1", "a2", "a3"] and queue.selected_id == "a1"
        answer = asyncio.create_task(demo.supervisor.wait_approval("api", "a1", 10))
        await pilot.pause()
        assert not answer.done()
        await pilot.press(key)
        decided = await asyncio.wait_for(answer, 5)
        assert decided is not None and decided.id == "a1" and decided.approved is approved
        assert decisions(demo)[-1] == (HUMAN, "a1", approved)
        assert [actor for actor, _, _ in decisions(demo)] == [HUMAN, HUMAN]  # a0 (journaled before) and a1
        await pilot.pause()
        assert queue.approval_ids == ["a2", "a3"] and queue.row_count == 2
        assert queue.selected_id == "a2"
        assert "a1" not in demo.supervisor.state.approvals
        verdict = "approved" if approved else "denied"
        assert demo.notes == [f"{verdict} api: {HTTPX}"]
        assert "2 pending" in demo.sub_title


async def test_A_approves_every_identical_request_and_no_other(demo: Console) -> None:
    async with demo.run_test(size=SIZE) as pilot:
        await pilot.pause()
        waits = {
            approval_id: asyncio.create_task(demo.supervisor.wait_approval(agent, approval_id, 10))
            for agent, approval_id in (("api", "a1"), ("db", "a2"), ("tester", "a3"))
        }
        await pilot.pause()
        await pilot.press("A")
        for approval_id in ("a1", "a3"):
            decided = await asyncio.wait_for(waits[approval_id], 5)
            assert decided is not None and decided.approved
        await pilot.pause()
        assert not waits["a2"].done()
        waits["a2"].cancel()
        assert decisions(demo)[1:] == [(HUMAN, "a1", True), (HUMAN, "a3", True)]
        assert demo.query_one(ApprovalQueue).approval_ids == ["a2"]
        assert list(demo.supervisor.state.approvals) == ["a2"]
        assert demo.notes == ["approved 2 identical request(s)"]


async def test_enter_on_the_queue_shows_the_request_and_y_there_approves_it(demo: Console) -> None:
    async with demo.run_test(size=SIZE) as pilot:
        await pilot.pause()
        queue = demo.query_one(ApprovalQueue)
        queue.focus()
        await pilot.press("down")  # a2, db's migration
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(demo.screen, ApprovalDetails) and demo.screen.approval.id == "a2"
        answer = asyncio.create_task(demo.supervisor.wait_approval("db", "a2", 10))
        await pilot.pause()
        await pilot.press("y")
        decided = await asyncio.wait_for(answer, 5)
        assert decided is not None and decided.approved
        await pilot.pause()
        assert not isinstance(demo.screen, ApprovalDetails)
        assert queue.approval_ids == ["a1", "a3"]


async def test_y_and_n_type_into_the_chat_input_when_it_has_focus(demo: Console) -> None:
    async with demo.run_test(size=SIZE) as pilot:
        await pilot.pause()
        demo.query_one(ChatPanel).focus_input()
        await pilot.pause()
        await pilot.press("y", "n", "A", "t")
        await pilot.pause()
        assert demo.query_one(ChatPanel).query_one(Input).value == "ynAt"
        assert decisions(demo) == [(HUMAN, "a0", True)]  # only the one journaled before
        assert list(demo.supervisor.state.approvals) == ["a1", "a2", "a3"]
        assert demo.query_one(ApprovalQueue).row_count == 3
        assert demo.theme == DARK_THEME_NAME
        assert demo.notes == []


# --- chat ---------------------------------------------------------------------------------------------------------


def human_messages(app: ConsoleApp, agent: str) -> list[tuple[str, str]]:
    return [(m["to"], m["text"]) for m in app.supervisor.state.outbox(agent) if m["from"] == HUMAN]


async def test_at_agent_in_the_chat_messages_that_agent(demo: Console) -> None:
    async with demo.run_test(size=SIZE) as pilot:
        await chat(pilot, "@api please add pagination too")
        assert human_messages(demo, "api") == [("@api", "please add pagination too")]
        assert all(not human_messages(demo, agent) for agent in ("planner", "writer", "tester", "ci", "db"))
        sent = [record for record in records(demo) if isinstance(record.event, MessageSent)]
        assert (sent[-1].actor, sent[-1].event.to) == (HUMAN, "@api")
        assert chat_text(demo).endswith(
            "you: @api please add pagination too executive: queued for @api — it is waiting: typed once it is idle"
        )


async def test_hash_team_in_the_chat_messages_the_team_and_its_sub_teams(demo: Console) -> None:
    async with demo.run_test(size=SIZE) as pilot:
        await chat(pilot, "#backend stand-up in five minutes")
        message = ("#backend", "stand-up in five minutes")
        for agent in ("api", "tester", "ci", "db"):  # db is in data, a sub-team of backend
            assert human_messages(demo, agent) == [message]
        for agent in ("planner", "writer"):
            assert human_messages(demo, agent) == []
        assert "executive: queued for #backend — api: it is waiting: typed once it is idle; ci: " in chat_text(demo)


async def test_the_chat_follows_a_message_until_it_is_delivered(demo: Console) -> None:
    async with demo.run_test(size=SIZE) as pilot:
        await chat(pilot, "@api rebase on main first")
        assert chat_text(demo).endswith("executive: queued for @api — it is waiting: typed once it is idle")
        await chat(pilot, "/outbox api")
        assert "api: “rebase on main first” (from human, queued " in chat_text(demo)
        message_id = [r.event.id for r in records(demo) if isinstance(r.event, MessageSent) and r.actor == HUMAN][-1]
        demo.supervisor.submit(SUPERVISOR, MessageTyped(id=message_id, agent="api"))  # as the typist journals it
        demo.supervisor.submit("api", MessageAcknowledged(id=message_id))
        await pilot.pause()
        text = chat_text(demo)
        assert "console: typed into api's pane: “rebase on main first” (waited " in text
        assert "console: delivered to api: “rebase on main first” (taken up " in text
        await chat(pilot, "/outbox api")
        answer = chat_text(demo).rpartition("you: /outbox api")[2]
        assert "“v2 scope is frozen” (from planner" in answer and "rebase" not in answer  # only the agent's


async def test_an_unknown_agent_or_team_gets_a_helpful_answer(demo: Console) -> None:
    async with demo.run_test(size=SIZE) as pilot:
        before = len(records(demo))
        await chat(pilot, "@nobody hello")
        await chat(pilot, "#ops hello")
        await chat(pilot, "@api")
        text = chat_text(demo)
        assert "executive: There is no agent 'nobody' (agents: api, ci, db, planner, tester, writer)." in text
        assert "executive: There is no team 'ops' (teams: backend, data, product)." in text
        assert text.endswith("executive: What should I tell @api? Write: @api your message")
        added = records(demo)[before:]
        assert not any(isinstance(record.event, MessageSent) for record in added)  # nothing was sent
        assert [(r.event.name, r.event.via, r.event.ok) for r in added] == [("send", "chat", False)] * 2


async def test_slash_help_in_the_chat_opens_the_help_screen(demo: Console) -> None:
    async with demo.run_test(size=SIZE) as pilot:
        await chat(pilot, "/help")
        assert isinstance(demo.screen, HelpScreen)
        assert (
            ":spawn",
            "spawn NAME --team TEAM [--kind KIND] [--command COMMAND] [--worktree]",
            ": line, chat /",
        ) in demo.screen.rows
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(demo.screen, HelpScreen)
        assert "you: /help executive: I understand: @agent text" in chat_text(demo)


async def test_slash_spawn_with_bad_arguments_answers_in_the_chat(demo: Console) -> None:
    async with demo.run_test(size=SIZE) as pilot:
        await chat(pilot, "/spawn helper --team nosuch")
        await chat(pilot, "/spawn helper")
        await chat(pilot, "/spawn helper --team backend --kind robot")
        first, second, third = chat_text(demo).split("you: /spawn helper")[1:]
        assert first.startswith(" --team nosuch executive: spawn: ")
        assert second.startswith(" executive: spawn: the following arguments are required: --team (usage: spawn ")
        assert third.startswith(" --team backend --kind robot executive: spawn: argument --kind: invalid choice")
        assert [agent.name for agent in demo.supervisor.org.agents] == DEMO_AGENTS
        assert "helper" not in demo.supervisor.state.agents


async def test_slash_spawn_into_an_unknown_team_names_the_team_and_the_known_ones(demo: Console) -> None:
    async with demo.run_test(size=SIZE) as pilot:
        await chat(pilot, "/spawn helper --team nosuch")
        assert "unknown team 'nosuch' (teams: backend, data, product)" in chat_text(demo)


DEMO_AGENTS = [agent.name for agent in demo_org().agents]


# --- commands: the palette and the : line run the same registry ---------------------------------------------------


async def run_in_palette(pilot: Pilot, name: str) -> None:
    await pilot.press("ctrl+p")
    await pilot.pause()
    palette = pilot.app.screen
    assert isinstance(palette, CommandPalette)
    palette.query_one(Input).value = name  # as if typed: the palette searches on every change
    hits = palette.query_one(CommandList)
    for _ in range(100):  # the search runs in the background: wait for the command to come first
        await pilot.pause(0.02)
        if (
            hits.option_count
            and hits.highlighted == 0
            and str(hits.get_option_at_index(0).prompt).split("\n")[0] == name
        ):
            break
    else:
        pytest.fail(f"the palette does not offer {name!r}")
    await pilot.press("enter")
    await pilot.pause()


def command_result(app: ConsoleApp) -> str | None:
    """The answer shown where the `:` line was, or None when none is shown."""
    result = app.query_one("#command-result", Static)
    return None if result.has_class("hidden") or not result.display else str(result.content)


async def run_in_command_line(pilot: Pilot, name: str) -> None:
    await pilot.press("colon")
    await pilot.pause()
    line = pilot.app.query_one("#command-line", Input)
    assert line.has_focus and not line.has_class("hidden")
    line.value = name
    await pilot.press("enter")
    await pilot.pause()
    assert line.has_class("hidden") and pilot.app.query_one(HealthTable).has_focus


async def test_the_palette_and_the_command_line_run_the_same_status_command(demo: Console) -> None:
    said = "6 agents: 1 error, 1 idle, 1 thinking, 2 waiting, 1 working; 3 pending approval(s)"
    async with demo.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await run_in_palette(pilot, "status")
        assert not isinstance(demo.screen, CommandPalette)
        assert demo.notes == [said]
        await run_in_command_line(pilot, "status")
        assert command_result(demo) == said  # where the line was: the user is looking there
        await chat(pilot, "/status")
        assert chat_text(demo).endswith(f"you: /status executive: {said}")
        assert demo.notes == [said]


async def test_the_palette_and_the_command_line_toggle_the_theme_alike(demo: Console) -> None:
    async with demo.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert demo.theme == DARK_THEME_NAME
        await run_in_command_line(pilot, "theme")
        assert demo.theme == LIGHT_THEME_NAME
        assert command_result(demo) == "theme: light"
        await run_in_palette(pilot, "approve-identical")  # something else first: the palette runs what it finds
        assert demo.notes == ["approved 2 identical request(s)"]
        await run_in_command_line(pilot, "theme")
        assert demo.theme == DARK_THEME_NAME
        await pilot.press("t")
        assert demo.theme == LIGHT_THEME_NAME
        assert demo.notes[-1] == "theme: light"


async def test_the_command_line_reports_a_wrong_command_and_escape_closes_it(demo: Console) -> None:
    async with demo.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await run_in_command_line(pilot, "frobnicate")
        commands = "commands: adopt, approve, approve-always, approve-identical"
        assert command_result(demo).startswith(f"no command 'frobnicate'; {commands}")
        await run_in_command_line(pilot, "kill nobody")
        assert command_result(demo) == "kill: no agent 'nobody'"
        await pilot.press("colon")
        await pilot.pause()
        assert command_result(demo) is None  # the line again, not the last answer
        await pilot.press("escape")
        await pilot.pause()
        assert demo.query_one("#command-line", Input).has_class("hidden")
        assert demo.query_one(HealthTable).has_focus


async def test_the_views_recolour_their_states_for_the_new_theme(demo: Console) -> None:
    async with demo.run_test(size=SIZE) as pilot:
        await pilot.pause()
        table = demo.query_one(HealthTable)
        tree = demo.query_one(OrgTree)

        def colours() -> tuple[str, str]:
            cell = table.get_row("ci")[1]
            node = tree.node_for("ci")
            assert isinstance(cell, Text) and node is not None and isinstance(node.label, Text)
            return str(cell.style), str(node.label.spans[0].style)

        dark, light = state_color(AgentState.ERROR), state_color(AgentState.ERROR, dark=False)
        assert all(dark in style for style in colours())
        await pilot.press("t")
        await pilot.pause()
        assert all(light in style and dark not in style for style in colours())


# --- views follow the journal -------------------------------------------------------------------------------------


async def test_a_new_record_reaches_every_view(demo: Console) -> None:
    async with demo.run_test(size=SIZE) as pilot:
        await pilot.pause()
        supervisor = demo.supervisor
        supervisor.handle("writer", ApprovalRequested(id="a9", text="Publish the changelog?"))
        supervisor.handle("writer", status(AgentState.WAITING, "publish the changelog"))
        await pilot.pause(0.5)  # views refresh a few times a second at most
        assert demo.query_one(ApprovalQueue).approval_ids == ["a1", "a2", "a3", "a9"]
        assert [str(cell) for cell in demo.query_one(HealthTable).get_row("writer")][:2] == ["writer", "◆ waiting"]
        assert [record.event.type for record in demo.query_one(TraceView).shown_records[-2:]] == [
            "approval.request",
            "status",
        ]
        assert "4 pending" in demo.sub_title and "3 waiting" in demo.sub_title


async def test_enter_on_an_agent_without_a_pane_says_so(demo: Console) -> None:
    """Jumping needs the agent's pane (real tmux: not here); without one, the console says so and stays up."""
    async with demo.run_test(size=SIZE) as pilot:
        await pilot.pause()
        table = demo.query_one(HealthTable)
        assert table.has_focus
        await pilot.press("down", "enter")
        await pilot.pause()
        assert demo.notes == [f"{table.agent_names[1]} has no pane"]


async def test_trace_command_filters_by_agent_and_back(demo: Console) -> None:
    from agent_console.widgets.trace_view import TraceView

    async with demo.run_test(size=SIZE) as pilot:
        await chat(pilot, "/trace api")
        view = demo.query_one(TraceView)
        shown = view.shown_records
        traces: dict[str, list] = {}
        for record in shown:
            traces.setdefault(record.trace, []).append(record)
        assert shown and all(view.concerns(group, "api") for group in traces.values())  # whole traces that name api
        everything = len(shown)
        await chat(pilot, "/trace all")
        assert len(demo.query_one(TraceView).shown_records) > everything
        await chat(pilot, "/trace nobody")
        assert "no agent 'nobody'" in chat_text(demo)


async def test_records_arriving_under_a_dialog_still_reach_the_views(demo: Console) -> None:
    from agent_console.agents.events import StatusReported
    from agent_console.tui.dialogs.help_screen import HelpScreen

    async with demo.run_test(size=SIZE) as pilot:
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(demo.screen, HelpScreen)
        demo.supervisor.submit("writer", StatusReported(state="working", task="under the dialog"))
        await pilot.pause(0.4)  # past the coalescing delay: the refresh ran with the dialog on top
        await pilot.press("escape")
        await pilot.pause()
        assert "under the dialog" in str(demo.health_view.get_row("writer"))


# --- keys that do what they say -----------------------------------------------------------------------------------


async def test_typing_a_command_while_a_table_has_focus_types_it_into_the_chat(demo: Console) -> None:
    """`/` from the lists starts a chat command: the letters after it type, they do not act (t, n)."""
    async with demo.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert demo.query_one(HealthTable).has_focus
        await pilot.press(*"/team new be")
        await pilot.pause()
        chat_input = demo.query_one(ChatPanel).query_one(Input)
        assert chat_input.has_focus and chat_input.value == "/team new be"
        assert demo.theme == DARK_THEME_NAME
        assert decisions(demo) == [(HUMAN, "a0", True)]  # only the one journaled before
        assert list(demo.supervisor.state.approvals) == ["a1", "a2", "a3"]


async def test_c_focuses_the_chat_and_escape_goes_back_to_the_list_it_came_from(demo: Console) -> None:
    async with demo.run_test(size=SIZE) as pilot:
        await pilot.pause()
        queue = demo.query_one(ApprovalQueue)
        queue.focus()
        await pilot.pause()
        await pilot.press("c")
        await pilot.pause()
        chat_input = demo.query_one(ChatPanel).query_one(Input)
        assert chat_input.has_focus and chat_input.value == ""
        await pilot.press("y")  # types
        await pilot.press("escape")
        await pilot.pause()
        assert queue.has_focus and chat_input.value == "y"
        assert list(demo.supervisor.state.approvals) == ["a1", "a2", "a3"]
        await pilot.press("y")  # on the queue again: approves
        await pilot.pause()
        assert list(demo.supervisor.state.approvals) == ["a2", "a3"]


async def test_no_single_key_acts_while_the_palette_is_open(demo: Console) -> None:
    async with demo.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("ctrl+p")
        await pilot.pause()
        assert isinstance(demo.screen, CommandPalette)
        demo.screen.query_one(CommandList).focus()  # the list of hits, not the palette's input, has the keys
        await pilot.pause()
        await pilot.press("y", "n", "A", "t", "c")
        await pilot.pause()
        assert list(demo.supervisor.state.approvals) == ["a1", "a2", "a3"]
        assert demo.theme == DARK_THEME_NAME
        assert not demo.query_one(ChatPanel).query_one(Input).has_focus


async def test_ctrl_q_is_in_the_footer_and_in_the_help(demo: Console) -> None:
    async with demo.run_test(size=SIZE) as pilot:
        await pilot.pause()
        shown = {key: active.binding for key, active in demo.screen.active_bindings.items() if active.binding.show}
        assert shown["ctrl+q"].action == "quit"
        assert "c" in shown  # the chat
        assert any(key == "ctrl+q" and "quit" in action for key, action, _ in demo.binding_rows())


# --- commands that need arguments, and where answers show ---------------------------------------------------------


async def test_the_palette_asks_for_the_arguments_of_a_command_that_needs_them(demo: Console) -> None:
    from agent_console.tui.dialogs.arguments_dialog import ArgumentsDialog

    async with demo.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await run_in_palette(pilot, "trace")
        await pilot.pause()
        assert isinstance(demo.screen, ArgumentsDialog) and demo.screen.usage == "trace [NAME|all|follow]"
        demo.screen.query_one(Input).value = "api"
        await pilot.press("enter")
        await pilot.pause()
        assert not isinstance(demo.screen, ArgumentsDialog)
        assert demo.notes == ["trace: what concerns api"]
        await run_in_palette(pilot, "kill")
        await pilot.press("escape")  # cancelled: nothing runs
        await pilot.pause()
        assert not isinstance(demo.screen, ArgumentsDialog)
        assert demo.notes == ["trace: what concerns api"]


# --- every front door runs the one registry ------------------------------------------------------------------------


SPAWN_WORDS = "helper --team backend --command true"


@pytest.mark.parametrize("via", ["chat", "palette", "line"])
async def test_spawn_from_each_front_door_runs_the_same_command_as_the_human(
    demo: Console, monkeypatch: pytest.MonkeyPatch, via: str
) -> None:
    """`/spawn` in the chat, spawn in the palette (its arguments asked for) and `:spawn` run the registry's spawn:
    the same journaled CommandRan, by the human, through its own front door."""
    from agent_console.agents.events import CommandRan
    from agent_console.tui.dialogs.arguments_dialog import ArgumentsDialog

    started: list[tuple[Org, str]] = []

    async def reconfigure(org: Org, actor: str = HUMAN) -> None:
        started.append((org, actor))

    monkeypatch.setattr(demo.supervisor, "reconfigure", reconfigure)
    async with demo.run_test(size=SIZE) as pilot:
        await pilot.pause()
        if via == "chat":
            await chat(pilot, f"/spawn {SPAWN_WORDS}")
        elif via == "palette":
            await run_in_palette(pilot, "spawn")
            assert isinstance(demo.screen, ArgumentsDialog)
            assert demo.screen.usage == "spawn NAME --team TEAM [--kind KIND] [--command COMMAND] [--worktree]"
            demo.screen.query_one(Input).value = SPAWN_WORDS
            await pilot.press("enter")
            await pilot.pause()
        else:
            await run_in_command_line(pilot, f"spawn {SPAWN_WORDS}")
    assert [(org.agents[-1].name, actor) for org, actor in started] == [("helper", HUMAN)]
    ran = [(record.actor, record.event) for record in records(demo) if isinstance(record.event, CommandRan)]
    args = {"name": "helper", "team": "backend", "command": "true"}
    assert ran == [(HUMAN, CommandRan(name="spawn", args=args, via=via))]


@pytest.mark.parametrize("via", ["chat", "palette", "line"])
async def test_bury_and_unbury_from_each_front_door_change_the_org_as_the_human(
    demo: Console, monkeypatch: pytest.MonkeyPatch, via: str
) -> None:
    """`/bury api`, bury in the palette and `:bury api` run the registry's bury (then unbury): the org the
    console runs next has api buried (then not), journaled as the human's command through that front door."""
    from agent_console.agents.events import CommandRan
    from agent_console.tui.dialogs.arguments_dialog import ArgumentsDialog

    orgs: list[Org] = []

    async def reconfigure(org: Org, actor: str = HUMAN) -> None:
        orgs.append(org)
        demo.supervisor.org = org

    monkeypatch.setattr(demo.supervisor, "reconfigure", reconfigure)
    async with demo.run_test(size=SIZE) as pilot:
        await pilot.pause()
        for name in ("bury", "unbury"):
            if via == "chat":
                await chat(pilot, f"/{name} api")
            elif via == "palette":
                await run_in_palette(pilot, name)
                assert isinstance(demo.screen, ArgumentsDialog)
                demo.screen.query_one(Input).value = "api"
                await pilot.press("enter")
                await pilot.pause()
            else:
                await run_in_command_line(pilot, f"{name} api")
    assert [org.agent("api").buried for org in orgs] == [True, False]
    assert all(not agent.buried for org in orgs for agent in org.agents if agent.name != "api")
    ran = [(record.actor, record.event) for record in records(demo) if isinstance(record.event, CommandRan)]
    assert ran == [(HUMAN, CommandRan(name=name, args={"name": "api"}, via=via)) for name in ("bury", "unbury")]


async def test_keys_decide_the_selected_request_through_the_approve_command(demo: Console) -> None:
    from agent_console.agents.events import CommandRan

    async with demo.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("y")
        await pilot.pause()
        assert decisions(demo)[-1] == (HUMAN, "a1", True)
        ran = [(r.actor, r.event) for r in records(demo) if isinstance(r.event, CommandRan)]
        assert ran == [(HUMAN, CommandRan(name="approve", args={"id": "a1"}, via="key"))]


# --- never crash --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("where", ["chat", "command line"])
async def test_a_terminal_error_during_a_command_is_one_line_and_the_console_stays_up(
    demo: Console, monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    from agent_console.terminal.tmux_control import TmuxCommandError

    async def refused(org: Org, actor: str = HUMAN) -> None:
        raise TmuxCommandError("set -w -t '@3' remain-on-exit on", "no such window: @3")

    monkeypatch.setattr(demo.supervisor, "reconfigure", refused)
    said = "spawn failed: tmux refused 'set': no such window: @3"
    async with demo.run_test(size=SIZE) as pilot:
        await pilot.pause()
        if where == "chat":
            await chat(pilot, "/spawn helper --team backend --command true")
            assert chat_text(demo).endswith(f"executive: {said}")
        else:
            await run_in_command_line(pilot, "spawn helper --team backend --command true")
            assert command_result(demo) == said
        await chat(pilot, "/status")  # still up, still answering
        assert "executive: 6 agents:" in chat_text(demo)
    assert demo.return_code in (0, None) and demo.crash_error is None


async def test_an_error_inside_a_command_is_one_line_with_its_log(
    demo: Console, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken() -> str:
        raise ZeroDivisionError("division by zero")

    monkeypatch.setattr(demo, "toggle_theme", broken)
    async with demo.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("t")
        await pilot.pause()
        note = demo.notes[-1]
        assert note.startswith("theme failed: ZeroDivisionError: division by zero (traceback in ")
        log = note.rsplit("traceback in ", 1)[1].rstrip(")")
        assert "in broken" in Path(log).read_text(encoding="utf-8")
    assert demo.crash_error is None


@pytest.mark.parametrize(
    ("command", "program"),
    [
        ("/spawn helper --team backend --kind claude", "claude"),
        ("/spawn helper --team backend --command nosuchprogram", "nosuchprogram"),
    ],
)
async def test_spawning_a_program_that_is_not_there_names_it_and_starts_nothing(
    demo: Console, monkeypatch: pytest.MonkeyPatch, tmp_path: Any, command: str, program: str
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # nothing on it
    started: list[Org] = []

    async def reconfigure(org: Org, actor: str = HUMAN) -> None:
        started.append(org)

    monkeypatch.setattr(demo.supervisor, "reconfigure", reconfigure)
    async with demo.run_test(size=SIZE) as pilot:
        await chat(pilot, command)
        assert chat_text(demo).endswith(
            f"executive: spawn: program {program!r} not found (not on PATH): install it, or give another with "
            "--command; helper was not started"
        )
    assert started == []


async def test_an_unexpected_error_ends_the_console_with_status_1_and_a_log(demo: Console) -> None:
    from agent_console.runtime import crash

    def boom() -> None:
        raise RuntimeError("injected")

    with pytest.raises(RuntimeError, match="injected"):
        async with demo.run_test(size=SIZE) as pilot:
            await pilot.pause()
            demo.set_timer(0.01, boom)
            await pilot.pause(0.2)
    assert demo.return_code == 1
    assert demo.crash_log is not None and demo.crash_log.parent == paths.state_dir("demo")
    assert "RuntimeError: injected" in demo.crash_log.read_text(encoding="utf-8")
    message = crash.crash_message(demo.crash_error, demo.crash_log)
    assert "(RuntimeError: injected)" in message and str(demo.crash_log) in message


async def test_keys_typed_in_a_burst_after_slash_colon_or_escape_land_where_those_keys_sent_the_focus(
    demo: Console,
) -> None:
    """As tmux delivers a fast typist's (or a paste's) keys: all at once, none waiting for the last to land."""
    from textual import events

    def burst(text: str) -> None:
        names = {"/": "slash", ":": "colon", " ": "space", "\x1b": "escape"}
        for char in text:
            demo._driver.send_message(events.Key(names.get(char, char), None if char == "\x1b" else char))

    async with demo.run_test(size=SIZE) as pilot:
        await pilot.pause()
        burst("/kill nobody")
        await pilot.pause(0.3)
        assert demo.query_one(ChatPanel).query_one(Input).value == "/kill nobody"
        burst("\x1bt")  # escape, then t on the table: the theme
        await pilot.pause(0.3)
        assert demo.theme == LIGHT_THEME_NAME and demo.query_one(HealthTable).has_focus
        burst(":status")
        await pilot.pause(0.3)
        assert demo.query_one("#command-line", Input).value == "status"


def test_an_unexpected_error_before_the_app_runs_is_one_paragraph_status_1_and_a_log(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import argparse

    from agent_console.cli import start

    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("injected before the app")

    monkeypatch.setenv("TMUX", "/tmp/ac-test-unused,1,0")
    monkeypatch.setenv("TMUX_PANE", "%0")
    monkeypatch.setattr(start, "Supervisor", broken)
    args = argparse.Namespace(spec=None, demo=False, backend="tmux", socket_name="ac-test-unused")
    assert start.run(args, [], SIZE) == 1
    said = capsys.readouterr().err
    logs = list(paths.state_dir("console").glob("crash-*.log"))
    assert len(logs) == 1 and "RuntimeError: injected before the app" in logs[0].read_text(encoding="utf-8")
    assert "agent-console stopped on an unexpected error (RuntimeError: injected before the app)" in said
    assert f"The full traceback is in {logs[0]}" in said and "Traceback" not in said


async def test_a_journal_that_cannot_be_written_shows_a_banner_until_it_can(demo: Console) -> None:
    async with demo.run_test(size=SIZE) as pilot:
        banner = demo.query_one("#fault", Static)
        assert not banner.display
        demo.supervisor.paused = "the journal cannot be written, so nothing is accepted until it can: disk full"
        for listener in demo.supervisor.fault_listeners:
            listener()
        await pilot.pause()
        assert banner.display and "disk full" in str(banner.render())
        demo.supervisor.paused = None
        for listener in demo.supervisor.fault_listeners:
            listener()
        await pilot.pause()
        assert not banner.display
        assert any("accepts requests again" in note for note in demo.notes)


async def test_a_supervisor_that_stops_on_its_own_ends_the_console_with_status_1(demo: Console) -> None:
    async with demo.run_test(size=SIZE) as pilot:
        demo.supervisor._fail("watching the panes failed: RuntimeError: injected")
        await pilot.pause()
        await pilot.pause()
    assert demo.return_code == 1


async def test_the_palette_offers_each_saved_arrangement_to_load(
    demo: Console, monkeypatch: pytest.MonkeyPatch
) -> None:
    loaded: list[str] = []

    async def restore(name: str) -> list[str]:
        loaded.append(name)
        return ["cat has no pane any more (no longer in the org, or not running)"]

    monkeypatch.setattr(demo.supervisor, "restore_arrangement", restore)
    demo.supervisor.known_arrangements = ["daily", "review"]
    async with demo.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await run_in_palette(pilot, "arrangement load review")
        await pilot.pause()
        assert loaded == ["review"]
        assert demo.notes[-1].startswith("loaded arrangement review; not restored: cat has no pane any more")
