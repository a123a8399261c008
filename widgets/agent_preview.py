"""The selected agent's screen, live and read-only, with its effective state and the evidence behind it.

The screen comes from the supervisor's own captures (one per settled burst of output); lines that scroll off
the top are kept, up to `HISTORY_LINES`, so the human can scroll back. Every character of the agent's is shown
as data (`agents.display`): never markup, never a terminal control.
"""

from __future__ import annotations

import collections
import re
from collections.abc import Sequence

from rich.cells import cell_len
from rich.segment import Segment
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.geometry import Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip
from textual.widgets import Static

from agent_console.agents.display import shows_as_is
from agent_console.agents.state import AgentView

from .formatting import agent_text, is_dark, state_text

HISTORY_LINES = 1000
"""Lines kept above the screen: enough to see what an agent just did, bounded so a flood costs nothing."""
MIN_OVERLAP = 2
"""Lines two screens must share to count as a scroll (one shared prompt line is as likely a redraw)."""
_SPACE_RUN = re.compile(r"( {4,})")


def scrolled_off(previous: Sequence[str], current: Sequence[str]) -> list[str]:
    """The lines of `previous` that scrolled out of the top to make `current` (empty when nothing scrolled, or
    when `current` shares too little with `previous` to tell: a redraw, or more output than a screen)."""
    shown = trimmed(previous)
    shift = scroll_between(previous, current)
    if shift is None:  # what was above a screen as tall as this one is history all the same (a capture's)
        return shown[: max(0, len(previous) - len(current))]
    return shown[:shift]


def scroll_between(previous: Sequence[str], current: Sequence[str]) -> int | None:
    """How many lines `current` is `previous` scrolled up by (0: not at all, maybe printed below); None when
    they share fewer than `MIN_OVERLAP` lines, as a redraw or a screenful of output does."""
    shown = trimmed(previous)
    for shift in range(len(shown) - min(MIN_OVERLAP, len(shown)) + 1):
        rest = shown[shift:]
        if list(current[: len(rest)]) == rest:
            return shift
    return None


def trimmed(lines: Sequence[str]) -> list[str]:
    """`lines` without the blank lines at the bottom of a screen."""
    end = len(lines)
    while end and not lines[end - 1].strip():
        end -= 1
    return list(lines[:end])


def screen_line(line: str) -> Text:
    """One line of an agent's screen as data: its layout (runs of spaces) kept, every other character shown
    by `agents.display` (controls and invisible characters as visible markers)."""
    text = Text(no_wrap=True, end="")
    for part in _SPACE_RUN.split(line.rstrip()):
        text.append(part) if part.startswith(" ") and not part.strip() else text.append_text(agent_text(part))
    return text


def evidence(view: AgentView) -> str:
    """What the effective state rests on: the hook, the screen rule or the agent's own report that agrees."""
    if view.hook_state is view.state and view.hook_event:
        return f"hook {view.hook_event}"
    if view.screen_state is view.state and view.screen_rule:
        return f"screen rule {view.screen_rule}"
    if view.reported is not None:
        return "its own report"
    return "no evidence yet"


class PreviewScreen(ScrollView, can_focus=True):
    """The lines (history, then the screen), drawn line by line: a long history costs only the rows in view."""

    BINDINGS = [Binding("enter", "jump", "Jump", tooltip="Jump to the agent's pane")]

    class JumpWanted(Message):
        def __init__(self) -> None:
            super().__init__()

    class HistoryWanted(Message):
        """The human scrolls back over a gap: more scrolled off between two screens than either showed."""

        def __init__(self) -> None:
            super().__init__()

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.history: collections.deque[Strip] = collections.deque(maxlen=HISTORY_LINES)
        self.visible_screen: list[Strip] = []
        self._drawn: dict[str, Strip] = {}  # the screen's lines as drawn: most of the next screen is the same
        self._width = 0
        self.gap = False  # lines went by unseen: the pane's own scrollback has them

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        if new_value < old_value and self.gap:
            self.gap = False
            self.post_message(self.HistoryWanted())

    @property
    def lines(self) -> list[str]:
        """Every line kept, as shown (history, then the screen)."""
        return [strip.text for strip in (*self.history, *self.visible_screen)]

    def _draw(self, line: str) -> Strip:
        """A line as segments, once: text with nothing to mark as it is, anything else through `screen_line`."""
        drawn = self._drawn.get(line)
        if drawn is None:
            bare = line.rstrip()
            if shows_as_is(bare):  # no control, no invisible character: nothing to mark
                drawn = Strip([Segment(bare)], cell_len(bare))
            else:
                segments = [part for part in screen_line(bare).render(self.app.console) if part.text != "\n"]
                drawn = Strip(segments)
        return drawn

    def set_lines(self, history: list[str], screen: list[str], reset: bool = False) -> None:
        """`history` joins what is kept above; `screen` replaces the screen; the view stays at the bottom when
        it was there, else as far from the bottom as the human scrolled (`reset` starts over from these lines)."""
        from_bottom = self.max_scroll_y - self.scroll_offset.y
        if reset:
            self.gap = False
            self.history.clear()
            self._width = 0
        shown = [self._draw(line) for line in history]
        self.history.extend(shown)
        lines = trimmed(screen)
        self.visible_screen = [self._draw(line) for line in lines]
        self._drawn = dict(zip(lines, self.visible_screen, strict=True))
        self._width = max([self._width, *(strip.cell_length for strip in (*shown, *self.visible_screen))])
        self.virtual_size = Size(self._width, len(self.history) + len(self.visible_screen))
        if from_bottom <= 0:
            self.scroll_end(animate=False, x_axis=False)  # once the new size is laid out
        elif reset:  # the same lines stay in view
            self.call_after_refresh(lambda: self.scroll_to(y=self.max_scroll_y - from_bottom, animate=False))
        self.refresh()

    def render_line(self, y: int) -> Strip:
        index = self.scroll_offset.y + y
        width = self.scrollable_content_region.width
        kept = len(self.history)
        if index >= kept + len(self.visible_screen):
            return Strip.blank(width, self.rich_style)
        strip = self.history[index] if index < kept else self.visible_screen[index - kept]
        left = self.scroll_offset.x
        return strip.crop_extend(left, left + width, self.rich_style)

    def action_jump(self) -> None:
        self.post_message(self.JumpWanted())


