"""Which terminal the console drives (`--backend auto|tmux|iterm2`), and why, said in one line.

`auto` picks iTerm2 when the console runs in an iTerm2 session (`ITERM_SESSION_ID` is set and `TERM_PROGRAM`
or `LC_TERMINAL` says iTerm2: another terminal started from an iTerm2 shell inherits the first only) and
iTerm2's Python API answers; tmux otherwise, including inside a tmux pane (whose client may well run in iTerm2).

The probe's connection is the console's: iTerm2 spends a cookie on each connection, and a script iTerm2 starts
gets one. So the probe keeps its connection and its event loop, and the console runs on that loop.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from .base import BackendError

if TYPE_CHECKING:
    from .iterm2_connection import ITerm2Connection

PROBE_SECONDS = 3.0  # for iTerm2 to answer; the user's answer to its permission dialog is not counted
BACKENDS = ("auto", "tmux", "iterm2")


@dataclass(frozen=True)
class BackendChoice:
    name: Literal["tmux", "iterm2"]
    reason: str

    @property
    def message(self) -> str:
        return f"using {'iTerm2' if self.name == 'iterm2' else 'tmux'} because {self.reason}"


_probed: list[tuple[asyncio.AbstractEventLoop, ITerm2Connection]] = []  # the probe's live connection


async def probe_iterm2(timeout: float = PROBE_SECONDS, say: Callable[[str], None] | None = None) -> str | None:
    """None when iTerm2's Python API answers (its connection is kept for the console); else what is wrong."""
    from .iterm2_connection import ITerm2Connection  # the iterm2 package loads only when iTerm2 is a candidate

    link = ITerm2Connection()
    try:
        await link.connect(timeout, say)
    except BackendError as error:
        await link.close()
        return str(error)
    _probed.append((asyncio.get_running_loop(), link))
    return None


def take_probed_connection(loop: asyncio.AbstractEventLoop | None = None) -> ITerm2Connection | None:
    """The probe's connection (once), if it lives on `loop` (any loop when None)."""
    for index, (probed_loop, link) in enumerate(_probed):
        if loop is None or probed_loop is loop:
            del _probed[index]
            return link
    return None


def console_loop() -> asyncio.AbstractEventLoop:
    """The event loop to run the console on: the probe's, where its connection lives (else a new one)."""
    return _probed[-1][0] if _probed else asyncio.new_event_loop()


def _say(message: str) -> None:
    print(f"agent-console: {message}", file=sys.stderr, flush=True)


def _probe() -> str | None:
    loop = asyncio.new_event_loop()
    problem = loop.run_until_complete(probe_iterm2(say=_say))
    if problem:
        loop.close()
    return problem


def choose_backend(
    requested: str, environ: Mapping[str, str], probe: Callable[[], str | None] = _probe
) -> BackendChoice:
    """The backend for `--backend requested`; `BackendError` when iTerm2 is asked for and cannot be used."""
    if requested == "tmux":
        return BackendChoice("tmux", "--backend tmux asked for it")
    if requested == "iterm2":
        problem = probe()
        if problem:
            raise BackendError(f"--backend iterm2: {problem}")
        return BackendChoice("iterm2", "--backend iterm2 asked for it and its Python API answered")
    if requested != "auto":
        raise BackendError(f"--backend {requested!r}: choose one of {', '.join(BACKENDS)}")
    if environ.get("TMUX"):
        return BackendChoice("tmux", "this terminal is a tmux pane (TMUX is set)")
    if not environ.get("ITERM_SESSION_ID"):
        return BackendChoice("tmux", "this is not an iTerm2 session (ITERM_SESSION_ID is not set)")
    program, terminal = environ.get("TERM_PROGRAM"), environ.get("LC_TERMINAL")
    if program != "iTerm.app" and terminal != "iTerm2":
        said = f"TERM_PROGRAM is {program}" if program else f"LC_TERMINAL is {terminal or 'not set'}"
        return BackendChoice("tmux", f"this terminal is not iTerm2 ({said}; ITERM_SESSION_ID was inherited)")
    problem = probe()
    if problem:
        return BackendChoice("tmux", f"iTerm2's Python API did not answer ({problem})")
    return BackendChoice("iterm2", "this is an iTerm2 session and its Python API answered")
