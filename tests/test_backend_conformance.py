"""One suite, both terminals: tmux (a private server) and iTerm2 (the real `iterm2` library against the fake
iTerm2 API server, real processes in real ptys). Create, split, close, send, capture, style, focus, identity
re-adoption, custom sequences and exits behave alike, as the supervisor sees them."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from agent_console.agents.layout import Pane, Split, layout_cells
from agent_console.agents.protocol import Frame, SequenceParser
from agent_console.terminal.base import (
    Launch,
    LayoutChanged,
    PaneClosed,
    PaneExited,
    PaneFocused,
    PaneInfo,
    PaneOutput,
    PaneStyle,
    TerminalEvent,
)
from agent_console.terminal.tmux import TmuxBackend

from .conftest import tmux
from .event_recorder import Recorder
from .fake_iterm2.builds import BUILDS
from .fake_iterm2.fixture import fake_iterm2_for

SIZE = (160, 48)
TOKEN = "conformance-token-1"


async def screen_shows(backend: Any, recorder: Recorder, pane: str, text: str, timeout: float = 10.0) -> str:
    """The pane's screen once it shows `text`: read again after each output the backend pushes (no polling)."""
    deadline = time.monotonic() + timeout
    while True:
        mark = len(recorder.events)
        screen = await backend.capture(pane)
        if text in screen:
            return screen
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise AssertionError(f"{text!r} never appeared in pane {pane}; it shows:\n{screen}")
        try:
            await recorder.wait_for(lambda e: isinstance(e, PaneOutput) and e.pane == pane, remaining, start=mark)
        except TimeoutError:
            continue


@dataclass
class Terminal:
    """A backend attached to a fresh terminal, and the means to look at and act on it from outside."""

    kind: str
    backend: Any
    first: PaneInfo  # the pane the session (iTerm2: the window) started with
    reopen: Callable[[], Awaitable[Any]]  # a second backend on the same terminal (a restarted console)
    styled: Callable[[str], Awaitable[dict[str, str]]]  # title, border colour and badge as shown
    click: Callable[[str], Awaitable[None]]  # a human focusing a pane
    settled: Callable[[str], Awaitable[None]]  # until the terminal knows the pane's process (iTerm2 learns it late)
    slack: int = 0  # cells a pane's size may be off by (iTerm2 lays panes out in pixels)


async def _tmux_terminal(socket: str, cwd: Path) -> Terminal:
    backend = TmuxBackend(socket, "org", config_file="/dev/null")
    await backend.attach_or_create(SIZE, "exec", Launch(None, cwd=str(cwd)))
    first = (await backend.list_panes(all_sessions=False))[0]
    await backend.hold_window(first.window)

    async def reopen() -> TmuxBackend:
        again = TmuxBackend(socket, "org")
        await again.attach()
        return again

    async def styled(pane: str) -> dict[str, str]:
        line = tmux(socket, "display", "-p", "-t", pane, "#{pane_title}\t#{@agent_console_border}\t#{@badge}")
        title, border, badge = line.rstrip("\n").split("\t")
        return {"title": title, "border": border, "badge": badge}

    async def click(pane: str) -> None:
        tmux(socket, "select-pane", "-t", pane)

    async def settled(pane: str) -> None:
        pass

    return Terminal("tmux", backend, first, reopen, styled, click, settled)


async def _iterm2_terminal(fake: Any, cwd: Path) -> Terminal:
    from agent_console.terminal.iterm2 import ITerm2Backend

    backend = ITerm2Backend("org")
    await backend.attach_or_create(SIZE, "exec", Launch(None, cwd=str(cwd)))
    first = (await backend.list_panes(all_sessions=False))[0]

    async def reopen() -> ITerm2Backend:
        again = ITerm2Backend("org")
        await again.attach()
        return again

    async def styled(pane: str) -> dict[str, str]:
        color = fake.shown(pane, "Tab Color") or {}  # as iTerm2 draws it, from the profile's dark-mode key
        border = "#" + "".join(f"{round(color[f'{part} Component'] * 255):02x}" for part in ("Red", "Green", "Blue"))
        title = fake.variables(pane)["name"]
        return {"title": title, "border": border, "badge": fake.profile(pane).get("Badge Text", "")}

    async def click(pane: str) -> None:
        await fake.focus(pane)

    async def settled(pane: str) -> None:
        await fake.wait_until(lambda: fake.variables(pane)["pid"], what=f"the pid of {pane}")

    return Terminal("iterm2", backend, first, reopen, styled, click, settled, slack=2)


