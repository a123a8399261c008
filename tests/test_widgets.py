"""The widgets: what they show for a hand-built `OrgState`, the messages they post, and snapshots of each view."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import UTC
from typing import Any

import pytest
from rich.text import Text
from textual.app import App, ComposeResult
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widget import Widget
from textual.widgets import DataTable, Footer, Header, Input, Label, Static
from textual.widgets.tree import TreeNode

from agent_console.agents.events import (
    HUMAN,
    SUPERVISOR,
    AgentExited,
    AgentLaunched,
    AgentState,
    ApprovalDecided,
    ApprovalRequested,
    Event,
    LogRecorded,
    MessageSent,
    OrgLoaded,
    ProgressStalled,
    StateObserved,
    StatusReported,
    Throttled,
)
from agent_console.agents.journal import GENESIS, Record
from agent_console.agents.spans import TraceFilter
from agent_console.agents.state import OrgState, PendingApproval
from agent_console.themes import CONSOLE_TCSS, STATE_STYLES, state_color, state_glyph
from agent_console.themes.textual_themes import DARK_THEME, DARK_THEME_NAME, LIGHT_THEME, LIGHT_THEME_NAME
from agent_console.tui.app import layout_for
from agent_console.tui.dialogs import AgentDetails, ApprovalDetails, HelpScreen
from agent_console.widgets import ApprovalPreview, ApprovalQueue, ChatPanel, HealthTable, OrgTree, TraceView
from agent_console.widgets.formatting import agent_text, format_age

T0 = 1_700_000_000.0  # 2023-11-14 22:13:20 UTC
NOW = T0 + 600

# platform ⊃ backend; web and ops are top-level teams
ORG = OrgLoaded(
    name="acme",
    teams={"platform": None, "backend": "platform", "web": None, "ops": None},
    agents={
        "lead": "platform",
        "api": "backend",
        "db": "backend",
        "ui": "web",
        "css": "web",
        "docs": "web",
        "deploy": "ops",
        "monitor": "ops",
    },
)
TEAM_COLORS = {"web": "#ec4899"}  # the others take the palette's colour for their position


class OrgBuilder:
    """Records made by hand and folded into an `OrgState`, as the supervisor would journal them."""

    def __init__(self) -> None:
        self.state = OrgState()
        self.records: list[Record] = []
        self.now = T0

    def do(self, actor: str, event: Event, at: float | None = None, trace: str | None = None) -> Record:
        self.now = self.now + 1 if at is None else at
        record = Record(
            seq=len(self.records) + 1,
            time=self.now,
            trace=trace or f"t{len(self.records) + 1}",
            span=f"s{len(self.records) + 1}",
            parent=None,
            actor=actor,
            event=event,
            prev=GENESIS,
            hmac="",
        )
        self.records.append(record)
        self.state.apply(record)
        return record


def build_org() -> OrgBuilder:
    """Eight agents in every state: working, waiting (two approvals), thinking, idle, error, recovering, offline."""
    org = OrgBuilder()
    org.do(SUPERVISOR, ORG, trace="boot")
    for agent in ORG.agents:
        org.do(SUPERVISOR, AgentLaunched(agent=agent, pane=f"%{agent}"), trace="boot")
    org.do(SUPERVISOR, AgentExited(agent="docs", status=0), at=T0 + 100)
    org.do("css", StatusReported(state=AgentState.IDLE), at=T0 + 200)
    org.do("deploy", StatusReported(state=AgentState.ERROR, task="deploy to staging"), at=T0 + 300)
    org.do(SUPERVISOR, AgentExited(agent="monitor", status=1), at=T0 + 400)
    org.do(SUPERVISOR, AgentLaunched(agent="monitor", pane="%monitor2"), at=T0 + 401)
    org.do("lead", StatusReported(state=AgentState.WORKING, task="plan the release"), at=T0 + 500)
    org.do("db", StatusReported(state=AgentState.WAITING, task="migrate the schema"), at=T0 + 540)
    org.do("db", ApprovalRequested(id="a1", text="Run the migration?", command="alembic upgrade head"), trace="a1")
    work = StatusReported(state=AgentState.WORKING, task="implement the /users endpoint", progress="3/5")
    org.do("api", work, at=T0 + 570)
    drop = ApprovalRequested(id="a2", text="Drop the old table?", command="psql -c 'DROP TABLE users_old'")
    org.do("db", drop, at=T0 + 580, trace="a2")
    org.do("ui", StatusReported(state=AgentState.THINKING, task="lay out the header"), at=T0 + 590)
    return org


class Host(App[None]):
    """A tiny app that shows one widget (made by `make`, inside the app) and records the messages it posts."""

    CSS_PATH = str(CONSOLE_TCSS)

    def __init__(self, make: Callable[[], Widget], ready: Callable[[Host], None] | None = None, dark: bool = True):
        super().__init__()
        self.make = make
        self.ready = ready
        self.messages: list[Message] = []
        self.register_theme(DARK_THEME)
        self.register_theme(LIGHT_THEME)
        self.theme = DARK_THEME_NAME if dark else LIGHT_THEME_NAME

    def compose(self) -> ComposeResult:
        yield self.make()

    def on_mount(self) -> None:
        if self.ready is not None:
            self.ready(self)

    def record(self, message: Message) -> None:
        self.messages.append(message)

    on_org_tree_agent_selected = record
    on_health_table_agent_selected = record
    on_health_table_show_agent = record
    on_approval_queue_selected = record
    on_approval_queue_show_details = record
    on_chat_panel_submitted = record

    def posted(self, kind: type[Message]) -> list[Any]:
        return [message for message in self.messages if isinstance(message, kind)]


# --- themes -------------------------------------------------------------------------------------------------------


def test_every_agent_state_has_a_distinct_glyph_and_a_colour() -> None:
    assert set(STATE_STYLES) == {state.value for state in AgentState}
    glyphs = [state_glyph(state) for state in AgentState]
    assert len(set(glyphs)) == len(glyphs)
    assert all(len(glyph) == 1 for glyph in glyphs)
    assert state_glyph(AgentState.WORKING) == "●" and state_color(AgentState.ERROR) == "#ef4444"
    assert state_color(AgentState.ERROR, dark=False) == "#b91c1c"
    assert state_glyph("no-such-state") == state_glyph(AgentState.UNKNOWN)


def test_themes_are_named_and_the_stylesheet_ships_with_the_package() -> None:
    assert (DARK_THEME.name, DARK_THEME.dark) == (DARK_THEME_NAME, True)
    assert (LIGHT_THEME.name, LIGHT_THEME.dark) == (LIGHT_THEME_NAME, False)
    assert CONSOLE_TCSS.is_file() and "#approvals" in CONSOLE_TCSS.read_text()


@pytest.mark.parametrize("dark", [True, False])
async def test_panel_frames_stand_out_from_the_panels_on_both_themes(dark: bool) -> None:
    async with health_host(build_org(), dark=dark).run_test() as pilot:
        table = pilot.app.query_one(HealthTable)
        pilot.app.set_focus(None)  # the unfocused frame: a focused one takes the theme's primary colour
        await pilot.pause()
        frame = table.styles.border_top[1]
        assert abs(frame.brightness - table.styles.background.brightness) > 0.15, (frame, table.styles.background)


def test_format_age_and_agent_text() -> None:
    assert [format_age(s) for s in (None, -2, 0, 3.9, 59, 60, 119, 3599, 3600, 86_399, 86_400 * 3)] == [
        "—",
        "0s",
        "0s",
        "3s",
        "59s",
        "1m",
        "1m",
        "59m",
        "1h",
        "23h",
        "3d",
    ]
    assert agent_text("short", 10).plain == "short"
    assert agent_text("a much longer text than fits", 24).plain == "a much lon…+9…than fits"
    assert agent_text("a much longer text than fits, by far", 40).plain == "a much longer text than fits, by far"
    assert agent_text("a much longer text than anything that fits here", 40).plain == (
        "a much longer …(+20 chars)…hat fits here"
    )
    assert agent_text("first\nsecond", 40).plain == "first⏎second"
    assert agent_text("first\nsecond", multiline=True).plain == "first\nsecond"


# --- org tree -----------------------------------------------------------------------------------------------------


def tree_host(org: OrgBuilder, human_at: frozenset[str] = frozenset()) -> Host:
    return Host(
        lambda: OrgTree(id="tree"),
        lambda app: app.query_one(OrgTree).update_org(org.state, TEAM_COLORS, human_at),
    )


def label_of(tree: OrgTree, agent: str) -> str:
    node = tree.node_for(agent)
    assert node is not None
    return str(node.label)


async def test_org_tree_nests_teams_and_shows_each_agents_state_task_and_approvals() -> None:
    org = build_org()
    async with tree_host(org, human_at=frozenset({"ui"})).run_test() as pilot:
        tree = pilot.app.query_one(OrgTree)
        top = [(node.data.kind, node.data.name) for node in tree.root.children if node.data]
        assert top == [("team", "platform"), ("team", "web"), ("team", "ops")]
        platform = tree.root.children[0]
        assert [node.data.name for node in platform.children if node.data] == ["lead", "backend"]
        assert tree.agent_names == ["lead", "api", "db", "ui", "css", "docs", "deploy", "monitor"]
        assert label_of(tree, "api") == "● api  imp…+23…int 3/5"  # cut to the room its line has
        assert label_of(tree, "db") == "◆ db [2]  migr…+11…ema"
        assert label_of(tree, "ui") == f"◔ ui {OrgTree.HUMAN_MARKER}  lay ou…+6…header"
        assert label_of(tree, "docs") == "· docs"
        assert label_of(tree, "monitor") == "↻ monitor"
        web = tree.root.children[1]
        assert isinstance(web.label, Text) and "#ec4899" in str(web.label.spans[0].style)


async def test_org_tree_updates_only_the_labels_that_changed(monkeypatch: pytest.MonkeyPatch) -> None:
    org = build_org()
    async with tree_host(org).run_test() as pilot:
        tree = pilot.app.query_one(OrgTree)
        nodes = {agent: tree.node_for(agent) for agent in ORG.agents}
        relabelled: list[str] = []
        original = TreeNode.set_label

        def spy(node: TreeNode[Any], label: Any) -> None:
            relabelled.append(node.data.name)
            original(node, label)

        monkeypatch.setattr(TreeNode, "set_label", spy)
        org.do("api", StatusReported(state=AgentState.IDLE))
        tree.update_org(org.state, TEAM_COLORS)
        assert relabelled == ["api"]
        assert label_of(tree, "api") == "○ api"
        assert {agent: tree.node_for(agent) for agent in ORG.agents} == nodes

        relabelled.clear()
        tree.update_org(org.state, TEAM_COLORS, frozenset({"css"}))
        assert relabelled == ["css"]
        org.do(HUMAN, ApprovalDecided(id="a1", approved=True))
        tree.update_org(org.state, TEAM_COLORS, frozenset({"css"}))
        assert relabelled == ["css", "db"]
        assert label_of(tree, "db").startswith("◆ db [1]")


async def test_org_tree_follows_a_reloaded_org_keeping_nodes_and_the_cursor() -> None:
    org = build_org()
    async with tree_host(org).run_test() as pilot:
        tree = pilot.app.query_one(OrgTree)
        tree.select_agent("ui")
        await pilot.pause()
        before = {agent: tree.node_for(agent) for agent in ORG.agents}
        teams = {**ORG.teams, "qa": "web"}
        agents = {name: team for name, team in ORG.agents.items() if name != "docs"} | {"tester": "qa"}
        org.do(SUPERVISOR, OrgLoaded(name="acme", teams=teams, agents=agents))
        tree.update_org(org.state, TEAM_COLORS)
        await pilot.pause()
        assert tree.agent_names == ["lead", "api", "db", "ui", "css", "tester", "deploy", "monitor"]
        assert tree.node_for("docs") is None
        assert all(tree.node_for(agent) is before[agent] for agent in ORG.agents if agent != "docs")
        assert label_of(tree, "tester") == "? tester"
        assert tree.cursor_node is not None and tree.cursor_node.data.name == "ui"

        # css moves to ops and the teams swap places: nodes move, so the tree is rebuilt in the new order
        agents["css"] = "ops"
        teams = {"ops": None, "web": None, "qa": "web", "platform": None, "backend": "platform"}
        org.do(SUPERVISOR, OrgLoaded(name="acme", teams=teams, agents=agents))
        tree.update_org(org.state, TEAM_COLORS)
        await pilot.pause()
        assert tree.agent_names == ["css", "deploy", "monitor", "ui", "tester", "lead", "api", "db"]
        assert label_of(tree, "css") == "○ css"
        assert tree.cursor_node is not None and tree.cursor_node.data.name == "ui"


async def test_choosing_an_agent_in_the_tree_posts_agent_selected() -> None:
    org = build_org()
    async with tree_host(org).run_test() as pilot:
        tree = pilot.app.query_one(OrgTree)
        tree.focus()
        tree.select_agent("api")
        await pilot.press("enter")
        await pilot.pause()
        assert [message.agent for message in pilot.app.posted(OrgTree.AgentSelected)] == ["api"]
        # a team line toggles its team and selects no agent
        tree.move_cursor(tree.root.children[1])
        await pilot.press("enter")
        await pilot.pause()
        assert len(pilot.app.posted(OrgTree.AgentSelected)) == 1
        assert not tree.root.children[1].is_expanded


# --- health table -------------------------------------------------------------------------------------------------


class CountingHealthTable(HealthTable):
    """Records every cell it is asked to update."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.updates: list[tuple[str, str]] = []

    def update_cell(self, row_key: Any, column_key: Any, value: Any, *, update_width: bool = False) -> None:
        self.updates.append((str(row_key), str(column_key)))
        super().update_cell(row_key, column_key, value, update_width=update_width)


