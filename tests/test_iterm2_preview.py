"""The preview on the iTerm2 backend: the console over the fake iTerm2 (real shells in real ptys, through the real
`iterm2` library) shows the selected agent's screen, and what the agent prints next."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agent_console.agents.spec import load_spec
from agent_console.runtime.supervisor import Supervisor
from agent_console.terminal.iterm2 import ITerm2Backend
from agent_console.tui.app import ConsoleApp
from agent_console.widgets.agent_preview import AgentPreview

from .fake_iterm2.fixture import fake_iterm2_per_build
from .test_iterm2_e2e import APP_SIZE, SPEC, until

fake_iterm2 = fake_iterm2_per_build()


@pytest.fixture
def runtime(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    short = Path(tempfile.mkdtemp(prefix="acrt", dir="/tmp"))  # the control socket's path must stay short
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(short))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    yield short
    shutil.rmtree(short, ignore_errors=True)


async def test_the_preview_follows_an_agent_s_screen_on_iterm2(fake_iterm2: Any, runtime: Path, tmp_path: Path) -> None:
    spec = tmp_path / "quad.toml"
    spec.write_text(SPEC)
    console = await fake_iterm2.open_window("sleep 600")  # the iTerm2 session the console was started in
    backend = ITerm2Backend()
    supervisor = Supervisor(load_spec(spec), backend, (200, 50), exec_pane=console)
    app = ConsoleApp(supervisor)
    async with app.run_test(size=APP_SIZE) as pilot:
        await until(lambda: supervisor.report is not None, "the org to come up", 30)
        preview = app.query_one(AgentPreview)
        await pilot.press("p")
        agent = await until(lambda: preview.agent, "an agent in the preview")
        await until(lambda: any("$" in line for line in preview.screen_view.lines), "its prompt in the preview")

        pane = supervisor.pane_of(agent)
        await backend.send_text(pane, "echo iterm-$((6*7))")
        await backend.send_keys(pane, ["Enter"])
        await until(lambda: "iterm-42" in preview.screen_view.lines, "what it printed, in the preview")
        assert fake_iterm2.errors == []
