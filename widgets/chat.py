"""The chat with the executive: a capped log of lines, the reply being streamed, and an input."""

from __future__ import annotations

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import Input, RichLog, Static

from agent_console.agents.events import HUMAN, SUPERVISOR

from .formatting import agent_text


class ChatPanel(Vertical):
    """Lines of "speaker: text" (the human, the executive and system notices each look different) and an input.

    Enter clears the input and, unless it was blank, posts `ChatPanel.Submitted` with its text. A reply that
    streams in is drawn below the log as it comes (`begin_reply`, `stream`) and joins the log when it ends.
    """

    BORDER_TITLE = "Chat"
    MAX_LINES = 2000
    HUMAN_SPEAKERS = frozenset({HUMAN, "you"})
    SYSTEM_SPEAKERS = frozenset({SUPERVISOR, "system", "console"})

    COMPONENT_CLASSES = {"chat--human", "chat--executive", "chat--system"}

    DEFAULT_CSS = """
    ChatPanel {
        height: 1fr;
    }
    ChatPanel > .chat--human {
        color: $text-primary;
        text-style: bold;
    }
    ChatPanel > .chat--executive {
        color: $text-accent;
        text-style: bold;
    }
    ChatPanel > .chat--system {
        color: $text-muted;
        text-style: italic;
    }
    ChatPanel > RichLog {
        height: 1fr;
        overflow-y: auto;
        background: transparent;
        scrollbar-size-vertical: 1;
    }
    ChatPanel > Input {
        dock: bottom;
    }
    ChatPanel > #reply {
        height: auto;
        max-height: 50%;
        color: $text-accent;
    }
    ChatPanel > #reply.hidden {
        display: none;
    }
    """

    class Submitted(Message):
        """The human sent a chat line."""

        def __init__(self, text: str) -> None:
            super().__init__()
            self.text = text

    def __init__(
        self,
        *,
        placeholder: str = "Message the executive…",
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self._placeholder = placeholder
        self._speaker: str | None = None  # whose reply streams in now
        self._reply: list[str] = []

    def compose(self) -> ComposeResult:
        yield RichLog(max_lines=self.MAX_LINES, wrap=True, markup=False, highlight=False, min_width=20)
        yield Static("", id="reply", classes="hidden", markup=False)
        yield Input(placeholder=self._placeholder, select_on_focus=False)  # a draft, or the "/" just typed, stays

    @property
    def log_lines(self) -> list[str]:
        """The log's text, one entry per rendered line (for tests and copying)."""
        return [strip.text for strip in self.query_one(RichLog).lines]

    def add_line(self, speaker: str, text: str) -> None:
        """Append "speaker: text"; the oldest lines go once there are more than `MAX_LINES`."""
        said = agent_text(text, multiline=True)
        if speaker in self.HUMAN_SPEAKERS:
            line = Text.assemble(("you", self.get_component_rich_style("chat--human")), ": ", said)
        elif speaker in self.SYSTEM_SPEAKERS:
            line = Text(f"{speaker}: ", style=self.get_component_rich_style("chat--system")).append_text(said)
        else:
            who = agent_text(speaker, style=self.get_component_rich_style("chat--executive"))
            line = Text.assemble(who, ": ", said)
        self.query_one(RichLog).write(line)

    @property
    def streaming(self) -> bool:
        return self._speaker is not None

    @property
    def reply_text(self) -> str:
        """What the reply streaming in says so far."""
        return "".join(self._reply)

    def begin_reply(self, speaker: str) -> None:
        """A reply from `speaker` starts: shown, as it streams in, below the log ("…" until the first word)."""
        self._speaker, self._reply = speaker, []
        self._show_reply()
        self.query_one("#reply").remove_class("hidden")

    def stream(self, text: str) -> None:
        """The reply so far, whole (the caller may have masked secrets in it: a piece alone may hold half of one)."""
        self._reply = [text]
        self._show_reply()

    def end_reply(self, ending: str = "") -> None:
        """The reply is over: its text joins the log (with `ending`, e.g. " [stopped]"), the streaming line goes."""
        if self._speaker is None:
            return
        text = self.reply_text.strip()
        if text or ending:
            self.add_line(self._speaker, text + ending)
        self._speaker, self._reply = None, []
        self.query_one("#reply", Static).update("")
        self.query_one("#reply").add_class("hidden")

    def _show_reply(self) -> None:
        style = self.get_component_rich_style("chat--executive")
        line = Text.assemble(
            agent_text(self._speaker or "", style=style), ": ", agent_text(self.reply_text or "…", multiline=True)
        )
        self.query_one("#reply", Static).update(line)

    def focus_input(self, start: str = "") -> None:
        """Focus the input; with `start`, the input holds that text (cursor after it), e.g. "/" for a command."""
        line = self.query_one(Input)
        if start:
            line.value = start
            line.cursor_position = len(start)
        self.screen.set_focus(line)  # now, not after the keys already typed behind the one that got here

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        text = event.value.strip()
        event.input.clear()
        if text:
            self.post_message(self.Submitted(text))
