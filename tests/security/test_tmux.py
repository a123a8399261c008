"""Agent text against a real private tmux: borders draw it literally, and a message typed into a pane is pasted."""

from __future__ import annotations

import asyncio
import os
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from agent_console.terminal.base import Launch, PaneStyle
from agent_console.terminal.tmux import TmuxBackend

from ..conftest import tmux, wait_for, when


@pytest.fixture
async def backend(tmux_socket: str, tmp_path: Path) -> AsyncIterator[TmuxBackend]:
    terminal = TmuxBackend(tmux_socket, "org", config_file="/dev/null")
    await terminal.attach_or_create((160, 40), "exec", Launch("sleep 600", cwd=str(tmp_path)))
    await terminal.hold_window("@0")
    yield terminal
    await terminal.close()


@pytest.fixture
def outer(tmux_socket: str) -> Iterator[str]:
    """A second private server whose pane runs a real client of the first: capturing it shows the borders."""
    name = f"{tmux_socket}-outer"
    yield name
    tmux(name, "kill-server")


def attach_and_capture(outer: str, inner: str, expect: str) -> str:
    env = {k: v for k, v in os.environ.items() if k not in ("TMUX", "TMUX_PANE")}
    client = f"env -u TMUX tmux -L {inner} attach -t org"
    subprocess.run(
        ["tmux", "-L", outer, "-f", "/dev/null", "new-session", "-d", "-x", "160", "-y", "40", client],
        check=True,
        env=env,
    )
    return wait_for(lambda: when(tmux(outer, "capture-pane", "-p"), lambda screen: expect in screen), 15, expect)


async def test_styles_and_formats_in_titles_and_badges_are_drawn_as_text(
    backend: TmuxBackend, tmux_socket: str, outer: str
) -> None:
    pane = await backend.split_pane("%0", Launch("sleep 600"))
    await backend.show_pane_borders(pane.window)
    await backend.style_pane(
        pane.pane, PaneStyle(border="#3b82f6", title="api #[fg=red]#{pane_id}##", badge="#[bg=red]ok\x1b[2K")
    )
    screen = attach_and_capture(outer, tmux_socket, "api")
    border = next(line for line in screen.splitlines() if "api" in line)
    assert "api #[fg=red]#{pane_id}##" in border
    assert "[#[bg=red]ok␛[2K]" in border


async def test_a_programs_own_title_cannot_forge_its_border(backend: TmuxBackend, tmux_socket: str, outer: str) -> None:
    forger = "read go; printf '\\033]2;#[fg=red]boss · exec\\007'; sleep 600"
    pane = await backend.split_pane("%0", Launch(f"sh -c {_sh_quote(forger)}"))
    await backend.show_pane_borders(pane.window)
    await backend.style_pane(pane.pane, PaneStyle(title="mallory · core"))
    await backend.send_keys(pane.pane, ["Enter"])  # now the program sets its own title
    wait_for(lambda: "boss" in tmux(tmux_socket, "display", "-p", "-t", pane.pane, "#{pane_title}"), 10, "the forgery")
    screen = attach_and_capture(outer, tmux_socket, "mallory · core")
    # the border leads with the label the console gave; the program's own title can only follow it, as text
    border = next(line for line in screen.splitlines() if "mallory · core" in line)
    assert border.index("mallory · core") < border.index("boss"), border
    assert "#[fg=red]boss · exec" in border, border  # its style code drawn, not obeyed
    assert not any("boss" in line and "mallory" not in line for line in screen.splitlines()), screen


async def test_a_two_line_message_runs_nothing_until_it_is_submitted(backend: TmuxBackend, tmp_path: Path) -> None:
    one, two = tmp_path / "one", tmp_path / "two"
    pane = await backend.split_pane("%0", Launch("bash --norc --noprofile", cwd=str(tmp_path)))
    await _prompt(backend, pane.pane)
    await backend.send_text(pane.pane, f"touch {one}\ntouch {two}")
    screen = await _screen_with(backend, pane.pane, f"touch {two}")
    # pasted, not typed: the line break pressed no Enter, so no prompt came back between the two lines
    second = next(line for line in screen.splitlines() if f"touch {two}" in line)
    assert second.startswith("touch") and not one.exists(), screen
    await backend.send_keys(pane.pane, ["Enter"])
    await _until(lambda: one.exists() and two.exists())  # the submit key sends the message as written


async def test_control_characters_in_a_message_press_no_keys(backend: TmuxBackend, tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    pane = await backend.split_pane("%0", Launch("bash --norc --noprofile", cwd=str(tmp_path)))
    await _prompt(backend, pane.pane)
    # ^C would cancel the line, ^U erase it, ^D end the shell; an end-of-paste would end the paste early
    await backend.send_text(pane.pane, f"echo kept\x03\x15\x04\x1b[201~; touch {marker}")
    await backend.send_keys(pane.pane, ["Enter"])
    # one command line, run whole: the shell is alive, read every character, and printed them as text
    await _until(marker.exists)
    assert "\nkept␃␕␄␛[201~\n" in await backend.capture(pane.pane)


async def test_figures_in_the_status_line_run_no_command_and_obey_no_style(
    backend: TmuxBackend, tmux_socket: str, outer: str, tmp_path: Path
) -> None:
    marker = tmp_path / "ran"
    await backend.tag_window("@0", "org", 0)  # an org window: its status line shows the figures
    await backend.install_status_bar()
    # text an org's names cannot hold (they are checked), sent anyway: the backend trusts no caller with tmux's syntax
    await backend.show_figures(f"org: #(touch {marker}) #[fg=red]red #{{pane_id}} ##x\x1b[2K")
    screen = attach_and_capture(outer, tmux_socket, "org: ")
    status = screen.splitlines()[-1]
    assert f"org: #(touch {marker}) #[fg=red]red #{{pane_id}} ##x␛[2K" in status, status
    await asyncio.sleep(1)  # tmux runs a status line's #() jobs in the background: give one the time to run
    assert not marker.exists()
    # the legitimate path: the figures follow, drawn as they are
    await backend.show_figures("org: 1 pending · 2 working")
    wait_for(lambda: "org: 1 pending · 2 working" in tmux(outer, "capture-pane", "-p").splitlines()[-1], 10, "figures")


async def _prompt(backend: TmuxBackend, pane: str) -> None:
    await backend.send_keys(pane, ["Enter"])
    await _screen_with(backend, pane, "bash-")


async def _screen_with(backend: TmuxBackend, pane: str, text: str, timeout: float = 10) -> str:
    for _ in range(int(timeout / 0.05)):
        screen = await backend.capture(pane)
        if text in screen:
            return screen
        await asyncio.sleep(0.05)
    raise AssertionError(f"{text!r} never showed in:\n{await backend.capture(pane)}")


async def _until(condition, timeout: float = 10) -> None:
    for _ in range(int(timeout / 0.05)):
        if condition():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("timed out")


def _sh_quote(text: str) -> str:
    return "'" + text.replace("'", "'\\''") + "'"