def health_host(org: OrgBuilder, dark: bool = True) -> Host:
    return Host(
        lambda: CountingHealthTable(id="health"),
        lambda app: app.query_one(HealthTable).update_health(org.state, NOW),
        dark=dark,
    )


def row_text(table: DataTable[Any], key: str) -> list[str]:
    return [str(cell) for cell in table.get_row(key)]


async def test_health_table_shows_one_row_per_agent() -> None:
    org = build_org()
    async with health_host(org).run_test() as pilot:
        table = pilot.app.query_one(CountingHealthTable)
        assert table.agent_names == list(ORG.agents)
        assert row_text(table, "db") == ["db", "◆ waiting", "20s", "2", "0", "migrate the schema", "backend"]
        assert row_text(table, "monitor") == ["monitor", "↻ recovering", "3m", "", "1", "", "ops"]
        assert row_text(table, "docs")[1:3] == ["· offline", "8m"]
        assert table.updates == []


async def test_health_table_updates_only_the_cells_that_changed() -> None:
    org = build_org()
    async with health_host(org).run_test() as pilot:
        table = pilot.app.query_one(CountingHealthTable)
        org.do("api", StatusReported(state=AgentState.ERROR, task="tests fail"), at=NOW - 5)
        table.update_health(org.state, NOW)
        assert sorted(table.updates) == [("api", "last"), ("api", "state"), ("api", "task")]
        assert row_text(table, "api")[1:3] == ["✖ error", "5s"]
        assert row_text(table, "api")[5] == "tests fail"

        table.updates.clear()
        table.update_health(org.state, NOW)
        assert table.updates == []

        # a minute later every age that is still shown in seconds changes, and nothing else
        table.update_health(org.state, NOW + 60)
        assert {column for _, column in table.updates} == {"last"}


