"""A console over a journal full of one agent's hostile text, and a check of what it would write to a terminal."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import itertools
import os
import tempfile
import threading
import unicodedata
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import TypeVar

from textual.app import App
from textual.pilot import Pilot

from agent_console.agents.events import (
    HUMAN,
    SUPERVISOR,
    AgentLaunched,
    AgentState,
    ApprovalRequested,
    Event,
    LogRecorded,
    MessageSent,
    OrgLoaded,
    PromptSeen,
    StateObserved,
    StatusReported,
)
from agent_console.agents.journal import Journal, load_or_create_key
from agent_console.agents.model import Agent, Org, Team
from agent_console.runtime import paths
from agent_console.runtime.supervisor import Supervisor
from agent_console.terminal.tmux import TmuxBackend
from agent_console.tui.app import ConsoleApp

ORG = Org(
    name="hostile",
    teams=(Team(name="core"),),
    agents=(Agent(name="mallory", team="core"), Agent(name="eve", team="core")),
)
SIZE = (160, 48)
NOW = 1_700_000_900.0

T = TypeVar("T")

# What a terminal acts on, or draws as nothing.
RAW = {"Cc", "Cf", "Cs", "Zl", "Zp"}


def hostile_events(texts: list[str]) -> list[tuple[str, Event]]:
    """The org's start, then every field an agent (or its screen, or its hook) fills, filled with `texts`."""
    return [
        (SUPERVISOR, OrgLoaded(name=ORG.name, teams={"core": None}, agents={"mallory": "core", "eve": "core"})),
        (SUPERVISOR, AgentLaunched(agent="mallory", pane="%1")),
        (SUPERVISOR, AgentLaunched(agent="eve", pane="%2")),
        *agent_events(texts),
    ]


def agent_events(texts: list[str], tag: str = "") -> list[tuple[str, Event]]:
    """Every field an agent (or its screen, or its hook) fills, filled with `texts` in turn; `tag` makes the
    approvals' and messages' ids (`cmd`, `ask`, `seen`, `m1`, `m2`) unique."""
    first, *rest = texts or [""]
    pick = itertools.cycle(rest or [first])
    return [
        ("mallory", StatusReported(state=AgentState.WORKING, task=first[:500])),
        ("mallory", ApprovalRequested(id=f"cmd{tag}", text=next(pick)[:4000], command=first[:4000] or "x")),
        ("mallory", ApprovalRequested(id=f"ask{tag}", text=next(pick)[:4000])),
        ("mallory", LogRecorded(level="warning", text=next(pick)[:4000])),
        ("mallory", MessageSent(id=f"m1{tag}", to="@eve", text=next(pick)[:4000])),
        (HUMAN, MessageSent(id=f"m2{tag}", to="@mallory", text=next(pick)[:4000])),
        (
            SUPERVISOR,
            StateObserved(
                agent="eve", state=AgentState.WAITING, source="hook", rule=next(pick)[:100], detail=next(pick)[:500]
            ),
        ),
        (
            SUPERVISOR,
            PromptSeen(
                id=f"seen{tag}",
                agent="eve",
                text=next(pick)[:4000],
                command=next(pick)[:4000] or None,
                source="screen",
                options=(next(pick)[:40], next(pick)[:40]),
            ),
        ),
        ("eve", StatusReported(state=AgentState.ERROR, task=next(pick)[:500])),
    ]


def write_journal(path: Path, entries: list[tuple[str, Event]]) -> None:
    key = load_or_create_key(path.parent / "journal.key")
    with Journal.open(path, key, sync=False) as journal:
        for index, (actor, event) in enumerate(entries):
            journal.append(actor, event, now=NOW - 600 + index)


class Console(ConsoleApp):
    """The console without its tmux: it replays the journal and shows it; `pilot` drives it once it runs."""

    def __init__(self, supervisor: Supervisor) -> None:
        super().__init__(supervisor, start_supervisor=False, clock=lambda: NOW)
        self.pilot: Pilot | None = None


@contextlib.contextmanager
def private_state():
    """XDG state and runtime directories of this console's own (the org's journal and key live there)."""
    saved = {name: os.environ.get(name) for name in ("XDG_STATE_HOME", "XDG_RUNTIME_DIR")}
    with tempfile.TemporaryDirectory(prefix="ac-sec-") as root:
        os.environ["XDG_STATE_HOME"] = f"{root}/state"
        os.environ["XDG_RUNTIME_DIR"] = f"{root}/run"
        try:
            yield Path(root)
        finally:
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value


@contextlib.asynccontextmanager
async def hostile_console(entries: list[tuple[str, Event]]) -> AsyncIterator[Console]:
    """A console started over a journal of `entries` (its first refresh done)."""
    with private_state():
        journal = paths.state_dir(ORG.name) / "journal.jsonl"
        write_journal(journal, entries)
        supervisor = Supervisor(ORG, TmuxBackend("ac-test-unused"), SIZE, journal_path=journal)
        try:
            app = Console(supervisor)
            async with app.run_test(size=SIZE) as pilot:
                app.pilot = pilot
                await pilot.pause()
                yield app
        finally:
            supervisor.journal.close()


def raw_characters(app: App) -> list[str]:
    """Characters the screen on top would write to the terminal as themselves that a terminal acts on (or
    draws as nothing): control characters, escapes, bidi controls, zero-width characters."""
    found = []
    for strip in app.screen._compositor.render_strips():
        for segment in strip:
            if segment.control:
                continue
            found += [char for char in segment.text if unicodedata.category(char) in RAW]
    return found


def screen_text(app: App) -> str:
    """The screen on top, as the plain text its cells show."""
    return "\n".join(strip.text for strip in app.screen._compositor.render_strips())


Step = Callable[[Console], Awaitable]


class LiveConsole:
    """One console kept running on a loop of its own (a thread), so that many examples share one start.

    Steps run inside the task that runs the console (the app's context: timers and workers need it)."""

    def __init__(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._steps: asyncio.Queue[tuple[Step, concurrent.futures.Future] | None] | None = None
        self.app: Console | None = None
        self._failure: BaseException | None = None
        self._thread = threading.Thread(target=self._loop.run_until_complete, args=(self._serve(),), daemon=True)

    async def _serve(self) -> None:
        self._steps = asyncio.Queue()
        try:
            async with hostile_console(hostile_events(["ready"])) as app:
                self.app = app
                self._ready.set()
                while (item := await self._steps.get()) is not None:
                    step, done = item
                    try:
                        done.set_result(await step(app))
                    except BaseException as error:  # the test's assertion, raised in the test's thread
                        done.set_exception(error)
        except BaseException as error:  # reported by `start`, not lost in the thread
            self._failure = error
            self._ready.set()

    def start(self) -> LiveConsole:
        self._thread.start()
        self._ready.wait(120)
        if self._failure is not None or self.app is None:
            raise AssertionError(f"the console did not start: {self._failure!r}")
        return self

    def run(self, step: Callable[[Console], Awaitable[T]]) -> T:
        """Run `step(app)` in the console's task and return what it returns (or raise what it raised)."""
        assert self._steps is not None
        done: concurrent.futures.Future = concurrent.futures.Future()
        self._loop.call_soon_threadsafe(self._steps.put_nowait, (step, done))
        return done.result(120)

    def close(self) -> None:
        if self._steps is not None:
            self._loop.call_soon_threadsafe(self._steps.put_nowait, None)
        self._thread.join(60)