@pytest.fixture(params=["tmux", *(f"iterm2-{build}" for build in sorted(BUILDS))])
async def terminal(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> AsyncIterator[Terminal]:
    """A private tmux server, or a fake iTerm2 of each build, with a backend attached."""
    if request.param == "tmux":
        made = await _tmux_terminal(request.getfixturevalue("tmux_socket"), tmp_path)
        yield made
        await made.backend.close()
        return
    async with fake_iterm2_for(request.param.removeprefix("iterm2-"), monkeypatch) as fake:
        made = await _iterm2_terminal(fake, tmp_path)
        yield made
        await made.backend.close()


@pytest.fixture
async def recorder(terminal: Terminal) -> AsyncIterator[Recorder]:
    rec = Recorder(terminal.backend)
    await asyncio.sleep(0)  # subscribed before the test acts
    yield rec
    await rec.stop()


def _sh(script: str) -> str:
    return "sh -c '" + script.replace("'", "'\\''") + "'"


async def test_create_a_window_and_find_it(terminal: Terminal) -> None:
    backend = terminal.backend
    made = await backend.new_window("team:backend", Launch("sleep 30"))
    assert made.window != terminal.first.window and made.alive
    listed = {info.pane: info for info in await backend.list_panes(all_sessions=False)}
    assert set(listed) == {terminal.first.pane, made.pane}
    assert listed[made.pane].window == made.window and listed[made.pane].window_name == "team:backend"
    assert (await backend.pane(made.pane)).window == made.window


async def test_split_right_and_below(terminal: Terminal, recorder: Recorder) -> None:
    backend, first = terminal.backend, terminal.first
    right = await backend.split_pane(first.pane, Launch("sleep 30"), direction="h")
    below = await backend.split_pane(right.pane, Launch("sleep 30"), direction="v")
    panes = {info.pane: info for info in await backend.list_panes(all_sessions=False)}
    left, top, bottom = panes[first.pane], panes[right.pane], panes[below.pane]
    near = _near(terminal.slack)
    assert near(left.width + 1 + top.width, SIZE[0]) and near(left.height, SIZE[1])  # side by side, one divider
    assert near(top.width, bottom.width) and near(top.height + 1 + bottom.height, SIZE[1])  # stacked
    assert [info.pane for info in sorted(panes.values(), key=lambda info: info.index)] == [
        first.pane,
        right.pane,
        below.pane,
    ]
    await recorder.wait_for(lambda e: isinstance(e, LayoutChanged) and below.pane in e.panes)
    width, height = await backend.window_size(first.window)
    assert near(width, SIZE[0]) and near(height, SIZE[1])


def _near(slack: int) -> Callable[[int, int], bool]:
    return lambda value, wanted: abs(value - wanted) <= slack


async def test_panes_take_the_plan_geometry(terminal: Terminal) -> None:
    backend, first = terminal.backend, terminal.first
    right = await backend.split_pane(first.pane, Launch("sleep 30"), direction="h")
    below = await backend.split_pane(right.pane, Launch("sleep 30"), direction="v")
    tree = Split("h", (Pane("a"), Split("v", (Pane("b"), Pane("c")), (1, 1))), (1, 3))
    cells = layout_cells(tree, *SIZE)
    await backend.apply_layout(first.window, cells)
    sizes = {info.pane: (info.width, info.height) for info in await backend.list_panes(all_sessions=False)}
    rects = cells.rects()
    wanted = {first.pane: rects["a"][2:], right.pane: rects["b"][2:], below.pane: rects["c"][2:]}
    near = _near(terminal.slack)
    assert sizes.keys() == wanted.keys()
    for pane, (width, height) in wanted.items():
        assert near(sizes[pane][0], width) and near(sizes[pane][1], height), (pane, sizes, wanted)


async def test_close_a_pane(terminal: Terminal, recorder: Recorder) -> None:
    backend = terminal.backend
    pane = await backend.split_pane(terminal.first.pane, Launch("sleep 30"))
    await backend.close_pane(pane.pane)
    await recorder.wait_for(lambda e: isinstance(e, PaneClosed) and e.pane == pane.pane)
    assert pane.pane not in {info.pane for info in await backend.list_panes()}


async def test_send_text_and_keys_then_capture(terminal: Terminal, recorder: Recorder, tmp_path: Path) -> None:
    backend = terminal.backend
    pane = await backend.split_pane(terminal.first.pane, Launch("sh", cwd=str(tmp_path), env={"PS1": "$ "}))
    await backend.send_text(pane.pane, "printf 'x%sy\\n' $((6 * 7))")
    await backend.send_keys(pane.pane, ["Enter"])
    screen = await screen_shows(backend, recorder, pane.pane, "x42y")  # run, not just echoed
    assert "printf 'x%sy\\n' $((6 * 7))" in screen


async def test_capture_reaches_into_the_history(terminal: Terminal, recorder: Recorder) -> None:
    backend = terminal.backend
    pane = await backend.split_pane(terminal.first.pane, Launch("seq 1 120; sleep 30"))
    await screen_shows(backend, recorder, pane.pane, "120")
    visible = (await backend.capture(pane.pane)).splitlines()
    assert "1" not in visible  # scrolled off the screen
    lines = (await backend.capture(pane.pane, history=200)).splitlines()
    assert lines[: lines.index("120") + 1] == [str(n) for n in range(1, 121)]


async def test_style_title_border_and_badge(terminal: Terminal) -> None:
    backend = terminal.backend
    pane = await backend.split_pane(terminal.first.pane, Launch("sleep 30"))
    await backend.style_pane(pane.pane, PaneStyle(border="#3b82f6", title="api · backend", badge="◆ waiting"))
    assert await terminal.styled(pane.pane) == {"title": "api · backend", "border": "#3b82f6", "badge": "◆ waiting"}
    await backend.style_pane(pane.pane, PaneStyle(badge="● working"))  # one aspect changes, the others stay
    assert await terminal.styled(pane.pane) == {"title": "api · backend", "border": "#3b82f6", "badge": "● working"}


async def test_focus_by_a_human_and_by_the_console(terminal: Terminal, recorder: Recorder) -> None:
    backend, first = terminal.backend, terminal.first
    pane = await backend.split_pane(first.pane, Launch("sleep 30"))
    await backend.select_pane(first.pane)
    await terminal.click(pane.pane)
    focus = await recorder.wait_for(lambda e: isinstance(e, PaneFocused) and e.pane == pane.pane)
    assert focus.window == pane.window
    mark = len(recorder.events)
    await backend.select_pane(first.pane)
    await recorder.wait_for(lambda e: isinstance(e, PaneFocused) and e.pane == first.pane, start=mark)
    assert (await backend.pane(first.pane)).active and not (await backend.pane(pane.pane)).active


async def test_a_new_pane_leaves_the_focus_where_it_was(terminal: Terminal) -> None:
    backend, first = terminal.backend, terminal.first
    await backend.select_pane(first.pane)
    right = await backend.split_pane(first.pane, Launch("sleep 30"), direction="h")
    made = await backend.new_window("elsewhere", Launch("sleep 30"))
    states = {info.pane: info.active for info in await backend.list_panes(all_sessions=False)}
    assert states[first.pane] and not states[right.pane]
    assert made.window != first.window


async def test_identity_is_re_adopted_by_a_new_connection(terminal: Terminal) -> None:
    backend = terminal.backend
    pane = await backend.split_pane(terminal.first.pane, Launch("sleep 30", env={"GREETING": "it's #1"}))
    await backend.set_identity(pane.pane, "api", "worker-1", {"team": "backend", "kind": "shell"})
    await terminal.settled(pane.pane)
    await backend.close()
    terminal.backend = again = await terminal.reopen()
    found = {info.agent: (info, meta) for info, _, meta in await again.list_panes_detailed()}
    info, meta = found["worker-1"]
    assert info.pane == pane.pane and info.org == "api" and info.alive and info.pid
    assert (meta["team"], meta["kind"]) == ("backend", "shell")
    environ = Path(f"/proc/{info.pid}/environ").read_bytes().split(b"\0")
    assert b"GREETING=it's #1" in environ


async def test_a_custom_sequence_reaches_the_supervisor_whole(terminal: Terminal, recorder: Recorder) -> None:
    payload = base64.b64encode(json.dumps({"type": "status", "state": "working"}).encode()).decode()
    printf = f"printf '\\033]1337;Custom=id={TOKEN}:{payload}\\007'; sleep 30"
    pane = await terminal.backend.split_pane(terminal.first.pane, Launch(_sh(printf)))
    parser = SequenceParser()
    frames: list[Frame] = []

    def parsed(event: TerminalEvent) -> bool:
        if isinstance(event, PaneOutput) and event.pane == pane.pane:
            frames.extend(item for item in parser.feed(event.data) if isinstance(item, Frame))
        return bool(frames)

    await recorder.wait_for(parsed)
    assert frames == [Frame(token=TOKEN, payload=payload.encode())]


async def test_an_exit_is_pushed_and_the_pane_stays(terminal: Terminal, recorder: Recorder) -> None:
    backend = terminal.backend
    pane = await backend.split_pane(terminal.first.pane, Launch("echo last words; sleep 0.3; exit 3"))
    await recorder.wait_for(lambda e: isinstance(e, PaneExited) and e.pane == pane.pane)
    after = await backend.pane(pane.pane)
    assert not after.alive  # held: the pane stays, showing its last screen
    assert "last words" in await backend.capture(pane.pane, history=50)
    await backend.respawn_pane(pane.pane, Launch("echo second life; sleep 30"))
    again = await backend.pane(pane.pane)
    assert again.alive and again.pane == pane.pane
    await screen_shows(backend, recorder, pane.pane, "second life")  # the new program, in the same pane


async def test_a_buried_pane_runs_on_off_screen_still_heard_and_comes_back(
    terminal: Terminal, recorder: Recorder
) -> None:
    backend = terminal.backend
    payload = base64.b64encode(json.dumps({"type": "status", "state": "working"}).encode()).decode()
    script = f"read go; printf '\\033]1337;Custom=id={TOKEN}:{payload}\\007'; echo heard-while-buried; read go; exit 4"
    pane = await backend.split_pane(terminal.first.pane, Launch(_sh(script)))
    await terminal.settled(pane.pane)
    buried = await backend.bury(pane.pane)
    assert buried.buried and buried.alive and buried.window != terminal.first.window
    shown = [info.pane for info in await backend.list_panes(all_sessions=False) if not info.buried]
    assert pane.pane not in shown and terminal.first.pane in shown
    assert not (await backend.pane(terminal.first.pane)).buried

    parser = SequenceParser()
    frames: list[Frame] = []

    def parsed(event: TerminalEvent) -> bool:
        if isinstance(event, PaneOutput) and event.pane == pane.pane:
            frames.extend(item for item in parser.feed(event.data) if isinstance(item, Frame))
        return bool(frames)

    await backend.send_text(pane.pane, "go")
    await backend.send_keys(pane.pane, ["Enter"])
    await recorder.wait_for(parsed)  # what it prints while buried still reaches the supervisor
    assert frames == [Frame(token=TOKEN, payload=payload.encode())]
    await screen_shows(backend, recorder, pane.pane, "heard-while-buried")  # its screen can be read

    back = await backend.bury(pane.pane, buried=False)
    assert not back.buried and back.alive and back.pane == pane.pane
    await backend.send_keys(pane.pane, ["Enter"])
    await recorder.wait_for(lambda e: isinstance(e, PaneExited) and e.pane == pane.pane)  # its end is heard
