"""The live preview in the console: `p` shows the selected agent's screen, fed by the screens the supervisor reads."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from textual.pilot import Pilot

from agent_console.agents.model import Org
from agent_console.runtime.demo import demo_org
from agent_console.widgets import HealthTable, OrgTree
from agent_console.widgets.agent_preview import HISTORY_LINES, AgentPreview
from tests import test_app
from tests.test_app import Console, Entry, demo_entries

# the console's fixtures: private state directories and UTC (autouse), journal times at the app's clock
_utc_and_private_dirs = test_app._utc_and_private_dirs
make_console = test_app.make_console
journal_at_now = test_app.journal_at_now

KEY = "sk-ant-" + "a1B2" * 8  # a secret on an agent's screen: redacted before it is shown


@pytest.fixture
def captures(monkeypatch: pytest.MonkeyPatch, demo: Console) -> list[tuple[str, int]]:
    """The panes the console captured (pane, history lines): each answers with its scrollback and screen."""
    made: list[tuple[str, int]] = []

    async def capture(pane: str, escapes: bool = False, history: int = 0) -> str:
        made.append((pane, history))
        scrollback = [f"scrollback of {pane}", f"$ echo {KEY}"]
        return "\n".join([*scrollback, *screen_of(f"screen of {pane}")])

    monkeypatch.setattr(demo.supervisor.backend, "capture", capture)
    return made


@pytest.fixture
def demo(make_console: Callable[[Org, list[Entry]], Console]) -> Console:
    org = demo_org()
    return make_console(org, demo_entries(org))


ROWS = 6  # the agents' screens in these tests


def screen_of(*lines: str) -> list[str]:
    return [*lines, *[""] * (ROWS - len(lines))]


def shown(app: Console) -> list[str]:
    return list(app.query_one(AgentPreview).screen_view.lines)


def push(app: Console, agent: str, screen: str) -> None:
    """A screen the supervisor read (what its screen reader tells its listeners after each capture)."""
    for listener in app.supervisor.screens.screen_listeners:
        listener(agent, screen)


async def test_p_shows_the_selected_agent_s_screen_beside_the_lists_and_follows_its_screens(
    demo: Console, captures: list[tuple[str, int]]
) -> None:
    async with demo.run_test(size=(120, 40)) as pilot:
        preview = demo.query_one(AgentPreview)
        assert not preview.display or not preview.region
        table = demo.query_one(HealthTable)
        first, second = table.agent_names[:2]  # the table's cursor is on the first row
        await pilot.press("p")
        await pilot.pause()
        assert preview.region.height >= 8 and preview.agent == first
        pane = demo.supervisor.state.agents[first].pane
        assert captures == [(pane, HISTORY_LINES)]  # one capture, scrollback included, when the preview opens
        assert shown(demo) == [f"scrollback of {pane}", "$ echo [redacted:anthropic-key]", f"screen of {pane}"]
        assert KEY not in "".join(shown(demo))

        push(demo, second, "another agent's screen")  # not this preview's
        push(demo, first, "\n".join(screen_of("$ echo \x1b]0;title\x07done", "step 2")))
        await pilot.pause()
        assert shown(demo)[-2:] == ["$ echo ␛]0;title␇done", "step 2"]
        assert len(captures) == 1  # the screens come from the supervisor's reads: no capture more

        table.focus()
        await pilot.press("down")  # the cursor moves to the next agent: the preview follows it
        await pilot.pause()
        pane = demo.supervisor.state.agents[second].pane
        assert preview.agent == second and captures[-1] == (pane, HISTORY_LINES)
        assert shown(demo)[-1] == f"screen of {pane}"
        tree = demo.query_one(OrgTree)
        tree.focus()
        tree.select_agent(first)  # the tree's cursor: the preview follows whichever list is in use
        await pilot.pause()
        assert preview.agent == first
        table.focus()
        await pilot.pause()
        assert preview.agent == second
        await pilot.press("p")
        await pilot.pause()
        assert not preview.region


async def test_enter_on_the_preview_jumps_to_the_agent_s_pane(
    demo: Console, captures: list[tuple[str, int]], monkeypatch: pytest.MonkeyPatch
) -> None:
    jumps: list[str] = []

    async def jump_to(agent: str) -> None:
        jumps.append(agent)

    monkeypatch.setattr(demo, "jump_to", jump_to)
    async with demo.run_test(size=(120, 40)) as pilot:
        await pilot.press("p")
        await pilot.pause()
        demo.query_one(AgentPreview).screen_view.focus()
        await pilot.press("enter")
        await pilot.pause()
        assert jumps == [demo.query_one(HealthTable).agent_names[0]]


async def test_in_the_compact_layout_the_preview_is_a_view_of_its_own(
    demo: Console, captures: list[tuple[str, int]]
) -> None:
    async with demo.run_test(size=(80, 24)) as pilot:
        await pilot.press("p")
        await pilot.pause()
        preview = demo.query_one(AgentPreview)
        assert preview.region.height >= 5 and not demo.query_one(HealthTable).region
        assert "Preview" in str(demo.query_one("#views").render())
        assert shown(demo)[-1].startswith("screen of %")
        await pilot.press("p")  # back to the view it came from
        await pilot.pause()
        assert demo.query_one(HealthTable).region and not preview.region


async def open_preview(pilot: Pilot) -> None:
    await pilot.press("p")
    await pilot.pause()
    screen = screen_of("$ make release", "building wheel…", "\x1b[1mdone\x1b[0m", "$ ")
    push(pilot.app, pilot.app.query_one(AgentPreview).agent or "", "\n".join(screen))
    await pilot.pause()


def test_snapshot_preview_medium(snap_compare: Any, demo: Console, captures: Any, journal_at_now: None) -> None:
    """You should see the main screen at 120x40 with, at the top of the right-hand column, a frame titled
    "Preview · api" (the health table's first row), "enter: jump to its pane" in its bottom edge: a shaded line
    "◆ waiting  by its own report" (the state in amber), then api's scrollback "scrollback of %3", "$ echo
    [redacted:anthropic-key]" (the key never shown) and its screen "$ make release", "building wheel…",
    "␛[1mdone␛[0m", "$". The chat and the trace are below it, shorter; the queue, the tree and the health table
    on the left as ever."""
    assert snap_compare(demo, terminal_size=(120, 40), run_before=open_preview)


def test_snapshot_preview_compact(snap_compare: Any, demo: Console, captures: Any, journal_at_now: None) -> None:
    """You should see the compact layout at 80x24: the approvals queue on top, the views bar reading
    " Health  Org  Chat  Trace  Preview " with Preview highlighted, then the frame "Preview · api" with the state
    line "◆ waiting  by its own report …" and api's lines as in the medium snapshot, ending in "$ make release",
    "building wheel…", "␛[1mdone␛[0m", "$"; the footer starts with "⏎ Jump" (the preview has the focus)."""
    assert snap_compare(demo, terminal_size=(80, 24), run_before=open_preview)


def test_snapshot_preview_wide(snap_compare: Any, demo: Console, captures: Any, journal_at_now: None) -> None:
    """You should see the wide layout at 200x50: tree | health table | a right-hand column whose top part is
    the frame "Preview · api" (its state line, then api's lines as in the medium snapshot), the chat and the
    trace under it."""
    assert snap_compare(demo, terminal_size=(200, 50), run_before=open_preview)


async def test_tab_from_the_health_table_reaches_the_preview_and_page_up_scrolls_it_back(
    demo: Console, captures: list[tuple[str, int]]
) -> None:
    async with demo.run_test(size=(120, 40)) as pilot:
        await pilot.press("p")
        await pilot.pause()
        agent = demo.query_one(AgentPreview).agent or ""
        for n in range(0, 60, 3):  # output scrolls by three lines a screen
            push(demo, agent, "\n".join(f"out {m}" for m in range(n, n + ROWS)))
        await pilot.pause()
        demo.query_one(HealthTable).focus()
        await pilot.press("tab")
        view = demo.query_one(AgentPreview).screen_view
        assert demo.focused is view
        bottom = view.scroll_offset.y
        await pilot.press("pageup")
        await pilot.pause()
        assert view.scroll_offset.y < bottom and demo.query_one(AgentPreview).agent == agent
