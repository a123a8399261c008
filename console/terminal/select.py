"""Which terminal the console drives (`--backend auto|tmux|iterm2`), and why, said in one line.

`auto` picks iTerm2 when the console runs in an iTerm2 session (`ITERM_SESSION_ID` is set) and iTerm2's
Python API answers; tmux otherwise, including inside a tmux pane (whose client may well run in iTerm2).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal

from .base import BackendError

PROBE_SECONDS = 3.0
BACKENDS = ("auto", "tmux", "iterm2")


@dataclass(frozen=True)
class BackendChoice:
    name: Literal["tmux", "iterm2"]
    reason: str

    @property
    def message(self) -> str:
        return f"using {'iTerm2' if self.name == 'iterm2' else 'tmux'} because {self.reason}"


async def probe_iterm2(timeout: float = PROBE_SECONDS) -> str | None:
    """None when iTerm2's Python API answers; otherwise what is wrong, in one line."""
    from .iterm2_connection import ITerm2Connection  # the iterm2 package loads only when iTerm2 is a candidate

    link = ITerm2Connection()
    try:
        await asyncio.wait_for(link.connect(), timeout)
    except BackendError as error:
        return str(error)
    except TimeoutError:
        return f"iTerm2's Python API did not answer within {timeout:.0f} s"
    finally:
        await link.close()
    return None


def _probe() -> str | None:
    return asyncio.run(probe_iterm2())


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
    problem = probe()
    if problem:
        return BackendChoice("tmux", f"iTerm2's Python API did not answer ({problem})")
    return BackendChoice("iterm2", "this is an iTerm2 session and its Python API answered")
