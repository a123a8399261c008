"""Paging the human: getting their attention, where they are, for what only they can settle.

What pages (each as the org's `[org.paging]` allows): an approval left undecided `approval_after` seconds (a timer
from its request, cancelled by its decision), an agent turning `error` (its effective state), a circuit breaker
opening (a `breaker` record whose `state` is "open"). Where: the terminal (`TerminalBackend.page`: tmux's message
and bell on each client, iTerm2's dock bounce and notification) and the desktop (`notify-send`, `osascript`).

Rate-limited: a page waits `GATHER_SECONDS` for what comes with it, and goes out at most once every `min_gap`
seconds, whatever it is for; what comes meanwhile goes out at the gap's end as one page with its count (a flood
of errors is one page, "+N more"); the same subject pages again only after `repeat_after`. Human first: what is
settled before its page goes out (an approval decided, an agent out of error) never pages, and an error in the
pane that has the focus (the human may be looking at it) pages only if it lasts `approval_after`, as a request
would. Every page is journaled (`HumanPaged`, a bounded record) with the channels it reached. Timers, no polling.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import sys
import time
from typing import Protocol

from agent_console.agents.display import visible
from agent_console.agents.errors import Unavailable
from agent_console.agents.events import (
    SUPERVISOR,
    AgentState,
    ApprovalDecided,
    ApprovalRequested,
    Event,
    HumanPaged,
    PromptSeen,
    StateObserved,
    StatusReported,
)
from agent_console.agents.journal import Record
from agent_console.agents.paging import Channel, Paging
from agent_console.runtime.status_line import FiguresHost
from agent_console.terminal.base import BackendError

PAGE_CELLS = 160  # a page is one line of at most this many cells (the quoted agent text cut to fit)
SUBJECTS_KEPT = 20  # a flood's page names this many of its subjects (its count says how many there were)
SUBJECT_CHARS = 100  # a subject is its kind and a name or id (`approval:ID`): longer ones are cut
GATHER_SECONDS = 0.5  # a page waits this long for what comes with it (a burst of errors is one page)
DESKTOP_SECONDS = 5.0  # a desktop notifier that has not returned by then is left to it


class PagerHost(FiguresHost, Protocol):
    """What paging needs of the supervisor: what the status line needs (its state, terminal, records, org), where
    the human's focus is, and the journal."""

    focused_pane: str | None

    def submit(self, actor: str, event: Event, trace: str | None = None) -> Record: ...


