"""Standing tasks at run time: "when barrier X releases, do Y", filed for the human's approval when the moment comes.

What a task is and when it fires is the journal's (`TaskCreated`, `TaskFired`, `TaskCancelled`, folded into
`OrgState.tasks`; `agents/standing.py` decides). This module acts on it: it files the action in the approval queue
as the console's own request, with the exact command line, and runs it as the task's maker once the human
approves. At start it picks up where the journal left off: a barrier released while the console was down fires
its tasks, and an approval filed before a restart runs its action again once approved.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Awaitable, Callable
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Protocol

from agent_console.agents import standing
from agent_console.agents.events import (
    EXECUTIVE,
    HUMAN,
    SUPERVISOR,
    BarrierReleased,
    Event,
    TaskCancelled,
    TaskCreated,
    TaskFired,
)
from agent_console.agents.journal import JournalUnavailable, Record
from agent_console.agents.state import OrgState, StandingTask
from agent_console.runtime.commands import Actor, CommandRegistry

if TYPE_CHECKING:
    from agent_console.runtime.host import CommandHost

Operation = Callable[[], str] | Callable[[], Awaitable[str]]


class StandingHost(Protocol):
    @property
    def state(self) -> OrgState: ...

    @property
    def listeners(self) -> list[Callable[[Record], None]]: ...

    @property
    def commands(self) -> CommandRegistry: ...

    def submit(self, actor: str, event: Event, trace: str | None = None) -> Record: ...

    def traced(self, trace: str) -> AbstractContextManager[None]: ...

    def request_operation(
        self, text: str, command: str, operation: Operation, request_id: str | None = None
    ) -> str: ...


class StandingTasks:
    """Fires the org's standing tasks as the journal says they are due, and tells the chat."""

    def __init__(self, supervisor: StandingHost) -> None:
        self.supervisor = supervisor
        self.note_listeners: list[Callable[[str], None]] = []  # told, in a line, when a task fires or ends
        self._check_due = False
        supervisor.listeners.append(self.on_record)

    def start(self) -> None:
        """After the journal is read: the requests of tasks fired before a restart get their action back (one the
        disk lost is filed again), and tasks whose barrier released meanwhile fire now."""
        state = self.supervisor.state
        for task in state.tasks.values():
            if task.status != "released" or task.request is None or task.request in state.decided:
                continue
            self._file(task, task.request, task.said or "")
        self.check()

    def on_record(self, record: Record) -> None:
        event = record.event
        if isinstance(event, TaskFired | TaskCancelled):
            task = self.supervisor.state.tasks.get(event.id)
            if task is not None:
                for listener in self.note_listeners:
                    listener(f"task {task.id}: {task.said}")
        elif isinstance(event, BarrierReleased | TaskCreated) and not self._check_due:
            self._check_due = True  # after this record's listeners: never journal from inside another's submit
            asyncio.get_running_loop().call_soon(self.check, record.trace)

    def check(self, trace: str | None = None) -> None:
        """Fire every task whose moment has come (also called when a deadline passes); what it journals joins
        `trace` (the release's), so the trace shows the task fired by the release."""
        self._check_due = False
        with self.supervisor.traced(trace or secrets.token_hex(8)):
            for firing in standing.due(self.supervisor.state, time.time()):
                try:
                    self._fire(firing)
                except JournalUnavailable:
                    return  # due again once the journal resumes (the deadline loop calls again)

    def _fire(self, firing: standing.Firing) -> None:
        task = firing.task
        if firing.outcome == "timed-out":
            self.supervisor.submit(SUPERVISOR, TaskFired(id=task.id, outcome="timed-out", said=firing.said))
            return
        request = f"a{secrets.token_hex(4)}"
        said = f"{firing.said} (request {request})"
        # journaled first, with the request's id: a restart in between files the request (see `start`)
        self.supervisor.submit(SUPERVISOR, TaskFired(id=task.id, outcome="released", request=request, said=said))
        self._file(task, request, said)

    def _file(self, task: StandingTask, request: str, said: str) -> None:
        """Put the task's action in the approval queue (a request pending since before a restart gets it back)."""
        actor = actor_of(task)

        async def operation() -> str:
            host: CommandHost = self.supervisor  # type: ignore[assignment]  # the supervisor is both
            done = await self.supervisor.commands.run_line(host, task.action, actor)
            for listener in self.note_listeners:
                listener(f"task {task.id}: ran `{task.action}` as {actor}: {done or 'done'}")
            return done or "done"

        text = f"standing task {task.id} (made by {actor}): {said}"
        self.supervisor.request_operation(text, task.action, operation, request_id=request)


def actor_of(task: StandingTask) -> Actor:
    """Who the task's action runs as: whoever made the task, never anyone more."""
    via = task.via if task.via in ("key", "palette", "line", "chat", "cli", "api") else "chat"
    if task.by == HUMAN:
        return Actor.human(via)  # type: ignore[arg-type]
    if task.by == EXECUTIVE:
        return Actor.executive(via)  # type: ignore[arg-type]
    return Actor.agent(task.by, via)  # type: ignore[arg-type]
