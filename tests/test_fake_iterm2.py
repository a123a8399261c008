"""The fake iTerm2 server, driven by the real `iterm2` library: what the library sends gets the answers and
notifications it expects, backed by real processes in real ptys."""

from __future__ import annotations

import asyncio
import base64
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import iterm2
import pytest
from iterm2 import api_pb2

from tests.fake_iterm2 import FakeITerm2, running_fake_iterm2
from tests.fake_iterm2.client import close_iterm2_connection, notifications_handled
from tests.fake_iterm2.fixture import fake_iterm2_per_build
from tests.fake_iterm2.sessions import session_members

WAIT = 10.0
PROMPT = re.compile(r"^\$", re.M)
SESSION_ID = iterm2.Reference("id")  # variables a registered function takes as defaults
APP_TEXT = iterm2.Reference("iterm2.user.t?")
PROTOCOL = {"3.6.11": (1, 11), "current": (1, 17)}
SHELL = "env PS1='$ ' sh"  # a plain prompt, whatever the user's shell, rc files and PS1 are

fake_iterm2 = fake_iterm2_per_build()


async def within(awaitable: Any, timeout: float = WAIT) -> Any:
    return await asyncio.wait_for(awaitable, timeout)


def command(text: str) -> iterm2.LocalWriteOnlyProfile:
    """Profile customizations that run `text` in a new session, as a backend would."""
    profile = iterm2.LocalWriteOnlyProfile()
    profile.set_use_custom_command(iterm2.Profile.USE_CUSTOM_COMMAND_ENABLED)
    profile.set_command(text)
    return profile


def osc_1337(body: str) -> str:
    """A printf command printing OSC 1337 with `body`, ended by BEL."""
    return f"printf '\\033]1337;{body}\\a'"


async def screen_of(session: iterm2.Session) -> list[str]:
    contents = await session.async_get_screen_contents()
    return [contents.line(i).string for i in range(contents.number_of_lines)]


# --------------------------------------------------------------------------------------------- connection


async def test_the_library_connects_and_sees_windows_tabs_and_the_focused_session(fake_iterm2: FakeITerm2) -> None:
    session_id = await fake_iterm2.open_window(SHELL)
    async with fake_iterm2.connect() as connection:
        assert connection.iterm2_protocol_version == PROTOCOL[fake_iterm2.build.name]
        app = await iterm2.async_get_app(connection)
        assert app is not None
        window = app.current_window
        assert window is not None and window.window_id == fake_iterm2.windows()[0]
        assert window.current_tab is not None
        session = window.current_tab.current_session
        assert session is not None and session.session_id == session_id
        assert (session.grid_size.width, session.grid_size.height) == fake_iterm2.session_size(session_id) == (160, 48)
        assert fake_iterm2.client_count == 1
        frame = await window.async_get_frame()
        assert (frame.size.width, frame.size.height) == (160 * 8, 48 * 16)
        await window.async_set_frame(iterm2.Frame(iterm2.Point(0, 0), iterm2.Size(100 * 8, 30 * 16)))
        assert fake_iterm2.session_size(session_id) == (100, 30)
        await session.async_set_grid_size(iterm2.Size(120, 40))
        assert fake_iterm2.session_size(session_id) == (120, 40)
    await fake_iterm2.wait_until(lambda: fake_iterm2.client_count == 0, what="the client to disconnect")