async def test_health_table_updates_in_steps_and_never_measures_its_fixed_width_columns() -> None:
    org = build_org()
    async with health_host(org).run_test() as pilot:
        table = pilot.app.query_one(CountingHealthTable)
        org.do("api", StatusReported(state=AgentState.ERROR, task="x" * 60), at=NOW - 5)  # api: 2nd row
        org.do("ui", StatusReported(state=AgentState.IDLE, task="done"), at=NOW - 5)  # ui: 4th row
        steps = table.update_health_in_steps(org.state, NOW, rows=3)
        next(steps)  # the first three rows, then the caller's turn
        assert {agent for agent, _ in table.updates} == {"api"}
        assert list(steps) == [None]  # rows 4-6, the caller's turn, rows 7-8
        assert {agent for agent, _ in table.updates} == {"api", "ui"}
        assert row_text(table, "ui")[1] == "○ idle"
        assert not table._updated_cells, "a task wider than its fixed-width column: nothing to measure"


async def test_an_agent_over_its_limits_is_flagged_throttled_for_a_minute() -> None:
    org = build_org()
    org.do(SUPERVISOR, Throttled(agent="api", limit="approvals", refused=1, window=60), at=NOW - 5)
    async with health_host(org).run_test() as pilot:
        table = pilot.app.query_one(CountingHealthTable)
        assert row_text(table, "api")[5].startswith("throttled ")
        assert not row_text(table, "db")[5].startswith("throttled")
        table.update_health(org.state, NOW + 120)
        assert not row_text(table, "api")[5].startswith("throttled")


