"""Spans with a duration, folded from the journal's records: the one place a span's tree and timing are derived.

Every record is a span (its `span` id), under the record its `parent` names. A span lasts from the first to the
last record it caused: its start is the earliest of its own time and its children's starts (a command is
journaled when it is done, after what it did), its end the latest of its own time and its children's ends (a
message lasts until the agent it was typed to is idle again: the agent's records until then are its children;
an ask lasts until its decision). A record whose parent has not come yet waits at the top of its trace and moves
under its parent when that comes; one whose parent never comes stays at the top, marked `orphan` (an agent's
claim naming a span the console does not know ends up so, or a parent dropped from a bounded index). Records
without a parent hang under their trace's first span.

`TraceIndex` keeps the traces in journal order with what the viewer filters on (agents, states, time, text),
pure and without I/O: the same records give the same index.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from .events import (
    AccessDenied,
    AgentExited,
    AgentLaunched,
    AgentSession,
    AgentState,
    ApprovalDecided,
    ApprovalRequested,
    BarrierArrived,
    BarrierReleased,
    BreakerChanged,
    CommandRan,
    ConditionDetected,
    HumanPaged,
    LockGranted,
    LogRecorded,
    MessageAcknowledged,
    MessageSent,
    MessageTyped,
    MetricRecorded,
    OrgEdited,
    OrgLoaded,
    ProgressStalled,
    PromptSeen,
    RecoveryStep,
    ScreenSnapshotTaken,
    SpoofRejected,
    StateObserved,
    StatusReported,
    TaskCancelled,
    TaskCreated,
    TaskFired,
    VoteOpened,
)
from .journal import Record
from .spec import describe_edit

FAILED = "failed"
"""The state of a trace where a command failed, a request was denied or an error was logged."""


def summary(record: Record) -> str:
    """A short, one-line account of what the record's event says (agent text: show it as plain text only)."""
    event = record.event
    if isinstance(event, StatusReported):
        parts = [event.state.value, event.task or "", event.progress or ""]
        return " ".join(part for part in parts if part)
    if isinstance(event, ApprovalRequested):
        return f"$ {event.command}" if event.command else event.text
    if isinstance(event, ApprovalDecided):
        verdict = "approved" if event.approved else "denied"
        return f"{verdict} {event.id}" + (f": {event.reason}" if event.reason else "")
    if isinstance(event, MessageSent):
        return f"→ {event.to}: {event.text}"
    if isinstance(event, LogRecorded):
        return f"{event.level}: {event.text}"
    if isinstance(event, MetricRecorded):
        return f"{event.name} = {event.value:g}" + (f" {event.unit}" if event.unit else "")
    if isinstance(event, OrgLoaded):
        return f"{event.name}: {len(event.teams)} teams, {len(event.agents)} agents"
    if isinstance(event, OrgEdited):
        return "changed in the console: " + ("; ".join(describe_edit(edit) for edit in event.edits) or "nothing")
    if isinstance(event, AgentLaunched):
        return f"{event.agent} in {event.pane}" + (f", resuming {event.resumed}" if event.resumed else "")
    if isinstance(event, AgentExited):
        how = f"signal {event.signal}" if event.signal is not None else f"status {event.status}"
        return f"{event.agent} exited ({how})"
    if isinstance(event, CommandRan):
        words = [event.name, *(f"{key}={value}" for key, value in event.args.items())]
        outcome = "" if event.ok else f" — failed: {event.error}"
        return f"{' '.join(words)} (via {event.via}){outcome}"
    if isinstance(event, AccessDenied):
        return f"refused {event.operation}: {event.reason}"
    return _health_summary(record) or _generic(record)


def _health_summary(record: Record) -> str | None:
    """What the console saw and did about an agent's health, its screens, pages and standing tasks."""
    event = record.event
    if isinstance(event, StateObserved):
        return f"{event.agent} {event.state.value} ({event.source}" + (f": {event.rule})" if event.rule else ")")
    if isinstance(event, ConditionDetected):
        return f"{event.agent} {event.condition}" + (" cleared" if event.cleared else f": {event.evidence}")
    if isinstance(event, RecoveryStep):
        detail = f": {event.detail}" if event.detail else ""
        return f"{event.agent} step {event.step}/{event.of} {event.action}: {event.outcome}{detail}"
    if isinstance(event, BreakerChanged):
        return f"{event.agent} breaker {event.state}: {event.reason}"
    if isinstance(event, HumanPaged):
        return f"paged ({', '.join(event.channels) or 'nowhere'}): {event.text}"
    if isinstance(event, ScreenSnapshotTaken):
        return f"{event.agent}'s screen kept ({event.reason}, {event.size} bytes) for #{event.illustrates}"
    if isinstance(event, AgentSession):
        return f"{event.agent} is in conversation {event.session} ({event.source})"
    if isinstance(event, TaskCreated):
        return f"task {event.id}: when '{event.barrier}' releases: {event.action}"
    if isinstance(event, TaskFired | TaskCancelled):
        return f"task {event.id}: " + (event.said if isinstance(event, TaskFired) else event.reason)
    return None