async def test_a_wrong_cookie_is_refused_with_401(fake_iterm2: FakeITerm2, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ITERM2_COOKIE", "not-the-cookie")
    # After a 401 the library drops the cookie and asks osascript for a new one; Linux has no osascript.
    with pytest.raises(FileNotFoundError, match="osascript"):
        await within(iterm2.Connection.async_create())
    assert fake_iterm2.rejected_connections == ["wrong cookie"]
    assert fake_iterm2.client_count == 0


async def test_a_cookie_admits_one_connection(fake_iterm2: FakeITerm2, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ITERM2_KEY", "any key: it only names the script")
    first = await within(iterm2.Connection.async_create())  # the cookie in ITERM2_COOKIE, spent here
    try:
        with pytest.raises(FileNotFoundError, match="osascript"):  # the library's retry: no osascript on Linux
            await within(iterm2.Connection.async_create())
    finally:
        await close_iterm2_connection(first)
    assert fake_iterm2.rejected_connections == ["spent cookie"]
    reusable = fake_iterm2.mint_cookie() + "_"  # a cookie ending in _ is never spent
    fake_iterm2.server.cookies.add(reusable)
    for _ in range(2):
        monkeypatch.setenv("ITERM2_COOKIE", reusable)
        await close_iterm2_connection(await within(iterm2.Connection.async_create()))


async def test_osascript_hands_out_fresh_cookies(fake_iterm2: FakeITerm2, tmp_path: Path) -> None:
    from agent_console.terminal import iterm2_connection

    script = iterm2_connection.OSASCRIPT  # the fixture's stand-in
    asked = await asyncio.to_thread(
        subprocess.run,
        [script, "-"],
        input='tell application "iTerm2" to request cookie and key',
        text=True,
        capture_output=True,
        check=True,
        timeout=10,
    )
    cookie, key = asked.stdout.split()
    assert cookie in fake_iterm2.server.cookies and key and fake_iterm2.cookie_requests == 1


async def test_an_unsupported_request_gets_an_error_reply_not_a_hang(fake_iterm2: FakeITerm2) -> None:
    session_id = await fake_iterm2.open_window(SHELL)
    async with fake_iterm2.connect() as connection:
        app = await iterm2.async_get_app(connection)
        session = app.get_session_by_id(session_id)
        if iterm2.capabilities.supports_screenshot(connection):  # the library asks 3.6.11 for none
            with pytest.raises(iterm2.RPCException, match="does not support screenshot_request"):
                await within(session.async_screenshot())
        with pytest.raises(iterm2.RPCException, match="no function named nothing_registered"):
            await within(iterm2.async_invoke_function(connection, "nothing_registered(x: 1)"))
    assert fake_iterm2.errors == []


# --------------------------------------------------------------------------------------------- sessions


async def test_split_runs_a_shell_whose_output_reaches_the_screen(fake_iterm2: FakeITerm2) -> None:
    first = await fake_iterm2.open_window(SHELL)
    async with fake_iterm2.connect() as connection:
        app = await iterm2.async_get_app(connection)
        original = app.get_session_by_id(first)
        new = await within(original.async_split_pane(vertical=True, profile_customizations=command(SHELL)))
        await fake_iterm2.wait_for_screen(new.session_id, PROMPT)
        await new.async_send_text("printf 'hel''lo\\n'\n")
        await fake_iterm2.wait_for_screen(new.session_id, re.compile(r"^hello$", re.M))
        assert "hello" in await screen_of(new)
        # The split shares the width (one column for the divider) and the new pane takes focus.
        assert fake_iterm2.session_size(first) == (80, 48)
        assert fake_iterm2.session_size(new.session_id) == (79, 48)
        tab = app.current_window.current_tab
        assert [s.session_id for s in tab.sessions] == [first, new.session_id]
        assert tab.current_session.session_id == new.session_id == fake_iterm2.active_session()
        # The pty itself was resized, not only the screen.
        await original.async_send_text("stty size\n")
        await fake_iterm2.wait_for_screen(first, re.compile(r"^48 80$", re.M))


async def test_command_directory_and_environment_of_a_new_session(fake_iterm2: FakeITerm2, tmp_path) -> None:
    first = await fake_iterm2.open_window(SHELL)
    profile = command("sh -c 'pwd; echo \"$ITERM_SESSION_ID $TERM\"; exec sleep 30'")
    profile.set_initial_directory_mode(iterm2.InitialWorkingDirectory.INITIAL_WORKING_DIRECTORY_CUSTOM)
    profile.set_custom_directory(str(tmp_path))
    async with fake_iterm2.connect() as connection:
        app = await iterm2.async_get_app(connection)
        new = await app.get_session_by_id(first).async_split_pane(
            vertical=False, before=True, profile_customizations=profile
        )
        screen = await fake_iterm2.wait_for_screen(new.session_id, "xterm-256color")
        assert str(tmp_path) in screen
        # Above the first pane: the first pane of the tab, each half the height less the divider.
        assert re.search(rf"w0t0p0:{new.session_id} xterm-256color", screen)
        assert fake_iterm2.sessions() == [new.session_id, first]
        assert fake_iterm2.session_size(new.session_id) == (160, 24)
        assert fake_iterm2.session_size(first) == (160, 23)
        assert await new.async_get_variable("jobName") == "sleep"
        assert await new.async_get_variable("path") == str(tmp_path)


async def test_create_window_with_a_command_reaches_the_new_session_monitor(fake_iterm2: FakeITerm2) -> None:
    async with fake_iterm2.connect() as connection:
        app = await iterm2.async_get_app(connection)
        async with iterm2.NewSessionMonitor(connection) as monitor:
            window = await within(iterm2.Window.async_create(connection, command="sh -c 'echo made; exec cat'"))
            session_id = await within(monitor.async_get())
        assert window is not None and window.current_tab.current_session.session_id == session_id
        assert fake_iterm2.sessions() == [session_id]
        await fake_iterm2.wait_for_screen(session_id, "made")
        tab = await within(window.async_create_tab(command="sleep 30"))
        assert len(app.get_window_by_id(window.window_id).tabs) == 2
        assert fake_iterm2.tabs(window.window_id) == [window.tabs[0].tab_id, tab.tab_id]
        assert fake_iterm2.launch(tab.current_session.session_id)[0] == ["sleep", "30"]


async def test_an_exit_terminates_the_session_and_changes_the_layout(fake_iterm2: FakeITerm2) -> None:
    first = await fake_iterm2.open_window(SHELL)
    async with fake_iterm2.connect() as connection:
        app = await iterm2.async_get_app(connection)
        async with (
            iterm2.SessionTerminationMonitor(connection) as terminations,
            iterm2.LayoutChangeMonitor(connection) as layouts,
        ):
            new = await app.get_session_by_id(first).async_split_pane(profile_customizations=command("sh -c 'read x'"))
            await within(layouts.async_get())
            await new.async_send_text("\n")
            assert await within(terminations.async_get()) == new.session_id
            await within(layouts.async_get())
        await app.async_refresh()
        assert [s.session_id for s in app.current_window.current_tab.sessions] == [first]
        assert fake_iterm2.sessions() == [first]
        assert fake_iterm2.session_size(first) == (160, 48)


async def test_a_killed_process_ends_its_session(fake_iterm2: FakeITerm2) -> None:
    session_id = await fake_iterm2.open_window("sleep 60")
    async with fake_iterm2.connect() as connection, iterm2.SessionTerminationMonitor(connection) as terminations:
        fake_iterm2.kill_process(session_id)
        assert await within(terminations.async_get()) == session_id
    assert fake_iterm2.windows() == []


async def test_a_held_session_stays_after_exit_and_restarts(fake_iterm2: FakeITerm2) -> None:
    first = await fake_iterm2.open_window(SHELL)
    profile = command("sh -c 'echo run $$; sleep 0.5'")
    profile.set_close_sessions_on_end(False)
    async with fake_iterm2.connect() as connection:
        app = await iterm2.async_get_app(connection)
        async with iterm2.SessionTerminationMonitor(connection) as ends:
            new = await app.get_session_by_id(first).async_split_pane(profile_customizations=profile)
            await fake_iterm2.wait_for_screen(new.session_id, "run")
            assert await within(ends.async_get()) == new.session_id  # the process ended; the pane stays
        assert new.session_id in fake_iterm2.sessions()
        assert not fake_iterm2.session_alive(new.session_id)
        assert fake_iterm2.variables(new.session_id)["pid"] == fake_iterm2.session_pid(new.session_id)  # kept
        await within(new.async_restart(only_if_exited=True))
        relaunched = fake_iterm2.current_id(new.session_id)
        assert relaunched != new.session_id  # a new guid, in the same pane
        screen = await fake_iterm2.wait_until(
            lambda: (s := fake_iterm2.screen_text(relaunched)).count("run ") == 2 and s, what="a second run"
        )
        first_pid, second_pid = re.findall(r"run (\d+)", screen)
        assert first_pid != second_pid


async def test_restart_of_a_running_session_answers_first_and_relaunches_with_a_new_id(
    fake_iterm2: FakeITerm2,
) -> None:
    session_id = await fake_iterm2.open_window("sh -c 'echo pid $$; exec sleep 60'")
    async with fake_iterm2.connect() as connection:
        app = await iterm2.async_get_app(connection)
        session = app.get_session_by_id(session_id)
        await fake_iterm2.wait_for_screen(session_id, "pid")
        before = fake_iterm2.session_pid(session_id)
        with pytest.raises(iterm2.RPCException, match="SESSION_NOT_RESTARTABLE"):
            await within(session.async_restart(only_if_exited=True))
        async with iterm2.SessionTerminationMonitor(connection) as ends, iterm2.LayoutChangeMonitor(connection) as lay:
            await within(session.async_restart())
            assert await within(ends.async_get()) == session_id
            layout = asyncio.ensure_future(lay.async_get())
            new_id = fake_iterm2.current_id(session_id)
            await fake_iterm2.wait_until(lambda: fake_iterm2.screen_text(new_id).count("pid") == 2)
            assert not layout.done()  # no layout change says so
            layout.cancel()
        assert fake_iterm2.sessions() == [new_id] and new_id != session_id
        assert fake_iterm2.session_pid(new_id) != before
        await app.async_refresh()
        assert app.current_window.current_tab.current_session.session_id == new_id
        assert await app.get_session_by_id(new_id).async_get_variable("id") == new_id
        assert fake_iterm2.launch(new_id)[2]["ITERM_SESSION_ID"] == f"w0t0p0:{new_id}"


async def test_restart_runs_the_launched_command_not_a_changed_profile(fake_iterm2: FakeITerm2) -> None:
    session_id = await fake_iterm2.open_window("sh -c 'echo first; exec sleep 60'")
    await fake_iterm2.wait_for_screen(session_id, "first")
    async with fake_iterm2.connect() as connection:
        app = await iterm2.async_get_app(connection)
        session = app.get_session_by_id(session_id)
        await session.async_set_profile_properties(command("sh -c 'echo second; exec sleep 60'"))
        await within(session.async_restart())
        new_id = await fake_iterm2.wait_until(
            lambda: fake_iterm2.current_id(session_id) != session_id and fake_iterm2.current_id(session_id)
        )
        await fake_iterm2.wait_until(lambda: fake_iterm2.screen_text(new_id).count("first") == 2)
        assert "second" not in fake_iterm2.screen_text(new_id)


async def test_closing_a_session_hangs_up_its_process(fake_iterm2: FakeITerm2) -> None:
    first = await fake_iterm2.open_window(SHELL)
    second = await fake_iterm2.split(first, "sleep 60")
    pid = fake_iterm2.session_pid(second)
    async with fake_iterm2.connect() as connection:
        app = await iterm2.async_get_app(connection)
        async with iterm2.SessionTerminationMonitor(connection) as terminations:
            await within(app.get_session_by_id(second).async_close(force=True))
            assert await within(terminations.async_get()) == second
    assert fake_iterm2.sessions() == [first]
    await fake_iterm2.wait_until(lambda: not _alive(pid), what=f"process {pid} to die")


def _alive(pid: int | None) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rpartition(")")[2].split()[0] != "Z"
    except OSError:
        return False


async def test_stop_kills_every_process_and_removes_the_socket() -> None:
    home = Path(tempfile.mkdtemp(prefix="it2-", dir="/tmp"))  # short: the socket path must fit
    try:
        async with running_fake_iterm2(home) as fake:
            first = await fake.open_window("sh -c 'sleep 60 & exec sleep 61'")
            await fake.wait_until(lambda: fake.variables(first)["commandLine"] == "sleep 61")
            pids = session_members(fake.session_pid(first))
            assert len(pids) == 2
            assert fake.socket_path.exists()
        assert not any(_alive(pid) for pid in pids)
        assert not fake.socket_path.exists()
    finally:
        shutil.rmtree(home, ignore_errors=True)


# --------------------------------------------------------------------------------------------- screen


async def test_screen_contents_have_lines_and_the_cursor(fake_iterm2: FakeITerm2) -> None:
    session_id = await fake_iterm2.open_window("sh -c 'printf \"one\\ntwo\"; exec sleep 30'")
    await fake_iterm2.wait_for_screen(session_id, "two")
    async with fake_iterm2.connect() as connection:
        app = await iterm2.async_get_app(connection)
        contents = await app.get_session_by_id(session_id).async_get_screen_contents()
        assert contents.number_of_lines == 48
        assert [contents.line(0).string, contents.line(1).string] == ["one", "two"]
        assert (contents.cursor_coord.x, contents.cursor_coord.y) == (3, 1)
        assert fake_iterm2.screen_lines(session_id)[:2] == ["one", "two"]


async def test_scrollback_and_line_info(fake_iterm2: FakeITerm2) -> None:
    session_id = await fake_iterm2.open_window("sh -c 'seq 1 60; exec sleep 30'")
    await fake_iterm2.wait_for_screen(session_id, re.compile(r"^60$", re.M))
    async with fake_iterm2.connect() as connection:
        app = await iterm2.async_get_app(connection)
        session = app.get_session_by_id(session_id)
        async with iterm2.Transaction(connection):
            info = await session.async_get_line_info()
            lines = await session.async_get_contents(info.overflow, 3)
        assert (info.mutable_area_height, info.scrollback_buffer_height, info.first_visible_line_number) == (48, 13, 13)
        assert [line.string for line in lines] == ["1", "2", "3"]
        contents = await session.async_get_screen_contents()
        assert contents.line(0).string == "14"
        assert contents.cursor_coord.y == 13 + 47  # absolute line numbers, as iTerm2 gives them


async def test_screen_streamer_delivers_changes(fake_iterm2: FakeITerm2) -> None:
    session_id = await fake_iterm2.open_window("cat")
    async with fake_iterm2.connect() as connection:
        async with iterm2.ScreenStreamer(connection, session_id) as streamer:
            await fake_iterm2.type_keys(session_id, "streamed\r")
            for _ in range(20):
                contents = await within(streamer.async_get())
                if any(contents.line(i).string == "streamed" for i in range(contents.number_of_lines)):
                    break
            else:
                pytest.fail("the streamer never showed the typed line")
            assert ("NOTIFY_ON_SCREEN_UPDATE", session_id) in fake_iterm2.subscriptions
        assert ("NOTIFY_ON_SCREEN_UPDATE", session_id) not in fake_iterm2.subscriptions
        assert ("NOTIFY_ON_LAYOUT_CHANGE", "all") not in fake_iterm2.subscriptions  # no App made here


async def test_inject_writes_to_the_screen_not_the_process(fake_iterm2: FakeITerm2) -> None:
    session_id = await fake_iterm2.open_window("cat")
    async with fake_iterm2.connect() as connection:
        app = await iterm2.async_get_app(connection)
        await app.get_session_by_id(session_id).async_inject(b"\x1b[1mshown\x1b[0m")
        await fake_iterm2.wait_for_screen(session_id, "shown")
        assert fake_iterm2.input_log(session_id) == b""


# --------------------------------------------------------------------------------------------- escape sequences


async def test_a_custom_sequence_reaches_the_monitor_with_its_identity(fake_iterm2: FakeITerm2) -> None:
    session_id = await fake_iterm2.open_window(SHELL)
    async with fake_iterm2.connect() as connection:
        app = await iterm2.async_get_app(connection)
        session = app.get_session_by_id(session_id)
        async with iterm2.CustomControlSequenceMonitor(connection, "tok", r"^hello (\w+)$") as monitor:
            await session.async_send_text(osc_1337("Custom=id=spoof:hello spoofed") + "\n")
            # Split across two writes of the process, ended by ST instead of BEL.
            await session.async_send_text(
                "printf '\\033]1337;Cus'; sleep 0.2; printf 'tom=id=tok:hello world\\033\\\\'; echo\n"
            )
            match = await within(monitor.async_get())
            assert match.group(1) == "world"
            assert fake_iterm2.errors == []


async def test_set_user_var_sets_the_variable_and_notifies(fake_iterm2: FakeITerm2) -> None:
    session_id = await fake_iterm2.open_window(SHELL)
    value = base64.b64encode(b"alpha beta").decode()
    async with fake_iterm2.connect() as connection:
        app = await iterm2.async_get_app(connection)
        session = app.get_session_by_id(session_id)
        async with iterm2.VariableMonitor(connection, iterm2.VariableScopes.SESSION, "user.agent", session_id) as mon:
            await session.async_send_text(osc_1337(f"SetUserVar=agent={value}") + "\n")
            assert await within(mon.async_get()) == "alpha beta"
        assert await session.async_get_variable("user.agent") == "alpha beta"
        assert fake_iterm2.variables(session_id)["user.agent"] == "alpha beta"


# --------------------------------------------------------------------------------------------- focus and keys


async def test_a_human_click_reaches_the_focus_monitor(fake_iterm2: FakeITerm2) -> None:
    first = await fake_iterm2.open_window(SHELL)
    second = await fake_iterm2.split(first, SHELL)
    async with fake_iterm2.connect() as connection:
        app = await iterm2.async_get_app(connection)
        assert app.current_window.current_tab.current_session.session_id == second
        async with iterm2.FocusMonitor(connection) as monitor:
            await fake_iterm2.focus(first)
            update = await within(monitor.async_get_next_update())
            assert update.active_session_changed is not None
            assert update.active_session_changed.session_id == first
        await fake_iterm2.wait_until(lambda: app.current_window.current_tab.current_session.session_id == first)


async def test_activate_moves_focus_and_notifies(fake_iterm2: FakeITerm2) -> None:
    first = await fake_iterm2.open_window(SHELL)
    other_window = await fake_iterm2.open_window(SHELL)
    async with fake_iterm2.connect() as connection:
        app = await iterm2.async_get_app(connection)
        assert app.current_window.window_id == fake_iterm2.windows()[1]
        async with iterm2.FocusMonitor(connection) as monitor:
            await app.get_session_by_id(first).async_activate(select_tab=True, order_window_front=True)
            updates = [await within(monitor.async_get_next_update()) for _ in range(2)]
        assert updates[0].window_changed.window_id == fake_iterm2.windows()[1]
        assert updates[0].window_changed.event.name == "TERMINAL_WINDOW_RESIGNED_KEY"
        assert updates[1].window_changed.window_id == fake_iterm2.windows()[0]
        assert fake_iterm2.active_session() == first != other_window
        focus = await iterm2.rpc.async_get_focus_info(connection)
        assert api_pb2.FocusChangedNotification(session=first) in focus.focus_response.notifications
        # A split takes its tab's focus; activating the old pane alone (no tab, no window) gives it back.
        new = await fake_iterm2.split(first, SHELL)
        assert fake_iterm2.active_session() == new
        await within(notifications_handled(connection))  # the split's focus change reaches no monitor opened after it
        async with iterm2.FocusMonitor(connection) as monitor:
            await iterm2.rpc.async_activate(connection, True, False, False, session_id=first)
            update = await within(monitor.async_get_next_update())
        assert update.active_session_changed.session_id == first == fake_iterm2.active_session()


async def test_typed_keys_reach_the_keystroke_monitor_and_filters_keep_keys_back(fake_iterm2: FakeITerm2) -> None:
    session_id = await fake_iterm2.open_window("cat")
    async with fake_iterm2.connect() as connection:
        pattern = iterm2.KeystrokePattern()
        pattern.required_modifiers = [iterm2.Modifier.OPTION]
        pattern.characters_ignoring_modifiers = ["e"]
        async with iterm2.KeystrokeMonitor(connection) as keys, iterm2.KeystrokeFilter(connection, [pattern]):
            await fake_iterm2.type_keys(session_id, b"hI\x1be\x03")
            strokes = [await within(keys.async_get()) for _ in range(4)]
    assert [s.characters for s in strokes] == ["h", "I", "e", "\x03"]
    assert strokes[1].modifiers == [iterm2.Modifier.SHIFT]
    assert strokes[2].modifiers == [iterm2.Modifier.OPTION]
    assert strokes[3].keycode == iterm2.Keycode.ANSI_C and strokes[3].modifiers == [iterm2.Modifier.CONTROL]
    # Option-e was taken by the filter; the rest reached the pty.
    assert fake_iterm2.input_log(session_id) == b"hI\x03"


# --------------------------------------------------------------------------------------------- profiles, variables


async def test_profile_properties_are_set_in_one_batch_and_read_back(fake_iterm2: FakeITerm2) -> None:
    session_id = await fake_iterm2.open_window(SHELL)
    untouched = await fake_iterm2.split(session_id, SHELL)
    async with fake_iterm2.connect() as connection:
        app = await iterm2.async_get_app(connection)
        session = app.get_session_by_id(session_id)
        profile = iterm2.LocalWriteOnlyProfile()
        profile.set_background_color(iterm2.Color(0, 32, 64))
        profile.set_tab_color(iterm2.Color(255, 0, 0))
        profile.set_use_tab_color(True)
        profile.set_badge_text("worker 1")
        await within(session.async_set_profile_properties(profile))
        assert [key for key, _ in fake_iterm2.profile_writes(session_id)] == [
            "Background Color",
            "Tab Color",
            "Use Tab Color",
            "Badge Text",
        ]
        assert fake_iterm2.profile(session_id)["Badge Text"] == "worker 1"
        read = await session.async_get_profile()
        assert read.badge_text == "worker 1" and read.use_tab_color is True
        assert round(read.background_color.blue) == 64
        default = await iterm2.PartialProfile.async_get_default(connection)
        assert default.name == "Default" and default.guid == read.guid
        other = await app.get_session_by_id(untouched).async_get_profile()
        assert other.badge_text == "" and other.use_tab_color is False
        assert fake_iterm2.profile_writes(untouched) == []
        # The one-key form the library's Profile setters use.
        await read.async_set_badge_text("via one key")
        assert fake_iterm2.profile(session_id)["Badge Text"] == "via one key"
        key = iterm2.preferences.PreferenceKey.OPEN_PROFILES_WINDOW_AT_START
        assert await iterm2.preferences.async_get_preference(connection, key) is None


async def test_variables_user_and_built_in(fake_iterm2: FakeITerm2) -> None:
    session_id = await fake_iterm2.open_window("sleep 30")
    async with fake_iterm2.connect() as connection:
        app = await iterm2.async_get_app(connection)
        session = app.get_session_by_id(session_id)
        await session.async_set_variable("user.agent_id", "a1")
        assert await session.async_get_variable("user.agent_id") == "a1"
        assert await session.async_get_variable("user.missing") is None
        assert await session.async_get_variable("id") == session_id
        await fake_iterm2.wait_until(lambda: fake_iterm2.variables(session_id)["pid"], what="the pid")  # learnt late
        assert await session.async_get_variable("pid") == fake_iterm2.session_pid(session_id)
        assert await session.async_get_variable("jobName") == "sleep"
        assert (await session.async_get_variable("tty")).startswith("/dev/pts/")
        assert await session.async_get_variable("columns") == 160
        with pytest.raises(iterm2.RPCException, match="INVALID_NAME"):
            await session.async_set_variable("jobName", "nope")
        tab = app.current_window.current_tab
        await tab.async_set_variable("user.team", "red")
        assert await tab.async_get_variable("user.team") == "red"
        await app.async_set_variable("user.figures", "3 agents")
        assert await app.async_get_variable("user.figures") == "3 agents"
        await session.async_set_name("worker")
        assert await session.async_get_variable("name") == "worker"


# --------------------------------------------------------------------------------------------- layout features


async def test_buried_sessions_leave_the_layout_and_come_back(fake_iterm2: FakeITerm2) -> None:
    first = await fake_iterm2.open_window(SHELL)
    second = await fake_iterm2.split(first, "sleep 60")
    async with fake_iterm2.connect() as connection:
        app = await iterm2.async_get_app(connection)
        await within(app.get_session_by_id(second).async_set_buried(True))
        await app.async_refresh()
        assert [s.session_id for s in app.buried_sessions] == [second]
        assert [s.session_id for s in app.current_window.current_tab.sessions] == [first]
        assert fake_iterm2.buried_sessions() == [second] and fake_iterm2.session_alive(second)
        assert fake_iterm2.session_size(first) == (160, 48)
        await within(app.get_session_by_id(second).async_set_buried(False))
        await app.async_refresh()
        assert app.buried_sessions == []
        # Back in the tab it was buried from (iTermBuriedSessions.m `restoreSession:withRestorableSession:`).
        assert [[s.session_id for s in tab.sessions] for tab in app.current_window.tabs] == [[first, second]]
        await within(app.get_session_by_id(first).async_set_buried(True))
        await within(app.get_session_by_id(second).async_close())
        await within(app.get_session_by_id(first).async_set_buried(False))
        await app.async_refresh()
        # Its tab gone with its last pane, a new tab of its window.
        assert [[s.session_id for s in tab.sessions] for tab in app.current_window.tabs] == [[first]]


async def test_broadcast_domains_send_text_to_every_member(fake_iterm2: FakeITerm2) -> None:
    first = await fake_iterm2.open_window("cat")
    second = await fake_iterm2.split(first, "cat")
    third = await fake_iterm2.split(second, "cat")
    async with fake_iterm2.connect() as connection:
        app = await iterm2.async_get_app(connection)
        domain = iterm2.BroadcastDomain()
        domain.add_session(app.get_session_by_id(first))
        domain.add_session(app.get_session_by_id(second))
        await within(iterm2.async_set_broadcast_domains(connection, [domain]))
        await app.get_session_by_id(first).async_send_text("together\n")
        await app.get_session_by_id(first).async_send_text("alone\n", suppress_broadcast=True)
        await fake_iterm2.wait_for_screen(second, "together")
        await fake_iterm2.wait_for_screen(first, "alone")
        await fake_iterm2.wait_idle()
        assert "alone" not in fake_iterm2.screen_text(second)
        assert fake_iterm2.input_log(third) == b""
        # The App learns the new domains from the BROADCAST_CHANGE notification.
        await fake_iterm2.wait_until(
            lambda: [{s.session_id for s in d.sessions} for d in app.broadcast_domains] == [{first, second}],
            what="the broadcast-change notification",
        )
        clash = iterm2.BroadcastDomain()
        clash.add_session(app.get_session_by_id(first))
        with pytest.raises(iterm2.RPCException, match="NOT_DISJOINT"):
            await iterm2.async_set_broadcast_domains(connection, [domain, clash])


async def test_arrangements_save_list_and_restore(fake_iterm2: FakeITerm2) -> None:
    first = await fake_iterm2.open_window("sleep 60")
    await fake_iterm2.split(first, "sh -c 'echo restored; exec sleep 60'", vertical=False)
    async with fake_iterm2.connect() as connection:
        app = await iterm2.async_get_app(connection)
        await within(iterm2.Arrangement.async_save(connection, "team"))
        assert list(await iterm2.Arrangement.async_list(connection)) == ["team"]
        with pytest.raises(iterm2.SavedArrangementException, match="ARRANGEMENT_NOT_FOUND"):
            await iterm2.Arrangement.async_restore(connection, "nope")
        await within(iterm2.Arrangement.async_restore(connection, "team"))
        await app.async_refresh()
        assert len(app.windows) == 2
        restored = app.windows[1].current_tab
        assert not restored.root.vertical and len(restored.sessions) == 2
        assert fake_iterm2.launch(restored.sessions[0].session_id)[0] == ["sleep", "60"]
        await fake_iterm2.wait_for_screen(restored.sessions[1].session_id, "restored")


async def test_tab_layout_takes_the_preferred_sizes(fake_iterm2: FakeITerm2) -> None:
    first = await fake_iterm2.open_window(SHELL)
    second = await fake_iterm2.split(first, SHELL)
    async with fake_iterm2.connect() as connection:
        app = await iterm2.async_get_app(connection)
        tab = app.current_window.current_tab
        sessions = {s.session_id: s for s in tab.sessions}
        sessions[first].preferred_size = iterm2.Size(100, 48)
        sessions[second].preferred_size = iterm2.Size(59, 48)
        await within(tab.async_update_layout())
        assert fake_iterm2.session_size(first) == (100, 48)
        assert fake_iterm2.session_size(second) == (59, 48)


async def test_moves_and_apply_layout_rearrange_panes(fake_iterm2: FakeITerm2) -> None:
    first = await fake_iterm2.open_window(SHELL)
    second = await fake_iterm2.split(first, SHELL)
    third = await fake_iterm2.split(second, SHELL)
    async with fake_iterm2.connect() as connection:
        app = await iterm2.async_get_app(connection)
        if fake_iterm2.build.name == "3.6.11":  # neither the function nor the protocol version for them
            with pytest.raises(iterm2.capabilities.AppVersionTooOld):
                await app.get_session_by_id(third).async_move_to_new_tab()
            with pytest.raises(iterm2.RPCException, match=r"no function named iterm2\.apply_layout"):
                await within(iterm2.async_invoke_function(connection, 'iterm2.apply_layout(spec_json_b64: "e30=")'))
            return
        tab_id = await within(app.get_session_by_id(third).async_move_to_new_tab())
        assert fake_iterm2.tabs() == [app.current_window.tabs[0].tab_id, tab_id]
        await app.async_move_session(app.get_session_by_id(third), app.get_session_by_id(first), False, True)
        await app.async_refresh()
        tab = app.current_window.tabs[0]
        spec = {
            "tabs": [
                {
                    "tab_id": tab.tab_id,
                    "root": {"vertical": True, "children": [{"session_id": second}, {"session_id": first}]},
                }
            ],
            "close_sessions": [third],
        }
        await within(app.async_apply_layout(spec))
        assert fake_iterm2.sessions() == [second, first]
        bad = {"tabs": [{"tab_id": tab.tab_id, "root": {"vertical": True, "children": [{"session_id": first}]}}]}
        with pytest.raises(iterm2.RPCException, match="at least 2 children"):
            await app.async_apply_layout(bad)


async def test_a_new_tab_takes_the_selection_on_3_6_unless_asked_not_to_on_current(fake_iterm2: FakeITerm2) -> None:
    first = await fake_iterm2.open_window(SHELL)
    async with fake_iterm2.connect() as connection:
        app = await iterm2.async_get_app(connection)
        tab = await within(app.current_window.async_create_tab(select=False))
        selected = fake_iterm2.app.windows[0].selected_tab_id
        assert selected == (tab.tab_id if fake_iterm2.build.name == "3.6.11" else fake_iterm2.tabs()[0])
        assert fake_iterm2.active_session() == (tab.sessions[0].session_id if selected == tab.tab_id else first)


async def test_only_a_split_of_the_focused_pane_moves_the_focus(fake_iterm2: FakeITerm2) -> None:
    first = await fake_iterm2.open_window(SHELL)
    second = await fake_iterm2.split(first, SHELL)  # first had the focus: second has it now
    assert fake_iterm2.active_session() == second
    third = await fake_iterm2.split(first, SHELL)  # first is not the active pane: the focus stays
    assert fake_iterm2.active_session() == second and third in fake_iterm2.sessions()


async def test_a_squeezed_focused_pane_refuses_every_split(fake_iterm2: FakeITerm2) -> None:
    first = await fake_iterm2.open_window(SHELL)
    narrow = await fake_iterm2.split(first, SHELL)
    fake_iterm2.app.min_pane_size = (100, 2)  # both halves of 160 columns are under it now
    async with fake_iterm2.connect() as connection:
        app = await iterm2.async_get_app(connection)
        with pytest.raises(iterm2.SplitPaneException, match="CANNOT_SPLIT"):
            await within(app.get_session_by_id(first).async_split_pane(vertical=True))
        assert fake_iterm2.active_session() == narrow
        await within(app.get_session_by_id(first).async_split_pane(vertical=False))  # rows are plenty


def test_commands_follow_iterm2s_grammar_not_posix() -> None:
    from tests.fake_iterm2.command import command_argv

    assert command_argv(r"printf 'a\\b'") == ["printf", "a\\b"]  # template: \\ → \\; the split keeps \\
    assert command_argv(r"echo 'x\ny'") == ["echo", "x\ny"]  # \n is a newline, single quotes or not
    assert command_argv(r"echo 'it\'s'") == ["echo", "it\\s"]  # \' neither closes the quote nor is one
    assert command_argv(r"echo \(user.name)") is None  # an interpolation this session cannot evaluate
    assert command_argv("a\\ b ''") == ["a b", ""]
    assert command_argv("~/bin/x '~'") == [os.path.expanduser("~/bin/x"), "~"]


async def test_colours_are_drawn_from_the_mode_keys_of_a_fresh_profile(fake_iterm2: FakeITerm2) -> None:
    session_id = await fake_iterm2.open_window("sleep 30")
    async with fake_iterm2.connect() as connection:
        session = (await iterm2.async_get_app(connection)).get_session_by_id(session_id)
        change = iterm2.LocalWriteOnlyProfile()
        change.set_background_color(iterm2.Color(255, 0, 0))
        await within(session.async_set_profile_properties(change))
    assert fake_iterm2.profile(session_id)["Background Color"]["Red Component"] == 1.0
    assert fake_iterm2.shown(session_id, "Background Color")["Red Component"] == 0  # the base key is not drawn


# --------------------------------------------------------------------------------------------- registrations


async def test_status_bar_component_is_recorded_and_evaluated(fake_iterm2: FakeITerm2) -> None:
    session_id = await fake_iterm2.open_window(SHELL)
    async with fake_iterm2.connect() as connection:
        component = iterm2.StatusBarComponent(
            short_description="figures",
            detailed_description="the org's figures",
            knobs=[iterm2.StringKnob("Label", "label", "agents", "label")],
            exemplar="3 agents",
            update_cadence=None,
            identifier="com.example.figures",
        )

        @iterm2.StatusBarRPC
        async def figures(knobs: Any, session: Any = SESSION_ID, text: Any = APP_TEXT):
            return f"{knobs['label']} {text} {session}"

        await within(component.async_register(connection, figures))
        await iterm2.async_get_app(connection)
        registered = fake_iterm2.status_bar_components
        assert [c["identifier"] for c in registered] == ["com.example.figures"]
        assert registered[0]["exemplar"] == "3 agents" and registered[0]["knobs"][0]["default"] == "agents"
        app = await iterm2.async_get_app(connection)
        await app.async_set_variable("user.t", "7")
        shown = await within(fake_iterm2.evaluate_status_bar_component("com.example.figures", session_id))
        assert shown == f"agents 7 {session_id}"


async def test_registered_functions_are_invoked_with_their_arguments(fake_iterm2: FakeITerm2) -> None:
    async with fake_iterm2.connect() as connection:

        @iterm2.RPC
        async def double(x: int) -> int:
            return x * 2

        await within(double.async_register(connection))
        assert await within(iterm2.async_invoke_function(connection, "double(x: 21)")) == 42
        assert await within(fake_iterm2.call_rpc("double", x=5)) == 10
        assert [r["name"] for r in fake_iterm2.rpc_registrations] == ["double"]
        await iterm2.tool.async_register_web_view_tool(connection, "Agents", "com.example.agents", False, "http://x/")
        assert fake_iterm2.tools == [{"name": "Agents", "identifier": "com.example.agents", "url": "http://x/"}]


async def test_prompts_are_never_available_without_shell_integration(fake_iterm2: FakeITerm2) -> None:
    session_id = await fake_iterm2.open_window(SHELL)
    async with fake_iterm2.connect() as connection:
        assert await iterm2.async_get_last_prompt(connection, session_id) is None
        async with iterm2.PromptMonitor(connection, session_id, [iterm2.PromptMonitor.Mode.PROMPT]):
            pass


# --------------------------------------------------------------------------------------------- the fake's parts


def test_osc_scanner_joins_sequences_split_anywhere() -> None:
    from tests.fake_iterm2.osc import CurrentDirectory, CustomSequence, OscScanner, UserVariable

    data = (
        b'out\x1b]1337;Custom=id=tok:{"a": 1}\x07mid\x1b]0;title\x07'
        b"\x1b]1337;SetUserVar=agent=YWxwaGE=\x1b\\\x1b]1337;SetUserVar=bad=!!\x07"
        b"\x1b]1337;Custom=id=cut\x1b[0m\x1b]1337;CurrentDir=/srv\x07end"
    )
    expected = [CustomSequence("tok", '{"a": 1}'), UserVariable("agent", "alpha"), CurrentDirectory("/srv")]
    for cut in range(len(data) + 1):
        scanner = OscScanner()
        assert scanner.feed(data[:cut]) + scanner.feed(data[cut:]) == expected, cut


def test_notifications_wait_for_the_first_reply() -> None:
    from tests.fake_iterm2.server import ClientConnection

    # Request ids start at 0 and an unset notification id reads as 0: a notification sent before the
    # first reply would be taken for that reply.
    connection = ClientConnection(websocket=None, name="test")  # type: ignore[arg-type]
    note = api_pb2.Notification()
    note.focus_changed_notification.application_active = True
    connection.notify(note)
    assert connection.outbox.empty()
    connection.reply(api_pb2.ServerOriginatedMessage(id=0, focus_response=api_pb2.FocusResponse()))
    first, second = (api_pb2.ServerOriginatedMessage.FromString(connection.outbox.get_nowait()) for _ in range(2))
    assert first.HasField("focus_response") and second.HasField("notification")
