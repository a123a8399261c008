"""One agent's state and the evidence behind it: what the health table's State column leaves out."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Label, Static

from agent_console.agents.events import ScreenSnapshotTaken
from agent_console.agents.state import AgentView
from agent_console.widgets.formatting import agent_text, format_age, is_dark, state_text


class AgentDetails(ModalScreen[None]):
    """The effective state, then each source's opinion (its report, its program's hook, its screen), the task,
    pane and restarts; escape, i or q closes it."""

    BINDINGS = [
        Binding("escape", "close", "Close"),
        Binding("i", "close", "Close", show=False),
        Binding("q", "close", "Close", show=False),
    ]

    DEFAULT_CSS = """
    AgentDetails {
        align: center middle;
        background: $background 60%;
    }
    AgentDetails > #agent-dialog {
        width: 80%;
        max-width: 100;
        height: auto;
        max-height: 80%;
        border: thick $primary;
        border-title-style: bold;
        background: $surface;
        padding: 0 1;
    }
    AgentDetails #agent-saw {
        background: $boost;
        padding: 0 1;
    }
    AgentDetails #agent-keys {
        color: $text-muted;
        margin-top: 1;
    }
    """

    def __init__(self, view: AgentView, *, now: float, saw: tuple[ScreenSnapshotTaken, Text] | None = None) -> None:
        """`saw`: the last snapshot of the agent's screen (kept on an error, a stall, a denial, a recovery step)
        and its text, plain."""
        super().__init__()
        self.view = view
        self._now = now
        self._saw = saw

    def rows(self) -> list[tuple[str, Text | str]]:
        """(what, value) lines: the state first, then the evidence."""
        view, dark = self.view, is_dark(self)

        def ago(moment: float | None) -> str:
            return "—" if moment is None else f"{format_age(self._now - moment)} ago"

        rows: list[tuple[str, Text | str]] = [("state", state_text(view.state, dark=dark))]
        rows.append(("reported", f"by the agent or its hook, {ago(view.reported)}"))
        if view.hook_state is not None:
            rows.append(("hook", Text.assemble(state_text(view.hook_state, dark=dark), f"  ({view.hook_event})")))
        if view.screen_state is not None:
            rule = f"  (rule {view.screen_rule})" if view.screen_rule else ""
            rows.append(("screen", Text.assemble(state_text(view.screen_state, dark=dark), rule)))
        if view.stalled_since is not None:
            rows.append(("stuck", f"working, its screen unchanged since {ago(view.stalled_since)}"))
        task = " ".join(part for part in (view.task or "", view.progress or "") if part)
        rows.append(("task", agent_text(task, multiline=True)))
        rows.append(("last heard", ago(view.last_event)))
        alive = "running" if view.alive else "not running"
        rows.append(("pane", f"{view.pane or '—'}, {alive}, {view.restarts} restart(s)"))
        if view.buried:
            rows.append(("buried", f"its pane is off screen, still watched; unbury {view.name} brings it back"))
        return rows

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="agent-dialog") as dialog:
            dialog.border_title = f"{self.view.name}" + (f" · {self.view.team}" if self.view.team else "")
            for what, value in self.rows():
                yield Static(Text.assemble((f"{what:>10}  ", "dim"), value))
            if self._saw is not None:
                taken, text = self._saw
                heading = f"{'it saw':>10}  on {taken.reason}, record #{taken.illustrates}:"
                yield Static(Text(heading, style="dim"), classes="saw-heading")
                yield Static(text, id="agent-saw", markup=False)
            yield Label("escape, i or q closes", id="agent-keys")

    def action_close(self) -> None:
        self.dismiss(None)