def _generic(record: Record) -> str:
    fields = record.event.model_dump(exclude={"type"}, exclude_none=True)
    return " ".join(f"{key}={value}" for key, value in fields.items())


def agents_named(record: Record) -> tuple[str, ...]:
    """The agents a record is about besides its actor (a message's addressee, a barrier's arrivals…)."""
    event = record.event
    if isinstance(event, AgentLaunched | AgentExited | MessageTyped | StateObserved | PromptSeen | ProgressStalled):
        return (event.agent,)
    if isinstance(event, ConditionDetected | RecoveryStep | BreakerChanged | ScreenSnapshotTaken | AgentSession):
        return (event.agent,)
    if isinstance(event, SpoofRejected):
        return (event.agent,) if event.agent else ()
    if isinstance(event, MessageSent):
        return (event.to[1:],) if event.to.startswith("@") else ()
    if isinstance(event, LockGranted):
        return (event.holder,)
    if isinstance(event, BarrierReleased):
        return (*event.arrived, *event.missing)
    if isinstance(event, VoteOpened):
        return event.voters
    if isinstance(event, OrgLoaded):
        return tuple(event.agents)
    return ()


def states_of(record: Record) -> tuple[str, ...]:
    """The states a record shows (an agent's state, or `failed`), for filtering traces by state."""
    event = record.event
    if isinstance(event, StatusReported | StateObserved):
        return (event.state.value,)
    if isinstance(event, ApprovalRequested | PromptSeen):
        return ("waiting",)
    if isinstance(event, CommandRan) and not event.ok:
        return (FAILED,)
    if isinstance(event, ApprovalDecided) and not event.approved:
        return (FAILED,)
    if isinstance(event, LogRecorded) and event.level == "error":
        return (FAILED, "error")
    if isinstance(event, AgentExited | AccessDenied | SpoofRejected):
        return (FAILED,)
    return ()


@dataclass(eq=False, slots=True)
class Span:
    record: Record
    start: float
    end: float
    parent: Span | None = None
    children: list[Span] = field(default_factory=list)
    orphan: bool = False
    """Its record names a parent this trace does not hold (yet: it may still come)."""

    @property
    def duration(self) -> float:
        return self.end - self.start

    def walk(self, depth: int = 0) -> Iterator[tuple[int, Span]]:
        """This span and its descendants, depth first, children in time order, with their depth."""
        yield depth, self
        for child in self.children:
            yield from child.walk(depth + 1)