class AgentPreview(Vertical):
    """One agent: a line with its name, effective state and the evidence behind it, over its screen (scrollable
    back through `HISTORY_LINES` lines). `show_agent` follows the state, `load` takes a whole capture (history
    included) when the agent is chosen, `update_screen` each new screen; enter asks to jump to its pane."""

    BORDER_TITLE = "Preview"

    DEFAULT_CSS = """
    AgentPreview #preview-state {
        height: 1;
        background: $panel;
        padding: 0 1;
    }
    AgentPreview #preview-screen {
        height: 1fr;
    }
    """

    class JumpTo(Message):
        """The human pressed enter on the preview: jump to the agent's real pane."""

        def __init__(self, agent: str) -> None:
            super().__init__()
            self.agent = agent

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.agent: str | None = None
        self._previous: list[str] = []
        self._shown_state: tuple[object, ...] | None = None

    def compose(self) -> ComposeResult:
        yield Static(Text("no agent selected", style="dim"), id="preview-state")
        yield PreviewScreen(id="preview-screen")

    @property
    def screen_view(self) -> PreviewScreen:
        return self.query_one(PreviewScreen)

    def show_agent(self, view: AgentView | None) -> None:
        """The state line for `view` (the agent whose screen is shown); a new agent clears the screen."""
        name = view.name if view is not None else None
        if name != self.agent:
            self.agent = name
            self._previous = []
            self.screen_view.set_lines([], [], reset=True)
        key: tuple[object, ...] = (name,)
        if view is not None:
            key += (view.state, view.hook_state, view.hook_event, view.screen_state, view.screen_rule, view.alive)
            key += (view.reported is not None,)
        if key == self._shown_state:
            return
        self._shown_state = key
        self.border_title = f"Preview · {name}" if name else "Preview"
        self.border_subtitle = "enter: jump to its pane" if name else ""
        line = Text(no_wrap=True, overflow="ellipsis")
        if view is None:
            line.append("no agent selected", style="dim")
        else:
            line.append_text(state_text(view.state, dark=is_dark(self)))
            line.append("  by ", style="dim")
            line.append_text(agent_text(evidence(view), 60))
            if not view.alive:
                line.append("  (not running)", style="dim")
        self.query_one("#preview-state", Static).update(line)

    def load(self, agent: str, capture: str) -> None:
        """A whole capture of `agent`'s pane (scrollback then screen): the preview starts over from it."""
        if agent != self.agent:
            return
        self._previous = capture.split("\n")
        self.screen_view.set_lines([], self._previous, reset=True)

    def update_screen(self, agent: str, screen: str) -> None:
        """`agent`'s screen as it is now; what scrolled off the top since the last one is kept."""
        if agent != self.agent:
            return
        current = screen.split("\n")
        off = scrolled_off(self._previous, current)
        if len(trimmed(current)) == len(current) and scroll_between(self._previous, current) is None:
            self.screen_view.gap = True  # a full screen that does not follow on: output went by unseen
        self._previous = current
        self.screen_view.set_lines(off, current)

    class HistoryWanted(Message):
        """Lines went by unseen and the human scrolls back: the pane's scrollback is wanted (`load` takes it)."""

        def __init__(self, agent: str) -> None:
            super().__init__()
            self.agent = agent

    def on_preview_screen_history_wanted(self, event: PreviewScreen.HistoryWanted) -> None:
        event.stop()
        if self.agent is not None:
            self.post_message(self.HistoryWanted(self.agent))

    def on_preview_screen_jump_wanted(self, event: PreviewScreen.JumpWanted) -> None:
        event.stop()
        if self.agent is not None:
            self.post_message(self.JumpTo(self.agent))
