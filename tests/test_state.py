"""`OrgState`: each event's effect, the preconditions that make the fold ignore one, and determinism."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agent_console.agents import coordination
from agent_console.agents.events import (
    EXECUTIVE,
    HUMAN,
    SUPERVISOR,
    AgentExited,
    AgentLaunched,
    AgentState,
    ApprovalDecided,
    ApprovalRequested,
    BarrierArrived,
    BarrierReleased,
    Event,
    Heartbeat,
    LockGranted,
    LockReleased,
    LockRequested,
    LogRecorded,
    MessageAcknowledged,
    MessageSent,
    MessageTyped,
    MetricRecorded,
    OrgEdit,
    OrgEdited,
    OrgLoaded,
    ProgressStalled,
    PromptSeen,
    SpoofRejected,
    StateObserved,
    StatusReported,
    VoteCast,
    VoteClosed,
    VoteOpened,
)
from agent_console.agents.journal import GENESIS, Journal, Record
from agent_console.agents.state import OrgState
from tests.test_journal import AGENT_NAMES, TEAM_NAMES, event_strategy

KEY = bytes(range(32))

# eng ⊃ backend; ann leads eng, bob and cy are in backend, dee is in ops
ORG = OrgLoaded(
    name="acme",
    teams={"eng": None, "backend": "eng", "ops": None},
    agents={"ann": "eng", "bob": "backend", "cy": "backend", "dee": "ops"},
)


class Org:
    """Records made by hand (no journal) and applied as the supervisor would."""

    def __init__(self, launch: bool = True) -> None:
        self.state = OrgState()
        self.records: list[Record] = []
        self.now = 100.0
        self.do(SUPERVISOR, ORG)
        if launch:
            for agent in ORG.agents:
                self.do(SUPERVISOR, AgentLaunched(agent=agent, pane=f"%{agent}"))

    def do(self, actor: str, event: Event, now: float | None = None) -> Record:
        self.now = self.now + 1 if now is None else now
        record = Record(
            seq=len(self.records) + 1,
            time=self.now,
            trace="t",
            span=f"s{len(self.records)}",
            parent=None,
            actor=actor,
            event=event,
            prev=GENESIS,
            hmac="",
        )
        self.records.append(record)
        self.state.apply(record)
        return record

    def json(self) -> dict[str, Any]:
        return self.state.to_json()


def without_seq(data: dict[str, Any]) -> dict[str, Any]:
    """The state without what any record changes: its seq, and when its sender was last heard of (its last proof
    of life)."""
    data = {key: value for key, value in data.items() if key != "seq"}
    data["agents"] = {name: {**view, "last_event": None, "life": None} for name, view in data["agents"].items()}
    return data


# --- org and agents -----------------------------------------------------------------------------------------------


def test_org_load_sets_teams_and_agents_unknown_and_offline_until_launched() -> None:
    org = Org(launch=False)
    data = org.json()
    assert data["org"] == "acme"
    assert data["teams"] == {"backend": "eng", "eng": None, "ops": None}
    assert {name: view["team"] for name, view in data["agents"].items()} == ORG.agents
    assert {view["state"] for view in data["agents"].values()} == {"unknown"}
    assert not any(view["alive"] for view in data["agents"].values())
    assert org.state.org_event() == ORG


def test_reloading_the_org_keeps_agents_and_drops_removed_ones() -> None:
    org = Org()
    org.do("ann", StatusReported(state=AgentState.WORKING, task="build"))
    org.do("bob", MessageSent(id="m1", to="@dee", text="hi"))
    org.do(SUPERVISOR, OrgLoaded(name="acme", teams={"eng": None}, agents={"ann": "eng", "eve": "eng"}))
    assert sorted(org.state.agents) == ["ann", "eve"]
    assert org.state.agents["ann"].task == "build"
    assert org.state.messages == {} and org.state.outboxes == {}


def test_the_last_edit_of_each_spec_file_is_what_the_next_start_replays() -> None:
    org = Org()
    spawn = OrgEdit(action="add-agent", name="eve", table={"name": "eve", "team": "ops"})
    kill = OrgEdit(action="remove-agent", name="dee")
    org.do(HUMAN, OrgEdited(spec="/srv/acme.toml", edits=(spawn,)))
    org.do(HUMAN, OrgEdited(spec="/srv/acme.toml", edits=(spawn, kill)))
    org.do(HUMAN, OrgEdited(spec=None, edits=(kill,)))
    assert org.state.org_edits == {"/srv/acme.toml": (spawn, kill), None: (kill,)}
    org.do(HUMAN, OrgEdited(spec="/srv/acme.toml"))  # saved over its spec: nothing left to replay
    assert org.state.org_edits["/srv/acme.toml"] == ()
    assert sorted(org.state.agents) == ["ann", "bob", "cy", "dee"]  # the org itself changes by org.load only


def test_launch_exit_and_restart() -> None:
    org = Org()
    bob = org.state.agents["bob"]
    assert (bob.alive, bob.pane, bob.launches, bob.restarts, bob.state) == (True, "%bob", 1, 0, AgentState.UNKNOWN)
    org.do("bob", StatusReported(state=AgentState.WORKING, task="tests", progress="1/3"))
    org.do(SUPERVISOR, AgentExited(agent="bob", status=1), now=200.0)
    assert (bob.alive, bob.state, bob.exit_status, bob.last_event) == (False, AgentState.OFFLINE, 1, 200.0)
    org.do(SUPERVISOR, AgentLaunched(agent="bob", pane="%9"))
    org.do(SUPERVISOR, AgentExited(agent="bob", signal=9))
    org.do(SUPERVISOR, AgentLaunched(agent="bob", pane="%10"))
    assert (bob.launches, bob.restarts, bob.pane, bob.alive) == (3, 2, "%10", True)
    assert bob.state is AgentState.RECOVERING  # a restart, until the agent says otherwise
    # its last task survives the restart (the program resumes it): the health table and the exec still see it
    assert (bob.task, bob.progress, bob.exit_signal) == ("tests", "1/3", 9)
    assert org.json()["agents"]["bob"]["restarts"] == 2


def test_status_keeps_the_task_until_idle() -> None:
    org = Org()
    org.do("cy", StatusReported(state=AgentState.WORKING, task="refactor", progress="2/5"), now=300.0)
    cy = org.state.agents["cy"]
    assert (cy.state, cy.task, cy.progress, cy.last_event) == (AgentState.WORKING, "refactor", "2/5", 300.0)
    org.do("cy", StatusReported(state=AgentState.THINKING))
    assert (cy.state, cy.task, cy.progress) == (AgentState.THINKING, "refactor", "2/5")
    org.do("cy", StatusReported(state=AgentState.IDLE))
    assert (cy.state, cy.task, cy.progress) == (AgentState.IDLE, None, None)


def test_status_and_heartbeat_of_an_exited_or_unknown_agent_are_ignored() -> None:
    org = Org()
    org.do(SUPERVISOR, AgentExited(agent="dee", status=0))
    before = without_seq(org.json())
    org.do("dee", StatusReported(state=AgentState.WORKING, task="ghost"), now=org.state.agents["dee"].last_event)
    org.do("ghost", StatusReported(state=AgentState.WORKING))
    org.do("ghost", Heartbeat())
    assert org.state.agents["dee"].state is AgentState.OFFLINE
    assert without_seq(org.json()) == before


def test_heartbeat_time() -> None:
    org = Org()
    org.do("ann", Heartbeat(), now=500.0)
    assert org.state.agents["ann"].heartbeat == 500.0


# --- messages -----------------------------------------------------------------------------------------------------


def test_direct_message_waits_in_the_recipient_outbox() -> None:
    org = Org()
    org.do(HUMAN, MessageSent(id="m1", to="@bob", text="rebase please", reply_to="m0"), now=10.0)
    assert org.state.outbox("bob") == [
        {"from": HUMAN, "id": "m1", "reply_to": "m0", "text": "rebase please", "time": 10.0, "to": "@bob"}
    ]
    assert org.state.outbox("cy") == []


def test_team_message_fans_out_to_the_team_and_its_subteams_but_not_the_sender() -> None:
    org = Org()
    org.do("bob", MessageSent(id="m1", to="#eng", text="standup"))
    org.do("ann", MessageSent(id="m2", to="#backend", text="deploy"))
    assert org.json()["outboxes"] == {"ann": ["m1"], "bob": ["m2"], "cy": ["m1", "m2"]}


def test_all_goes_to_everyone_but_the_sender() -> None:
    org = Org()
    org.do("dee", MessageSent(id="m1", to="all", text="freeze"))
    assert org.json()["outboxes"] == {"ann": ["m1"], "bob": ["m1"], "cy": ["m1"]}
    assert org.json()["messages"]["m1"]["pending"] == ["ann", "bob", "cy"]


def test_a_message_id_seen_before_is_ignored() -> None:
    org = Org()
    org.do("ann", MessageSent(id="m1", to="@bob", text="first"))
    org.do("ann", MessageSent(id="m1", to="@bob", text="redelivered"))
    org.do("cy", MessageSent(id="m1", to="@dee", text="same id"))
    assert org.json()["outboxes"] == {"bob": ["m1"]}
    org.do("bob", MessageAcknowledged(id="m1"))
    org.do("ann", MessageSent(id="m1", to="@bob", text="after the ack"))
    assert org.state.outbox("bob") == []


def test_ack_removes_the_message_from_that_recipient_only() -> None:
    org = Org()
    org.do("ann", MessageSent(id="m1", to="#backend", text="hi"))
    org.do("ann", MessageSent(id="m2", to="@bob", text="and you"))
    org.do("bob", MessageAcknowledged(id="m1"))
    assert org.json()["outboxes"] == {"bob": ["m2"], "cy": ["m1"]}
    assert org.json()["messages"]["m1"]["pending"] == ["cy"]
    org.do("cy", MessageAcknowledged(id="m1"))
    assert "m1" not in org.state.messages  # delivered to everyone: forgotten


def test_acks_of_unknown_or_foreign_messages_are_ignored() -> None:
    org = Org()
    org.do("ann", MessageSent(id="m1", to="@bob", text="hi"))
    before = without_seq(org.json())
    org.do("cy", MessageAcknowledged(id="m1"), now=org.now)  # not cy's message
    org.do("bob", MessageAcknowledged(id="nope"), now=org.now)
    assert without_seq(org.json()) == before


def test_a_typed_message_waits_to_be_taken_up_by_that_recipient() -> None:
    org = Org()
    org.do(HUMAN, MessageSent(id="m1", to="#backend", text="hi"))
    org.do(SUPERVISOR, MessageTyped(id="m1", agent="bob"), now=150.0)
    org.do(SUPERVISOR, MessageTyped(id="m1", agent="dee"))  # not one of its recipients
    org.do(SUPERVISOR, MessageTyped(id="nope", agent="cy"))
    typed = org.state.typed_message("bob")
    assert typed is not None and typed.typed == {"bob": 150.0}
    assert org.state.typed_message("cy") is None and org.state.typed_message("dee") is None
    org.do("bob", MessageAcknowledged(id="m1"))
    assert org.state.typed_message("bob") is None


def test_messages_to_nobody_are_not_kept() -> None:
    org = Org()
    org.do("ann", MessageSent(id="m1", to="@zed", text="?"))
    org.do("ann", MessageSent(id="m2", to="#nope", text="?"))
    assert org.state.messages == {}
    org.do("ann", MessageSent(id="m1", to="@bob", text="now a real one"))
    assert org.state.outbox("bob")[0]["text"] == "now a real one"


# --- approvals ----------------------------------------------------------------------------------------------------


def test_approvals_are_pending_until_decided() -> None:
    org = Org()
    org.do("bob", ApprovalRequested(id="a1", text="run rm?", command="rm -rf build"), now=20.0)
    org.do("cy", ApprovalRequested(id="a2", text="push?"), now=21.0)
    assert org.json()["approvals"] == [
        {"agent": "bob", "command": "rm -rf build", "id": "a1", "requested": 20.0, "text": "run rm?"}
        | {"options": [], "source": "agent"},
        {"agent": "cy", "command": None, "id": "a2", "requested": 21.0, "text": "push?"}
        | {"options": [], "source": "agent"},
    ]
    org.do(HUMAN, ApprovalDecided(id="a1", approved=False, reason="no"), now=22.0)
    assert [item["id"] for item in org.json()["approvals"]] == ["a2"]
    assert org.json()["decided"]["a1"] == {"agent": "bob", "approved": False, "by": HUMAN, "reason": "no", "time": 22.0}


def test_decisions_on_no_pending_approval_and_repeated_requests_are_ignored() -> None:
    org = Org()
    org.do("bob", ApprovalRequested(id="a1", text="first"))
    org.do("bob", ApprovalRequested(id="a1", text="again"))
    assert org.state.approvals["a1"].text == "first"
    org.do(HUMAN, ApprovalDecided(id="a1", approved=True))
    before = without_seq(org.json())
    org.do(HUMAN, ApprovalDecided(id="a1", approved=False), now=org.now)
    org.do(HUMAN, ApprovalDecided(id="zz", approved=True), now=org.now)
    org.do("bob", ApprovalRequested(id="a1", text="after the decision"), now=org.now)
    assert without_seq(org.json()) == before
    assert org.state.decided["a1"].approved is True


# --- barriers, votes, locks ---------------------------------------------------------------------------------------


def test_barrier_arrivals_and_release() -> None:
    org = Org()
    org.do("ann", BarrierArrived(name="sync", members=("ann", "bob"), timeout=30), now=50.0)
    org.do("ann", BarrierArrived(name="sync"))
    org.do("dee", BarrierArrived(name="sync"))  # not a member
    org.do("bob", BarrierArrived(name="sync", count=9))  # the size is set already
    barrier = org.state.barriers["sync"]
    assert (barrier.arrived, barrier.members, barrier.count, barrier.deadline) == (
        ["ann", "bob"],
        ("ann", "bob"),
        None,
        80,
    )
    assert barrier.complete
    org.do(SUPERVISOR, BarrierReleased(name="sync", arrived=("ann", "bob")), now=60.0)
    assert org.state.barriers == {}
    assert org.json()["barrier_releases"] == {
        "sync": {"arrived": ["ann", "bob"], "missing": [], "time": 60.0, "timed_out": False}
    }
    org.do(SUPERVISOR, BarrierReleased(name="sync", arrived=()), now=61.0)  # none open: ignored
    assert org.state.barrier_releases["sync"].time == 60.0


def test_votes_open_cast_close() -> None:
    org = Org()
    org.do(HUMAN, VoteOpened(name="ship", voters=("ann", "bob", "cy"), deadline=999.0), now=70.0)
    org.do("ann", VoteCast(name="ship", choice="yes"))
    org.do("ann", VoteCast(name="ship", choice="no"))  # the first ballot counts
    org.do("dee", VoteCast(name="ship", choice="no"))  # not a voter
    org.do("bob", VoteCast(name="ship", choice="no"))
    assert org.state.open_votes() == {"ship"}
    assert org.json()["votes"]["ship"]["ballots"] == {"ann": "yes", "bob": "no"}
    org.do(SUPERVISOR, VoteClosed(name="ship", outcome="failed", yes=1, no=1), now=80.0)
    assert org.state.open_votes() == set()
    assert org.json()["votes"]["ship"]["result"] == {"no": 1, "outcome": "failed", "time": 80.0, "yes": 1}
    org.do("cy", VoteCast(name="ship", choice="yes"))  # closed
    assert org.state.votes["ship"].yes == 1
    org.do(HUMAN, VoteOpened(name="ship", voters=("cy",)))  # a closed vote may be opened again
    assert org.state.open_votes() == {"ship"} and org.state.votes["ship"].ballots == {}


def test_locks_queue_grant_release_and_only_growing_tokens() -> None:
    org = Org()
    org.do("ann", LockRequested(name="db", lease=10))
    org.do("bob", LockRequested(name="db", lease=20))
    org.do("bob", LockRequested(name="db", lease=25))  # asking again keeps its place
    assert org.state.locks["db"].waiting == [("ann", 10), ("bob", 25)]
    org.do(SUPERVISOR, LockGranted(name="db", holder="ann", token=1, expires=200.0))
    lock = org.state.locks["db"]
    assert (lock.holder, lock.token, lock.expires, lock.lease, lock.waiting) == ("ann", 1, 200.0, 10, [("bob", 25)])
    org.do(SUPERVISOR, LockGranted(name="db", holder="bob", token=2, expires=300.0))  # held: ignored
    org.do("bob", LockReleased(name="db"))  # bob does not hold it: withdraws his request
    assert (lock.holder, lock.waiting) == ("ann", [])
    org.do("ann", LockReleased(name="db", token=7))  # wrong token: ignored
    assert lock.holder == "ann"
    org.do("ann", LockReleased(name="db", token=1))
    assert (lock.holder, lock.token, lock.max_token) == (None, None, 1)
    org.do(SUPERVISOR, LockGranted(name="db", holder="cy", token=1, expires=300.0))  # token does not grow: ignored
    assert lock.holder is None
    org.do(SUPERVISOR, LockGranted(name="db", holder="cy", token=2, expires=300.0))
    assert (lock.holder, lock.token, lock.max_token) == ("cy", 2, 2)


def test_an_exited_agent_leaves_lock_queues() -> None:
    org = Org()
    org.do("ann", LockRequested(name="db"))
    org.do(SUPERVISOR, LockGranted(name="db", holder="ann", token=1, expires=999.0))
    org.do("bob", LockRequested(name="db"))
    org.do("cy", LockRequested(name="db"))
    org.do(SUPERVISOR, AgentExited(agent="bob"))
    assert [agent for agent, _ in org.state.locks["db"].waiting] == ["cy"]


def test_spoofs_logs_and_metrics() -> None:
    org = Org()
    org.do(SUPERVISOR, SpoofRejected(pane="%bob", agent="bob"))
    org.do(SUPERVISOR, SpoofRejected(pane="%bob", agent="bob"))
    org.do(SUPERVISOR, SpoofRejected(pane="%7"))
    org.do("ann", LogRecorded(text="one"))
    org.do("ann", LogRecorded(level="error", text="two"))
    org.do("bob", LogRecorded(text="three"))
    org.do("ann", MetricRecorded(name="tokens", value=10, unit="k"), now=90.0)
    org.do("ann", MetricRecorded(name="tokens", value=12, unit="k"), now=91.0)
    org.do("bob", MetricRecorded(name="tokens", value=3))
    data = org.json()
    assert data["spoofs"] == {"by_agent": {"bob": 2}, "total": 3}
    assert data["agents"]["bob"]["spoofs"] == 2
    assert data["logs"] == {"by_actor": {"ann": 2, "bob": 1}, "total": 3}
    assert data["metrics"]["ann"] == {"tokens": {"time": 91.0, "unit": "k", "value": 12.0}}
    assert data["metrics"]["bob"]["tokens"]["value"] == 3.0


# --- determinism and totality -------------------------------------------------------------------------------------


def scenario(act) -> None:
    """A busy stretch of an org's life, through `act(actor, event)`, with the supervisor's follow-ups."""
    act(SUPERVISOR, ORG)
    for agent in ORG.agents:
        act(SUPERVISOR, AgentLaunched(agent=agent, pane=f"%{agent}"))
    act("ann", StatusReported(state=AgentState.WORKING, task="plan", progress="1/4"))
    act("ann", MessageSent(id="m1", to="#backend", text="go"))
    act("bob", MessageAcknowledged(id="m1"))
    act("bob", ApprovalRequested(id="a1", text="migrate?", command="alembic upgrade head"))
    act(HUMAN, ApprovalDecided(id="a1", approved=True))
    act("bob", LockRequested(name="db", lease=30))
    act("cy", LockRequested(name="db", lease=30))
    act("bob", Heartbeat())
    act("bob", BarrierArrived(name="merge", count=2, timeout=60))
    act("cy", BarrierArrived(name="merge"))
    act(HUMAN, VoteOpened(name="ship", voters=("ann", "bob", "cy")))
    act("ann", VoteCast(name="ship", choice="yes"))
    act("cy", VoteCast(name="ship", choice="yes"))
    act("bob", LockReleased(name="db", token=1))
    act(SUPERVISOR, AgentExited(agent="cy", status=1))
    act(SUPERVISOR, AgentLaunched(agent="cy", pane="%c2"))
    act("dee", MetricRecorded(name="load", value=0.5))
    act(SUPERVISOR, SpoofRejected(pane="%x", agent="dee"))


def test_replaying_a_journal_gives_the_state_that_was_built_live(tmp_path: Path) -> None:
    live = OrgState()
    clock = iter(range(1000, 2000))
    with Journal.open(tmp_path / "j.jsonl", KEY, sync=False) as journal:

        def act(actor: str, event: Event) -> None:
            now = float(next(clock))
            record = journal.append(actor, event, now=now)
            live.apply(record)
            follow = {
                Heartbeat: lambda: coordination.on_heartbeat(live, actor, now),
                LockRequested: lambda: coordination.on_lock_request(live, actor, event, now),
                LockReleased: lambda: coordination.on_lock_release(live, actor, event, now),
                BarrierArrived: lambda: coordination.on_barrier_arrive(live, actor, event, now),
                VoteCast: lambda: coordination.on_vote_cast(live, actor, event, now),
                AgentExited: lambda: coordination.on_agent_exit(live, event.agent, now),
            }.get(type(event), list)()
            for decided in follow:
                live.apply(journal.append(SUPERVISOR, decided, trace=record.trace, parent=record.span, now=now))

        scenario(act)
    replayed = OrgState.replay(Journal.read(tmp_path / "j.jsonl", KEY))
    assert replayed.to_json() == live.to_json()
    assert json.dumps(replayed.to_json()) == json.dumps(live.to_json())  # same order too
    # the follow-ups happened: cy got the lock after bob, the barrier opened, the vote passed
    data = live.to_json()
    assert data["locks"]["db"]["max_token"] == 2 and data["locks"]["db"]["holder"] is None  # cy exited holding it
    assert data["barrier_releases"]["merge"]["arrived"] == ["bob", "cy"]
    assert data["votes"]["ship"]["result"]["outcome"] == "passed"
    assert data["agents"]["cy"]["restarts"] == 1


def test_to_json_is_json_and_independent_of_the_state() -> None:
    org = Org()
    scenario(lambda actor, event: org.do(actor, event))
    data = org.json()
    assert json.loads(json.dumps(data)) == data
    data["agents"].clear()
    assert org.json()["agents"]


SMALL_EVENT = event_strategy(
    names=st.sampled_from(["db", "sync"]),
    ids=st.sampled_from(["m1", "m2", "a1"]),
    agents=st.sampled_from(AGENT_NAMES),
    teams=st.sampled_from(TEAM_NAMES),
)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.sampled_from([HUMAN, SUPERVISOR, *AGENT_NAMES]), SMALL_EVENT), max_size=40))
def test_the_fold_is_total_and_deterministic(entries: list) -> None:
    """Any sequence of valid events folds without raising, twice to the same state; coordination never raises."""
    first, second = Org(launch=False), Org(launch=False)
    for actor, event in entries:
        first.do(actor, event)
        second.do(actor, event)
        before = first.json()
        coordination.due(first.state, first.now)
        coordination.on_heartbeat(first.state, actor, first.now)
        coordination.on_agent_exit(first.state, actor, first.now)
        assert first.json() == before  # deciding never changes the state
    assert first.json() == second.json()
    assert OrgState.replay(first.records).to_json() == first.json()
    json.dumps(first.json())
    deadline = coordination.next_deadline(first.state)
    if deadline is not None:
        assert deadline == min(
            [lock.expires for lock in first.state.locks.values() if lock.holder is not None]
            + [barrier.deadline for barrier in first.state.barriers.values() if barrier.deadline is not None]
            + [vote.deadline for vote in first.state.votes.values() if vote.is_open and vote.deadline is not None]
        )


@pytest.mark.parametrize("count", [100_000])
def test_applying_many_status_records_is_cheap(count: int) -> None:
    """Not timed: a sanity check that a day-sized stream folds (it takes well under a second)."""
    org = Org()
    states = [AgentState.WORKING, AgentState.THINKING, AgentState.IDLE]
    agents = list(ORG.agents)
    events = [StatusReported(state=state, task="t") for state in states]
    state = org.state
    for seq in range(count):
        record = Record.model_construct(
            seq=seq + 10,
            time=float(seq),
            trace="t",
            span="s",
            parent=None,
            actor=agents[seq % 4],
            event=events[seq % 3],
            prev=GENESIS,
            hmac="",
        )
        state.apply(record)
    assert state.seq == count + 9
    assert state.agents[agents[(count - 1) % 4]].last_event == float(count - 1)


def test_a_barrier_set_up_ahead_keeps_its_size_and_counts_arrivals() -> None:
    from agent_console.agents.events import BarrierArrived, BarrierCreated

    records = [
        _barrier_record(1, "human", BarrierCreated(name="ship", count=2)),
        _barrier_record(2, "ann", BarrierArrived(name="ship", count=5)),  # too late to size it
    ]
    state = OrgState.replay(records)
    assert state.barriers["ship"].count == 2
    assert state.barriers["ship"].arrived == ["ann"]
    state.apply(_barrier_record(3, "human", BarrierCreated(name="ship", count=9)))
    assert state.barriers["ship"].count == 2  # already waiting: not resized


def _barrier_record(seq, actor, event):
    from agent_console.agents.journal import Record

    return Record.model_construct(
        seq=seq, time=1000.0 + seq, trace="t", span=f"s{seq}", parent=None, actor=actor, event=event, prev="", hmac=""
    )


# --- what the supervisor reads of an agent: screens and hooks ------------------------------------------------------


def screen(agent: str, state: AgentState, rule: str = "r") -> StateObserved:
    return StateObserved(agent=agent, state=state, source="screen", rule=rule)


def hook(agent: str, state: AgentState, name: str = "Stop") -> StateObserved:
    return StateObserved(agent=agent, state=state, source="hook", rule=name)


def test_a_screen_sets_the_state_of_an_agent_that_reports_nothing() -> None:
    org = Org()
    org.do(SUPERVISOR, screen("bob", AgentState.WORKING, "spinner"), now=200.0)
    view = org.json()["agents"]["bob"]
    assert (view["state"], view["screen_state"], view["screen_rule"]) == ("working", "working", "spinner")
    org.do(SUPERVISOR, screen("bob", AgentState.UNKNOWN, None), now=201.0)
    view = org.json()["agents"]["bob"]
    assert (view["state"], view["screen_state"]) == ("working", "unknown")  # unknown changes nothing


def test_a_hook_is_trusted_over_a_screen_that_disagrees_right_after_it() -> None:
    org = Org()
    org.do("bob", hook("bob", AgentState.WAITING, "PermissionRequest"), now=200.0)
    org.do(SUPERVISOR, screen("bob", AgentState.WORKING), now=200.5)  # captured before the prompt was drawn
    view = org.json()["agents"]["bob"]
    assert (view["state"], view["screen_state"], view["hook_state"]) == ("waiting", "working", "waiting")
    assert view["hook_event"] == "PermissionRequest"
    org.do(SUPERVISOR, screen("bob", AgentState.ERROR), now=205.0)  # later evidence: the hook went quiet
    assert org.json()["agents"]["bob"]["state"] == "error"


def test_an_agents_own_report_counts_as_a_hook() -> None:
    org = Org()
    org.do("cy", StatusReported(state=AgentState.WORKING), now=200.0)
    org.do(SUPERVISOR, screen("cy", AgentState.IDLE), now=200.2)
    assert org.json()["agents"]["cy"]["state"] == "working"


def test_stalls_are_flagged_and_cleared_and_a_relaunch_forgets_everything_read() -> None:
    org = Org()
    org.do(SUPERVISOR, screen("bob", AgentState.WORKING), now=200.0)
    org.do(SUPERVISOR, ProgressStalled(agent="bob", stalled=True, seconds=30.0), now=230.0)
    assert org.json()["agents"]["bob"]["stalled_since"] == 200.0
    org.do(SUPERVISOR, ProgressStalled(agent="bob", stalled=False, seconds=0.0), now=231.0)
    assert org.json()["agents"]["bob"]["stalled_since"] is None
    org.do(SUPERVISOR, ProgressStalled(agent="bob", stalled=True, seconds=5.0), now=240.0)
    org.do(SUPERVISOR, screen("bob", AgentState.IDLE), now=241.0)  # no longer working: not stalled
    assert org.json()["agents"]["bob"]["stalled_since"] is None
    org.do("bob", hook("bob", AgentState.WORKING), now=242.0)
    org.do(SUPERVISOR, AgentLaunched(agent="bob", pane="%9"), now=250.0)
    view = org.json()["agents"]["bob"]
    assert (view["hook_state"], view["screen_state"], view["state"]) == (None, None, "recovering")


def test_a_prompt_seen_on_a_screen_is_an_approval_of_that_agent() -> None:
    org = Org()
    seen = PromptSeen(id="s1", agent="dee", text="Run touch x?", command="touch x", source="screen", rule="permission")
    org.do(SUPERVISOR, seen, now=200.0)
    org.do(SUPERVISOR, seen.model_copy(update={"text": "again"}), now=201.0)
    (approval,) = org.json()["approvals"]
    assert approval == {
        "agent": "dee",
        "command": "touch x",
        "id": "s1",
        "options": [],
        "requested": 200.0,
        "source": "screen",
        "text": "Run touch x?",
    }
    assert org.state.approvals["s1"].rule == "permission"
    org.do(HUMAN, ApprovalDecided(id="s1", approved=True), now=202.0)
    assert org.json()["decided"]["s1"]["agent"] == "dee"


def test_a_buried_agent_keeps_its_state_and_is_marked_until_the_org_unburies_it() -> None:
    org = Org()
    org.do("dee", StatusReported(state=AgentState.WORKING, task="migrate"))
    org.do(SUPERVISOR, ORG.model_copy(update={"buried": ("dee",)}))
    dee = org.state.agents["dee"]
    assert dee.buried and dee.state is AgentState.WORKING and dee.alive  # counted, its state kept
    assert not any(view.buried for name, view in org.state.agents.items() if name != "dee")
    org.do(SUPERVISOR, ORG)
    assert not org.state.agents["dee"].buried


def test_an_agent_asking_in_the_words_of_the_consoles_own_request_is_not_approved_with_it() -> None:
    """Bait: an agent files the exact command of a pending merge the console asked for; approving "all like it"
    on either must not approve the other."""
    org = Org()
    merge = "git merge --no-ff 4f118a5 (agent/crew/ann, 2 commit(s)) into main at /repo"
    org.do(EXECUTIVE, ApprovalRequested(id="op1", text="merge ann's work", command=merge))
    org.do("bob", ApprovalRequested(id="b1", text="merge ann's work", command=merge))
    org.do("cy", ApprovalRequested(id="c1", text="merge ann's work", command=merge))
    assert org.state.identical_approvals("b1") == ["b1", "c1"]
    assert org.state.identical_approvals("op1") == ["op1"]
