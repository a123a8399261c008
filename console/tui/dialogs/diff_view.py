"""An agent's worktree against its base: the diff, highlighted, scrollable."""

from __future__ import annotations

import re

from rich.syntax import Syntax
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Label, Static

from agent_console.agents.display import marker_for

_UNUSUAL = re.compile(r"[^\x20-\x7e\n]")  # what may need a marker: the rest of a diff prints as itself


def shown(diff: str) -> str:
    """The diff as safe text: tabs as spaces (code indented with them reads as it should), every character that
    must not reach a terminal as itself (escapes, controls, invisible ones) as its marker; spaces kept, as code
    needs them."""
    return _UNUSUAL.sub(lambda found: marker_for(found.group(), multiline=True) or found.group(), diff.expandtabs(4))


class DiffView(ModalScreen[None]):
    """The diff `/diff AGENT` shows. What the agent wrote is data: it goes through `shown` (no control character
    reaches the terminal) and rich's `Syntax` (no markup is read in it); escape or q closes it."""

    BINDINGS = [
        Binding("escape", "close", "Close"),
        Binding("q", "close", "Close", show=False),
    ]

    DEFAULT_CSS = """
    DiffView {
        align: center middle;
        background: $background 60%;
    }
    DiffView > #diff-dialog {
        width: 90%;
        height: 90%;
        border: thick $primary;
        border-title-style: bold;
        background: $surface;
        padding: 0 1;
    }
    DiffView #diff-keys {
        color: $text-muted;
    }
    """

    def __init__(self, agent: str, diff: str) -> None:
        super().__init__()
        self.agent = agent
        self.diff = shown(diff)

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="diff-dialog") as dialog:
            dialog.border_title = f"{self.agent} · diff against its base"
            lines = self.diff.count("\n")
            dark = self.app.current_theme.dark if self.app.current_theme else True
            yield Static(
                Syntax(self.diff, "diff", theme="monokai" if dark else "default", word_wrap=False), id="diff-text"
            )
            yield Label(f"{lines} line(s) · ↑↓ PgUp PgDn scroll · escape closes", id="diff-keys", markup=False)

    def action_close(self) -> None:
        self.dismiss(None)