class Trace:
    """The spans of one trace: a tree (or a few, while parents are missing) with timing."""

    __slots__ = ("_arrivals", "_waiting", "agents", "count", "id", "pending", "roots", "spans", "states")

    def __init__(self, trace: str) -> None:
        self.id = trace
        self.spans: dict[str, Span] = {}
        self.roots: list[Span] = []
        self._waiting: dict[str, list[Span]] = {}  # a parent span not seen yet → its children so far
        self._arrivals: dict[str, list[Span]] = {}  # a barrier → its arrivals in this trace not released yet
        self.pending: set[tuple[str, str]] = set()
        """What is still going on in it: ("message", id) to an agent, not typed in nor taken from its inbox yet,
        ("work", agent) typed to and not idle yet, ("ask", id) not decided,
        ("barrier", name) not released. A trace without is settled: its spans' ends are final."""
        self.agents: set[str] = set()
        self.states: set[str] = set()
        self.count = 0

    @property
    def start(self) -> float:
        return min(root.start for root in self.roots)

    @property
    def end(self) -> float:
        return max(root.end for root in self.roots)

    @property
    def first(self) -> Record:
        return self.roots[0].record

    def add(self, record: Record) -> Span:
        span = Span(record, record.time, record.time)
        self.count += 1
        self.spans[record.span] = span
        self.agents.add(record.actor)
        self.agents.update(agents_named(record))
        self.states.update(states_of(record))
        adopted = self._waiting.pop(record.span, [])
        for child in adopted:  # out of the top before this span finds its place: it may go under the top's first
            self._detach(child)
        parent = self.spans.get(record.parent) if record.parent else None
        if parent is not None:
            self._attach(span, parent)
        elif record.parent:
            span.orphan = True  # until its parent comes
            self._waiting.setdefault(record.parent, []).append(span)
            self.roots.append(span)
        elif self.roots:
            self._attach(span, self.roots[0])  # a loose record hangs under the trace's first span
        else:
            self.roots.append(span)
        for child in adopted:
            child.orphan = False
            self._attach(child, span)
        self._note(record, span)
        return span

    def _note(self, record: Record, span: Span) -> None:
        event = record.event
        if isinstance(event, BarrierArrived):
            self._arrivals.setdefault(event.name, []).append(span)
            self.pending.add(("barrier", event.name))
        elif isinstance(event, BarrierReleased):
            for arrival in self._arrivals.pop(event.name, ()):  # each arrival waited until the release
                self._extend(arrival, arrival.start, record.time)
            self.pending.discard(("barrier", event.name))
        elif isinstance(event, MessageSent) and event.to.startswith("@"):
            self.pending.add(("message", event.id))
        elif isinstance(event, MessageAcknowledged):
            self.pending.discard(("message", event.id))
        elif isinstance(event, MessageTyped):
            self.pending.discard(("message", event.id))
            self.pending.add(("work", event.agent))
        elif isinstance(event, StatusReported) and event.state is AgentState.IDLE:
            self.pending.discard(("work", record.actor))
        elif isinstance(event, AgentExited):
            self.pending.discard(("work", event.agent))
        elif isinstance(event, ApprovalRequested | PromptSeen):
            self.pending.add(("ask", event.id))
        elif isinstance(event, ApprovalDecided):
            self.pending.discard(("ask", event.id))

    def _detach(self, span: Span) -> None:
        siblings = span.parent.children if span.parent is not None else self.roots
        siblings.remove(span)
        span.parent = None

    def _attach(self, span: Span, parent: Span) -> None:
        span.parent = parent
        children = parent.children
        if children and children[-1].start > span.start:
            bisect.insort(children, span, key=lambda each: each.start)
        else:
            children.append(span)
        self._extend(parent, span.start, span.end)  # the ancestors last as long as what they caused

    @staticmethod
    def _extend(span: Span | None, start: float, end: float) -> None:
        while span is not None and (start < span.start or end > span.end):
            span.start, span.end = min(span.start, start), max(span.end, end)
            span = span.parent

    def drop_oldest(self, count: int) -> None:
        """Forget the `count` oldest spans after the first (their children move up to their parent)."""
        for key in list(self.spans)[1 : 1 + count]:
            span = self.spans.pop(key)
            self._detach(span)
            for child in list(span.children):
                child.parent = None
                self._attach(child, self.roots[0])
            self.count -= 1

    def walk(self) -> Iterator[tuple[int, Span]]:
        for root in self.roots:
            yield from root.walk()


@dataclass(frozen=True)
class TraceFilter:
    """What the viewer narrows traces to; None: no narrowing on that."""

    agents: frozenset[str] | None = None
    """Traces with a record by one of them or about one of them (an agent, or a team's members)."""
    state: str | None = None
    since: float | None = None
    until: float | None = None
    text: str | None = None
    """A piece of a record's summary, actor or event type (any case)."""

    @property
    def empty(self) -> bool:
        return self == TraceFilter()


