"""The journal as a timeline: one line per record, the records of a trace grouped under its first one."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, tzinfo

from rich.cells import cell_len
from rich.style import Style
from rich.text import Text
from textual.widgets import Tree
from textual.widgets.tree import TreeNode

from agent_console.agents.events import (
    AccessDenied,
    AgentExited,
    AgentLaunched,
    ApprovalDecided,
    ApprovalRequested,
    BarrierReleased,
    CommandRan,
    LockGranted,
    LogRecorded,
    MessageSent,
    MetricRecorded,
    OrgEdited,
    OrgLoaded,
    SpoofRejected,
    StatusReported,
    VoteOpened,
)
from agent_console.agents.journal import Record
from agent_console.agents.spec import describe_edit
from agent_console.themes.states import state_color

from .formatting import agent_text, is_dark

# an event type's first word → the agent state whose colour it borrows
EVENT_COLORS = {"approval": "waiting", "agent": "recovering", "spoof": "error", "org": "thinking"}


def summary(record: Record) -> str:
    """A short, one-line account of what the record's event says."""
    event = record.event
    if isinstance(event, StatusReported):
        parts = [event.state.value, event.task or "", event.progress or ""]
        return " ".join(part for part in parts if part)
    if isinstance(event, ApprovalRequested):
        return f"$ {event.command}" if event.command else event.text
    if isinstance(event, ApprovalDecided):
        verdict = "approved" if event.approved else "denied"
        return f"{verdict} {event.id}" + (f": {event.reason}" if event.reason else "")
    if isinstance(event, MessageSent):
        return f"→ {event.to}: {event.text}"
    if isinstance(event, LogRecorded):
        return f"{event.level}: {event.text}"
    if isinstance(event, MetricRecorded):
        return f"{event.name} = {event.value:g}" + (f" {event.unit}" if event.unit else "")
    if isinstance(event, OrgLoaded):
        return f"{event.name}: {len(event.teams)} teams, {len(event.agents)} agents"
    if isinstance(event, OrgEdited):
        return "changed in the console: " + ("; ".join(describe_edit(edit) for edit in event.edits) or "nothing")
    if isinstance(event, AgentLaunched):
        return f"{event.agent} in {event.pane}" + (f", resuming {event.resumed}" if event.resumed else "")
    if isinstance(event, AgentExited):
        how = f"signal {event.signal}" if event.signal is not None else f"status {event.status}"
        return f"{event.agent} exited ({how})"
    if isinstance(event, CommandRan):
        words = [event.name, *(f"{key}={value}" for key, value in event.args.items())]
        outcome = "" if event.ok else f" — failed: {event.error}"
        return f"{' '.join(words)} (via {event.via}){outcome}"
    if isinstance(event, AccessDenied):
        return f"refused {event.operation}: {event.reason}"
    fields = event.model_dump(exclude={"type"}, exclude_none=True)
    return " ".join(f"{key}={value}" for key, value in fields.items())


