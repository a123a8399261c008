"""The live preview of an agent's screen: what scrolled off is kept, agent text is data, the state line says why."""

from __future__ import annotations

from typing import Any

from textual.app import App, ComposeResult
from textual.message import Message

from agent_console.agents.display import marker_for, shows_as_is
from agent_console.agents.events import AgentState
from agent_console.agents.state import AgentView
from agent_console.themes import CONSOLE_TCSS
from agent_console.themes.textual_themes import DARK_THEME, DARK_THEME_NAME
from agent_console.widgets.agent_preview import (
    HISTORY_LINES,
    AgentPreview,
    PreviewScreen,
    evidence,
    screen_line,
    scrolled_off,
)

SCREEN_ROWS = 6


def screen(*lines: str) -> list[str]:
    """A screen of SCREEN_ROWS rows: `lines` at the top, blank below."""
    return [*lines, *[""] * (SCREEN_ROWS - len(lines))]


def test_lines_that_scrolled_off_the_top_are_found_by_the_overlap() -> None:
    before = [f"line {n}" for n in range(6)]
    after = [f"line {n}" for n in range(2, 8)]
    assert scrolled_off(before, after) == ["line 0", "line 1"]
    assert scrolled_off(screen("$ ls", "a b"), screen("$ ls", "a b", "$ ")) == []  # printed below: no scroll
    assert scrolled_off(screen(), screen("$ ")) == []


def test_a_redraw_sharing_one_line_is_not_taken_for_a_scroll() -> None:
    # a full-screen program drew a new frame whose first line is the old frame's last: nothing scrolled
    before = screen("frame one", "status", "> ")
    assert scrolled_off(before, screen("> ", "frame two", "status")) == []


def test_a_capture_s_scrollback_becomes_history_even_when_the_next_screen_is_a_redraw() -> None:
    capture = ["old 1", "old 2", *screen("top", "middle", "$ ")]
    assert scrolled_off(capture, screen("top", "middle", "$ ", "more")) == ["old 1", "old 2"]
    assert scrolled_off(capture, screen("all new")) == ["old 1", "old 2"]


def test_a_screen_line_is_data_with_its_layout_kept() -> None:
    hostile = "\x1b[31mred\x1b[0m [bold]x[/bold] \u202eevil\x07        right"
    text = screen_line(hostile)
    assert text.plain == "␛[31mred␛[0m [bold]x[/bold] \\u202eevil␇        right"  # spaces as they are on screen
    assert "\x1b" not in text.plain and "\x07" not in text.plain
    assert {str(span.style) for span in text.spans} <= {"reverse", "dim"}  # only the markers are styled


def test_a_line_shown_as_is_has_no_character_the_display_would_mark() -> None:
    # the preview's fast path for plain lines must agree with the one function that marks agent text
    specials = [0x115F, 0x3164, 0xFFA0, 0x202E, 0x200B, 0xFE0F, 0xFEFF, 0x1F600, 0xE000, 0xD800, 0x0378]
    for code in [*range(0x3000), *specials]:
        char = chr(code)
        assert shows_as_is(char) == (marker_for(char) is None), hex(code)
    assert shows_as_is("╭─ Claude Code ─╮ ✻ Thinking… 漢字") and not shows_as_is("ok\x1b[2J")


def test_the_evidence_is_the_source_that_agrees_with_the_effective_state() -> None:
    view = AgentView(name="api", team=None, state=AgentState.WAITING)
    assert evidence(view) == "no evidence yet"
    view.screen_state, view.screen_rule = AgentState.WAITING, "permission-prompt"
    assert evidence(view) == "screen rule permission-prompt"
    view.hook_state, view.hook_event = AgentState.WAITING, "PermissionRequest"
    assert evidence(view) == "hook PermissionRequest"
    view.hook_state = AgentState.IDLE  # the hook disagrees: the screen is what the state rests on
    assert evidence(view) == "screen rule permission-prompt"


class PreviewHost(App[None]):
    CSS_PATH = str(CONSOLE_TCSS)
    CSS = "AgentPreview { border: round $frame; height: 1fr; }"

    def __init__(self) -> None:
        super().__init__()
        self.register_theme(DARK_THEME)
        self.theme = DARK_THEME_NAME
        self.messages: list[Message] = []

    def compose(self) -> ComposeResult:
        yield AgentPreview(id="agent")

    def on_agent_preview_jump_to(self, message: AgentPreview.JumpTo) -> None:
        self.messages.append(message)


def working(name: str = "api") -> AgentView:
    view = AgentView(name=name, team="backend", state=AgentState.WORKING, pane="%1", alive=True)
    view.hook_state, view.hook_event = AgentState.WORKING, "PreToolUse"
    return view


def shown(preview: AgentPreview) -> list[str]:
    return list(preview.screen_view.lines)


