"""Which trace a new record joins, and under which span: causality carried from one record to the next.

A record caused by an earlier one joins its trace, its parent being the record that caused it: a message typed
into a pane joins the message, the agent's records until it is idle again join the typing (its work), a decision
joins the ask, a barrier's release joins the last arrival. `Causes` keeps the little it needs for that (bounded:
the newest `LIMIT` traces and spans), fed each record by `note` and asked by `cause`. Headless, no clock.

Agents may also name a trace themselves (a W3C `traceparent`: `--trace-parent`, or `TRACEPARENT` in the
environment of a command they run). That claim is untrusted: `claim` accepts a trace the agent is already part
of, or one the console has never seen (the agent starts it); a trace of others is refused. The parent span it
names is kept only if it is a span of that trace the console journaled; otherwise the record hangs under the
agent's own work in that trace, or at the trace's top. The record's own span id is always the console's.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from typing import NamedTuple

from .errors import Forbidden, InvalidInput
from .events import (
    AgentExited,
    AgentState,
    ApprovalDecided,
    ApprovalRequested,
    BarrierArrived,
    BarrierReleased,
    Event,
    MessageAcknowledged,
    MessageSent,
    MessageTyped,
    ProgressStalled,
    PromptSeen,
    StateObserved,
    StatusReported,
)
from .journal import Record

TRACEPARENT = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")
"""W3C trace context, version 00: trace id (32 hex, not all zero), parent span id (16 hex, not all zero), flags."""
_SHORT = "0" * 16  # the console's trace ids are 64-bit: on the wire they are padded to W3C's 128 bits
SPAN = re.compile(r"^[0-9a-f]{16}$")
LIMIT = 100_000


class Cause(NamedTuple):
    trace: str
    parent: str | None


def traceparent(trace: str, span: str) -> str:
    """The W3C `traceparent` naming `span` of `trace` (a 64-bit trace id is padded with zeros)."""
    return f"00-{trace.rjust(32, '0')}-{span}-01"


def parse_traceparent(value: str) -> Cause:
    """The trace and parent span a W3C `traceparent` names; `InvalidInput` says what is wrong with it."""
    value = value.strip().lower()
    found = TRACEPARENT.match(value)
    if found is None:
        shown = value[:60].encode("ascii", "replace").decode()
        raise InvalidInput(f"traceparent {shown!r} is not a W3C trace parent (00-<32 hex>-<16 hex>-<2 hex>)")
    trace, span, _ = found.groups()
    if trace == "0" * 32 or span == "0" * 16:
        raise InvalidInput("traceparent: an all-zero trace or span id is not a trace")
    return Cause(trace[16:] if trace.startswith(_SHORT) else trace, span)


def _put(table: OrderedDict, key: str, value: object) -> None:
    table[key] = value
    table.move_to_end(key)
    if len(table) > LIMIT:
        table.popitem(last=False)


class Causes:
    """What the live console remembers to carry traces forward (see the module's docstring)."""

    def __init__(self) -> None:
        self._messages: OrderedDict[str, Cause] = OrderedDict()  # message id → (trace, the message's span)
        self._asks: OrderedDict[str, Cause] = OrderedDict()  # approval id → (trace, the ask's span)
        self._work: dict[str, Cause] = {}  # agent → (trace, the span of the message typed into its pane)
        self._arrivals: dict[str, Cause] = {}  # barrier → (trace, the last arrival's span)
        self._members: OrderedDict[str, set[str]] = OrderedDict()  # trace → actors and agents it concerns
        self._spans: OrderedDict[str, str] = OrderedDict()  # span → its trace

    def note(self, record: Record) -> None:
        """Remember what later records may join, after `record` was journaled."""
        event, here = record.event, Cause(record.trace, record.span)
        _put(self._spans, record.span, record.trace)
        members = self._members.get(record.trace)
        if members is None:
            members = set()
            _put(self._members, record.trace, members)
        members.add(record.actor)
        if isinstance(event, MessageSent):
            _put(self._messages, event.id, here)
            if event.to.startswith("@"):
                members.add(event.to[1:])
        elif isinstance(event, MessageTyped):
            self._work[event.agent] = here
            members.add(event.agent)
        elif isinstance(event, ApprovalRequested):
            _put(self._asks, event.id, here)
        elif isinstance(event, PromptSeen):
            _put(self._asks, event.id, here)
            members.add(event.agent)
        elif isinstance(event, BarrierArrived):
            self._arrivals[event.name] = here
        elif isinstance(event, BarrierReleased):
            self._arrivals.pop(event.name, None)
        elif isinstance(event, AgentExited):
            self._work.pop(event.agent, None)
        elif isinstance(event, StatusReported) and event.state is AgentState.IDLE:
            self._work.pop(record.actor, None)

    def cause(self, actor: str, event: Event) -> Cause | None:
        """The trace and parent a record of `event` by `actor` joins when nothing else says (None: a new trace)."""
        if isinstance(event, ApprovalDecided):
            return self._asks.get(event.id)
        if isinstance(event, MessageTyped | MessageAcknowledged):
            return self._messages.get(event.id)
        if isinstance(event, MessageSent) and event.reply_to is not None:
            replied = self._messages.get(event.reply_to)
            if replied is not None:
                return replied
        if isinstance(event, BarrierReleased):
            return self._arrivals.get(event.name)
        if isinstance(event, StateObserved | PromptSeen | ProgressStalled):
            return self._work.get(event.agent)
        return self._work.get(actor)

    def decision(self, request_id: str) -> Cause | None:
        """The ask a decision on `request_id` answers (a command deciding it joins its trace)."""
        return self._asks.get(request_id)

    def message(self, message_id: str) -> Cause | None:
        """The trace of a message and its span."""
        return self._messages.get(message_id)

    def work(self, agent: str) -> Cause | None:
        """The message `agent` is working on now, if any."""
        return self._work.get(agent)

    def claim(self, agent: str, claimed: Cause) -> Cause:
        """What an agent's own `traceparent` is worth: the trace and parent its record may join, or `Forbidden`."""
        members = self._members.get(claimed.trace)
        if members is not None and agent not in members:
            raise Forbidden(f"trace {claimed.trace} is not one {agent} takes part in: its records cannot join it")
        parent = claimed.parent if self._spans.get(claimed.parent or "") == claimed.trace else None
        if parent is None:
            work = self._work.get(agent)
            parent = work.parent if work is not None and work.trace == claimed.trace else None
        return Cause(claimed.trace, parent)