class Pager:
    """Pages the human as the supervisor's records say, from `start` until `close`."""

    def __init__(self, host: PagerHost) -> None:
        self.host = host
        self._timers: dict[str, asyncio.TimerHandle] = {}  # approval id → when it has waited long enough
        self._held: dict[str, asyncio.TimerHandle] = {}  # agent → its error's page, held while it is looked at
        self._states: dict[str, AgentState] = {}  # agent → its effective state at the last record
        self._paged: dict[str, float] = {}  # subject → when it last paged (loop time)
        self._last_page: float | None = None
        self._waiting: dict[str, str] = {}  # subject → its page's text, until the gap is over
        self._flush_handle: asyncio.TimerHandle | None = None
        self._sending: set[asyncio.Task[None]] = set()
        self._started = False
        host.listeners.append(self.on_record)

    @property
    def settings(self) -> Paging:
        return self.host.org.paging

    def start(self) -> None:
        """Begin: approvals already waiting (the console restarted) page once they have waited long enough in
        all; agents already in error do not page again."""
        self._started = True
        self._states = {name: view.state for name, view in self.host.state.agents.items()}
        for approval in self.host.state.approvals.values():
            self._watch_approval(approval.id)

    def close(self) -> None:
        """Stop: nothing pages any more (pages on their way still arrive: `settled`)."""
        self._started = False
        for handle in (*self._timers.values(), *self._held.values()):
            handle.cancel()
        self._timers.clear()
        self._held.clear()
        if self._flush_handle is not None:
            self._flush_handle.cancel()
            self._flush_handle = None
        self._waiting.clear()

    async def settled(self) -> None:
        """Wait until every page sent so far has reached its channels (and is journaled)."""
        await asyncio.gather(*self._sending, return_exceptions=True)

    # --- what pages ---------------------------------------------------------------------------------------

    def on_record(self, record: Record) -> None:
        if not self._started:
            return
        event = record.event
        if isinstance(event, ApprovalRequested | PromptSeen):
            self._watch_approval(event.id)
        elif isinstance(event, ApprovalDecided):
            handle = self._timers.pop(event.id, None)
            if handle is not None:
                handle.cancel()
            self._waiting.pop(f"approval:{event.id}", None)
        elif _type(event) == "breaker":  # the recovery's record: matched by its type and fields
            self._breaker(record)
        for name in {record.actor, getattr(event, "agent", None)}:
            if isinstance(name, str) and name in self.host.state.agents:
                self._state_changed(name, event)

    def _watch_approval(self, approval_id: str) -> None:
        approval = self.host.state.approvals.get(approval_id)
        if approval is None or approval_id in self._timers:
            return
        loop = asyncio.get_running_loop()
        # its wait began at its request, which may be before this console started
        waited = max(0.0, time.time() - approval.requested)
        delay = max(0.0, self.settings.approval_after - waited)
        self._timers[approval_id] = loop.call_later(delay, self._approval_waited, approval_id)

    def _approval_waited(self, approval_id: str) -> None:
        self._timers.pop(approval_id, None)
        approval = self.host.state.approvals.get(approval_id)
        if approval is None:
            return
        asked = approval.command or approval.text
        waited = f"{self.settings.approval_after:g}s"
        self.page(f"approval:{approval_id}", f"{approval.agent} has waited {waited} for approval: {asked}")

    def _state_changed(self, name: str, event: Event) -> None:
        view = self.host.state.agents[name]
        before = self._states.get(name)
        self._states[name] = view.state
        if view.state is AgentState.ERROR and before is not AgentState.ERROR:
            if not self.settings.on_error:
                return
            text = f"{name} is in error{_why(event, view.task)}"
            if self._looked_at(name):  # the human sees it in the pane: they have `approval_after` to act
                delay = self.settings.approval_after
                self._held[name] = asyncio.get_running_loop().call_later(delay, self._still_in_error, name, text)
            else:
                self.page(f"error:{name}", text)
        elif view.state is not AgentState.ERROR:
            self._waiting.pop(f"error:{name}", None)
            held = self._held.pop(name, None)
            if held is not None:
                held.cancel()

    def _still_in_error(self, name: str, text: str) -> None:
        self._held.pop(name, None)
        view = self.host.state.agents.get(name)
        if view is not None and view.state is AgentState.ERROR:
            self.page(f"error:{name}", text)

    def _breaker(self, record: Record) -> None:
        agent = getattr(record.event, "agent", None)
        if not isinstance(agent, str):
            return
        if getattr(record.event, "state", None) != "open":
            self._waiting.pop(f"breaker:{agent}", None)  # half-open or closed again before its page went out
            return
        if self.settings.on_breaker:
            reason = getattr(record.event, "reason", None)
            why = f": {reason}" if isinstance(reason, str) and reason else ""
            self.page(f"breaker:{agent}", f"{agent}'s circuit breaker is open{why}")

    # --- when it pages ------------------------------------------------------------------------------------

    def page(self, subject: str, text: str) -> None:
        """`subject` (`kind:name`, e.g. `recovery:db` when a recovery gives up) needs the human: page once the
        gathering time or the gap is over, with whatever else comes meanwhile."""
        if not self.settings.channels or not self._started:
            return
        loop = asyncio.get_running_loop()
        now = loop.time()
        last = self._paged.get(subject)
        if last is not None and now < last + self.settings.repeat_after:
            return
        self._waiting[subject] = visible(text, PAGE_CELLS)
        if self._flush_handle is None:
            due = now + GATHER_SECONDS
            if self._last_page is not None:
                due = max(due, self._last_page + self.settings.min_gap)
            self._flush_handle = loop.call_at(due, self._flush)

    def _looked_at(self, agent: str) -> bool:
        view = self.host.state.agents.get(agent)
        return view is not None and view.pane is not None and view.pane == self.host.focused_pane

    def _flush(self) -> None:
        self._flush_handle = None
        if not self._waiting:
            return
        now = asyncio.get_running_loop().time()
        self._last_page = now
        # bounded: a subject is remembered only while it may not page again
        self._paged = {subject: at for subject, at in self._paged.items() if now < at + self.settings.repeat_after}
        subjects = list(self._waiting)
        first = self._waiting[subjects[0]]
        self._waiting.clear()
        for subject in subjects:
            self._paged[subject] = now
        more = f" (+{len(subjects) - 1} more)" if len(subjects) > 1 else ""
        text = visible(first, PAGE_CELLS - len(more)) + more
        kept = tuple(subject[:SUBJECT_CHARS] for subject in subjects[:SUBJECTS_KEPT])
        task = asyncio.get_running_loop().create_task(self._send(text, kept, len(subjects)))
        self._sending.add(task)
        task.add_done_callback(self._sending.discard)

    # --- where it pages -----------------------------------------------------------------------------------

    async def _send(self, text: str, subjects: tuple[str, ...], count: int) -> None:
        reached: list[Channel] = []
        channels = self.settings.channels
        if "terminal" in channels:
            with contextlib.suppress(BackendError):  # a terminal going away: the desktop may still reach them
                if await self.host.backend.page(f"{self.host.org.name}: {text}"):
                    reached.append("terminal")
        if "desktop" in channels and await notify_desktop(f"agent-console: {self.host.org.name}", text):
            reached.append("desktop")
        with contextlib.suppress(Unavailable):  # the journal paused: the page went out all the same
            self.host.submit(SUPERVISOR, HumanPaged(text=text, subjects=subjects, count=count, channels=tuple(reached)))