class TraceIndex:
    """The journal's traces in order, with indexes to filter them fast: by agent and by state (each trace's ids),
    by time (the traces' first times, in order), by text (one lower-case text of every trace, built on the first
    search after records came). `limit`: keep about this many records (the oldest traces go first); None keeps
    everything."""

    def __init__(self, limit: int | None = None) -> None:
        self.limit = limit
        self.traces: dict[str, Trace] = {}
        self.count = 0
        self._order: list[str] = []  # trace ids by first record; dropped ones are skipped lazily
        self._firsts: list[float] = []  # their first records' times, in the same order
        self._dropped = 0
        self._position: dict[str, int] = {}  # trace → its rank in journal order (for sorting)
        self._serial = 0
        self._longest = 0.0  # the longest trace's duration: how far before `since` a trace may start
        self._by_agent: dict[str, dict[str, None]] = {}
        self._by_state: dict[str, dict[str, None]] = {}
        self._text: dict[str, list[str]] = {}  # trace → its records' searchable text (lower case)
        self._blob: tuple[str, list[int], list[str]] | None = None  # every trace's text, where each starts, ids

    def add(self, records: Iterable[Record]) -> set[str]:
        """Fold records in (journal order); the ids of the traces that changed."""
        changed: set[str] = set()
        for record in records:
            trace = self.traces.get(record.trace)
            if trace is None:
                trace = self.traces[record.trace] = Trace(record.trace)
                self._serial += 1
                self._position[record.trace] = self._serial
                self._order.append(record.trace)
                self._firsts.append(record.time)
                self._text[record.trace] = []
            agents, states = len(trace.agents), len(trace.states)
            trace.add(record)
            if len(trace.agents) != agents:
                for agent in trace.agents:
                    self._by_agent.setdefault(agent, {})[record.trace] = None
            if len(trace.states) != states:
                for state in trace.states:
                    self._by_state.setdefault(state, {})[record.trace] = None
            self._longest = max(self._longest, trace.end - trace.start)
            self._text[record.trace].append(f"{record.actor} {record.event.type} {summary(record)}".lower())
            self.count += 1
            changed.add(record.trace)
        if changed:
            self._blob = None
        if self.limit is not None:
            changed -= self._evict(self.limit)
        return changed

    def _evict(self, limit: int) -> set[str]:
        gone: set[str] = set()
        while self.count > limit and len(self.traces) > 1:
            trace = self._order[self._dropped]
            self._dropped += 1
            dropped = self.traces.pop(trace, None)
            if dropped is None:
                continue
            del self._text[trace]
            del self._position[trace]
            for agent in dropped.agents:
                self._by_agent.get(agent, {}).pop(trace, None)
            for state in dropped.states:
                self._by_state.get(state, {}).pop(trace, None)
            self.count -= dropped.count
            gone.add(trace)
        if self.count > limit and len(self.traces) == 1:
            # one trace holds everything: its oldest records after the first go
            only = next(iter(self.traces.values()))
            excess = self.count - limit
            only.drop_oldest(excess)
            del self._text[only.id][1 : 1 + excess]
            self.count -= excess
        if self._dropped > 4096 and self._dropped * 2 > len(self._order):
            self._order, self._firsts = self._order[self._dropped :], self._firsts[self._dropped :]
            self._dropped = 0
        return gone

    def ordered(self) -> Iterator[Trace]:
        for trace in self._order[self._dropped :]:
            found = self.traces.get(trace)
            if found is not None:
                yield found

    def select(self, wanted: TraceFilter) -> list[Trace]:
        """The traces `wanted` lets through, in journal order."""
        narrowed: list[dict[str, None]] = []
        if wanted.agents is not None:
            ids: dict[str, None] = {}
            for agent in wanted.agents:
                ids.update(self._by_agent.get(agent, {}))
            narrowed.append(ids)
        if wanted.state is not None:
            narrowed.append(self._by_state.get(wanted.state, {}))
        if wanted.text:
            narrowed.append(self._search(wanted.text.lower()))
        if narrowed:
            narrowed.sort(key=len)
            first, *others = narrowed
            chosen = [trace for trace in first if all(trace in other for other in others)]
            chosen.sort(key=self._position.__getitem__)
            candidates: Iterable[Trace] = (self.traces[trace] for trace in chosen)
        else:
            low, high = self._dropped, len(self._order)
            if wanted.since is not None:  # no trace starting earlier than this can reach `since`
                low = bisect.bisect_left(self._firsts, wanted.since - self._longest, low, high)
            if wanted.until is not None:
                high = bisect.bisect_right(self._firsts, wanted.until, low, high)
            candidates = (self.traces[trace] for trace in self._order[low:high] if trace in self.traces)
        if wanted.since is None and wanted.until is None:
            return list(candidates)
        return [trace for trace in candidates if self._in_time(trace, wanted)]

    def _search(self, needle: str) -> dict[str, None]:
        """The traces whose text holds `needle`, in order: one pass of `str.find` over every trace's text."""
        if self._blob is None:
            ids = [trace for trace in self._order[self._dropped :] if trace in self.traces]
            texts = ["\n".join(self._text[trace]) for trace in ids]
            starts, at = [], 0
            for text in texts:
                starts.append(at)
                at += len(text) + 1
            self._blob = ("\0".join(texts), starts, ids)
        blob, starts, ids = self._blob
        found: dict[str, None] = {}
        at = blob.find(needle)
        while at >= 0:
            which = bisect.bisect_right(starts, at) - 1
            found[ids[which]] = None
            if which + 1 >= len(starts):
                break
            at = blob.find(needle, starts[which + 1])  # one hit a trace is enough
        return found

    @staticmethod
    def _in_time(trace: Trace, wanted: TraceFilter) -> bool:
        if wanted.since is not None and trace.end < wanted.since:
            return False
        return wanted.until is None or trace.start <= wanted.until

    def matches(self, trace: Trace, wanted: TraceFilter) -> bool:
        """Whether `wanted` lets `trace` through."""
        if wanted.agents is not None and wanted.agents.isdisjoint(trace.agents):
            return False
        if wanted.state is not None and wanted.state not in trace.states:
            return False
        if not self._in_time(trace, wanted):
            return False
        if wanted.text:
            needle = wanted.text.lower()
            return any(needle in line for line in self._text[trace.id])
        return True
