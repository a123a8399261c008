"""The console read-only on a journal: the org's tree, health, queue and trace as they were, on a timeline.

No supervisor and no terminal backend: the views are the console's own widgets fed by `agents.replay.Timeline`
(the live fold, replayed). Keys step through the records or jump to a moment; anything that would change the org
(a command, approve, deny) is refused with a line that says so. `agent-console replay PATH --ui` runs it as an
app; `:replay` in the console opens it over the live views, on the org's own journal.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import tzinfo
from pathlib import Path

from rich.text import Text
from textual import on
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Input, Static

from agent_console.agents.errors import ConsoleError
from agent_console.agents.events import ScreenSnapshotTaken
from agent_console.agents.journal import Record
from agent_console.agents.replay import Moment, Timeline, parse_moment
from agent_console.runtime.snapshots import SnapshotStore
from agent_console.themes import CONSOLE_TCSS, team_color
from agent_console.themes.textual_themes import DARK_THEME, DARK_THEME_NAME, LIGHT_THEME
from agent_console.widgets.approval_queue import ApprovalQueue
from agent_console.widgets.formatting import agent_text
from agent_console.widgets.health_table import HealthTable
from agent_console.widgets.org_tree import OrgTree
from agent_console.widgets.timeline import Timeline as TimelineBar
from agent_console.widgets.trace_view import TraceView

BIG_STEP = 100  # records a page key moves
TRACE_WINDOW = 200  # the trace shows the records leading up to the position
READ_ONLY = "this is a replay of a journal, read-only: nothing can be changed from here"


class ReplayScreen(Screen[None]):
    """One journal, one position in it (how many of its records are folded in), and the views at that position."""

    BINDINGS = [
        # before the lists' own: these keys move in time, not in a list
        Binding("left", "step(-1)", "back", priority=True),
        Binding("right", "step(1)", "forward", priority=True),
        Binding("pageup", f"step(-{BIG_STEP})", f"-{BIG_STEP}", show=False, priority=True),
        Binding("pagedown", f"step({BIG_STEP})", f"+{BIG_STEP}", show=False, priority=True),
        Binding("home", "step(-1000000000)", "first", show=False, priority=True),
        Binding("end", "step(1000000000)", "last", show=False, priority=True),
        Binding("g", "ask_moment", "go to"),
        Binding("colon", "ask_command", "command", show=False),
        Binding("y", "refuse('approve')", show=False),
        Binding("n", "refuse('deny')", show=False),
        Binding("escape", "leave", show=False),
        Binding("q", "leave", "close"),
    ]
    # ids of its own: the console's stylesheet (app level, which wins over this) lays out the live views' ids
    DEFAULT_CSS = """
    ReplayScreen #replay-main { height: 1fr; }
    ReplayScreen #replay-left, ReplayScreen #replay-right { width: 1fr; }
    ReplayScreen .replay-view {
        width: 100%;
        height: 1fr;
        border: round $frame;
        border-title-color: $text-muted;
        background: $surface;
        padding: 0 1;
    }
    ReplayScreen #replay-queue { height: auto; max-height: 8; }
    ReplayScreen #saw { border: round $warning; }
    ReplayScreen #saw.hidden, ReplayScreen #replay-line.hidden { display: none; }
    ReplayScreen #replay-said { height: 1; padding: 0 1; background: $boost; color: $text-warning; }
    """

    def __init__(
        self,
        records: Sequence[Record],
        source: Path,
        moment: Moment | None = None,
        snapshots: SnapshotStore | None = None,
        tz: tzinfo | None = None,
    ) -> None:
        super().__init__()
        self.timeline = Timeline(records)
        self.source = source
        self.snapshots = snapshots or SnapshotStore(Path(source).parent / "snapshots")
        self.tz = tz
        self.position = self.timeline.index_of(moment) if moment is not None else len(records)
        self._asking: str | None = None  # "moment" or "command", while the line is open
        # a record → the snapshot that shows what its agent saw then
        self._illustrated = {
            record.event.illustrates: record for record in records if isinstance(record.event, ScreenSnapshotTaken)
        }

    def compose(self) -> ComposeResult:
        yield TimelineBar(id="timeline", tz=self.tz)
        yield Static(READ_ONLY, id="replay-said", markup=False)
        with Horizontal(id="replay-main"):
            with Vertical(id="replay-left"):
                yield OrgTree(id="replay-tree", classes="replay-view")
                yield HealthTable(id="replay-health", classes="replay-view")
            with Vertical(id="replay-right"):
                yield ApprovalQueue(id="replay-queue", classes="replay-view")
                self.trace = TraceView(classes="replay-view", tz=self.tz)
                yield self.trace
                with VerticalScroll(id="saw", classes="replay-view hidden"):
                    yield Static(id="saw-text", markup=False)
        yield Input(id="replay-line", classes="hidden")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one(OrgTree).border_title = "Org"
        self.query_one(HealthTable).border_title = "Health"
        self.query_one(ApprovalQueue).border_title = "Pending then"
        self.show_position()

    # --- what is shown ----------------------------------------------------------------------------------------

    @property
    def record(self) -> Record | None:
        """The last record folded in (None before the first)."""
        return self.timeline.records[self.position - 1] if self.position else None

    def show_position(self) -> None:
        state = self.timeline.state_after(self.position)
        record = self.record
        now = record.time if record is not None else 0.0  # ages as they were then
        last_seq = self.timeline.records[-1].seq if self.timeline.records else 0
        self.query_one(TimelineBar).show(self.position, len(self.timeline), record, last_seq)
        colors = {team: team_color(index) for index, team in enumerate(state.teams)}
        self.query_one(OrgTree).update_org(state, colors)
        self.query_one(HealthTable).update_health(state, now)
        self.query_one(ApprovalQueue).update_approvals(list(state.approvals.values()), now)
        self._show_trace()
        self._show_saw(record)

    def _show_trace(self) -> None:
        """A new trace view for each position (it only grows): the records leading up to it."""
        old, self.trace = self.trace, TraceView(classes="replay-view", tz=self.tz)
        self.trace.border_title = "Trace"
        old.remove()
        self.query_one("#replay-right").mount(self.trace, after=self.query_one(ApprovalQueue))
        start = max(0, self.position - TRACE_WINDOW)
        self.trace.add_records(self.timeline.records[start : self.position])

    def _show_saw(self, record: Record | None) -> None:
        """What the agent's screen showed at this record, when a snapshot was kept of it (plain text)."""
        panel = self.query_one("#saw")
        taken = None
        if record is not None:
            taken = record if isinstance(record.event, ScreenSnapshotTaken) else self._illustrated.get(record.seq)
        if taken is None or not isinstance(taken.event, ScreenSnapshotTaken):
            panel.add_class("hidden")
            return
        snapshot = taken.event
        panel.border_title = f"What {snapshot.agent} saw ({snapshot.reason}, record #{snapshot.illustrates})"
        self.query_one("#saw-text", Static).update(saw_text(self.snapshots, snapshot))
        panel.remove_class("hidden")

    def say(self, text: str) -> None:
        self.query_one("#replay-said", Static).update(text)

    # --- keys -------------------------------------------------------------------------------------------------

    def action_step(self, by: int) -> None:
        self.go_to(self.position + by)

    def go_to(self, position: int) -> None:
        self.position = max(0, min(len(self.timeline), position))
        self.say(READ_ONLY)
        self.show_position()

    def action_ask_moment(self) -> None:
        self._open_line("moment", "go to: #SEQ, HH:MM[:SS] today or an ISO-8601 time")

    def action_ask_command(self) -> None:
        self._open_line("command", ":command (refused here: a replay is read-only)")

    def action_refuse(self, name: str) -> None:
        self.say(f"{name} refused: {READ_ONLY}")

    def action_leave(self) -> None:
        if self._asking is not None:
            self._close_line()
            return
        if len(self.app.screen_stack) > 1:
            self.app.pop_screen()
        else:
            self.app.exit()

    def _open_line(self, asking: str, placeholder: str) -> None:
        self._asking = asking
        line = self.query_one("#replay-line", Input)
        line.placeholder = placeholder
        line.value = ""
        line.remove_class("hidden")
        line.focus()

    def _close_line(self) -> None:
        self._asking = None
        self.query_one("#replay-line", Input).add_class("hidden")
        self.query_one(HealthTable).focus()

    @on(Input.Submitted, "#replay-line")
    def _line(self, event: Input.Submitted) -> None:
        asking, text = self._asking, event.value.strip()
        self._close_line()
        if not text:
            return
        if asking == "command":
            self.say(f"{visible_word(text)} refused: {READ_ONLY}")
            return
        try:
            moment = parse_moment(text)
        except ConsoleError as error:
            self.say(str(error))
            return
        self.go_to(self.timeline.index_of(moment))

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # while the line is open, keys typed into it are text
        return self._asking is None or action not in ("step", "ask_moment", "ask_command", "refuse")