class TraceView(Tree[Record]):
    """The journal's records as a timeline, newest at the bottom, each trace's later records under its first.

    `add_records` appends; `filter_agent` narrows to the traces that concern one agent. Only the newest
    `MAX_RECORDS` records are kept.
    """

    BORDER_TITLE = "Trace"
    DEFAULT_CSS = """
    TraceView {
        overflow-x: hidden;
        scrollbar-size-vertical: 1;
    }
    """
    MAX_RECORDS = 1000
    ACTOR_WIDTH = 12
    SUMMARY_WIDTH = 90
    WIDE = 70
    """Narrower than this, a line drops the column alignment so that the summary stays in view."""

    def __init__(
        self,
        *,
        tz: tzinfo | None = None,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        """`tz`: the zone times are shown in (None: the local zone)."""
        super().__init__("journal", name=name, id=id, classes=classes)
        self.show_root = False
        self.guide_depth = 2
        self._tz = tz
        self._groups: dict[str, list[Record]] = {}
        self._record_count = 0
        self._heads: dict[str, TreeNode[Record]] = {}
        self._agent: str | None = None
        self._approval_agents: dict[str, str] = {}

    @property
    def agent_filter(self) -> str | None:
        return self._agent

    @property
    def shown_records(self) -> list[Record]:
        """The records on display (whether their group is expanded or not), in display order."""
        shown: list[Record] = []
        for node in self.root.children:
            for each in (node, *node.children):
                if each.data is not None:
                    shown.append(each.data)
        return shown

    def add_records(self, records: Iterable[Record]) -> None:
        """Append records (in journal order)."""
        follow = self.is_vertical_scroll_end
        for record in records:
            if isinstance(record.event, ApprovalRequested):
                self._approval_agents[record.event.id] = record.actor
            group = self._groups.get(record.trace)
            if group is None:
                self._groups[record.trace] = group = []
            group.append(record)
            self._record_count += 1
            if self._agent is None or self.concerns(group, self._agent):
                self._show(record.trace, group, record)
        self._evict()
        if follow:
            self._follow()

    def filter_agent(self, agent: str | None) -> None:
        """Show only the traces with a record by `agent` or about it (None: everything)."""
        if agent == self._agent:
            return
        self._agent = agent
        self.clear()
        self._heads.clear()
        for trace, group in self._groups.items():
            if agent is None or self.concerns(group, agent):
                head = self._add_head(trace, group[0])
                for record in group[1:]:
                    self._add_record(head, record)
        self._follow()

    def _follow(self) -> None:
        _ = self.last_line  # builds the lines, so the new end is known before scrolling to it
        self.scroll_end(animate=False, x_axis=False)

    def concerns(self, group: list[Record], agent: str) -> bool:
        """Whether a trace's records are by `agent` or name it."""
        return any(self._concerns(record, agent) for record in group)

    def _concerns(self, record: Record, agent: str) -> bool:
        if record.actor == agent:
            return True
        event = record.event
        if isinstance(event, AgentLaunched | AgentExited | SpoofRejected):
            return event.agent == agent
        if isinstance(event, ApprovalDecided):
            return self._approval_agents.get(event.id) == agent
        if isinstance(event, MessageSent):
            return event.to == f"@{agent}"
        if isinstance(event, LockGranted):
            return event.holder == agent
        if isinstance(event, BarrierReleased):
            return agent in event.arrived or agent in event.missing
        if isinstance(event, VoteOpened):
            return agent in event.voters
        if isinstance(event, OrgLoaded):
            return agent in event.agents
        return False

    def _show(self, trace: str, group: list[Record], record: Record) -> None:
        head = self._heads.get(trace)
        if head is not None:
            self._add_record(head, record)
            return
        # under a filter, a trace can start to matter only at a later record: show it whole
        head = self._add_head(trace, group[0])
        for each in group[1:]:
            self._add_record(head, each)

    def _add_head(self, trace: str, record: Record) -> TreeNode[Record]:
        node = self.root.add(self._label(record), record, expand=True, allow_expand=False)
        self._heads[trace] = node
        return node

    def _add_record(self, head: TreeNode[Record], record: Record) -> None:
        head.add_leaf(self._label(record), record)
        head.allow_expand = True

    def _evict(self) -> None:
        while self._record_count > self.MAX_RECORDS and self._groups:
            trace, group = next(iter(self._groups.items()))
            excess = self._record_count - self.MAX_RECORDS
            if len(self._groups) > 1:
                del self._groups[trace]
                self._record_count -= len(group)
                node = self._heads.pop(trace, None)
                if node is not None:
                    node.remove()
                continue
            # one trace holds everything: drop its oldest records after the first
            del group[1 : 1 + excess]
            self._record_count -= excess
            node = self._heads.get(trace)
            if node is not None:
                for child in list(node.children)[:excess]:
                    child.remove()

    def get_label_width(self, node: TreeNode[Record]) -> int:
        # The default renders every label to measure it, on each refresh; the trace never scrolls sideways.
        label = node.label  # a Text once the tree has processed it; a str only as given
        return (label.cell_len if isinstance(label, Text) else cell_len(label)) + len(self.ICON_NODE_EXPANDED)

    def render_label(self, node: TreeNode[Record], base_style: Style, style: Style) -> Text:
        text = super().render_label(node, base_style, style)
        if node.data is None:
            return text
        split = len(text) - len(node.label)
        icon, label = text[:split], text[split:]
        if node.parent is self.root and not node.allow_expand:
            # a trace of one record lines up with the groups' first records, which carry the expand icon
            icon = Text(" " * len(self.ICON_NODE_EXPANDED))
        if self.size.width < self.WIDE:
            label = self._label(node.data, compact=True)
            label.stylize(style)
        return Text.assemble(icon, label)

    def _label(self, record: Record, compact: bool = False) -> Text:
        """Time, actor, event type and summary: in aligned columns, or (`compact`) one space apart."""
        moment = datetime.fromtimestamp(record.time, tz=self._tz).strftime("%H:%M:%S")
        kind = record.event.type
        look = EVENT_COLORS.get(kind.split(".")[0])
        if isinstance(record.event, StatusReported):
            look = record.event.state
        elif isinstance(record.event, LogRecorded) and record.event.level in ("warning", "error"):
            look = "waiting" if record.event.level == "warning" else "error"
        color = state_color(look, is_dark(self)) if look else ""
        actor = agent_text(record.actor, self.ACTOR_WIDTH, "bold")
        if not compact:
            actor.pad_right(self.ACTOR_WIDTH - actor.cell_len)
        return Text.assemble(
            (moment, "dim"),
            " ",
            actor,
            " ",
            (kind if compact else kind.ljust(17), color),
            " ",
            agent_text(summary(record), self.SUMMARY_WIDTH),
        )