async def test_the_preview_follows_new_screens_and_keeps_what_scrolled_off() -> None:
    async with PreviewHost().run_test(size=(60, 8)) as pilot:  # five rows of screen
        preview = pilot.app.query_one(AgentPreview)
        preview.show_agent(working())
        preview.load("api", "\n".join(["earlier", *screen("$ make", "step 1", "step 2")]))
        preview.update_screen("other", "\n".join(screen("not the previewed agent")))
        assert shown(preview) == ["earlier", "$ make", "step 1", "step 2"]
        preview.update_screen("api", "\n".join(["step 1", "step 2", "step 3", "step 4", "step 5", "step 6"]))
        assert shown(preview) == ["earlier", "$ make", "step 1", "step 2", "step 3", "step 4", "step 5", "step 6"]
        await pilot.pause()
        view = preview.screen_view
        assert view.scroll_offset.y == view.max_scroll_y > 0  # at the bottom: the newest line in view

        view.scroll_home(animate=False, immediate=True)  # the human scrolls back: new screens do not pull them down
        preview.update_screen("api", "\n".join([f"step {n}" for n in range(2, 8)]))
        await pilot.pause()
        assert view.scroll_offset.y == 0 and shown(preview)[-1] == "step 7"


async def test_history_is_bounded() -> None:
    async with PreviewHost().run_test(size=(60, 14)) as pilot:
        preview = pilot.app.query_one(AgentPreview)
        preview.show_agent(working())
        preview.load("api", "\n".join(screen("start")))
        last = HISTORY_LINES + 500  # a multiple of 3: the last screen shows out last … last + 5
        for n in range(0, last + 1, 3):  # three lines scroll off each screen
            preview.update_screen("api", "\n".join(f"out {m}" for m in range(n, n + SCREEN_ROWS)))
        lines = shown(preview)
        assert len(preview.screen_view.history) == HISTORY_LINES
        assert lines[0] == f"out {last - HISTORY_LINES}"  # the oldest are let go
        assert lines[-1] == f"out {last + SCREEN_ROWS - 1}"


async def test_scrolling_back_over_output_that_went_by_unseen_asks_for_the_pane_s_scrollback_once() -> None:
    class Recording(PreviewHost):
        def on_agent_preview_history_wanted(self, message: AgentPreview.HistoryWanted) -> None:
            self.messages.append(message)

    async with Recording().run_test(size=(60, 8)) as pilot:
        preview = pilot.app.query_one(AgentPreview)
        preview.show_agent(working())
        preview.load("api", "\n".join(screen("$ seq 100")))
        preview.update_screen("api", "\n".join(["out 96", "out 97", "out 98", "out 99", "out 100", "$ "]))
        view = preview.screen_view
        assert view.gap and shown(preview)[-1] == "$"  # a full screen that does not follow on from the last one
        await pilot.pause()
        view.scroll_up(animate=False, immediate=True)
        view.scroll_up(animate=False, immediate=True)
        await pilot.pause()
        wanted = [message for message in pilot.app.messages if isinstance(message, AgentPreview.HistoryWanted)]
        assert [message.agent for message in wanted] == ["api"] and not view.gap

        before = view.max_scroll_y - view.scroll_offset.y
        preview.load(
            "api",
            "\n".join([*(f"out {n}" for n in range(1, 96)), "out 96", "out 97", "out 98", "out 99", "out 100", "$ "]),
        )
        await pilot.pause()
        assert shown(preview)[0] == "out 1" and view.max_scroll_y - view.scroll_offset.y == before  # lines in view stay


async def test_another_agent_starts_a_clean_preview_and_enter_asks_to_jump_to_it() -> None:
    async with PreviewHost().run_test(size=(60, 14)) as pilot:
        preview = pilot.app.query_one(AgentPreview)
        preview.show_agent(working("api"))
        preview.load("api", "api's screen")
        preview.show_agent(working("db"))
        assert shown(preview) == [] and preview.agent == "db"
        preview.load("api", "a late capture of api")  # the capture of an agent no longer shown is dropped
        assert shown(preview) == []
        preview.screen_view.focus()
        await pilot.press("enter")
        await pilot.pause()
        assert [message.agent for message in pilot.app.messages if isinstance(message, AgentPreview.JumpTo)] == ["db"]


async def test_the_state_line_shows_the_state_and_the_hostile_evidence_as_text() -> None:
    async with PreviewHost().run_test(size=(100, 10)) as pilot:
        preview = pilot.app.query_one(AgentPreview)
        view = working()
        view.hook_event = "[red]Pre\x1b]0;pwned\x07Tool[/red]"  # a hook's event name is the agent's word
        preview.show_agent(view)
        await pilot.pause()
        line = str(preview.query_one("#preview-state").render())
        assert "● working  by hook [red]Pre␛]0;pwned␇Tool[/red]" in line
        assert preview.border_title == "Preview · api"


def preview_host_showing(screen_text: str) -> PreviewHost:
    host = PreviewHost()

    def ready() -> None:
        preview = host.query_one(AgentPreview)
        preview.show_agent(working())
        preview.load("api", screen_text)
        preview.query_one(PreviewScreen).focus()

    host.call_after_refresh(ready)
    return host


def test_snapshot_agent_preview(snap_compare: Any) -> None:
    """You should see a rounded frame titled "Preview · api", "enter: jump to its pane" in its bottom edge; under
    its top edge a shaded line "● working  by hook PreToolUse" (the state in green); then the agent's screen:
    "$ make test", "collected 3 items", a line with "tests/test_a.py" and "PASSED" far apart (its spaces kept),
    a line "␛[31mred[bold]x[/bold]" showing the escape as ␛ and the markup as literal text, and "$" last."""
    text = "\n".join(
        ["$ make test", "collected 3 items", "tests/test_a.py          PASSED", "\x1b[31mred[bold]x[/bold]", "$ "]
    )
    assert snap_compare(preview_host_showing(text), terminal_size=(60, 10))
