"""Spans folded from records (agents/spans.py) and the causality that links records (agents/tracing.py)."""

from __future__ import annotations

import pytest

from agent_console.agents.errors import Forbidden, InvalidInput
from agent_console.agents.events import (
    HUMAN,
    SUPERVISOR,
    AgentState,
    ApprovalDecided,
    ApprovalRequested,
    BarrierArrived,
    BarrierReleased,
    BreakerChanged,
    CommandRan,
    ConditionDetected,
    Event,
    LogRecorded,
    MessageSent,
    MessageTyped,
    RecoveryStep,
    StatusReported,
)
from agent_console.agents.journal import GENESIS, Record
from agent_console.agents.spans import TraceFilter, TraceIndex, summary
from agent_console.agents.tracing import Cause, Causes, parse_traceparent, traceparent

T0 = 1_700_000_000.0


class Journal:
    """Records as the supervisor journals them: each joins what caused it (`Causes`), unless told otherwise."""

    def __init__(self) -> None:
        self.causes = Causes()
        self.records: list[Record] = []

    def do(
        self, actor: str, event: Event, at: float, trace: str | None = None, parent: str | None = None, span: str = ""
    ) -> Record:
        if trace is None:
            cause = self.causes.cause(actor, event)
            trace, parent = cause if cause is not None else (f"t{len(self.records) + 1}", None)
        record = Record(
            seq=len(self.records) + 1,
            time=T0 + at,
            trace=trace,
            span=span or f"{len(self.records) + 1:016x}",
            parent=parent,
            actor=actor,
            event=event,
            prev=GENESIS,
            hmac="",
        )
        self.causes.note(record)
        self.records.append(record)
        return record


def chain() -> Journal:
    """chat → send (a command, journaled last) → message → typed into db → db works, asks, the human approves,
    db arrives at a barrier, api arrives, the barrier releases, db is idle."""
    journal = Journal()
    command = "c000000000000001"
    sent = journal.do(HUMAN, MessageSent(id="m1", to="@db", text="migrate"), 0.0, trace="chat", parent=command)
    journal.do(HUMAN, CommandRan(name="send", args={}, via="chat", ok=True), 0.1, trace="chat", span=command)
    journal.do(SUPERVISOR, MessageTyped(id="m1", agent="db"), 0.5)
    journal.do("db", StatusReported(state=AgentState.WORKING, task="migrating"), 1.0)
    journal.do("db", ApprovalRequested(id="a1", text="run it?", command="alembic upgrade head"), 2.0)
    journal.do(HUMAN, ApprovalDecided(id="a1", approved=True), 5.0)
    arrival = journal.do("db", BarrierArrived(name="migrated"), 6.0)
    journal.do("api", BarrierArrived(name="migrated"), 7.0)  # api is not working on anything: a trace of its own
    journal.do(SUPERVISOR, BarrierReleased(name="migrated", arrived=("db", "api")), 7.0)
    journal.do("db", StatusReported(state=AgentState.IDLE), 9.0)
    journal.do("db", LogRecorded(text="after the work"), 10.0)
    assert sent.parent == command and arrival.trace == "chat"
    return journal


def test_a_chain_is_one_trace_whose_spans_last_as_long_as_what_they_caused() -> None:
    journal = chain()
    index = TraceIndex()
    index.add(journal.records)
    trace = index.traces["chat"]
    tree = [(depth, span.record.event.type, span.start - T0, span.end - T0) for depth, span in trace.walk()]
    assert tree == [
        (0, "command", 0.0, 9.0),  # journaled at 0.1, after what it did: it starts with its first child
        (1, "message", 0.0, 9.0),
        (2, "message.typed", 0.5, 9.0),  # the agent's work: from typed to idle again
        (3, "status", 1.0, 1.0),
        (3, "approval.request", 2.0, 5.0),  # an ask lasts until its decision
        (4, "approval.decision", 5.0, 5.0),
        (3, "barrier.arrive", 6.0, 6.0),  # released in api's trace: not this one's
        (3, "status", 9.0, 9.0),
    ]
    # the release follows the last arrival (api's, in a trace of its own); db's later log is not its work
    release = next(record for record in journal.records if record.event.type == "barrier.release")
    api_arrival = journal.records[7]
    assert (release.trace, release.parent) == (api_arrival.trace, api_arrival.span)
    assert journal.records[-1].trace not in ("chat", api_arrival.trace)
    assert trace.agents >= {"db", HUMAN} and "waiting" in trace.states


