"""The preview follows a real Claude Code (offline, against the stub model): its answer appears in the preview,
with the state and the hook behind it."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from functools import partial
from pathlib import Path

from textual.pilot import Pilot

from agent_console.agents.events import AgentState
from agent_console.tui.app import ConsoleApp
from agent_console.widgets.agent_preview import AgentPreview
from tests import test_real_agents_console as real
from tests.stub_models.anthropic import AnthropicStub

start = real.start  # the fixture: a supervisor over one real agent program in a private tmux

MARK = "PREVIEW-MARK-4711"


async def until(pilot: Pilot, what: str, condition: Callable[[], object], timeout: float = real.STEP_TIMEOUT) -> None:
    async def wait() -> None:
        while not condition():
            await pilot.pause(0.05)

    try:
        await asyncio.wait_for(wait(), timeout)
    except TimeoutError:
        preview = pilot.app.query_one(AgentPreview)
        lines = "\n".join(preview.screen_view.lines)
        raise AssertionError(f"timed out waiting for {what}; the preview shows:\n{lines}") from None


def in_the_app(app: ConsoleApp) -> None:
    """The supervisor started before the app (the fixture's): what it tells the app is handed to the app's own
    loop turn, as it is when the app starts the supervisor (timers the app sets need the app's context)."""
    supervisor = app.supervisor
    for listeners in (supervisor.listeners, supervisor.focus_listeners, supervisor.screens.screen_listeners):
        for index, listener in enumerate(listeners):
            if getattr(listener, "__self__", None) is app:
                listeners[index] = partial(app.call_later, listener)


async def test_the_preview_follows_claude_code_s_screen(start: real.Starter, tmp_path: Path) -> None:
    run = await real.claude(start, tmp_path)
    stub: AnthropicStub = run.stub  # type: ignore[assignment]
    app = ConsoleApp(run.supervisor, start_supervisor=False)
    async with app.run_test(size=(120, 40)) as pilot:
        in_the_app(app)
        preview = app.query_one(AgentPreview)
        await pilot.press("p")
        await until(pilot, "Claude Code's screen", lambda: preview.agent == "agent" and preview.screen_view.lines)
        reads = run.supervisor.screens.reads

        stub.say(f"The answer is {MARK}.")
        await run.type_prompt("what is the answer?")
        shown = lambda: "\n".join(preview.screen_view.lines)  # noqa: E731
        await until(pilot, "the answer in the preview", lambda: MARK in shown())
        await run.until_state(AgentState.IDLE)
        app.refresh_views()
        state_line = preview.query_one("#preview-state")
        await until(pilot, "the state line", lambda: "idle  by hook Stop" in str(state_line.render()))
        assert run.supervisor.screens.reads > reads  # the screens it showed are the supervisor's own reads
