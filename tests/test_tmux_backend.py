"""The tmux backend on a real private server: panes, identity, text and keys, style, pushed events."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from agent_console.terminal.base import (
    BackendError,
    BackendGone,
    BackendLost,
    Launch,
    PaneClosed,
    PaneExited,
    PaneFocused,
    PaneOutput,
    PaneStyle,
)
from agent_console.terminal.tmux import TmuxBackend, layout_checksum, layout_panes
from agent_console.terminal.tmux_control import Notification

from .conftest import tmux, wait_for
from .event_recorder import Recorder


@pytest.fixture
async def backend(tmux_socket: str, tmp_path: Path):
    terminal = TmuxBackend(tmux_socket, "org", config_file="/dev/null")
    await terminal.attach_or_create((160, 48), "exec", Launch(None, cwd=str(tmp_path)))
    await terminal.hold_window("@0")
    yield terminal
    await terminal.close()


@pytest.fixture
async def recorder(backend: TmuxBackend):
    rec = Recorder(backend)
    await asyncio.sleep(0)  # subscribed before the test acts
    yield rec
    await rec.stop()


async def test_create_session_then_reattach(tmux_socket: str, tmp_path: Path) -> None:
    first = TmuxBackend(tmux_socket, "org", config_file="/dev/null")
    await first.attach_or_create((100, 30), "exec", Launch(None, cwd=str(tmp_path)))
    assert first.created_session
    await first.close()
    second = TmuxBackend(tmux_socket, "org")
    await second.attach_or_create((100, 30), "exec", Launch(None))
    assert not second.created_session
    panes = await second.list_panes()
    assert len(panes) == 1 and (panes[0].width, panes[0].height) == (100, 30)
    await second.close()


async def test_split_identity_and_readoption(backend: TmuxBackend, tmux_socket: str, tmp_path: Path) -> None:
    pane = await backend.split_pane("%0", Launch("sleep 30", cwd=str(tmp_path), env={"GREETING": "it's #1"}))
    await backend.set_identity(pane.pane, "api", "worker-1", {"team": "backend"})
    await backend.close()
    # A new connection (a restarted console) finds the agent by the identity stored in the pane.
    again = TmuxBackend(tmux_socket, "org")
    await again.attach()
    found = {info.agent: (info, meta) for info, _, meta in await again.list_panes_detailed()}
    info, meta = found["worker-1"]
    assert info.pane == pane.pane and info.org == "api" and info.alive and info.pid
    assert meta["team"] == "backend"
    environ = Path(f"/proc/{info.pid}/environ").read_bytes().split(b"\0")
    assert b"GREETING=it's #1" in environ
    assert Path(f"/proc/{info.pid}/cwd").resolve() == tmp_path.resolve()
    await again.close()


async def test_send_text_is_literal_and_keys_are_named(backend: TmuxBackend, tmp_path: Path) -> None:
    out = tmp_path / "typed.txt"
    script = f"IFS= read -r line; printf '%s' \"$line\" > {out}; sleep 30"
    pane = await backend.split_pane("%0", Launch(f"sh -c {_sh_quote(script)}", cwd=str(tmp_path)))
    text = "it's $HOME; #{pane_id} -n \\ é"
    await backend.send_text(pane.pane, text)
    await backend.send_keys(pane.pane, ["Enter"])
    await _until(lambda: out.exists() and out.read_text() == text)


async def test_send_text_types_control_characters_as_their_pictures(backend: TmuxBackend, tmp_path: Path) -> None:
    out = tmp_path / "raw.bin"
    pane = await backend.split_pane("%0", Launch(f"sh -c 'stty raw -echo; head -c 7 > {out}; sleep 30'"))
    await asyncio.sleep(0.3)  # let stty take effect
    await backend.send_text(pane.pane, "a\tb\x01\n")
    # a program that did not ask for bracketed paste gets a line break as Enter (CR), as from a terminal's paste
    await _until(lambda: out.exists() and out.read_bytes() == "a\tb\u2401\r".encode())


async def test_capture_shows_the_screen(backend: TmuxBackend, recorder: Recorder) -> None:
    pane = await backend.split_pane("%0", Launch("printf 'line one\\nline two\\n'; sleep 30"))
    await recorder.wait_for(lambda e: isinstance(e, PaneOutput) and b"line two" in recorder.output(pane.pane))
    screen = await backend.capture(pane.pane)
    assert screen.splitlines()[:2] == ["line one", "line two"]


async def test_output_exit_and_close_are_pushed(backend: TmuxBackend, recorder: Recorder) -> None:
    pane = await backend.split_pane("%0", Launch("echo hello-from-agent; sleep 0.3; exit 7"))
    await recorder.wait_for(lambda e: isinstance(e, PaneOutput) and b"hello-from-agent" in recorder.output(pane.pane))
    exited = await recorder.wait_for(lambda e: isinstance(e, PaneExited) and e.pane == pane.pane)
    assert exited.status in (7, None)  # tmux 3.3 now and then never records the status
    assert not (await backend.pane(pane.pane)).alive  # held: the pane stays, showing its last screen
    await backend.respawn_pane(pane.pane, Launch("sleep 30"))
    assert (await backend.pane(pane.pane)).alive
    await backend.close_pane(pane.pane)
    await recorder.wait_for(lambda e: isinstance(e, PaneClosed) and e.pane == pane.pane)


async def test_last_words_of_a_quick_exit_stay_on_the_screen(backend: TmuxBackend, recorder: Recorder) -> None:
    # A program that fails at once keeps its pane (the window is held), and what it said stays readable
    # (tmux scrolls it up to print its "Pane is dead" line, hence the history).
    pane = await backend.split_pane("%0", Launch("echo fatal: no config; exit 3"))
    exited = await recorder.wait_for(lambda e: isinstance(e, PaneExited) and e.pane == pane.pane)
    assert exited.status in (3, None)  # tmux 3.3 now and then does not record a quick exit's status
    assert "fatal: no config" in await backend.capture(pane.pane, history=100)


async def test_killed_program_reports_its_signal(backend: TmuxBackend, recorder: Recorder) -> None:
    pane = await backend.split_pane("%0", Launch("sleep 0.2; kill -KILL $$"))
    exited = await recorder.wait_for(lambda e: isinstance(e, PaneExited) and e.pane == pane.pane)
    assert exited.status is None  # no exit status: it did not exit, it was killed
    assert exited.signal in (9, None)  # tmux 3.3 now and then does not record why a pane died


async def test_moved_pane_is_not_reported_closed(backend: TmuxBackend, recorder: Recorder) -> None:
    pane = await backend.split_pane("%0", Launch("sleep 30"), hold=False)
    moved = await backend.break_pane(pane.pane, "elsewhere")
    assert moved.window != "@0"
    marker = await backend.split_pane("%0", Launch("sleep 30"))
    await backend.close_pane(marker.pane)
    await recorder.wait_for(lambda e: isinstance(e, PaneClosed) and e.pane == marker.pane)
    assert not [e for e in recorder.events if isinstance(e, PaneClosed) and e.pane == pane.pane]


async def test_focus_changes_are_pushed(backend: TmuxBackend, recorder: Recorder, tmux_socket: str) -> None:
    pane = await backend.split_pane("%0", Launch("sleep 30"))
    tmux(tmux_socket, "select-pane", "-t", pane.pane)  # a human clicking into the pane
    focus = await recorder.wait_for(lambda e: isinstance(e, PaneFocused) and e.pane == pane.pane)
    assert focus.window == pane.window
    await backend.select_pane("%0")
    await recorder.wait_for(lambda e: isinstance(e, PaneFocused) and e.pane == "%0")
    assert (await backend.pane("%0")).active


async def test_style_sets_colours_title_and_badge(backend: TmuxBackend, tmux_socket: str) -> None:
    pane = await backend.split_pane("%0", Launch("sleep 30"))
    await backend.show_pane_borders(pane.window)
    await backend.style_pane(
        pane.pane, PaneStyle(background="#001020", border="#3b82f6", title="api · backend #1", badge="working")
    )

    def option(name: str) -> str:
        return tmux(tmux_socket, "show", "-pv", "-t", pane.pane, name).strip()

    assert option("window-style") == "bg=#001020"
    assert option("@agent_console_border") == "#3b82f6"
    assert option("@badge") == "working"
    assert tmux(tmux_socket, "display", "-p", "-t", pane.pane, "#{pane_title}").strip() == "api · backend #1"
    assert tmux(tmux_socket, "show", "-wv", "-t", pane.window, "pane-border-status").strip() == "top"
    border = tmux(tmux_socket, "display", "-p", "-t", pane.pane, "#{T:pane-border-format}")
    assert "api · backend ##1" in border and "[working]" in border and "#3b82f6" in border  # '##' is drawn '#'


async def test_a_pulse_reverses_the_border_title_and_leaves_its_colour(backend: TmuxBackend, tmux_socket: str) -> None:
    pane = await backend.split_pane("%0", Launch("sleep 30"))
    await backend.show_pane_borders(pane.window)
    await backend.style_pane(pane.pane, PaneStyle(border="#f59e0b", title="api · backend", badge="◆ waiting"))

    def border() -> str:
        return tmux(tmux_socket, "display", "-p", "-t", pane.pane, "#{E:pane-border-format}").strip()

    calm = border()
    assert calm == "#[fg=#f59e0b,bold]api · backend#[default] [◆ waiting]"
    await backend.pulse_pane(pane.pane, True)
    # the state's colour is the label's background while it pulses; the badge is reversed too
    assert border() == "#[fg=#f59e0b,bold]#[reverse]api · backend#[default]#[reverse] [◆ waiting]#[default]"
    await backend.pulse_pane(pane.pane, False)
    assert border() == calm
    await backend.close_pane(pane.pane)
    with pytest.raises(BackendError):  # a pane that closed meanwhile: the caller is told, and lets it be
        await backend.pulse_pane(pane.pane, True)


async def test_the_label_stays_in_the_border_when_the_program_sets_its_own_title(
    backend: TmuxBackend, recorder: Recorder, tmux_socket: str
) -> None:
    # OSC 2, as Claude Code and Codex send it: tmux makes it the pane's title
    program = r"""sleep 0.3; printf '\033]2;#[fg=red]#{pane_id} ✳ busy\007'; echo titled; sleep 30"""
    pane = await backend.split_pane("%0", Launch(program))
    await backend.show_pane_borders(pane.window)
    await backend.style_pane(pane.pane, PaneStyle(border="#3b82f6", title="api · backend", badge="● idle"))

    def border() -> str:
        return tmux(tmux_socket, "display", "-p", "-t", pane.pane, "#{E:pane-border-format}").strip()

    assert border() == "#[fg=#3b82f6,bold]api · backend#[default] [● idle]"  # no title of its own yet
    await recorder.wait_for(lambda e: isinstance(e, PaneOutput) and b"titled" in e.data)
    assert tmux(tmux_socket, "display", "-p", "-t", pane.pane, "#{pane_title}").strip() == "#[fg=red]#{pane_id} ✳ busy"
    # the program's title beside the label, its '#' doubled: drawn as text, never as a style or a format
    assert border() == "#[fg=#3b82f6,bold]api · backend#[default] [● idle] · ##[fg=red]##{pane_id} ✳ busy"


async def test_the_org_s_panes_get_focus_events(backend: TmuxBackend, tmux_socket: str) -> None:
    # Claude Code asks for them (it shows a hint while tmux has them off); tmux has them per server only. Whether
    # a select reaches the program as ESC [ I also depends on tmux's idea of a focused client: not asserted.
    assert tmux(tmux_socket, "show", "-sv", "focus-events").strip() == "off"
    pane = await backend.split_pane("%0", Launch("sleep 30"))
    await backend.show_pane_borders(pane.window)
    assert tmux(tmux_socket, "show", "-sv", "focus-events").strip() == "on"


async def test_server_killed_under_the_backend(backend: TmuxBackend, recorder: Recorder, tmux_socket: str) -> None:
    tmux(tmux_socket, "kill-server")
    lost = await recorder.wait_for(lambda e: isinstance(e, BackendLost))
    assert "went away" in lost.reason
    with pytest.raises(BackendGone, match=f"tmux server {tmux_socket!r} went away"):
        await backend.list_panes()


def test_layout_helpers() -> None:
    layout = "c529,200x50,0,0[200x25,0,0,0,200x12,0,26,1,200x11,0,39,2]"
    assert layout_panes(layout) == ("%0", "%1", "%2")
    assert layout_checksum(layout.split(",", 1)[1]) == "c529"  # tmux's own checksum of that layout


async def _until(condition, timeout: float = 5.0) -> None:
    async def wait() -> None:
        while not condition():
            await asyncio.sleep(0.02)

    await asyncio.wait_for(wait(), timeout)


def _sh_quote(text: str) -> str:
    return "'" + text.replace("'", "'\\''") + "'"


async def test_applied_layout_is_the_plan_and_survives_closing_a_pane(backend: TmuxBackend, tmux_socket: str) -> None:
    from agent_console.agents.layout import Pane, Split, layout_cells

    a = await backend.split_pane("%0", Launch("sleep 30"))
    b = await backend.split_pane(a.pane, Launch("sleep 30"))
    # One-child and same-direction nested splits, as plans make them; tmux must get its own canonical form.
    root = Split(
        "h", (Split("v", (Pane("x"),), (1,)), Split("v", (Pane("y"), Split("v", (Pane("z"),), (1,))), (1, 1))), (1, 2)
    )
    cells = layout_cells(root, 160, 48)
    await backend.apply_layout("@0", cells)
    layout = await backend.window_layout("@0")
    assert layout_panes(layout) == ("%0", a.pane, b.pane)
    assert layout.split(",", 1)[1] == "160x48,0,0{53x48,0,0,0,106x48,54,0[106x24,54,0,1,106x23,54,25,2]}"
    await backend.close_pane(a.pane)  # tmux crashed here on non-canonical layouts
    assert await backend.alive()


async def test_backend_reconnects_when_asked_after_the_server_died(tmux_socket: str, tmp_path: Path) -> None:
    terminal = TmuxBackend(tmux_socket, "org", config_file="/dev/null")
    await terminal.attach_or_create((100, 30), "exec", Launch(None, cwd=str(tmp_path)))
    tmux(tmux_socket, "kill-server")
    with pytest.raises(BackendGone):
        for _ in range(50):  # the loss is pushed; wait for it to land
            await terminal.list_panes()
            await asyncio.sleep(0.05)
    await terminal.attach_or_create((100, 30), "exec", Launch(None, cwd=str(tmp_path)))
    assert terminal.created_session
    recorder = Recorder(terminal)
    await asyncio.sleep(0)
    pane = await terminal.split_pane("%0", Launch("sleep 0.2; exit 5"))
    exited = await recorder.wait_for(lambda e: isinstance(e, PaneExited) and e.pane == pane.pane)
    assert exited.status in (5, None)  # events flow again on the new connection
    await recorder.stop()
    await terminal.close()


async def test_dead_pane_report_is_parsed_into_status_and_signal(backend: TmuxBackend, recorder: Recorder) -> None:
    from agent_console.terminal.tmux_control import Notification

    # What tmux sends for the pane_dead subscription: %subscription-changed NAME $s @w index %pane : value
    for pane, value in (("%71", "1/7/"), ("%72", "1//9")):
        note = Notification("subscription-changed", ("agent-console-dead", "$0", "@0", "0", pane, ":", value))
        backend._on_notification(note)
    first = await recorder.wait_for(lambda e: isinstance(e, PaneExited) and e.pane == "%71")
    second = await recorder.wait_for(lambda e: isinstance(e, PaneExited) and e.pane == "%72")
    assert (first.status, first.signal) == (7, None)
    assert (second.status, second.signal) == (None, 9)
    backend._on_notification(
        Notification("subscription-changed", ("agent-console-dead", "$0", "@0", "0", "%71", ":", "1/7/"))
    )
    await asyncio.sleep(0.05)
    assert len([e for e in recorder.events if isinstance(e, PaneExited) and e.pane == "%71"]) == 1  # once per death


async def test_a_flood_is_let_go_and_resumed_while_other_panes_output_flows(
    backend: TmuxBackend, recorder: Recorder, tmp_path: Path
) -> None:
    done = tmp_path / "flooded"
    flood = await backend.split_pane(
        "%0", Launch(f"yes | head -c 3000000; touch {done}; while sleep 0.2; do echo tick; done", cwd=str(tmp_path))
    )
    await backend.split_pane("%0", Launch("while sleep 0.2; do echo quiet-here; done", cwd=str(tmp_path)))
    gap = await recorder.wait_for(lambda e: isinstance(e, PaneOutput) and e.pane == flood.pane and e.gap, 20)
    after_gap = recorder.events.index(gap)
    await recorder.wait_for(lambda e: isinstance(e, PaneOutput) and b"quiet-here" in e.data, start=after_gap)
    await _until(done.exists, 60)
    # let go: far less than it printed reached us; resumed: what it prints afterwards flows again
    assert len(recorder.output(flood.pane)) < 3000000
    ticked = len(recorder.events)

    def ticks(event) -> bool:
        return isinstance(event, PaneOutput) and event.pane == flood.pane and b"tick" in event.data

    await recorder.wait_for(ticks, 30, ticked)


async def test_flood_bookkeeping_pauses_drops_and_resumes(tmux_socket: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("agent_console.terminal.tmux.PAUSE_SECONDS", (0.05,))
    terminal = TmuxBackend(tmux_socket, "org")  # never connected: its pause commands fail quietly
    recorder = Recorder(terminal)
    await asyncio.sleep(0)
    chunk = b"y\r\n" * 10_000  # 30 kB
    for _ in range(6):  # 180 kB at one instant: a flood from the fifth chunk on
        terminal._on_notification(Notification("output", ("%7",), chunk, 100.0))
    terminal._on_notification(Notification("output", ("%8",), b"calm", 100.0))
    terminal._on_notification(Notification("output", ("%7",), b"let go", 100.0))
    await _until(lambda: sum(1 for e in recorder.events if isinstance(e, PaneOutput) and e.gap) == 2)  # resumed
    terminal._on_notification(Notification("output", ("%7",), b"flows again", 200.0))
    await recorder.wait_for(lambda e: isinstance(e, PaneOutput) and e.data == b"flows again")
    seen = [(e.pane, e.data if len(e.data) < 100 else len(e.data), e.gap) for e in recorder.events]
    assert seen == [
        *[("%7", len(chunk), False)] * 5,
        ("%7", b"", True),  # paused after the chunk that made it a flood
        ("%8", b"calm", False),  # other panes untouched
        ("%7", b"", True),  # resumed; "let go" never came through
        ("%7", b"flows again", False),
    ]
    await recorder.stop()


async def test_a_shell_agent_in_a_new_window_runs_the_shell_not_the_placeholder(
    backend: TmuxBackend, tmux_socket: str, tmp_path: Path
) -> None:
    """A held window starts with a placeholder; a launch without a command (the user's shell) must replace it,
    also when the pane is restarted (tmux re-runs a pane's first command when told none)."""
    shell = Path(tmux(tmux_socket, "show", "-gv", "default-shell").strip()).name

    def running(pane: str) -> str:
        return tmux(tmux_socket, "display-message", "-p", "-t", pane, "#{pane_current_command}").strip()

    info = await backend.new_window("team", Launch(None, cwd=str(tmp_path)))
    wait_for(lambda: running(info.pane) == shell, what=f"{shell} in the new window")
    await backend.respawn_pane(info.pane, Launch(None, cwd=str(tmp_path)))
    wait_for(lambda: running(info.pane) == shell, what=f"{shell} after a restart")