def test_a_record_whose_parent_never_comes_stays_at_the_top_marked() -> None:
    journal = Journal()
    journal.do("db", LogRecorded(text="first"), 0.0, trace="x")
    lost = journal.do("db", LogRecorded(text="names a span nobody journaled"), 1.0, trace="x", parent="f" * 16)
    index = TraceIndex()
    index.add(journal.records)
    roots = index.traces["x"].roots
    assert [root.record.seq for root in roots] == [1, lost.seq] and roots[1].orphan and not roots[0].orphan


def test_filters_narrow_traces_by_agent_state_time_and_text() -> None:
    journal = chain()
    index = TraceIndex()
    index.add(journal.records)
    ids = lambda wanted: [trace.id for trace in index.select(wanted)]  # noqa: E731
    everything = ids(TraceFilter())
    assert everything[0] == "chat" and len(everything) == 3
    assert ids(TraceFilter(agents=frozenset({"api"}))) == [journal.records[7].trace]
    assert ids(TraceFilter(state="waiting")) == ["chat"]
    assert ids(TraceFilter(text="ALEMBIC")) == ["chat"]
    assert ids(TraceFilter(text="nowhere")) == []
    assert ids(TraceFilter(since=T0 + 9.5)) == [journal.records[-1].trace]
    assert ids(TraceFilter(until=T0 + 6.5)) == ["chat"]


def test_the_index_keeps_only_the_newest_records_when_bounded() -> None:
    journal = chain()
    index = TraceIndex(limit=3)
    index.add(journal.records)
    assert list(index.traces) == [journal.records[7].trace, journal.records[-1].trace]
    assert [trace.id for trace in index.select(TraceFilter(agents=frozenset({"db"})))] == list(index.traces)


def test_traceparent_round_trips_and_refuses_what_is_not_one() -> None:
    assert parse_traceparent(traceparent("0123456789abcdef", "fedcba9876543210")) == Cause(
        "0123456789abcdef", "fedcba9876543210"
    )
    assert parse_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01").trace == (
        "4bf92f3577b34da6a3ce929d0e0e4736"
    )
    for bad in ("", "00-xyz", "01-" + "1" * 32 + "-" + "2" * 16 + "-01", "00-" + "0" * 32 + "-" + "2" * 16 + "-01"):
        with pytest.raises(InvalidInput, match="traceparent"):
            parse_traceparent(bad)


def test_an_agent_cannot_graft_its_records_into_a_trace_it_takes_no_part_in() -> None:
    journal = chain()
    causes = journal.causes
    typed = journal.records[2]
    # api was never in the chat trace: its claim to a span there is refused
    with pytest.raises(Forbidden, match="not one api takes part in"):
        causes.claim("api", Cause("chat", typed.span))
    # db was: it may hang its records under a span of that trace…
    assert causes.claim("db", Cause("chat", typed.span)) == Cause("chat", typed.span)
    # …but a span it makes up, or one of another trace, is not kept
    assert causes.claim("db", Cause("chat", "1" * 16)) == Cause("chat", None)
    assert causes.claim("db", Cause("chat", journal.records[7].span)) == Cause("chat", None)
    # a trace nobody has seen is the agent's to start
    assert causes.claim("api", Cause("ab" * 16, "1" * 16)) == Cause("ab" * 16, None)


