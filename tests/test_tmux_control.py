"""The control-mode client against a real, private tmux server."""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agent_console.terminal.base import BackendError, BackendGone
from agent_console.terminal.tmux_control import (
    Notification,
    TmuxCommandError,
    TmuxControlClient,
    decode_output,
    quote,
)

from .conftest import tmux


def start_server(socket: str, session: str = "s") -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("TMUX", "TMUX_PANE")}
    subprocess.run(
        ["tmux", "-L", socket, "-f", "/dev/null", "new-session", "-d", "-s", session, "-x", "120", "-y", "40"],
        check=True,
        env=env,
    )


@pytest.fixture
async def client(tmux_socket: str):
    start_server(tmux_socket)
    connection = TmuxControlClient(tmux_socket)
    await connection.connect(["attach-session", "-t", "=s"])
    yield connection
    await connection.close()


async def next_matching(queue: asyncio.Queue[Notification], predicate, timeout: float = 5.0) -> Notification:
    async def wait() -> Notification:
        while True:
            note = await queue.get()
            if predicate(note):
                return note

    return await asyncio.wait_for(wait(), timeout)


def test_decode_output_undoes_octal_escapes_only() -> None:
    assert decode_output(rb"plain text") == b"plain text"
    assert decode_output(rb"a\033[1mb\015\012") == b"a\x1b[1mb\r\n"
    assert decode_output(rb"back\134slash") == b"back\\slash"
    assert decode_output("é→".encode()) == "é→".encode()  # UTF-8 passes raw
    assert decode_output(rb"\134012") == b"\\012"  # an escaped backslash followed by digits stays literal


def tmux_escape(raw: bytes) -> bytes:
    """Escape as tmux does for control clients (control.c, control_append_data): \\ooo below 0x20 and for \\."""
    return b"".join(b"\\%03o" % byte if byte < 0x20 or byte == 0x5C else bytes((byte,)) for byte in raw)


def reference_decode(escaped: bytes) -> bytes:
    """The plain reading: each backslash starts three octal digits."""
    out, index = bytearray(), 0
    while index < len(escaped):
        if escaped[index] == 0x5C:
            out.append(int(escaped[index + 1 : index + 4], 8))
            index += 4
        else:
            out.append(escaped[index])
            index += 1
    return bytes(out)


TERMINAL_PIECES = st.sampled_from([b"\r\n", b"\x1b[", b"\\", b"\x00", b"7", b"x"])


@given(st.binary(max_size=2000) | st.lists(TERMINAL_PIECES).map(b"".join))
def test_decode_output_matches_a_plain_reading_of_what_tmux_writes(raw: bytes) -> None:
    escaped = tmux_escape(raw)
    assert decode_output(escaped) == reference_decode(escaped) == raw


def test_decode_output_leaves_escapes_tmux_never_writes_as_before() -> None:
    # not tmux's \ooo: the regex reads them, not Python's unescaping
    assert decode_output(rb"\x41\012") == b"\\x41\n"
    assert decode_output(rb"a\1b\\") == rb"a\1b\\"
    assert decode_output(rb"\n\015") == b"\\n\r"
    assert decode_output(rb"\12") == rb"\12"


async def test_quote_survives_tmux_parser(client: TmuxControlClient) -> None:
    tricky = ["it's", '"double"', "$HOME and ~", "a;b", "#{pane_id}", "-x", "{brace}", "tab\there", "ünï"]
    for value in tricky:
        await client.command(f"set -g @probe {quote(value)}")
        assert await client.command("show -gv @probe") == [value]


async def test_replies_are_correlated_in_order_under_load(client: TmuxControlClient) -> None:
    replies = await client.commands([f"display-message -p 'reply-{n}'" for n in range(300)])
    assert replies == [[f"reply-{n}"] for n in range(300)]


async def test_hook_blocks_are_not_taken_for_replies(client: TmuxControlClient) -> None:
    # A hook's own commands reach control clients as flags=0 blocks; they must not eat a reply.
    await client.command("set-hook -g after-split-window 'list-panes'")
    await client.command("set-hook -g window-layout-changed 'display-message -p bare-line-from-hook'")
    replies = await client.commands(["split-window -d -P -F '#{pane_id}'", "display-message -p mine"])
    assert replies[0][0].startswith("%") and len(replies[0]) == 1
    assert replies[1] == ["mine"]
    assert await client.command("display-message -p still-in-step") == ["still-in-step"]


async def test_error_reply_names_the_command_and_tmux_message(client: TmuxControlClient) -> None:
    with pytest.raises(TmuxCommandError) as caught:
        await client.command("select-pane -t %999")
    assert "select-pane" in str(caught.value) and "%999" in caught.value.tmux_message
    assert await client.command("display-message -p ok") == ["ok"]  # still in step after an error