def visible_word(text: str) -> str:
    return agent_text(text.split()[0] if text.split() else text, 40).plain


def saw_text(store: SnapshotStore, snapshot: ScreenSnapshotTaken) -> Text:
    """A snapshot's text as plain text (never markup nor terminal control), or why it is not there."""
    kept = store.get(snapshot.digest)
    if kept is None:
        return Text(
            f"(the snapshot {snapshot.digest[:12]}… was rotated out: the store keeps the newest within its cap)",
            style="italic",
        )
    return agent_text(kept.rstrip(), multiline=True)  # a screen's empty rows at the end say nothing


class ReplayApp(App[None]):
    """`agent-console replay PATH --ui`: the replay screen alone."""

    TITLE = "agent-console replay"
    CSS_PATH = str(CONSOLE_TCSS)

    def __init__(self, records: Sequence[Record], source: Path, moment: Moment | None = None, **screen: object) -> None:
        super().__init__()
        self.register_theme(DARK_THEME)
        self.register_theme(LIGHT_THEME)
        self.theme = DARK_THEME_NAME
        self.replay = ReplayScreen(records, source, moment, **screen)  # type: ignore[arg-type]
        self.sub_title = str(source)

    def on_mount(self) -> None:
        self.push_screen(self.replay)


async def run_replay(source: Path, records: list[Record], moment: Moment | None) -> int:
    await ReplayApp(records, source, moment).run_async()
    return 0