def _type(event: object) -> object:
    return getattr(event, "type", None)


def _why(event: Event, task: str | None) -> str:
    """What the record that put an agent in error says of it (agent text: quoted, never obeyed)."""
    if isinstance(event, StatusReported) and event.task:
        return f": {event.task}"
    if isinstance(event, StateObserved) and (event.detail or event.rule):
        return f": {event.detail or event.rule}"
    return f": {task}" if task else ""


def desktop_argv(title: str, text: str, platform: str | None = None) -> list[str] | None:
    """The desktop notifier's command line (an argv, never a shell string), or None where there is none. Nothing
    in `text` is read as an option, markup or script: `--` ends notify-send's options and its body is escaped
    (notification servers read a subset of HTML there); osascript gets it as an argument of its `run` handler."""
    if (platform or sys.platform) == "darwin":
        osascript = shutil.which("osascript")
        if osascript is None:
            return None
        script = ("on run argv", "display notification (item 2 of argv) with title (item 1 of argv)", "end run")
        return [osascript, *(part for line in script for part in ("-e", line)), title, text]
    notify_send = shutil.which("notify-send")
    if notify_send is None:
        return None
    body = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return [notify_send, "--app-name=agent-console", "--urgency=critical", "--", title, body]


async def notify_desktop(title: str, text: str) -> bool:
    """A desktop notification, where the desktop has a notifier; True if the notifier took it."""
    argv = desktop_argv(title, text)
    if argv is None:
        return False
    try:
        process = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
    except OSError:
        return False
    try:
        return await asyncio.wait_for(process.wait(), DESKTOP_SECONDS) == 0
    except TimeoutError:
        return False