async def test_health_table_adds_and_removes_rows_and_selecting_posts_agent_selected() -> None:
    org = build_org()
    async with health_host(org).run_test() as pilot:
        table = pilot.app.query_one(CountingHealthTable)
        agents = {name: team for name, team in ORG.agents.items() if name != "css"} | {"tester": "web"}
        org.do(SUPERVISOR, OrgLoaded(name="acme", teams=ORG.teams, agents=agents))
        table.update_health(org.state, NOW)
        assert table.agent_names == [name for name in ORG.agents if name != "css"] + ["tester"]

        table.focus()
        table.move_cursor(row=table.get_row_index("db"))
        await pilot.press("enter")
        await pilot.pause()
        assert [message.agent for message in pilot.app.posted(HealthTable.AgentSelected)] == ["db"]


def column_widths(table: DataTable[Any]) -> dict[str, int]:
    return {str(key.value): column.get_render_width(table) for key, column in table.columns.items()}


async def test_health_table_state_shows_only_the_effective_state_and_columns_keep_their_widths() -> None:
    org = build_org()
    async with health_host(org).run_test() as pilot:
        table = pilot.app.query_one(CountingHealthTable)
        widths = column_widths(table)
        org.do(SUPERVISOR, ProgressStalled(agent="lead", stalled=True, seconds=90.0), at=NOW - 30)
        # api reported working a moment ago: its report stands over its screen's reading
        org.do("api", StatusReported(state=AgentState.WORKING), at=NOW)
        org.do(SUPERVISOR, StateObserved(agent="api", state=AgentState.WAITING, source="screen"), at=NOW + 0.5)
        org.do("ui", StatusReported(state=AgentState.RECOVERING, task="x" * 80), at=NOW + 0.5)
        table.update_health(org.state, NOW + 1)
        assert row_text(table, "api")[1] == "● working", "the screen's opinion is in the agent's details"
        assert row_text(table, "lead")[1] == "● working"
        assert row_text(table, "lead")[5] == "stuck 2m plan the release"
        assert column_widths(table) == widths
        org.do(SUPERVISOR, ProgressStalled(agent="lead", stalled=False, seconds=0.0), at=NOW + 1)
        table.update_health(org.state, NOW + 1)
        assert row_text(table, "lead")[5] == "plan the release"


async def test_i_on_the_health_table_asks_for_the_agent_s_details() -> None:
    org = build_org()
    async with health_host(org).run_test() as pilot:
        table = pilot.app.query_one(HealthTable)
        table.focus()
        table.move_cursor(row=table.get_row_index("db"))
        await pilot.press("i")
        await pilot.pause()
        assert [message.agent for message in pilot.app.posted(HealthTable.ShowAgent)] == ["db"]


async def test_agent_details_show_each_source_s_opinion_beside_the_state() -> None:
    org = build_org()
    org.do("api", StatusReported(state=AgentState.WORKING), at=NOW)
    org.do(SUPERVISOR, StateObserved(agent="api", state=AgentState.WAITING, source="screen", rule="prompt"), at=NOW)
    app = ModalHost(lambda: AgentDetails(org.state.agents["api"], now=NOW + 60))
    async with app.run_test() as pilot:
        await pilot.pause()
        lines = [" ".join(str(static.render()).split()) for static in app.screen.query(Static)]
        assert "state ● working" in lines
        assert "screen ◆ waiting (rule prompt)" in lines
        assert "reported by the agent or its hook, 1m ago" in lines
        await pilot.press("escape")
        await pilot.pause()
        assert app.results == [None]


# --- approval queue -----------------------------------------------------------------------------------------------


def approval(approval_id: str, agent: str, at: float, text: str = "May I?", command: str | None = None) -> Any:
    return PendingApproval(id=approval_id, agent=agent, text=text, command=command, requested=at)


TWO_APPROVALS = [
    approval("a2", "ui", T0 + 560, text="Install the npm package left-pad?", command="npm install left-pad"),
    approval("a1", "db", T0 + 420, text="Run the migration?", command="alembic upgrade head"),
]


def queue_host(approvals: list[PendingApproval]) -> Host:
    return Host(
        lambda: ApprovalQueue(id="approvals"),
        lambda app: app.query_one(ApprovalQueue).update_approvals(approvals, NOW),
    )


async def test_approval_queue_lists_oldest_first_and_selects_the_oldest() -> None:
    async with queue_host(TWO_APPROVALS).run_test() as pilot:
        queue = pilot.app.query_one(ApprovalQueue)
        await pilot.pause()
        assert queue.approval_ids == ["a1", "a2"]
        assert queue.selected_id == "a1"
        assert row_text(queue, "a1") == ["db", "3m", "$ alembic upgrade head"]
        assert [message.approval_id for message in pilot.app.posted(ApprovalQueue.Selected)] == ["a1"]

        queue.focus()
        await pilot.press("enter")
        await pilot.press("down")
        await pilot.press("enter")
        await pilot.pause()
        assert [message.approval_id for message in pilot.app.posted(ApprovalQueue.ShowDetails)] == ["a1", "a2"]
        assert [message.approval_id for message in pilot.app.posted(ApprovalQueue.Selected)] == ["a1", "a2"]


async def test_approval_queue_keeps_the_selection_and_falls_back_to_the_oldest() -> None:
    async with queue_host(TWO_APPROVALS).run_test() as pilot:
        queue = pilot.app.query_one(ApprovalQueue)
        queue.move_cursor(row=1)
        await pilot.pause()
        assert queue.selected_id == "a2"
        # an older request arrives (out of order) and a newer one: the highlight stays on a2
        older = approval("a0", "api", T0 + 10, text="Push to main?")
        newer = approval("a3", "css", T0 + 590, text="Push to main?")
        queue.update_approvals([*TWO_APPROVALS, older, newer], NOW)
        await pilot.pause()
        assert queue.approval_ids == ["a0", "a1", "a2", "a3"]
        assert queue.selected_id == "a2"
        # a2 is decided: back to the oldest
        queue.update_approvals([older, TWO_APPROVALS[1], newer], NOW)
        await pilot.pause()
        assert queue.selected_id == "a0"
        assert [message.approval_id for message in pilot.app.posted(ApprovalQueue.Selected)][-1] == "a0"
        queue.update_approvals([], NOW)
        assert queue.selected_id is None and queue.selected_approval is None
        assert queue.row_count == 0
        assert queue.border_subtitle == "0 pending", "the count stays on screen when it is zero"


