"""The iTerm2 backend beyond what tmux also does: building the plan's tree by splitting, batched profile
changes, buried sessions, broadcast domains, arrangements, the status-bar component, the jump-back key, the
choice of backend, and one clear line (never a traceback) when iTerm2 cannot be reached."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agent_console.agents.errors import InvalidInput, NotFound
from agent_console.agents.layout import Node, Pane, Split, layout_cells
from agent_console.terminal.base import (
    BackendError,
    BackendLost,
    Launch,
    PaneClosed,
    PaneExited,
    PaneFocused,
    PaneOutput,
    PaneStyle,
)
from agent_console.terminal.iterm2 import ITerm2Backend, iterm2_command, key_text, session_id_from_environment
from agent_console.terminal.iterm2_layout import cell_shape, shape_text, split_steps
from agent_console.terminal.select import choose_backend, take_probed_connection

from .event_recorder import Recorder
from .fake_iterm2.fixture import fake_iterm2_per_build

# ------------------------------------------------------------------------------------------ pure parts

fake_iterm2 = fake_iterm2_per_build()


def _split_like_iterm2(tree: list, target: str, new: str, vertical: bool) -> None:
    """iTerm2's rule: the new pane joins the target's splitter when it runs the same way (or holds only the
    target), else the target becomes a new splitter of the two."""
    for index, child in enumerate(tree[1:], start=1):
        if isinstance(child, list):
            _split_like_iterm2(child, target, new, vertical)
        elif child == target:
            if len(tree) == 2 or tree[0] == vertical:
                tree[0] = vertical
                tree.insert(index + 1, new)
            else:
                tree[index] = [vertical, target, new]
            return


def _shape(tree: list | str) -> Any:
    if isinstance(tree, str):
        return tree
    direction = "h" if tree[0] else "v"
    children: list = []
    for child in tree[1:]:
        shape = _shape(child)
        if isinstance(shape, tuple) and shape[0] == direction:
            children.extend(shape[1])
        else:
            children.append(shape)
    return children[0] if len(children) == 1 else (direction, tuple(children))


def _trees(depth: int = 3) -> st.SearchStrategy[Node]:
    names = iter(f"s{i}" for i in range(10_000))
    leaf = st.builds(lambda: Pane(next(names)))
    return st.recursive(
        leaf,
        lambda children: st.builds(
            lambda direction, kids: Split(direction, tuple(kids), (1,) * len(kids)),
            st.sampled_from(["h", "v"]),
            st.lists(children, min_size=1, max_size=4),
        ),
        max_leaves=12,
    )


@settings(max_examples=200, deadline=None)
@given(_trees())
def test_split_steps_build_the_plan_tree(root: Node) -> None:
    steps = split_steps(root)
    slots = [slot for slot, _, _ in steps]
    tree: list = [False, slots[0]]
    for slot, anchor, direction in steps[1:]:
        assert anchor in str(tree)  # a step only splits a pane that already exists
        _split_like_iterm2(tree, anchor, slot, direction == "h")
    leaves = [leaf for leaf in _leaves(root)]
    cells = layout_cells(root, 1000, 1000)
    assert sorted(slots) == sorted(leaves)
    assert _shape(tree) == cell_shape(cells, leaves)


def _leaves(node: Node) -> list[str]:
    return [node.slot] if isinstance(node, Pane) else [leaf for child in node.children for leaf in _leaves(child)]


def test_split_steps_go_top_down() -> None:
    root = Split("h", (Split("v", (Pane("a"), Pane("b")), (1, 1)), Split("v", (Pane("c"), Pane("d")), (1, 1))), (1, 1))
    assert split_steps(root) == [("a", None, None), ("c", "a", "h"), ("b", "a", "v"), ("d", "c", "v")]
    assert shape_text(cell_shape(layout_cells(root, 100, 40), ["a", "b", "c", "d"])) == "h(v(a,b),v(c,d))"


def test_key_names_become_what_the_keys_type() -> None:
    assert [key_text(key) for key in ["Enter", "Escape", "C-c", "Up", "M-x", "y"]] == [
        "\r",
        "\x1b",
        "\x03",
        "\x1b[A",
        "\x1bx",
        "y",
    ]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text(st.characters(blacklist_characters="\0", blacklist_categories=("Cs",))), min_size=1))
def test_any_argv_survives_iterm2s_command_grammar(argv: list[str]) -> None:
    from tests.fake_iterm2.command import command_argv

    assert command_argv(iterm2_command(argv)) == argv


def test_session_id_is_read_from_iterm_session_id() -> None:
    assert session_id_from_environment("w0t1p2:6B5A5B3C-1234") == "6B5A5B3C-1234"
    assert session_id_from_environment(None) is None


def test_auto_picks_iterm2_only_in_an_iterm2_session_whose_api_answers() -> None:
    answers = lambda: None  # noqa: E731
    silent = lambda: "cannot reach iTerm2's Python API"  # noqa: E731
    iterm = {"ITERM_SESSION_ID": "w0t0p0:X", "TERM_PROGRAM": "iTerm.app"}
    chosen = choose_backend("auto", iterm, answers)
    assert chosen.name == "iterm2" and chosen.message.startswith("using iTerm2 because")
    assert choose_backend("auto", {"ITERM_SESSION_ID": "w0t0p0:X", "LC_TERMINAL": "iTerm2"}, answers).name == "iterm2"
    fallback = choose_backend("auto", iterm, silent)
    assert fallback.name == "tmux" and "cannot reach iTerm2's Python API" in fallback.message
    assert choose_backend("auto", {}, answers).message == (
        "using tmux because this is not an iTerm2 session (ITERM_SESSION_ID is not set)"
    )
    # A terminal started from an iTerm2 shell inherits ITERM_SESSION_ID, not the terminal.
    inherited = choose_backend("auto", {"ITERM_SESSION_ID": "w0t0p0:X", "TERM_PROGRAM": "Apple_Terminal"}, answers)
    assert inherited.name == "tmux" and "TERM_PROGRAM is Apple_Terminal" in inherited.message
    assert choose_backend("auto", {**iterm, "TMUX": "/tmp/t,1,0"}, answers).name == "tmux"
    assert choose_backend("tmux", iterm, answers).name == "tmux"
    with pytest.raises(BackendError, match="--backend iterm2: cannot reach"):
        choose_backend("iterm2", {}, silent)


# ------------------------------------------------------------------------------- against the fake iTerm2


@pytest.fixture
async def backend(fake_iterm2: Any, tmp_path: Path) -> AsyncIterator[ITerm2Backend]:
    terminal = ITerm2Backend("org")
    await terminal.attach_or_create((160, 48), "exec", Launch("sleep 600", cwd=str(tmp_path)))
    yield terminal
    await terminal.close()


async def _first(backend: ITerm2Backend) -> str:
    return (await backend.list_panes(all_sessions=False))[0].pane


async def test_a_style_is_one_batched_profile_change(backend: ITerm2Backend, fake_iterm2: Any) -> None:
    pane = await backend.split_pane(await _first(backend), Launch("sleep 30"))
    sent: list[Any] = []
    connection = backend.link.connection
    original = connection.async_send_message

    async def spy(message: Any) -> None:
        sent.append(message)
        await original(message)

    connection.async_send_message = spy  # type: ignore[method-assign]
    await backend.style_pane(
        pane.pane, PaneStyle(background="#001020", border="#3b82f6", title="api · backend", badge="◆ waiting")
    )
    requests = [m for m in sent if m.WhichOneof("submessage") == "set_profile_property_request"]
    assert len(requests) == 1  # one round trip for every aspect
    assert {a.key for a in requests[0].set_profile_property_request.assignments} == {
        *(
            f"{key} ({mode})"
            for key in ("Background Color", "Tab Color", "Use Tab Color")
            for mode in ("Light", "Dark")
        ),
        "Badge Text",
    }
    assert fake_iterm2.variables(pane.pane)["name"] == "api · backend"  # the session's name is its title
    profile = fake_iterm2.profile(pane.pane)
    assert profile["Badge Text"] == "◆ waiting" and fake_iterm2.shown(pane.pane, "Use Tab Color") is True
    assert round(fake_iterm2.shown(pane.pane, "Background Color")["Blue Component"] * 255) == 0x20
    await backend.style_pane(pane.pane, PaneStyle(background="default"))
    assert fake_iterm2.shown(pane.pane, "Background Color")["Blue Component"] == 0  # the profile's own again


async def test_a_background_worker_is_buried_and_comes_back(backend: ITerm2Backend, fake_iterm2: Any) -> None:
    first = await _first(backend)
    worker = await backend.split_pane(first, Launch("sleep 30"))
    tab = worker.window
    await backend.set_identity(worker.pane, "org", "worker", {"team": "ops"})
    sent: list[Any] = []
    connection = backend.link.connection
    original = connection.async_send_message

    async def spy(message: Any) -> None:
        sent.append(message)
        await original(message)

    connection.async_send_message = spy  # type: ignore[method-assign]
    info = await backend.bury(worker.pane)
    requests = [m.set_property_request for m in sent if m.WhichOneof("submessage") == "set_property_request"]
    assert [(r.session_id, r.name, r.json_value) for r in requests] == [(worker.pane, "buried", "true")]
    assert info.buried and info.window == "buried" and info.alive  # it keeps running, off screen
    assert fake_iterm2.buried_sessions() == [worker.pane]
    listed = {info.pane: info for info in await backend.list_panes()}
    assert listed[worker.pane].buried and listed[worker.pane].agent == "worker"
    assert not listed[first].buried
    assert (await backend.bury(worker.pane)).buried  # burying a buried session is no error (iTerm2 says OK)
    info = await backend.bury(worker.pane, buried=False)
    assert fake_iterm2.buried_sessions() == [] and not info.buried
    assert info.window == tab  # back in the tab it was buried from, as iTerm2 restores it


async def test_a_team_is_a_broadcast_domain_and_private_text_stays_private(
    backend: ITerm2Backend, fake_iterm2: Any
) -> None:
    first = await _first(backend)
    one = await backend.split_pane(first, Launch("cat"))
    two = await backend.split_pane(one.pane, Launch("cat"))
    await backend.set_broadcast([[one.pane, two.pane]])
    assert fake_iterm2.broadcast_domains() == [[one.pane, two.pane]]
    assert await backend.broadcast_groups() == [[one.pane, two.pane]]
    await backend.send_text(one.pane, "private\r")  # a message to one agent: suppress_broadcast
    await backend.send_text(one.pane, "to the team\r", broadcast=True)
    assert fake_iterm2.input_log(one.pane) == b"private\rto the team\r"
    assert fake_iterm2.input_log(two.pane) == b"to the team\r"


async def test_a_message_of_several_lines_is_pasted_and_only_enter_submits_it(
    backend: ITerm2Backend, fake_iterm2: Any
) -> None:
    pane = await backend.split_pane(await _first(backend), Launch("cat"))
    await backend.send_text(pane.pane, "echo one\necho TWO")  # typed raw, the line break would run the first
    await backend.send_keys(pane.pane, ["Enter"])
    assert fake_iterm2.input_log(pane.pane) == b"\x1b[200~echo one\necho TWO\x1b[201~\r"


async def test_an_arrangement_is_saved_and_restored(backend: ITerm2Backend, fake_iterm2: Any, tmp_path: Path) -> None:
    await backend.split_pane(await _first(backend), Launch("sleep 30"), direction="h")
    kept = await backend.save_arrangement("quad", tmp_path)
    assert kept == "this iTerm2 window, 2 pane(s), kept by iTerm2"
    assert await backend.arrangement_names(tmp_path) == ["quad"]
    assert list(tmp_path.iterdir()) == []  # iTerm2 keeps it, not the console
    windows = fake_iterm2.windows()
    said = await backend.restore_arrangement("quad", tmp_path)
    assert said and "new windows with new sessions" in said[0]
    restored = [window for window in fake_iterm2.windows() if window not in windows]
    assert len(restored) == 1
    assert len(fake_iterm2.sessions()) == 4  # both panes again, in a new window
    with pytest.raises(NotFound, match="iTerm2 has no arrangement 'nope'"):
        await backend.restore_arrangement("nope", tmp_path)
    with pytest.raises(InvalidInput, match=r"'\.\./quad' is not an arrangement name"):
        await backend.save_arrangement("../quad", tmp_path)
    assert await backend.arrangement_names(tmp_path) == ["quad"]


async def test_the_status_bar_shows_the_org_figures(backend: ITerm2Backend, fake_iterm2: Any) -> None:
    from agent_console.terminal.iterm2 import STATUS_BAR_ID

    await backend.install_status_bar()
    assert [component["identifier"] for component in fake_iterm2.status_bar_components] == [STATUS_BAR_ID]
    first = await _first(backend)
    assert await fake_iterm2.evaluate_status_bar_component(STATUS_BAR_ID, first) == "agent-console"
    await backend.show_figures("quad — 1 pending — 4 agents: 3 working · 1 waiting")
    shown = await fake_iterm2.evaluate_status_bar_component(STATUS_BAR_ID, first)
    assert shown == "quad — 1 pending — 4 agents: 3 working · 1 waiting"


async def test_a_pulse_shows_the_tab_in_white_then_its_colour_again(backend: ITerm2Backend, fake_iterm2: Any) -> None:
    pane = await backend.split_pane(await _first(backend), Launch("sleep 30"))
    untouched = await backend.split_pane(await _first(backend), Launch("sleep 30"))

    def tab(which: str) -> tuple[int, int, int]:
        color = fake_iterm2.shown(which, "Tab Color")
        return tuple(round(color[f"{part} Component"] * 255) for part in ("Red", "Green", "Blue"))  # type: ignore[return-value]

    await backend.style_pane(pane.pane, PaneStyle(border="#f59e0b"))
    await backend.pulse_pane(pane.pane, True)
    assert tab(pane.pane) == (0xFF, 0xFF, 0xFF) and fake_iterm2.shown(pane.pane, "Use Tab Color") is True
    await backend.pulse_pane(pane.pane, False)
    assert tab(pane.pane) == (0xF5, 0x9E, 0x0B)
    # a pane the console never coloured gets its profile's own tab back (none shown)
    before = fake_iterm2.shown(untouched.pane, "Use Tab Color")
    await backend.pulse_pane(untouched.pane, True)
    assert fake_iterm2.shown(untouched.pane, "Use Tab Color") is True
    await backend.pulse_pane(untouched.pane, False)
    assert fake_iterm2.shown(untouched.pane, "Use Tab Color") == before


async def test_the_jump_back_key_returns_to_the_console(backend: ITerm2Backend, fake_iterm2: Any) -> None:
    console = await _first(backend)
    agent = await backend.split_pane(console, Launch("cat"))
    recorder = Recorder(backend)
    try:
        await backend.install_jump_back("M-e", console)
        assert fake_iterm2.active_session() == console  # a split leaves the focus where it was
        await fake_iterm2.focus(agent.pane)
        await recorder.wait_for(lambda e: isinstance(e, PaneFocused) and e.pane == agent.pane)
        await fake_iterm2.type_keys(agent.pane, "e")  # a plain e is typed, and goes nowhere
        await fake_iterm2.wait_for_screen(agent.pane, "e")
        assert fake_iterm2.active_session() == agent.pane
        mark = len(recorder.events)
        await fake_iterm2.type_keys(agent.pane, b"\x1be")  # Option-e
        await recorder.wait_for(lambda e: isinstance(e, PaneFocused) and e.pane == console, start=mark)
        assert fake_iterm2.active_session() == console
        assert fake_iterm2.input_log(agent.pane) == b"e"  # the filter kept iTerm2 from typing Option-e
    finally:
        await recorder.stop()


async def test_iterm2_going_away_is_pushed_and_later_calls_say_so(backend: ITerm2Backend, fake_iterm2: Any) -> None:
    from agent_console.terminal.base import BackendGone

    recorder = Recorder(backend)
    try:
        await fake_iterm2.stop()
        lost = await recorder.wait_for(lambda e: isinstance(e, BackendLost))
        assert "iTerm2" in lost.reason
        with pytest.raises(BackendGone, match="iTerm2 went away"):
            await backend.list_panes()
        assert not await backend.alive()
    finally:
        await recorder.stop()


async def test_no_iterm2_is_one_clear_line(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))  # no API socket there
    monkeypatch.setenv("ITERM2_COOKIE", "cookie")
    with pytest.raises(BackendError) as raised:
        await ITerm2Backend("org").attach()
    message = str(raised.value)
    assert message.startswith("cannot reach iTerm2's Python API at ")
    assert "Enable Python API" in message and "\n" not in message


async def test_a_refused_cookie_is_replaced_by_a_fresh_one(fake_iterm2: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ITERM2_COOKIE", "spent-long-ago")
    backend = ITerm2Backend("org")
    try:
        await backend.connect()  # osascript (the fixture's stand-in) asked iTerm2 for another
    finally:
        await backend.close()
    assert fake_iterm2.rejected_connections == ["wrong cookie"] and fake_iterm2.cookie_requests == 1


async def test_a_wrong_cookie_is_one_clear_line(fake_iterm2: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from agent_console.terminal import iterm2_connection

    monkeypatch.setattr(iterm2_connection, "OSASCRIPT", "/nonexistent/osascript")  # not macOS
    monkeypatch.setenv("ITERM2_COOKIE", "not-the-cookie")
    backend = ITerm2Backend("org")
    with pytest.raises(BackendError, match=r"^iTerm2 refused the connection: the cookie in ITERM2_COOKIE is not"):
        await backend.attach()
    await backend.close()
    assert fake_iterm2.rejected_connections == ["wrong cookie"]
    assert os.environ["ITERM2_COOKIE"] == "not-the-cookie"  # not deleted, unlike the library's own retry


def test_the_cli_says_why_iterm2_cannot_be_used_without_a_traceback(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("TMUX", "TMUX_PANE", "ITERM_SESSION_ID")}
    env.update(HOME=str(tmp_path), ITERM2_COOKIE="cookie", ITERM2_KEY="key")
    result = subprocess.run(
        [sys.executable, "-m", "agent_console.cli", "--backend", "iterm2"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("agent-console: error: --backend iterm2: cannot reach iTerm2's Python API at ")
    assert "Traceback" not in result.stderr + result.stdout


async def test_outside_iterm2_the_console_opens_an_iterm2_window(fake_iterm2: Any, tmp_path: Path) -> None:
    from agent_console.agents.model import Org
    from agent_console.cli.start import _open_iterm2_window

    before = fake_iterm2.sessions()
    await _open_iterm2_window(Org(name="quad"), ["--version"], (160, 48))
    (session,) = [session for session in fake_iterm2.sessions() if session not in before]
    argv, _, _ = fake_iterm2.launch(session)
    assert "agent_console.cli --version" in argv[-1]
    await fake_iterm2.wait_for_screen(session, "agent-console 0.1.0")  # the command really ran there
    assert fake_iterm2.active_session() == session


async def test_shell_integration_prompts_become_events(backend: ITerm2Backend) -> None:
    """The fake runs no shell integration: its notifications are handed to the library as iTerm2 sends them."""
    from iterm2 import api_pb2

    from agent_console.terminal.base import PanePrompt

    pane = await backend.split_pane(await _first(backend), Launch("sleep 30"))
    recorder = Recorder(backend)
    try:
        notes = [
            api_pb2.PromptNotification(session=pane.pane, command_start=api_pb2.PromptNotificationCommandStart()),
            api_pb2.PromptNotification(session=pane.pane, command_end=api_pb2.PromptNotificationCommandEnd()),
            api_pb2.PromptNotification(session=pane.pane, prompt=api_pb2.PromptNotificationPrompt()),
        ]
        notes[0].command_start.command = "make test"
        notes[1].command_end.status = 2
        for note in notes:
            message = api_pb2.ServerOriginatedMessage()
            message.notification.prompt_notification.CopyFrom(note)
            await backend.link.connection._async_dispatch_to_helper(message)
        await recorder.wait_for(lambda e: isinstance(e, PanePrompt) and e.phase == "prompt")
        prompts = [e for e in recorder.events if isinstance(e, PanePrompt)]
        assert prompts == [
            PanePrompt(pane.pane, "command", command="make test"),
            PanePrompt(pane.pane, "finished", status=2),
            PanePrompt(pane.pane, "prompt"),
        ]
    finally:
        await recorder.stop()


async def test_a_pane_keeps_its_id_when_iterm2_restarts_it_as_a_new_session(
    backend: ITerm2Backend, fake_iterm2: Any
) -> None:
    launch = Launch("echo ready; sleep 0.2; exit 3")
    pane = await backend.split_pane(await _first(backend), launch)
    await backend.set_identity(pane.pane, "org", "worker")
    recorder = Recorder(backend)
    try:
        await recorder.wait_for(lambda e: isinstance(e, PaneExited) and e.pane == pane.pane)
        mark = len(recorder.events)
        await backend.respawn_pane(pane.pane, launch)
        assert pane.pane not in fake_iterm2.sessions()  # iTerm2 knows the pane by a new id now
        listed = {info.pane: info for info in await backend.list_panes()}
        assert listed[pane.pane].agent == "worker" and listed[pane.pane].alive
        await recorder.wait_for(lambda e: isinstance(e, PaneExited) and e.pane == pane.pane, start=mark)
        assert not [e for e in recorder.events if isinstance(e, PaneClosed)]
        await backend.style_pane(pane.pane, PaneStyle(badge="● working"))
        assert [fake_iterm2.profile(sid)["Badge Text"] for sid in fake_iterm2.sessions()][-1] == "● working"
    finally:
        await recorder.stop()


# ------------------------------------------------------------------------------ iTerm2 as it really behaves


async def test_a_pane_whose_pid_is_not_known_yet_is_starting_not_exited(
    backend: ITerm2Backend, fake_iterm2: Any
) -> None:
    pane = await backend.split_pane(await _first(backend), Launch("sleep 30"))
    assert fake_iterm2.variables(pane.pane)["pid"] is None  # iTerm2 has not learnt it yet
    assert pane.alive and (await backend.pane(pane.pane)).alive


async def test_a_launch_reaches_its_program_intact(backend: ITerm2Backend, fake_iterm2: Any, tmp_path: Path) -> None:
    tricky = "a\\b \\n 'q' \\'x\\' \\(user.name) $HOME ~ \"dq\" \\t"
    out = tmp_path / "out"
    script = f'printf "%s|%s" "$TRICKY" "$PWD" > {out}; printf "%s\\n" {shlex.quote(tricky)} >> {out}; sleep 30'
    await backend.split_pane(await _first(backend), Launch(script, cwd=str(tmp_path), env={"TRICKY": tricky}))
    await fake_iterm2.wait_until(lambda: out.exists() and out.read_text().endswith("\n"), what="the program's output")
    assert out.read_text() == f"{tricky}|{tmp_path}{tricky}\n"


async def test_a_restart_follows_the_new_session_and_its_reports_arrive(
    backend: ITerm2Backend, fake_iterm2: Any, tmp_path: Path
) -> None:
    flag = tmp_path / "runs"
    launch = Launch(f"echo run >> {flag}; exec sh", env={"PS1": "$ "})
    pane = await backend.split_pane(await _first(backend), launch)
    await backend.set_identity(pane.pane, "org", "worker")
    await fake_iterm2.wait_until(lambda: flag.exists(), what="the first run")
    recorder = Recorder(backend)
    try:
        await backend.respawn_pane(pane.pane, launch)  # iTerm2 answers first, relaunches with a new id later
        assert flag.read_text() == "run\nrun\n"  # the program ran again before respawn_pane returned
        assert fake_iterm2.current_id(pane.pane) != pane.pane
        listed = {info.pane: info for info in await backend.list_panes()}
        assert listed[pane.pane].agent == "worker" and listed[pane.pane].alive
        await backend.send_text(pane.pane, "printf '\\033]1337;Custom=id=tok:cmVwb3J0\\007'\r")
        report = await recorder.wait_for(lambda e: isinstance(e, PaneOutput) and b"cmVwb3J0" in e.data)
        assert report.pane == pane.pane  # the new session's report, under the pane's id
        assert not [e for e in recorder.events if isinstance(e, PaneClosed | PaneExited)]
    finally:
        await recorder.stop()


async def test_a_new_tab_leaves_the_console_its_keyboard_focus(backend: ITerm2Backend, fake_iterm2: Any) -> None:
    console = await _first(backend)
    await backend.select_pane(console)
    await backend.new_window("team", Launch("sleep 30"))  # 3.6.x selects every new tab
    assert fake_iterm2.active_session() == console


async def test_a_refused_split_is_tried_again_from_the_target(backend: ITerm2Backend, fake_iterm2: Any) -> None:
    console = await _first(backend)
    squeezed = await backend.split_pane(console, Launch("sleep 30"), direction="h")
    other = await backend.new_window("team", Launch("sleep 30"))
    await backend.select_pane(squeezed.pane)  # the human works in a narrow pane
    fake_iterm2.app.min_pane_size = (100, 2)
    made = await backend.split_pane(other.pane, Launch("sleep 30"), direction="h")
    assert made.window == other.window
    assert fake_iterm2.active_session() == squeezed.pane  # and keeps working there


async def test_colours_go_to_the_keys_the_profile_draws_from(backend: ITerm2Backend, fake_iterm2: Any) -> None:
    pane = await backend.split_pane(await _first(backend), Launch("sleep 30"))
    await backend.style_pane(pane.pane, PaneStyle(background="#102030", border="#3b82f6"))
    for dark in (True, False):
        assert round(fake_iterm2.shown(pane.pane, "Background Color", dark)["Blue Component"] * 255) == 0x30
        assert round(fake_iterm2.shown(pane.pane, "Tab Color", dark)["Blue Component"] * 255) == 0xF6
        assert fake_iterm2.shown(pane.pane, "Use Tab Color", dark) is True
    await backend.style_pane(pane.pane, PaneStyle(background="default"))
    assert fake_iterm2.shown(pane.pane, "Background Color")["Blue Component"] == 0


async def test_leaving_iterm2_moves_the_focus_off_every_pane(backend: ITerm2Backend, fake_iterm2: Any) -> None:
    pane = await backend.split_pane(await _first(backend), Launch("sleep 30"))
    recorder = Recorder(backend)
    try:
        await fake_iterm2.focus(pane.pane)
        await recorder.wait_for(lambda e: isinstance(e, PaneFocused) and e.pane == pane.pane)
        mark = len(recorder.events)
        await fake_iterm2.switch_app(False)
        await recorder.wait_for(lambda e: isinstance(e, PaneFocused) and e.pane == "", start=mark)
        mark = len(recorder.events)
        await fake_iterm2.switch_app(True)
        await recorder.wait_for(lambda e: isinstance(e, PaneFocused) and e.pane == pane.pane, start=mark)
    finally:
        await recorder.stop()


async def test_the_probe_waits_for_the_user_to_allow_access(fake_iterm2: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from agent_console.terminal.select import probe_iterm2

    monkeypatch.delenv("ITERM2_COOKIE")  # a shell's console: it asks iTerm2 for a cookie
    fake_iterm2.cookie_dialog = 1.0  # the user reads iTerm2's dialog longer than the probe waits for iTerm2
    said: list[str] = []
    problem = await probe_iterm2(timeout=0.5, say=said.append)
    try:
        assert problem is None and fake_iterm2.cookie_requests == 1
        assert said == ["asking iTerm2 for access to its Python API (allow it in the dialog iTerm2 shows)"]
    finally:
        await take_probed_connection().close()