def three_agent_chain() -> Journal:
    """The chain the console's chain test runs for real: the human's chat line sends lead a message; lead's work
    messages db and api; db asks, the human approves; db and api meet at a barrier; everyone is idle again."""
    journal = Journal()
    send, approve = "c000000000000001", "c000000000000002"
    text = "migrate the schema"
    journal.do(HUMAN, MessageSent(id="m1", to="@lead", text=text), 0.0, trace="chain0000000001", parent=send)
    journal.do(
        HUMAN, CommandRan(name="send", args={"to": "@lead"}, via="chat", ok=True), 0.0, "chain0000000001", span=send
    )
    journal.do(SUPERVISOR, MessageTyped(id="m1", agent="lead"), 0.4)
    journal.do("lead", StatusReported(state=AgentState.WORKING, task="migration"), 0.6)
    journal.do("lead", MessageSent(id="m2", to="@db", text="run the migration"), 0.8)
    journal.do("lead", MessageSent(id="m3", to="@api", text="update the client"), 0.9)
    journal.do(SUPERVISOR, MessageTyped(id="m2", agent="db"), 1.2)
    journal.do(SUPERVISOR, MessageTyped(id="m3", agent="api"), 1.5)
    journal.do("db", StatusReported(state=AgentState.WORKING, task="alembic"), 1.6)
    journal.do("db", ApprovalRequested(id="a1", text="migrate?", command="alembic upgrade head"), 2.0)
    journal.do("api", StatusReported(state=AgentState.WORKING, task="client"), 2.2)
    journal.do("api", BarrierArrived(name="migrated"), 3.0)
    ask = journal.records[-3]
    decided = journal.do(HUMAN, ApprovalDecided(id="a1", approved=True), 6.5, trace=ask.trace, parent=approve)
    journal.do(
        HUMAN, CommandRan(name="approve", args={"id": "a1"}, via="key", ok=True), 6.5, ask.trace, ask.span, approve
    )
    journal.do("db", BarrierArrived(name="migrated"), 8.0)
    journal.do(SUPERVISOR, BarrierReleased(name="migrated", arrived=("api", "db")), 8.0)
    journal.do("api", StatusReported(state=AgentState.IDLE), 8.5)
    journal.do("db", StatusReported(state=AgentState.IDLE), 9.0)
    journal.do("lead", StatusReported(state=AgentState.IDLE), 9.5)
    assert decided.trace == "chain0000000001"
    return journal


def test_three_agents_make_one_trace_with_the_causal_tree() -> None:
    index = TraceIndex()
    index.add(three_agent_chain().records)
    assert list(index.traces) == ["chain0000000001"]
    tree = [
        ("  " * depth + f"{span.record.actor} {span.record.event.type}", round(span.duration, 1))
        for depth, span in index.traces["chain0000000001"].walk()
    ]
    assert tree == [
        ("human command", 9.5),
        ("  human message", 9.5),
        ("    supervisor message.typed", 9.1),  # lead's work: typed at 0.4, idle at 9.5
        ("      lead status", 0.0),
        ("      lead message", 8.2),
        ("        supervisor message.typed", 7.8),  # db's work: typed at 1.2, idle at 9.0
        ("          db status", 0.0),
        ("          db approval.request", 4.5),  # asked at 2.0, approved at 6.5
        ("            human command", 0.0),
        ("              human approval.decision", 0.0),
        ("          db barrier.arrive", 0.0),
        ("            supervisor barrier.release", 0.0),  # the last arrival's
        ("          db status", 0.0),
        ("      lead message", 7.6),
        ("        supervisor message.typed", 7.0),  # api's work: typed at 1.5, idle at 8.5
        ("          api status", 0.0),
        ("          api barrier.arrive", 5.0),  # api waited from 3.0 until the release at 8.0
        ("          api status", 0.0),
        ("      lead status", 0.0),
    ]


def test_a_recovery_is_found_by_its_agent_and_reads_as_what_was_done() -> None:
    """The supervisor is the actor of a recovery: the agent it is about still finds it, and it reads in words."""
    journal = Journal()
    journal.do(SUPERVISOR, ConditionDetected(agent="db", condition="crashed", evidence="exited (signal 9)"), 1.0, "r")
    step = RecoveryStep(agent="db", step=3, of=4, action="restart", outcome="recovered", detail="held 5s")
    journal.do(SUPERVISOR, step, 2.0, "r")
    journal.do(SUPERVISOR, BreakerChanged(agent="ann", state="open", reason="2 failed recoveries"), 3.0, "b")
    index = TraceIndex()
    index.add(journal.records)
    assert [trace.id for trace in index.select(TraceFilter(agents=frozenset({"db"})))] == ["r"]
    assert [trace.id for trace in index.select(TraceFilter(agents=frozenset({"ann"})))] == ["b"]
    assert [summary(record) for record in journal.records] == [
        "db crashed: exited (signal 9)",
        "db step 3/4 restart: recovered: held 5s",
        "ann breaker open: 2 failed recoveries",
    ]
