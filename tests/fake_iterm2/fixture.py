"""The `fake_iterm2` fixture, once per iTerm2 build the fake stands in for (3.6.11 and current)."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from .builds import BUILDS
from .client import reset_iterm2_library_state
from .fake import SOCKET_PATH_LIMIT, FakeITerm2, socket_path_for


@contextlib.asynccontextmanager
async def fake_iterm2_for(build: str, monkeypatch: pytest.MonkeyPatch, **options: Any) -> AsyncIterator[FakeITerm2]:
    """A started fake of `build` under this test's HOME. Its first cookie is in ITERM2_COOKIE (as for a script
    iTerm2 starts) and the console's osascript asks it for more. At the end it is stopped, every process its
    sessions started is killed, and the library's state is reset."""
    from agent_console.terminal import iterm2_connection

    home = Path(os.environ["HOME"])
    short_home = None
    if len(os.fsencode(socket_path_for(home))) > SOCKET_PATH_LIMIT:
        # The socket lives under $HOME and unix socket paths are short: move HOME somewhere short.
        short_home = tempfile.mkdtemp(prefix="it2-", dir="/tmp")
        home = Path(short_home)
        monkeypatch.setenv("HOME", short_home)
    fake = FakeITerm2(home, build=build, **options)
    monkeypatch.setenv("ITERM2_COOKIE", fake.cookie)
    monkeypatch.setenv("ITERM2_KEY", fake.key)
    reset_iterm2_library_state()
    await fake.start()
    try:
        monkeypatch.setattr(iterm2_connection, "OSASCRIPT", str(await fake.osascript(home)))
        yield fake
    finally:
        await fake.stop()
        reset_iterm2_library_state()
        if short_home is not None:
            shutil.rmtree(short_home, ignore_errors=True)


def fake_iterm2_per_build(**options: Any) -> Any:
    """A fixture named `fake_iterm2`: `fake_iterm2_for` once per build."""

    @pytest.fixture(name="fake_iterm2", params=sorted(BUILDS))
    async def fake_iterm2(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Any]:
        async with fake_iterm2_for(request.param, monkeypatch, **options) as fake:
            yield fake

    return fake_iterm2
