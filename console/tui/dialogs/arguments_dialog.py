"""Asks for a command's arguments when it is run from somewhere that gives none (the command palette)."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label


class ArgumentsDialog(ModalScreen[str | None]):
    """One input for the arguments of command `name`, its usage as the hint; dismissed with the text typed
    (Enter) or None (escape)."""

    BINDINGS = [Binding("escape", "cancel", "cancel")]

    DEFAULT_CSS = """
    ArgumentsDialog {
        align: center middle;
        background: $background 60%;
    }
    ArgumentsDialog > #arguments-dialog {
        width: 80%;
        max-width: 100;
        height: auto;
        border: thick $primary;
        border-title-style: bold;
        background: $surface;
        padding: 0 1;
    }
    ArgumentsDialog #arguments-hint {
        color: $text-muted;
    }
    """

    def __init__(self, name: str, usage: str, description: str) -> None:
        super().__init__()
        self.command_name = name
        self.usage = usage
        self.description = description

    def compose(self) -> ComposeResult:
        with Vertical(id="arguments-dialog") as dialog:
            dialog.border_title = f":{self.command_name}"
            yield Label(self.description)
            yield Label(f"usage: {self.usage}", id="arguments-usage")
            yield Input(placeholder=self.usage.removeprefix(self.command_name).strip(), id="arguments")
            yield Label("enter runs it · escape cancels", id="arguments-hint")

    @on(Input.Submitted, "#arguments")
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.dismiss(event.value)

    def action_cancel(self) -> None:
        self.dismiss(None)
