"""The selected approval's request in full, wrapped, under the queue: what `y` would approve."""

from __future__ import annotations

from rich.console import RenderableType
from rich.text import Text
from textual.geometry import Size
from textual.widget import Widget

from agent_console.agents.state import PendingApproval

from .formatting import agent_text


class ApprovalPreview(Widget):
    """Who asks, the exact command and the question of one approval, wrapped to the width; at most `MAX_LINES`
    lines, the last of them saying where the rest is when it does not fit. Hidden while nothing is selected."""

    MAX_LINES = 4

    DEFAULT_CSS = """
    ApprovalPreview {
        height: auto;
        padding: 0 1;
        background: $panel;
    }
    """

    def __init__(self, *, name: str | None = None, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.approval: PendingApproval | None = None
        self.display = False

    def show(self, approval: PendingApproval | None) -> None:
        if approval != self.approval:
            self.approval = approval
            self.display = approval is not None
            self.refresh(layout=True)

    def full_text(self) -> Text:
        """The whole request on one logical line: agent, command, question (line breaks kept)."""
        approval = self.approval
        if approval is None:
            return Text()
        text = Text.assemble((approval.agent, "bold"), " asks ")
        if approval.command:
            text.append("$ ", style="dim")
            text.append_text(agent_text(approval.command, style="bold", multiline=True))
            text.append("  ")
        text.append_text(agent_text(approval.text, style="italic", multiline=True))
        return text

    def _lines(self, width: int) -> list[Text]:
        lines = list(self.full_text().wrap(self.app.console, max(1, width)))
        if len(lines) > self.MAX_LINES:
            more = Text("… more: d shows it all", "dim")
            more.truncate(max(1, width), overflow="ellipsis")
            lines = [*lines[: self.MAX_LINES - 1], more]
        return lines

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        return len(self._lines(width)) if self.approval is not None else 0

    def render(self) -> RenderableType:
        return Text("\n").join(self._lines(self.content_size.width))