async def test_identical_to_matches_the_command_else_the_text_whoever_asks() -> None:
    approvals = [
        approval("a1", "api", T0 + 1, text="Run tests?", command="pytest -q"),
        approval("a2", "db", T0 + 2, text="Different words", command="pytest -q"),
        approval("a3", "ui", T0 + 3, text="Push to main?"),
        approval("a4", "css", T0 + 4, text="Push to main?"),
        approval("a5", "css", T0 + 5, text="Run tests?"),
    ]
    async with queue_host(approvals).run_test() as pilot:
        queue = pilot.app.query_one(ApprovalQueue)
        assert queue.identical_to("a2") == ["a1", "a2"]
        assert queue.identical_to("a4") == ["a3", "a4"]
        assert queue.identical_to("a5") == ["a5"]
        assert queue.identical_to("nope") == []
        assert str(queue.get_row("a1")[2]) == "$ pytest -q  +1 same"


async def test_approval_queue_updates_only_the_ages_that_changed() -> None:
    async with queue_host(TWO_APPROVALS).run_test() as pilot:
        queue = pilot.app.query_one(ApprovalQueue)
        calls: list[tuple[str, str]] = []
        original = queue.update_cell

        def spy(row_key: Any, column_key: Any, value: Any, *, update_width: bool = False) -> None:
            calls.append((str(row_key), str(column_key)))
            original(row_key, column_key, value, update_width=update_width)

        queue.update_cell = spy  # type: ignore[method-assign]
        queue.update_approvals(TWO_APPROVALS, NOW + 30)
        assert calls == [("a2", "age")]  # a1 is still "3m"; a2 went from 40s to 1m


async def test_approval_preview_shows_the_whole_request_wrapped_and_says_where_the_rest_is() -> None:
    async with Host(lambda: ApprovalPreview(id="request")).run_test(size=(40, 12)) as pilot:
        preview = pilot.app.query_one(ApprovalPreview)
        await pilot.pause()
        assert not preview.display and preview.size.height == 0, "nothing selected: no strip"
        preview.show(DETAILS_APPROVAL)
        await pilot.pause()
        lines = [line.rstrip() for line in str(preview.render()).splitlines()]
        assert len(lines) == preview.size.height == 4 == ApprovalPreview.MAX_LINES
        assert all(len(line) <= 38 for line in lines), "wrapped to the width, inside the padding"
        assert lines[-1].startswith("… more: d"), "the text goes on: the last line says where the rest is"
        shown = " ".join(" ".join(lines[:-1]).split())
        assert shown.startswith("db asks $ alembic -x env=staging upgrade head && psql -c 'VACUUM ANALYZE users'")
        short = dataclasses.replace(DETAILS_APPROVAL, text="Go?", command="make")
        preview.show(short)
        await pilot.pause()
        assert str(preview.render()) == "db asks $ make  Go?" and preview.size.height == 1


# --- chat ---------------------------------------------------------------------------------------------------------


async def test_chat_posts_what_the_human_types_and_clears_the_input() -> None:
    async with Host(lambda: ChatPanel(id="chat")).run_test() as pilot:
        chat = pilot.app.query_one(ChatPanel)
        chat.focus_input()
        await pilot.press(*"hello", "space", *"team", "enter")
        await pilot.press("space", "enter")
        await pilot.pause()
        assert [message.text for message in pilot.app.posted(ChatPanel.Submitted)] == ["hello team"]
        assert chat.query_one(Input).value == ""


async def test_chat_log_keeps_the_newest_lines() -> None:
    class ShortChat(ChatPanel):
        MAX_LINES = 3

    async with Host(lambda: ShortChat(id="chat")).run_test() as pilot:
        chat = pilot.app.query_one(ChatPanel)
        for number in range(5):
            chat.add_line("exec" if number % 2 else HUMAN, f"line {number}")
        await pilot.pause()
        assert [line.rstrip() for line in chat.log_lines] == ["you: line 2", "exec: line 3", "you: line 4"]


# --- trace view ---------------------------------------------------------------------------------------------------


def trace_records() -> list[Record]:
    org = OrgBuilder()
    org.do(SUPERVISOR, ORG, trace="boot")
    org.do(SUPERVISOR, AgentLaunched(agent="api", pane="%1"), trace="boot")
    org.do(SUPERVISOR, AgentLaunched(agent="db", pane="%2"), trace="boot")
    org.do("api", StatusReported(state=AgentState.WORKING, task="endpoint"))
    org.do("db", ApprovalRequested(id="a1", text="Migrate?", command="alembic upgrade head"), trace="ask")
    org.do("api", MessageSent(id="m1", to="@db", text="schema ready?"))
    org.do(HUMAN, ApprovalDecided(id="a1", approved=True), trace="ask")
    org.do("db", LogRecorded(level="warning", text="slow query"))
    return org.records


def trace_host(records: list[Record]) -> Host:
    return Host(
        lambda: TraceView(tz=UTC, id="trace"),
        lambda app: app.query_one(TraceView).add_records(records),
    )


async def test_trace_view_groups_records_by_trace_under_the_first() -> None:
    records = trace_records()
    async with trace_host(records).run_test() as pilot:
        trace = pilot.app.query_one(TraceView)
        heads = [node.data.seq for node in trace.root.children if node.data]
        assert heads == [1, 4, 5, 6, 8]
        assert [node.data.seq for node in trace.root.children[0].children if node.data] == [2, 3]
        assert [node.data.seq for node in trace.root.children[2].children if node.data] == [7]
        assert [record.seq for record in trace.shown_records] == [1, 2, 3, 4, 5, 7, 6, 8]
        label = str(trace.root.children[2].label)
        assert label.startswith("22:13:25 db") and "approval.request" in label and "$ alembic upgrade head" in label