async def test_output_is_pushed_with_exact_bytes(client: TmuxControlClient, tmux_socket: str) -> None:
    queue: asyncio.Queue[Notification] = asyncio.Queue()
    client.subscribe(queue.put_nowait)
    pane = (
        await client.command("split-window -d -P -F '#{pane_id}' 'sleep 0.3; printf \"x\\001y\\\\z é\\n\"; sleep 5'")
    )[0]
    note = await next_matching(queue, lambda n: n.name == "output" and n.args[0] == pane and b"x" in n.data)
    assert b"x\x01y\\z \xc3\xa9\r\n" in note.data


async def test_focus_and_layout_notifications(client: TmuxControlClient, tmux_socket: str) -> None:
    queue: asyncio.Queue[Notification] = asyncio.Queue()
    client.subscribe(queue.put_nowait)
    pane = (await client.command("split-window -d -P -F '#{pane_id}'"))[0]
    layout = await next_matching(queue, lambda n: n.name == "layout-change")
    assert pane.lstrip("%") in layout.args[1]
    tmux(tmux_socket, "select-pane", "-t", pane)  # a focus change made by someone else
    focus = await next_matching(queue, lambda n: n.name == "window-pane-changed")
    assert focus.args[1] == pane


async def test_server_killed_gives_clear_error_then_reconnects(client: TmuxControlClient, tmux_socket: str) -> None:
    queue: asyncio.Queue[Notification] = asyncio.Queue()
    client.subscribe(queue.put_nowait)
    tmux(tmux_socket, "kill-server")
    gone = await next_matching(queue, lambda n: n.name == "exit")
    assert f"tmux server {tmux_socket!r} went away" in gone.args[0]
    with pytest.raises(BackendGone, match="went away"):
        await client.command("display-message -p hello")
    start_server(tmux_socket)
    await client.connect(["attach-session", "-t", "=s"])
    assert await client.command("display-message -p back") == ["back"]


async def test_command_in_flight_fails_when_server_dies(client: TmuxControlClient, tmux_socket: str) -> None:
    # run-shell answers only when its shell command ends; the server dies first. tmux closes the open
    # block with an empty %end on its way out: the command must end (not hang), and the next one fail.
    waiting = asyncio.create_task(client.command("run-shell 'sleep 5'"))
    await asyncio.sleep(0.3)
    tmux(tmux_socket, "kill-server")
    with contextlib.suppress(BackendGone):
        assert await asyncio.wait_for(waiting, 4) == []
    with pytest.raises(BackendGone, match="went away"):
        await asyncio.wait_for(client.command("display-message -p x"), 4)


async def test_attach_failures_say_what_is_missing(tmux_socket: str) -> None:
    client = TmuxControlClient(tmux_socket)
    with pytest.raises(BackendGone, match=f"no tmux server is running on socket {tmux_socket!r}"):
        await client.connect(["attach-session"])
    start_server(tmux_socket)
    with pytest.raises(BackendGone, match="can't find session"):
        await client.connect(["attach-session", "-t", "=nope"])


async def test_command_rejects_line_breaks(client: TmuxControlClient) -> None:
    with pytest.raises(ValueError):
        await client.command("display-message -p a\nkill-server")
    with pytest.raises(ValueError):
        quote("two\nlines")
    assert await client.command("display-message -p alive") == ["alive"]


def test_missing_tmux_binary_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    client = TmuxControlClient("x")
    with pytest.raises(BackendError, match="tmux is not installed"):
        asyncio.run(client.connect(["attach-session"]))


def test_inside_tmux_the_default_server_is_the_current_one(monkeypatch: pytest.MonkeyPatch) -> None:
    from agent_console.terminal.tmux_control import tmux_base_command

    monkeypatch.setattr("shutil.which", lambda name: f"/usr/bin/{name}")  # a unit test: no tmux needed
    monkeypatch.setenv("TMUX", "/tmp/tmux-1000/work,1234,0")
    assert tmux_base_command(None)[1:] == ["-S", "/tmp/tmux-1000/work"]
    assert tmux_base_command("private")[1:] == ["-L", "private"]  # an explicit socket name wins
    monkeypatch.delenv("TMUX")
    assert tmux_base_command(None)[1:] == []


async def test_a_command_whose_caller_gave_up_does_not_break_the_replies_after_it(client: TmuxControlClient) -> None:
    abandoned = asyncio.create_task(client.command("display-message -p first"))
    for _ in range(100):  # until it is written: its reply cannot have been read in the same turn of the loop
        if client._pending:
            break
        await asyncio.sleep(0)
    abandoned.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await abandoned
    # the reply still pairs with the abandoned command; the next one gets its own
    assert await asyncio.wait_for(client.command("display-message -p next"), 5) == ["next"]
    assert client.connected
