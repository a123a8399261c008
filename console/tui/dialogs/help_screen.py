"""Every key binding, in one table, and what each column of the tables means, in another."""

from __future__ import annotations

from collections.abc import Sequence

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import DataTable, Label


class HelpScreen(ModalScreen[None]):
    """The bindings it is given, as (key, what it does, where it works) rows, then the columns it is given, as
    (table, column, what it means) rows; escape, ? or q closes it."""

    BINDINGS = [
        Binding("escape", "close", "Close"),
        Binding("question_mark", "close", "Close", show=False),
        Binding("q", "close", "Close", show=False),
    ]

    DEFAULT_CSS = """
    HelpScreen {
        align: center middle;
        background: $background 60%;
    }
    HelpScreen > #help-dialog {
        width: auto;
        max-width: 90%;
        height: auto;
        max-height: 90%;
        border: thick $primary;
        border-title-style: bold;
        background: $surface;
        padding: 0 1;
    }
    HelpScreen DataTable {
        width: auto;
        height: auto;
        max-height: 100%;
        background: $surface;
    }
    HelpScreen #help-columns {
        margin-top: 1;
    }
    HelpScreen #help-hint {
        color: $text-muted;
        margin-top: 1;
    }
    """

    def __init__(self, bindings: Sequence[tuple[str, str, str]], columns: Sequence[tuple[str, str, str]] = ()) -> None:
        super().__init__()
        self.rows = list(bindings)
        self.columns = list(columns)

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help-dialog") as dialog:
            dialog.border_title = "Keys"
            table: DataTable[str] = DataTable(cursor_type="row", zebra_stripes=True, id="help-table")
            table.add_columns("Key", "Action", "Where")
            table.add_rows(self.rows)
            yield table
            if self.columns:
                columns: DataTable[str] = DataTable(cursor_type="row", zebra_stripes=True, id="help-columns")
                columns.add_columns("Table", "Column", "What it shows")
                columns.add_rows(self.columns)
                yield columns
            yield Label("tab: what the columns mean · escape, ? or q closes", id="help-hint")

    def action_close(self) -> None:
        self.dismiss(None)
