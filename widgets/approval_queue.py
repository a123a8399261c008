"""One queue for every agent's pending approvals, oldest first."""

from __future__ import annotations

from rich.text import Text
from textual import on
from textual.binding import Binding
from textual.coordinate import Coordinate
from textual.message import Message
from textual.widgets import DataTable

from agent_console.agents.state import PendingApproval
from agent_console.themes.states import state_color

from .formatting import agent_text, cell_key, format_age, grows, is_dark

# the request comes last: a narrow pane crops it, and the strip under the queue, `d` and `enter` show it whole.
# Key, header, fixed width (None: as wide as its widest cell), and what it means (the help screen shows it).
COLUMNS = (
    ("agent", "Agent", None, "the agent that asks"),
    ("age", "Age", 4, "how long the request has waited"),
    ("request", "Request", None, "the exact command ($ …) or the question; '+N same': identical requests pending"),
)


class ApprovalQueue(DataTable[str | Text]):
    """Pending approvals, oldest first: who asks, how long it has waited, and the command (or the question).

    The highlight starts on the oldest and stays on its approval while others come and go; when that one is
    decided it returns to the oldest. The app binds the answering keys; `selected_id` and `identical_to`
    tell it what to answer. `Selected` is posted whenever the highlighted approval changes.
    """

    BORDER_TITLE = "Approvals"
    REQUEST_WIDTH = 72

    BINDINGS = [Binding("enter", "show_details", "Details", tooltip="Show the whole request")]

    class Selected(Message):
        """The highlight moved to another approval."""

        def __init__(self, approval_id: str) -> None:
            super().__init__()
            self.approval_id = approval_id

        def can_replace(self, message: Message) -> bool:
            return isinstance(message, ApprovalQueue.Selected)

    class ShowDetails(Message):
        """The human asked to see an approval's whole request."""

        def __init__(self, approval_id: str) -> None:
            super().__init__()
            self.approval_id = approval_id

    def __init__(self, *, name: str | None = None, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(cursor_type="row", name=name, id=id, classes=classes)
        self._approvals: dict[str, PendingApproval] = {}
        self._values: dict[str, tuple[str | Text, ...]] = {}
        self._announced: str | None = None

    def on_mount(self) -> None:
        self._add_columns()

    def _add_columns(self) -> None:
        if not self.columns:
            for key, label, width, _ in COLUMNS:
                self.add_column(label, key=key, width=width)

    @property
    def selected_id(self) -> str | None:
        """The highlighted approval's id; None when the queue is empty."""
        if not self.row_count:
            return None
        row = min(max(self.cursor_row, 0), self.row_count - 1)
        return self.coordinate_to_cell_key(Coordinate(row, 0)).row_key.value

    @property
    def selected_approval(self) -> PendingApproval | None:
        """The highlighted approval: what `y` answers."""
        return self._approvals.get(self.selected_id or "")

    @property
    def approval_ids(self) -> list[str]:
        """The pending approvals' ids, oldest first."""
        return list(self._approvals)

    def identical_to(self, approval_id: str) -> list[str]:
        """Ids (oldest first, `approval_id` included) of pending approvals asking the same thing, from any agent."""
        approval = self._approvals.get(approval_id)
        if approval is None:
            return []
        key = approval.request_key
        return [other.id for other in self._approvals.values() if other.request_key == key]

    def update_approvals(self, approvals: list[PendingApproval], now: float) -> None:
        """Show `approvals` (any order), with ages measured at `now` (seconds since the epoch)."""
        self._add_columns()
        ordered = sorted(approvals, key=lambda approval: (approval.requested, approval.id))
        selected = self.selected_id
        self._approvals = {approval.id: approval for approval in ordered}
        counts: dict[tuple[str, str], int] = {}
        for approval in ordered:
            counts[approval.request_key] = counts.get(approval.request_key, 0) + 1
        rows = {approval.id: self._row(approval, counts[approval.request_key], now) for approval in ordered}
        with self.app.batch_update():
            for approval_id in [approval_id for approval_id in self._values if approval_id not in rows]:
                del self._values[approval_id]
                self.remove_row(approval_id)
            kept = list(self._values)
            if kept != list(rows)[: len(kept)]:
                # an older request arrived after newer ones (rare): rows cannot be inserted, so start over
                self.clear()
                self._values.clear()
            for approval_id, values in rows.items():
                previous = self._values.get(approval_id)
                if previous is None:
                    self.add_row(*values, key=approval_id)
                else:
                    for (column, *_), old, new in zip(COLUMNS, previous, values, strict=True):
                        if cell_key(old) != cell_key(new):
                            self.update_cell(approval_id, column, new, update_width=grows(self, column, new))
                self._values[approval_id] = values
            if rows:
                self._restore_cursor(selected if selected in rows else None)
        self.border_subtitle = f"{len(rows)} pending"
        self.set_class(bool(rows), "-pending")
        self._announce()

    def _announce(self) -> None:
        selected = self.selected_id
        if selected != self._announced:
            self._announced = selected
            if selected is not None:
                self.post_message(self.Selected(selected))

    def _restore_cursor(self, selected: str | None) -> None:
        row = 0 if selected is None else self.get_row_index(selected)
        if row != self.cursor_row or selected is None:
            self.move_cursor(row=row, animate=False)

    def _row(self, approval: PendingApproval, same: int, now: float) -> tuple[str | Text, ...]:
        if approval.command:
            request = Text.assemble(("$ ", "dim"), agent_text(approval.command, self.REQUEST_WIDTH, "bold"))
        else:
            request = agent_text(approval.text, self.REQUEST_WIDTH)
        if same > 1:
            request.append(f"  +{same - 1} same", style=state_color("waiting", is_dark(self)))
        return (Text(approval.agent, style="bold"), format_age(now - approval.requested), request)

    def action_show_details(self) -> None:
        approval_id = self.selected_id
        if approval_id is not None:
            self.post_message(self.ShowDetails(approval_id))

    @on(DataTable.RowHighlighted)
    def _highlighted(self, event: DataTable.RowHighlighted) -> None:
        event.stop()
        self._announce()

    @on(DataTable.RowSelected)
    def _clicked(self, event: DataTable.RowSelected) -> None:
        event.stop()
        if event.row_key.value is not None:
            self.post_message(self.ShowDetails(event.row_key.value))
