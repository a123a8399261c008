"""The journal as a waterfall: each trace a tree of spans (what caused what), each line with its duration and a
bar placed on the trace's own time, filterable by agent, team, state, time and text."""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import datetime, tzinfo

from rich.cells import cell_len
from rich.style import Style
from rich.text import Text
from textual.widgets import Tree
from textual.widgets.tree import TreeNode

from agent_console.agents.events import LogRecorded, StatusReported
from agent_console.agents.journal import Record
from agent_console.agents.spans import Span, Trace, TraceFilter, TraceIndex, summary
from agent_console.themes.states import state_color

from .formatting import agent_text, is_dark

__all__ = ["TraceView", "format_duration", "summary"]

# an event type's first word → the agent state whose colour it borrows
EVENT_COLORS = {"approval": "waiting", "agent": "recovering", "spoof": "error", "org": "thinking", "message": "working"}


def format_duration(seconds: float) -> str:
    """A span's duration in at most 5 cells: 350ms, 4.2s, 42s, 2m05, 1h02; empty for an instant."""
    if seconds < 0.0005:
        return ""
    if seconds < 1:
        return f"{seconds * 1000:.0f}ms"
    if seconds < 10:
        return f"{seconds:.1f}s"
    if seconds < 60:
        return f"{seconds:.0f}s"
    if seconds < 3600:
        return f"{int(seconds // 60)}m{int(seconds % 60):02d}"
    return f"{int(seconds // 3600)}h{int(seconds % 3600 // 60):02d}"


def bar(span: Span, start: float, end: float, width: int) -> str:
    """The span's place on [start, end] drawn in `width` cells: ━ for its duration, ╸ for an instant."""
    total = end - start
    if total <= 0:
        return "╸".ljust(width)
    left = min(width - 1, int((span.start - start) / total * width))
    right = min(width, math.ceil((span.end - start) / total * width))
    if span.end - span.start <= 0 or right <= left:
        return (" " * left + "╸").ljust(width)
    return (" " * left + "━" * (right - left)).ljust(width)


