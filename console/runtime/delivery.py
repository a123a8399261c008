"""Typing the human's (and the executive's) messages into agents' panes: the way to talk to an interactive agent.

A message from the human or the executive waits in the agent's outbox until the agent is idle — by its effective state,
whichever evidence the fold believed (report, hook or screen) — and no human is in its pane; then it is
typed in (one at a time) and journaled as typed. It counts as delivered — acknowledged in the journal on
the agent's behalf — when the agent visibly takes it up (starts working, asks, fails or exits). Every record
that concerns an agent, and every move of the terminal's focus, is a chance to deliver: nothing waits on a
particular kind of report.

Direct override: while the human is in an agent's pane, nothing is typed there — neither the human's own messages
(typed once they leave) nor the executive's, whose messages wait saying so (`why_waiting`). A broadcast is one
record naming its recipients; each recipient's delivery (typed, then taken up) is journaled on its own.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Protocol

from agent_console.agents.display import pasteable
from agent_console.agents.events import (
    EXECUTIVE,
    HUMAN,
    SUPERVISOR,
    AgentState,
    Event,
    MessageAcknowledged,
    MessageSent,
    MessageTyped,
)
from agent_console.agents.journal import Record
from agent_console.agents.kinds import KindDefinition
from agent_console.agents.state import OrgState
from agent_console.terminal.base import BackendError, TerminalBackend

BUSY = {AgentState.WORKING, AgentState.THINKING}
# An agent that leaves idle this way after a message was typed in has taken it up.
TAKEN_UP = {*BUSY, AgentState.WAITING, AgentState.ERROR, AgentState.OFFLINE}
EXCERPT = 60
TYPED_FROM = frozenset({HUMAN, EXECUTIVE})  # whose messages are typed in; agents' wait in the inbox, to be read
_STATE_WORDS = {AgentState.ERROR: "in error", AgentState.UNKNOWN: "in an unknown state"}


class Screens(Protocol):
    """What the typist asks of the screen reader: what runs in a pane, and when its screen has settled."""

    def kind_of(self, agent: str) -> KindDefinition | None: ...

    async def snapshot(self, agent: str) -> str | None: ...

    async def settled(self, agent: str, since: float) -> None: ...


class TypistHost(Protocol):
    """What the typist needs of the supervisor: its state and records, the panes, and where the human types."""

    @property
    def state(self) -> OrgState: ...

    @property
    def backend(self) -> TerminalBackend: ...

    @property
    def screens(self) -> Screens: ...

    @property
    def listeners(self) -> list[Callable[[Record], None]]: ...

    @property
    def focus_listeners(self) -> list[Callable[[], None]]: ...

    def human_at(self) -> set[str]: ...

    def submit(self, actor: str, event: Event, trace: str | None = None) -> Record: ...


class OutboxTypist:
    """Delivers the human's messages by typing them, as the supervisor's records say when it may."""

    def __init__(self, supervisor: TypistHost) -> None:
        self.supervisor = supervisor
        self.note_listeners: list[Callable[[str], None]] = []  # told, in a line, of a message typed or delivered
        self._typing: set[str] = set()  # agents whose message is being typed right now
        self._tasks: set[asyncio.Task] = set()
        self._sent: dict[str, tuple[float, str]] = {}  # the human's pending messages: id → when sent, what
        self._typed_at: dict[tuple[str, str], float] = {}
        self._before_enter: dict[str, str] = {}  # agent → its screen when Enter was pressed for its message
        for message in supervisor.state.messages.values():
            if message.sender in TYPED_FROM:
                self._sent[message.id] = message.time, message.text
        supervisor.listeners.append(self.on_record)
        supervisor.focus_listeners.append(self.on_focus)

    # --- when --------------------------------------------------------------------------------------------

    def on_record(self, record: Record) -> None:
        event = record.event
        if isinstance(event, MessageSent):
            if record.actor in TYPED_FROM and event.id in self.supervisor.state.messages:
                self._sent[event.id] = record.time, event.text
                for agent in self.supervisor.state.messages[event.id].pending:
                    self._consider(agent)
            return
        self._note(record)
        agent = getattr(event, "agent", None) or record.actor
        self._consider(agent)

    def on_focus(self) -> None:
        for agent in self.supervisor.state.agents:
            self._consider(agent)  # a human who left a pane no longer holds its messages back

    def _consider(self, agent: str) -> None:
        """Acknowledge what `agent` took up, or type its next message if now is the time."""
        state = self.supervisor.state
        view = state.agents.get(agent)
        if view is None:
            return
        typed = state.typed_message(agent)
        if typed is not None:
            if view.state in TAKEN_UP or not self._shows_work(agent):
                asyncio.get_running_loop().call_soon(self._acknowledge, agent, typed.id)
            return
        if (
            view.state is AgentState.IDLE
            and agent in state.outboxes
            and self.why_waiting(agent) is None
            and any(m["from"] in TYPED_FROM for m in state.outbox(agent))
        ):
            task = asyncio.get_running_loop().create_task(self.deliver(agent))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    def _shows_work(self, agent: str) -> bool:
        """Whether the agent can be seen taking a message up: it reports its state, or its screen rules can
        tell it working. A plain shell cannot: what is typed there is delivered once typed."""
        view = self.supervisor.state.agents[agent]
        kind = self.supervisor.screens.kind_of(agent)
        return view.reported is not None or (kind is not None and any(rule.state in BUSY for rule in kind.rules))

    def screen_moved(self, agent: str, screen: str) -> None:
        """The agent's screen changed from how it was when Enter was pressed: it took the message up, even when its
        turn was too quick for a reading to catch it working (the next message must not wait on that forever)."""
        before = self._before_enter.get(agent)
        typed = self.supervisor.state.typed_message(agent)
        if before is None or typed is None:
            return
        if screen != before:
            del self._before_enter[agent]
            asyncio.get_running_loop().call_soon(self._acknowledge, agent, typed.id)

    def _acknowledge(self, agent: str, message_id: str) -> None:
        typed = self.supervisor.state.typed_message(agent)
        if typed is not None and typed.id == message_id:  # not acknowledged meanwhile (by the agent itself)
            self.supervisor.submit(agent, MessageAcknowledged(id=message_id))

    # --- typing ------------------------------------------------------------------------------------------

    async def deliver(self, agent: str) -> bool:
        """Type the agent's oldest message from the human or the executive, if now is the time; True if typed."""
        state = self.supervisor.state
        waiting = [m for m in state.outbox(agent) if m["from"] in TYPED_FROM]
        if not waiting or self.why_waiting(agent) is not None:
            return False
        message = waiting[0]
        pane = state.agents[agent].pane
        assert pane is not None  # why_waiting says so
        self._typing.add(agent)
        try:
            typing = time.monotonic()
            # pasted as text: a control character in it is typed as its marker, never as a key
            await self.supervisor.backend.send_text(pane, pasteable(message["text"]))
            # Enter once the program shows the text: Codex takes an Enter that closely follows typing for a
            # newline in a paste
            await self.supervisor.screens.settled(agent, typing)
            before = await self.supervisor.screens.snapshot(agent)
            await self.supervisor.backend.send_keys(pane, ["Enter"])
            if before is not None:
                self._before_enter[agent] = before
        except BackendError:
            return False
        finally:
            self._typing.discard(agent)
        self.supervisor.submit(SUPERVISOR, MessageTyped(id=message["id"], agent=agent))
        return True

    def why_waiting(self, agent: str) -> str | None:
        """Why the agent's next message from the human or the executive is not typed in now (None: it can be)."""
        state = self.supervisor.state
        view = state.agents.get(agent)
        if view is None:
            return "not an agent of the org"
        if not view.alive or view.pane is None:
            return "offline: its program is not running"
        typed = state.typed_message(agent)
        if typed is not None:
            ago = _age(time.time() - typed.typed[agent])
            return f"a message was typed in {ago} ago: the next follows once it takes that one up (starts working)"
        if agent in self._typing:
            return "being typed in now"
        if agent in self.supervisor.human_at():
            first = next((m["from"] for m in state.outbox(agent) if m["from"] in TYPED_FROM), None)
            if first == EXECUTIVE:
                return "a human is in its pane: the executive sends it nothing until they leave it (direct override)"
            return "a human is in its pane (it has the focus): typed once they leave it"
        if view.state is not AgentState.IDLE:
            return f"it is {_STATE_WORDS.get(view.state, view.state.value)}: typed once it is idle"
        return None

    def describe_outbox(self, agent: str) -> list[str]:
        """One line per message waiting for `agent`: what, how old, and why it waits."""
        state = self.supervisor.state
        now = time.time()
        typed = state.typed_message(agent)
        lines = []
        first_from_human = True
        for message in state.outbox(agent):
            text = f"{_excerpt(message['text'])} (from {message['from']}, queued {_age(now - message['time'])} ago)"
            if message["from"] not in TYPED_FROM:
                why = "in its inbox, for it to read (agent-console inbox)"
            elif typed is not None and message["id"] == typed.id:
                why = f"typed in {_age(now - typed.typed[agent])} ago: delivered once it takes it up (starts working)"
            elif first_from_human and typed is None:
                why = self.why_waiting(agent) or "being typed in now"
            else:
                why = "after the message before it"
            first_from_human = first_from_human and message["from"] not in TYPED_FROM
            lines.append(f"{agent}: {text}: {why}")
        return lines

    # --- what the chat says --------------------------------------------------------------------------------

    def _note(self, record: Record) -> None:
        event = record.event
        note = None
        if isinstance(event, MessageTyped) and event.id in self._sent:
            sent, text = self._sent[event.id]
            self._typed_at[(event.id, event.agent)] = record.time
            note = f"typed into {event.agent}'s pane: {_excerpt(text)} (waited {_age(record.time - sent)})"
        elif isinstance(event, MessageAcknowledged) and event.id in self._sent:
            sent, text = self._sent[event.id]
            typed = self._typed_at.pop((event.id, record.actor), None)
            after = f"taken up {_age(record.time - typed)} after typing" if typed is not None else "read from its inbox"
            note = f"delivered to {record.actor}: {_excerpt(text)} ({after})"
            if event.id not in self.supervisor.state.messages:
                del self._sent[event.id]
        if note is not None:
            for listener in self.note_listeners:
                listener(note)


def _excerpt(text: str) -> str:
    line = " ".join(text.split())
    return f"“{line[:EXCERPT]}…”" if len(line) > EXCERPT else f"“{line}”"


def _age(seconds: float) -> str:
    seconds = max(0.0, seconds)
    if seconds < 60:
        return f"{seconds:.0f}s"
    if seconds < 3600:
        return f"{seconds // 60:.0f}m{seconds % 60:02.0f}s"
    return f"{seconds // 3600:.0f}h{seconds % 3600 // 60:02.0f}m"