async def test_trace_view_filters_on_one_agent() -> None:
    records = trace_records()
    async with trace_host(records).run_test() as pilot:
        trace = pilot.app.query_one(TraceView)
        trace.filter_agent("db")
        # the boot trace launches db, the approval trace and the message name it, the log is its own
        assert [record.seq for record in trace.shown_records] == [1, 2, 3, 5, 7, 6, 8]
        trace.filter_agent("api")
        assert [record.seq for record in trace.shown_records] == [1, 2, 3, 4, 6]
        trace.filter_agent(None)
        assert len(trace.shown_records) == len(records)

        # records added while filtered: only db's show, the rest come back without the filter
        trace.filter_agent("db")
        org = OrgBuilder()
        org.now = T0 + 100
        later = [
            org.do("api", StatusReported(state=AgentState.IDLE)),
            org.do("db", StatusReported(state=AgentState.IDLE)),
        ]
        later = [record.model_copy(update={"seq": 9 + index}) for index, record in enumerate(later)]
        trace.add_records(later)
        assert [record.seq for record in trace.shown_records][-1] == 10
        assert 9 not in [record.seq for record in trace.shown_records]
        trace.filter_agent(None)
        assert [record.seq for record in trace.shown_records][-2:] == [9, 10]


async def test_trace_view_keeps_only_the_newest_records() -> None:
    class ShortTrace(TraceView):
        MAX_RECORDS = 5

    records = trace_records()
    async with Host(lambda: ShortTrace(tz=UTC)).run_test() as pilot:
        trace = pilot.app.query_one(TraceView)
        trace.add_records(records)
        # the boot trace (3 records) goes whole: 5 remain
        assert [record.seq for record in trace.shown_records] == [4, 5, 7, 6, 8]
        one_trace = [records[3].model_copy(update={"seq": 100 + n, "trace": "long", "span": f"l{n}"}) for n in range(8)]
        trace.add_records(one_trace)
        assert [record.seq for record in trace.shown_records] == [100, 104, 105, 106, 107]


# --- modal screens ------------------------------------------------------------------------------------------------


DETAILS_APPROVAL = PendingApproval(
    id="a7",
    agent="db",
    text="The migration drops the column users.legacy_id.\nRun it against the staging database?",
    command="alembic -x env=staging upgrade head && psql -c 'VACUUM ANALYZE users'",
    requested=T0 + 420,
)


class ModalHost(App[None]):
    """Pushes one modal screen over an empty screen and keeps what it was dismissed with."""

    def __init__(self, make: Callable[[], Any]) -> None:
        super().__init__()
        self.make = make
        self.results: list[Any] = []
        self.register_theme(DARK_THEME)
        self.theme = DARK_THEME_NAME

    def compose(self) -> ComposeResult:
        yield Footer()

    def on_mount(self) -> None:
        self.push_screen(self.make(), self.results.append)


async def test_approval_details_say_where_a_program_prompt_was_seen() -> None:
    seen = dataclasses.replace(DETAILS_APPROVAL, source="screen", rule="permission-prompt", options=("1", "2", "3"))
    app = ModalHost(lambda: ApprovalDetails(seen, now=NOW, tz=UTC))
    async with app.run_test() as pilot:
        await pilot.pause()
        meta = str(app.screen.query_one("#approval-meta", Label).render())
        assert "seen on its screen" in meta and "options: 1 / 2 / 3" in meta


@pytest.mark.parametrize(("key", "result"), [("y", True), ("n", False), ("escape", None)])
async def test_approval_details_dismisses_with_the_answer(key: str, result: bool | None) -> None:
    app = ModalHost(lambda: ApprovalDetails(DETAILS_APPROVAL, now=NOW, tz=UTC))
    async with app.run_test() as pilot:
        await pilot.pause()
        assert isinstance(app.screen, ApprovalDetails)
        await pilot.press(key)
        await pilot.pause()
        assert app.results == [result]
        assert not isinstance(app.screen, ApprovalDetails)


HELP_ROWS = [
    ("y", "Approve the selected request", "approvals"),
    ("n", "Deny the selected request", "approvals"),
    ("A", "Approve every identical request", "approvals"),
    ("enter", "Show the request / jump to the agent's pane", "everywhere"),
    ("ctrl+b", "Back to the console", "agent pane"),
    ("t", "Show the trace", "everywhere"),
    ("/", "Chat with the executive", "everywhere"),
    ("?", "This help", "everywhere"),
]


HELP_COLUMNS = [("Health", "Last", "time since it was last heard of"), ("Approvals", "Age", "how long it waited")]


@pytest.mark.parametrize("key", ["escape", "question_mark", "q"])
async def test_help_screen_lists_the_bindings_and_the_columns_and_closes(key: str) -> None:
    app = ModalHost(lambda: HelpScreen(HELP_ROWS, HELP_COLUMNS))
    async with app.run_test() as pilot:
        await pilot.pause()
        table = app.screen.query_one("#help-table", DataTable)
        assert table.row_count == len(HELP_ROWS)
        assert [str(cell) for cell in table.get_row_at(2)] == list(HELP_ROWS[2])
        columns = app.screen.query_one("#help-columns", DataTable)
        assert [tuple(str(cell) for cell in columns.get_row_at(i)) for i in range(2)] == HELP_COLUMNS
        await pilot.press(key)
        await pilot.pause()
        assert not isinstance(app.screen, HelpScreen)


# --- snapshots ----------------------------------------------------------------------------------------------------


CHAT_LINES = [
    (HUMAN, "How is the release going?"),
    ("exec", "api is at 3/5 on the /users endpoint; db waits for your approval to run the migration."),
    (HUMAN, "Tell deploy to retry staging once db is done."),
    ("exec", "Queued for deploy: it will get the message when it is idle."),
    (SUPERVISOR, "monitor restarted (exit status 1)"),
]


