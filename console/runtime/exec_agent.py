"""The exec as a real agent program: an org spec agent with `role = "exec"` (Claude Code, say) is the executive.

The chat types what the human says into its pane (through its outbox, as any message from the human: never while
it works, never while the human is in its pane) and shows its replies: the last message of its turn, as its
program's hook reports it (Claude Code's Stop, Codex's turn-complete), and the lines it logs
(`agent-console emit log TEXT`). Replies are untrusted data: redacted, bounded, and shown as text. It drives the org
with `agent-console` verbs in its pane, with its own token: the exec's column of the permission matrix says what it
may run (never deciding approvals; merges and the like are the human's).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from agent_console.agents.events import LogRecorded, StateObserved
from agent_console.agents.journal import Record
from agent_console.agents.model import Org
from agent_console.agents.redaction import Redactor

REPLY_CHARS = 2000  # a reply longer than this is cut: the chat is not the place for a whole transcript
REPLY_RULES = frozenset({"Stop", "StopFailure", "agent-turn-complete"})  # hook events that end a turn


class RelayHost(Protocol):
    @property
    def org(self) -> Org: ...

    @property
    def redactor(self) -> Redactor: ...

    @property
    def listeners(self) -> list[Callable[[Record], None]]: ...


class ExecRelay:
    """Tells the chat what the exec agent replies, as its records arrive."""

    def __init__(self, supervisor: RelayHost) -> None:
        self.supervisor = supervisor
        self.reply_listeners: list[Callable[[str, str], None]] = []  # told (the exec's name, its reply)
        supervisor.listeners.append(self.on_record)

    @property
    def agent(self) -> str | None:
        """The org's exec agent, when its spec has one: the chat talks to it."""
        executive = self.supervisor.org.executive
        return executive.name if executive is not None else None

    def on_record(self, record: Record) -> None:
        name = self.agent
        if name is None:
            return
        reply = reply_of(record, name)
        if reply is None:
            return
        text = self.supervisor.redactor.text(reply)
        if len(text) > REPLY_CHARS:
            text = text[: REPLY_CHARS - 1] + "…"
        for listener in self.reply_listeners:
            listener(name, text)


def reply_of(record: Record, agent: str) -> str | None:
    """What `record` has the exec agent say to the human, if anything."""
    event = record.event
    if isinstance(event, StateObserved) and event.agent == agent == record.actor and event.source == "hook":
        return event.detail if event.rule in REPLY_RULES and event.detail else None
    if isinstance(event, LogRecorded) and record.actor == agent:
        return event.text  # the journal's actor is the agent its token names: never another's words
    return None