class TraceView(Tree[Record]):
    """The journal's traces, oldest at the top, each a tree of spans with durations (a waterfall).

    `add_records` appends; `filter` narrows to the traces a `TraceFilter` lets through (`filter_agent` to one
    agent's). Only about the newest `MAX_RECORDS` records are kept (the oldest traces go whole).
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
    KIND_WIDTH = 17
    SUMMARY_WIDTH = 90
    WIDE = 70
    """Narrower than this, a line drops the column alignment and the bar so that the summary stays in view."""
    ROOMY = 110
    """Narrower than this, the actor column is narrower and the event type is not padded to a column."""
    DURATION_WIDTH = 5
    BARS = 50
    """Narrower than this, a line shows its duration after the summary and no bar."""

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
        self.index = TraceIndex(limit=self.MAX_RECORDS)
        self._wanted = TraceFilter()
        self._agent: str | None = None
        self._heads: dict[str, TreeNode[Record]] = {}
        self._collapsed: set[str] = set()

    @property
    def agent_filter(self) -> str | None:
        return self._agent

    @property
    def wanted(self) -> TraceFilter:
        """The filter in force."""
        return self._wanted

    @property
    def shown_records(self) -> list[Record]:
        """The records on display (whether their trace is expanded or not), in display order."""
        shown: list[Record] = []

        def walk(node: TreeNode[Record]) -> None:
            if node.data is not None:
                shown.append(node.data)
            for child in node.children:
                walk(child)

        for head in self.root.children:
            walk(head)
        return shown

    def add_records(self, records: Iterable[Record]) -> None:
        """Append records (in journal order)."""
        follow = self.is_vertical_scroll_end
        changed = self.index.add(records)
        for trace in [trace for trace in self._heads if trace not in self.index.traces]:
            self._heads.pop(trace).remove()
        for trace in sorted(changed, key=lambda each: self.index.traces[each].first.seq):
            found = self.index.traces[trace]
            if self._wanted.empty or self.index.matches(found, self._wanted):
                self._show(found)
        if follow:
            self._follow()

    def filter(self, wanted: TraceFilter) -> None:
        """Show only the traces `wanted` lets through (all of each: what caused what stays in view)."""
        if wanted == self._wanted:
            return
        self._wanted = wanted
        self._agent = next(iter(wanted.agents)) if wanted.agents is not None and len(wanted.agents) == 1 else None
        self.clear()
        self._heads.clear()
        for trace in self.index.select(wanted):
            self._show(trace)
        self._follow()

    def filter_agent(self, agent: str | None) -> None:
        """Show only the traces with a record by `agent` or about it (None: everything)."""
        self.filter(TraceFilter(agents=None if agent is None else frozenset({agent})))
        self._agent = agent

    def _follow(self) -> None:
        _ = self.last_line  # builds the lines, so the new end is known before scrolling to it
        self.scroll_end(animate=False, x_axis=False)

    def _show(self, trace: Trace) -> None:
        """Add the trace's tree at the end, or redraw it where it is."""
        old = self._heads.get(trace.id)
        if old is not None and not old.is_expanded and old.allow_expand:
            self._collapsed.add(trace.id)
        spans = list(trace.walk())
        head_span = spans[0][1]
        head = self.root.add(
            self._label(head_span.record), head_span.record, before=old, expand=trace.id not in self._collapsed
        )
        head.allow_expand = len(spans) > 1
        nodes = {id(head_span): head}
        for _, span in spans[1:]:
            parent = nodes[id(span.parent)] if span.parent is not None else head
            nodes[id(span)] = parent.add(self._label(span.record), span.record, expand=True, allow_expand=False)
            parent.allow_expand = True
        if old is not None:
            old.remove()
        self._heads[trace.id] = head

    def span_of(self, record: Record) -> Span | None:
        trace = self.index.traces.get(record.trace)
        return trace.spans.get(record.span) if trace is not None else None

    def get_label_width(self, node: TreeNode[Record]) -> int:
        # The default renders every label to measure it, on each refresh; the trace never scrolls sideways.
        label = node.label  # a Text once the tree has processed it; a str only as given
        return (label.cell_len if isinstance(label, Text) else cell_len(label)) + len(self.ICON_NODE_EXPANDED)

    def render_label(self, node: TreeNode[Record], base_style: Style, style: Style) -> Text:
        text = super().render_label(node, base_style, style)
        record = node.data
        if record is None:
            return text
        split = len(text) - len(node.label)
        icon, label = text[:split], text[split:]
        if not node.allow_expand:
            icon = Text(" " * len(self.ICON_NODE_EXPANDED))  # a leaf lines up with the nodes carrying the icon
        span = self.span_of(record)
        compact = self.size.width < self.WIDE
        if compact or self.size.width < self.ROOMY:
            label = self._label(record, compact=compact, narrow=True)
            label.stylize(style)
        if self._wanted.text:
            label.highlight_words([self._wanted.text], "reverse", case_sensitive=False)
        if span is None:
            return Text.assemble(icon, label)
        if span.orphan:
            label = Text.assemble(("?", "bold"), label)  # its parent is not in this trace: an agent's claim
        duration = format_duration(span.duration).rjust(self.DURATION_WIDTH)
        if self.size.width < self.BARS:
            return Text.assemble(icon, label, " ", (duration.strip(), "dim"))
        trace = self.index.traces[record.trace]
        width = self._bar_width()
        # the bar column ends at the right edge, whatever the depth: the guides take 2 cells a level
        used = self._depth(node) * self.guide_depth + len(self.ICON_NODE_EXPANDED) + 2 + width + self.DURATION_WIDTH
        room = max(8, self.scrollable_content_region.width - used)
        label.truncate(room, overflow="ellipsis", pad=True)
        look = self._color(record)
        return Text.assemble(icon, label, " ", (duration, "dim"), " ", (bar(span, trace.start, trace.end, width), look))

    def _bar_width(self) -> int:
        width = self.scrollable_content_region.width
        return max(6, min(40, width // (4 if width >= self.ROOMY else 6)))

    def _depth(self, node: TreeNode[Record]) -> int:
        depth = 0
        while node.parent is not None and node.parent is not self.root:
            node = node.parent
            depth += 1
        return depth

    def _color(self, record: Record) -> str:
        kind = record.event.type
        look = EVENT_COLORS.get(kind.split(".")[0])
        if isinstance(record.event, StatusReported):
            look = record.event.state
        elif isinstance(record.event, LogRecorded) and record.event.level in ("warning", "error"):
            look = "waiting" if record.event.level == "warning" else "error"
        return state_color(look, is_dark(self)) if look else ""

    def _label(self, record: Record, compact: bool = False, narrow: bool = False) -> Text:
        """Time, actor, event type and summary: in aligned columns, or (`compact`) one space apart; `narrow`:
        a narrower actor column, the type not padded."""
        moment = datetime.fromtimestamp(record.time, tz=self._tz).strftime("%H:%M:%S")
        kind = record.event.type
        width = self.ACTOR_WIDTH - 2 if narrow else self.ACTOR_WIDTH
        actor = agent_text(record.actor, width, "bold")
        if not compact:
            actor.pad_right(width - actor.cell_len)
        return Text.assemble(
            (moment, "dim"),
            " ",
            actor,
            " ",
            (kind if compact or narrow else kind.ljust(self.KIND_WIDTH), self._color(record)),
            " ",
            agent_text(summary(record), self.SUMMARY_WIDTH),
        )