def fill_chat(app: Host) -> None:
    chat = app.query_one(ChatPanel)
    for speaker, text in CHAT_LINES:
        chat.add_line(speaker, text)


def test_snapshot_org_tree(snap_compare: Any) -> None:
    """You should see the org tree (focused: blue rounded frame titled "Org"): team "platform" (blue ■)
    holding agent "lead" (green ●) and the sub-team "backend" (amber ■) with "api" (green ●, its task cut with …)
    and "db" (amber ◆, an amber bold "[2]" for its pending approvals); team "web" (pink ■) with "ui" (cyan ◔,
    the ⌨ human-at-the-keyboard marker), "css" (grey ○) and "docs" (dim ·, offline); team "ops" (emerald ■)
    with "deploy" (red ✖) and "monitor" (magenta ↻). No horizontal scrollbar."""
    org = build_org()
    assert snap_compare(tree_host(org, human_at=frozenset({"ui"})), terminal_size=(60, 18))


def test_snapshot_health_table(snap_compare: Any) -> None:
    """You should see a table in a frame titled "Health" with columns Agent, State, Last, Pending,
    Restarts, Task, Team and eight rows: lead and api working (green ●), db waiting (amber ◆) with 2 pending,
    ui thinking (cyan ◔), css idle (grey ○), docs offline (dim), deploy error (red ✖), monitor recovering
    (magenta ↻) with 1 restart; ages from 10s to 8m. The State column is as wide as "↻ recovering", the Task
    column 32 cells whatever its tasks."""
    org = build_org()
    assert snap_compare(health_host(org), terminal_size=(110, 14))


def buried_org() -> OrgBuilder:
    """The eight agents, db (waiting, 2 pending) and monitor (recovering) buried."""
    org = build_org()
    org.do(SUPERVISOR, ORG.model_copy(update={"buried": ("db", "monitor")}), at=NOW)
    return org


async def test_a_buried_agent_is_marked_in_the_tree_the_table_and_its_details_beside_its_state() -> None:
    org = buried_org()
    async with tree_host(org).run_test() as pilot:
        await pilot.pause()
        tree = pilot.app.query_one(OrgTree)
        assert label_of(tree, "db").startswith("◆ db [2] ⚰ buried  mig")  # the marker before the task
        assert "buried" not in label_of(tree, "api")
    async with health_host(org).run_test() as pilot:
        await pilot.pause()
        table = pilot.app.query_one(HealthTable)
        db = row_text(table, "db")
        assert (db[0], db[1], db[3]) == ("db ⚰ buried", "◆ waiting", "2")  # its state and requests shown as ever
        assert row_text(table, "monitor")[:2] == ["monitor ⚰ buried", "↻ recovering"]
        assert row_text(table, "api")[0] == "api"
    app = ModalHost(lambda: AgentDetails(org.state.agents["db"], now=NOW + 60))
    async with app.run_test() as pilot:
        await pilot.pause()
        lines = [" ".join(str(static.render()).split()) for static in app.screen.query(Static)]
        assert "buried its pane is off screen, still watched; unbury db brings it back" in lines
        assert "state ◆ waiting" in lines


def test_snapshot_health_table_with_buried_agents(snap_compare: Any) -> None:
    """You should see the health table of the dark snapshot, but "db" reads "db ⚰ buried" (the marker in
    italics) with its amber "◆ waiting" and its 2 pending as before, and "monitor" reads "monitor ⚰ buried"
    with its magenta "↻ recovering" and 1 restart; every other row as in the plain health table."""
    assert snap_compare(health_host(buried_org()), terminal_size=(110, 14))


def test_snapshot_org_tree_with_buried_agents(snap_compare: Any) -> None:
    """You should see the org tree of its plain snapshot (without the ⌨ marker), but "db" reads "◆ db [2] ⚰ buried"
    then the start of its task ("mig", cropped by the narrow tree), and "monitor" reads "↻ monitor ⚰ buried":
    their state glyphs and colours, and db's amber "[2]", come before the marker."""
    assert snap_compare(tree_host(buried_org()), terminal_size=(60, 18))


def test_snapshot_health_table_light(snap_compare: Any) -> None:
    """You should see the same health table as in the dark snapshot, on the light theme:
    dark text on a light background, the state glyphs and words still coloured."""
    org = build_org()
    assert snap_compare(health_host(org, dark=False), terminal_size=(110, 14))


def test_snapshot_approval_queue(snap_compare: Any) -> None:
    """You should see a frame titled "Approvals" with "2 pending" in its bottom edge and two rows,
    oldest first: db, 3m, "$ alembic upgrade head" (highlighted), then ui, 40s, "$ npm install left-pad"."""
    assert snap_compare(queue_host(TWO_APPROVALS), terminal_size=(80, 8))


def test_snapshot_approval_details(snap_compare: Any) -> None:
    """You should see a centred dialog with a thick amber border titled "Approval a7":
    "db asked at 2023-11-14 22:20:20 (3m ago)", the two-line question, the command in bold on a shaded block,
    and the key hints "y approve   n deny   esc close"."""
    app = ModalHost(lambda: ApprovalDetails(DETAILS_APPROVAL, now=NOW, tz=UTC))
    assert snap_compare(app, terminal_size=(100, 20))


def test_snapshot_help_screen(snap_compare: Any) -> None:
    """You should see a centred dialog titled "Keys" with a Key / Action / Where table of eight bindings (y, n,
    A, enter, ctrl+b, t, /, ?) and the hint "tab: what the columns mean · escape, ? or q closes" under it."""
    assert snap_compare(ModalHost(lambda: HelpScreen(HELP_ROWS)), terminal_size=(90, 20))


