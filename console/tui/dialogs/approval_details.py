"""An approval's whole request, answered with one key."""

from __future__ import annotations

from datetime import datetime, tzinfo

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Label, Static

from agent_console.agents.state import PendingApproval
from agent_console.widgets.formatting import agent_text, format_age


class ApprovalDetails(ModalScreen[bool | None]):
    """Agent, time, question and command of one pending approval; dismissed with True (y), False (n), None (esc)."""

    BINDINGS = [
        Binding("y", "decide(True)", "Approve", tooltip="Approve this request"),
        Binding("n", "decide(False)", "Deny", tooltip="Deny this request"),
        Binding("escape", "close", "Close", tooltip="Close without answering"),
    ]

    DEFAULT_CSS = """
    ApprovalDetails {
        align: center middle;
        background: $background 60%;
    }
    ApprovalDetails > #approval-dialog {
        width: 80%;
        max-width: 110;
        height: auto;
        max-height: 80%;
        border: thick $warning;
        border-title-color: $warning;
        border-title-style: bold;
        background: $surface;
        padding: 0 1;
    }
    ApprovalDetails #approval-meta {
        color: $text-muted;
        margin-bottom: 1;
    }
    ApprovalDetails #approval-text {
        margin-bottom: 1;
    }
    ApprovalDetails #approval-command {
        background: $panel;
        color: $text;
        text-style: bold;
        padding: 0 1;
        margin-bottom: 1;
    }
    ApprovalDetails #approval-keys {
        height: 1;
        color: $text-muted;
    }
    """

    def __init__(
        self,
        approval: PendingApproval,
        *,
        now: float | None = None,
        identical: int = 1,
        tz: tzinfo | None = None,
    ) -> None:
        """`identical`: how many pending approvals ask the same (shown when more than one); `tz`: None is local."""
        super().__init__()
        self.approval = approval
        self._now = now
        self._identical = identical
        self._tz = tz

    def compose(self) -> ComposeResult:
        approval = self.approval
        moment = datetime.fromtimestamp(approval.requested, tz=self._tz).strftime("%Y-%m-%d %H:%M:%S")
        meta = Text.assemble((approval.agent, "bold"), f" asked at {moment}")
        if self._now is not None:
            meta.append(f" ({format_age(self._now - approval.requested)} ago)")
        if self._identical > 1:
            meta.append(f" · {self._identical} identical requests pending")
        if approval.source != "agent":
            # a prompt of the agent's program: deciding presses that program's own keys in its pane
            meta.append(" · seen on its screen" if approval.source == "screen" else " · reported by its hook")
        if approval.options:
            meta.append(" · options: ")
            meta.append(agent_text(" / ".join(approval.options)))
        with VerticalScroll(id="approval-dialog") as dialog:
            dialog.border_title = f"Approval {approval.id}"
            yield Label(meta, id="approval-meta")
            yield Static(agent_text(approval.text, multiline=True), id="approval-text")
            if approval.command:
                yield Static(agent_text(approval.command, multiline=True), id="approval-command")
            yield Label(
                Text.assemble(("y", "bold"), " approve   ", ("n", "bold"), " deny   ", ("esc", "bold"), " close"),
                id="approval-keys",
            )

    def action_decide(self, approved: bool) -> None:
        self.dismiss(approved)

    def action_close(self) -> None:
        self.dismiss(None)