def test_snapshot_chat(snap_compare: Any) -> None:
    """You should see a frame titled "Chat" with five lines: "you:" (blue, bold) lines from the
    human, "exec:" (amber, bold) answers from the executive, the long answer wrapped, a dim italic supervisor
    notice last; under them the input with the placeholder "Message the executive…"; no scrollbar."""
    assert snap_compare(Host(lambda: ChatPanel(id="chat"), fill_chat), terminal_size=(70, 14))


def test_snapshot_trace_view(snap_compare: Any) -> None:
    """You should see a frame titled "Trace" with the journal as a waterfall (UTC times from 22:13:21):
    org.load lasting 2.0s (a bar across the whole right column) with its two agent.launch records under it
    (marks at the middle and the right end), api's status, db's approval.request (amber) lasting 2.0s with the
    human's approval.decision under it (a mark at the right end), api's message to @db and db's warning log last;
    the one-record traces have a mark at the left of the bar column and no duration."""
    assert snap_compare(trace_host(trace_records()), terminal_size=(110, 14))


def chain_host() -> Host:
    from tests.test_spans import three_agent_chain

    return trace_host(three_agent_chain().records)


def test_snapshot_trace_waterfall_80x24(snap_compare: Any) -> None:
    """You should see the three-agent chain as one tree in a frame titled "Trace" (times 22:13:20, UTC): the
    human's send command (9.5s, a bar across the column) → its message to @lead → message.typed (lead's work,
    9.1s) → lead's status, its messages to @db (8.2s) and @api (7.6s), each with its typed work under it: db's
    approval.request (4.5s, amber) with the human's approve command and approval.decision under it, db's
    barrier.arrive with the barrier.release under it, api's barrier.arrive (5.0s); every line ends with its
    duration and a bar starting where the span starts; all 19 lines fit, blank lines below."""
    assert snap_compare(chain_host(), terminal_size=(80, 24))


def test_snapshot_trace_waterfall_120x40(snap_compare: Any) -> None:
    """You should see the same chain whole at 120x40: every record's time, actor, type and summary in columns,
    indented by its depth, then its duration and a bar ending at the right edge; the bars of db's ask (from 2.0s
    to 6.5s of 9.5s) and api's barrier wait (3.0s to 8.0s) sit inside their parents' bars."""
    assert snap_compare(chain_host(), terminal_size=(120, 40))


async def test_the_waterfall_nests_spans_and_filters_whole_traces() -> None:
    from tests.test_spans import three_agent_chain

    chain = [record.model_copy(update={"seq": record.seq + 100}) for record in three_agent_chain().records]
    records = [*trace_records(), *chain]
    async with trace_host(records).run_test(size=(120, 40)) as pilot:
        view = pilot.app.query_one(TraceView)
        head = view.root.children[-1]
        assert head.data is not None and head.data.event.type == "command"
        typed = head.children[0].children[0]
        assert [child.data.event.type for child in typed.children if child.data] == [
            "status",
            "message",
            "message",
            "status",
        ]
        view.filter(TraceFilter(state="waiting"))  # the traces with an ask: db's in the boot org, and the chain
        assert {record.trace for record in view.shown_records} == {"ask", "chain0000000001"}
        view.filter(TraceFilter(text="ALEMBIC upgrade"))
        assert {record.trace for record in view.shown_records} == {"ask", "chain0000000001"}
        view.filter(TraceFilter(agents=frozenset({"lead"})))
        assert {record.trace for record in view.shown_records} == {"boot", "chain0000000001"}  # boot loads lead
        assert view.agent_filter == "lead"
        view.filter(TraceFilter())
        assert len(view.shown_records) == len(records)


class ConsoleLayout(App[None]):
    """The main screen composed as console/app.py does, with the console stylesheet."""

    CSS_PATH = str(CONSOLE_TCSS)

    def __init__(self) -> None:
        super().__init__()
        self.register_theme(DARK_THEME)
        self.theme = DARK_THEME_NAME

    def compose(self) -> ComposeResult:
        yield Header()
        with Vertical(id="work"):
            yield ApprovalQueue(id="approvals")
            yield ApprovalPreview(id="request")
        yield Label(id="views")
        with Horizontal(id="main"):
            with Horizontal(id="agents"):
                yield OrgTree(id="tree")
                yield HealthTable(id="health")
            with Vertical(id="right"):
                yield ChatPanel(id="chat")
                yield TraceView(tz=UTC, id="trace")
        yield Input(placeholder=":command", id="command-line", classes="hidden")
        yield Footer()

    def on_mount(self) -> None:
        self.add_class(layout_for(*self.size))
        org = build_org()
        self.query_one(OrgTree).update_org(org.state, TEAM_COLORS, frozenset({"ui"}))
        self.query_one(HealthTable).update_health(org.state, NOW)
        queue = self.query_one(ApprovalQueue)
        queue.update_approvals(list(org.state.approvals.values()), NOW)
        self.query_one(ApprovalPreview).show(queue.selected_approval)
        self.query_one(TraceView).add_records(org.records)
        for speaker, text in CHAT_LINES[:3]:
            self.query_one(ChatPanel).add_line(speaker, text)
        self.query_one(HealthTable).focus()


def test_snapshot_console_layout(snap_compare: Any) -> None:
    """You should see the main screen at 120x40 (the medium layout) under a header: across the top the approval
    queue with db's two requests (agent, age 59s and 20s, command) in an amber frame, "2 pending" in its bottom
    edge, and the strip "db asks $ alembic upgrade head  Run the migration?"; below, on the left the org tree over
    the health table (focused, blue frame; Agent to Restarts in view, Task cropped); on the right the chat with
    three lines above its input, and under it the trace, its lines compact (no column padding, summaries cut
    with …) because the pane is narrow, each ending with a mark on a short bar column at the right (the boot
    trace's launches under org.load stepping right), scrolled to ui's thinking status at 22:23:10; no command
    line; the footer at the bottom."""
    assert snap_compare(ConsoleLayout(), terminal_size=(120, 40))
