"""Coordination: barriers, locks (FIFO, fencing, leases, exits) and votes, driven the way the supervisor drives them."""

from __future__ import annotations

import pytest

from agent_console.agents import coordination
from agent_console.agents.coordination import due, next_deadline, vote_outcome
from agent_console.agents.events import (
    HUMAN,
    SUPERVISOR,
    AgentExited,
    AgentLaunched,
    BarrierArrived,
    BarrierReleased,
    Event,
    Heartbeat,
    LockGranted,
    LockReleased,
    LockRequested,
    OrgLoaded,
    VoteCast,
    VoteClosed,
    VoteOpened,
)
from agent_console.agents.journal import GENESIS, Record
from agent_console.agents.state import OrgState

AGENTS = ("ann", "bob", "cy", "dee", "eve")


class Supervisor:
    """The supervisor's loop in miniature: apply an agent's event, then the events coordination decides."""

    def __init__(self) -> None:
        self.state = OrgState()
        self.seq = 0
        self.apply(SUPERVISOR, OrgLoaded(name="acme", teams={"eng": None}, agents=dict.fromkeys(AGENTS, "eng")), 0)
        for agent in AGENTS:
            self.apply(SUPERVISOR, AgentLaunched(agent=agent, pane=f"%{agent}"), 0)

    def apply(self, actor: str, event: Event, now: float) -> None:
        self.seq += 1
        record = Record(
            seq=self.seq, time=now, trace="t", span="s", parent=None, actor=actor, event=event, prev=GENESIS, hmac=""
        )
        self.state.apply(record)

    def follow(self, events: list[Event], now: float) -> list[Event]:
        for event in events:
            self.apply(SUPERVISOR, event, now)
        return events

    def arrive(self, agent: str, event: BarrierArrived, now: float) -> list[Event]:
        self.apply(agent, event, now)
        return self.follow(coordination.on_barrier_arrive(self.state, agent, event, now), now)

    def lock(self, agent: str, name: str, now: float, lease: float = 10.0) -> list[Event]:
        event = LockRequested(name=name, lease=lease)
        self.apply(agent, event, now)
        return self.follow(coordination.on_lock_request(self.state, agent, event, now), now)

    def unlock(self, agent: str, name: str, now: float, token: int | None = None) -> list[Event]:
        event = LockReleased(name=name, token=token)
        self.apply(agent, event, now)
        return self.follow(coordination.on_lock_release(self.state, agent, event, now), now)

    def heartbeat(self, agent: str, now: float) -> list[Event]:
        self.apply(agent, Heartbeat(), now)
        return self.follow(coordination.on_heartbeat(self.state, agent, now), now)

    def exit(self, agent: str, now: float) -> list[Event]:
        self.apply(SUPERVISOR, AgentExited(agent=agent, status=1), now)
        return self.follow(coordination.on_agent_exit(self.state, agent, now), now)

    def vote(self, agent: str, name: str, choice: str, now: float) -> list[Event]:
        event = VoteCast(name=name, choice=choice)
        self.apply(agent, event, now)
        return self.follow(coordination.on_vote_cast(self.state, agent, event, now), now)

    def tick(self, now: float) -> list[Event]:
        return self.follow(due(self.state, now), now)


@pytest.fixture
def sup() -> Supervisor:
    return Supervisor()


# --- barriers -----------------------------------------------------------------------------------------------------


def test_barrier_of_three_releases_at_the_third_arrival(sup: Supervisor) -> None:
    assert sup.arrive("ann", BarrierArrived(name="merge", count=3), 1) == []
    assert sup.arrive("bob", BarrierArrived(name="merge"), 2) == []
    assert sup.arrive("bob", BarrierArrived(name="merge"), 3) == []  # arriving twice counts once
    assert sup.arrive("cy", BarrierArrived(name="merge"), 4) == [
        BarrierReleased(name="merge", arrived=("ann", "bob", "cy"))
    ]
    assert "merge" not in sup.state.barriers
    assert sup.arrive("dee", BarrierArrived(name="merge", count=2), 5) == []  # a new round
    assert sup.state.barriers["merge"].arrived == ["dee"]


def test_barrier_with_members_waits_for_each_of_them(sup: Supervisor) -> None:
    sup.arrive("ann", BarrierArrived(name="sync", members=("ann", "bob")), 1)
    assert sup.arrive("cy", BarrierArrived(name="sync"), 2) == []  # not a member
    assert sup.arrive("bob", BarrierArrived(name="sync"), 3) == [BarrierReleased(name="sync", arrived=("ann", "bob"))]


def test_barrier_timeout_names_who_is_missing(sup: Supervisor) -> None:
    sup.arrive("ann", BarrierArrived(name="sync", members=("ann", "bob", "cy", "dee"), timeout=30), 100)
    sup.arrive("cy", BarrierArrived(name="sync"), 110)
    assert next_deadline(sup.state) == 130
    assert sup.tick(129.9) == []
    assert sup.tick(130) == [
        BarrierReleased(name="sync", arrived=("ann", "cy"), missing=("bob", "dee"), timed_out=True)
    ]
    assert sup.state.barrier_releases["sync"].missing == ("bob", "dee")
    assert next_deadline(sup.state) is None


def test_an_arrival_after_the_timeout_releases_at_once(sup: Supervisor) -> None:
    sup.arrive("ann", BarrierArrived(name="sync", count=3, timeout=5), 0)
    assert sup.arrive("bob", BarrierArrived(name="sync"), 6) == [
        BarrierReleased(name="sync", arrived=("ann", "bob"), timed_out=True)
    ]


# --- locks --------------------------------------------------------------------------------------------------------


def test_lock_is_granted_queued_and_passed_on_with_a_higher_token(sup: Supervisor) -> None:
    assert sup.lock("ann", "db", 0, lease=10) == [LockGranted(name="db", holder="ann", token=1, expires=10)]
    assert sup.lock("bob", "db", 1, lease=20) == []
    assert sup.lock("cy", "db", 2, lease=30) == []
    assert sup.state.locks["db"].waiting == [("bob", 20), ("cy", 30)]
    assert sup.unlock("ann", "db", 5, token=1) == [LockGranted(name="db", holder="bob", token=2, expires=25)]
    assert sup.unlock("bob", "db", 6) == [LockGranted(name="db", holder="cy", token=3, expires=36)]
    assert sup.unlock("cy", "db", 7) == []
    lock = sup.state.locks["db"]
    assert (lock.holder, lock.max_token, lock.waiting) == (None, 3, [])
    assert sup.lock("ann", "db", 8) == [LockGranted(name="db", holder="ann", token=4, expires=18)]


def test_a_release_by_someone_else_passes_nothing_on(sup: Supervisor) -> None:
    sup.lock("ann", "db", 0)
    sup.lock("bob", "db", 1)
    assert sup.unlock("cy", "db", 2) == []
    assert sup.state.locks["db"].holder == "ann"


def test_asking_again_for_a_held_lock_renews_it_with_the_same_token(sup: Supervisor) -> None:
    sup.lock("ann", "db", 0, lease=10)
    assert sup.lock("ann", "db", 4, lease=60) == [LockGranted(name="db", holder="ann", token=1, expires=64)]
    assert sup.state.locks["db"].lease == 60
    assert sup.state.locks["db"].waiting == []


def test_heartbeat_renews_the_leases_of_the_locks_held(sup: Supervisor) -> None:
    sup.lock("ann", "db", 0, lease=10)
    sup.lock("ann", "cache", 0, lease=5)
    sup.lock("bob", "db", 1)
    assert sup.heartbeat("ann", 4) == [
        LockGranted(name="cache", holder="ann", token=1, expires=9),
        LockGranted(name="db", holder="ann", token=1, expires=14),
    ]
    assert sup.heartbeat("bob", 4) == []  # bob only waits
    assert next_deadline(sup.state) == 9
    assert sup.tick(8.5) == []
    assert sup.state.locks["db"].holder == "ann"


def test_lease_expiry_releases_and_passes_the_lock_on(sup: Supervisor) -> None:
    sup.lock("ann", "db", 0, lease=10)
    sup.lock("bob", "db", 3, lease=20)
    assert next_deadline(sup.state) == 10
    assert sup.tick(9.99) == []
    assert sup.tick(10) == [
        LockReleased(name="db", token=1, reason="expired"),
        LockGranted(name="db", holder="bob", token=2, expires=30),
    ]
    assert next_deadline(sup.state) == 30
    assert sup.unlock("ann", "db", 11, token=1) == []  # the old holder's late release changes nothing
    assert sup.state.locks["db"].holder == "bob"


def test_a_request_for_a_lapsed_lock_takes_it_without_waiting_for_due(sup: Supervisor) -> None:
    sup.lock("ann", "db", 0, lease=10)
    assert sup.lock("bob", "db", 12, lease=5) == [
        LockReleased(name="db", token=1, reason="expired"),
        LockGranted(name="db", holder="bob", token=2, expires=17),
    ]


def test_locks_of_an_exited_holder_are_released_and_passed_on(sup: Supervisor) -> None:
    sup.lock("ann", "db", 0)
    sup.lock("ann", "cache", 0)
    sup.lock("bob", "db", 1, lease=15)
    sup.lock("cy", "db", 2)
    assert sup.exit("ann", 5) == [
        LockReleased(name="cache", token=1, reason="holder-exited"),
        LockReleased(name="db", token=1, reason="holder-exited"),
        LockGranted(name="db", holder="bob", token=2, expires=20),
    ]
    assert sup.state.locks["cache"].holder is None
    assert sup.state.locks["db"].waiting == [("cy", 10)]


def test_waiters_that_died_are_skipped(sup: Supervisor) -> None:
    sup.lock("ann", "db", 0)
    sup.lock("bob", "db", 1)
    sup.lock("cy", "db", 2)
    assert sup.exit("bob", 3) == []  # bob held nothing; his request goes with him
    sup.state.agents["cy"].alive = False  # a waiter whose exit was not journaled yet
    sup.lock("dee", "db", 4, lease=7)
    assert sup.unlock("ann", "db", 5) == [LockGranted(name="db", holder="dee", token=2, expires=12)]


def test_human_is_a_waiter_that_never_dies(sup: Supervisor) -> None:
    sup.lock("ann", "db", 0)
    sup.lock(HUMAN, "db", 1, lease=100)
    assert sup.unlock("ann", "db", 2) == [LockGranted(name="db", holder=HUMAN, token=2, expires=102)]


# --- votes --------------------------------------------------------------------------------------------------------


def open_vote(sup: Supervisor, **fields) -> None:
    fields.setdefault("voters", AGENTS)
    sup.apply(HUMAN, VoteOpened(name="ship", **fields), 0)


def test_majority_passes_as_soon_as_more_than_half_said_yes(sup: Supervisor) -> None:
    open_vote(sup)
    assert sup.vote("ann", "ship", "yes", 1) == []
    assert sup.vote("bob", "ship", "no", 2) == []
    assert sup.vote("cy", "ship", "yes", 3) == []
    assert sup.vote("dee", "ship", "yes", 4) == [VoteClosed(name="ship", outcome="passed", yes=3, no=1)]
    assert sup.vote("eve", "ship", "yes", 5) == []  # closed
    assert sup.state.votes["ship"].result.outcome == "passed"


def test_majority_fails_as_soon_as_it_cannot_pass(sup: Supervisor) -> None:
    open_vote(sup, voters=("ann", "bob", "cy", "dee"))
    assert sup.vote("ann", "ship", "no", 1) == []
    assert sup.vote("bob", "ship", "yes", 2) == []
    # 2 of 4 is not more than half: with two no votes, yes can reach 2 at most
    assert sup.vote("cy", "ship", "no", 3) == [VoteClosed(name="ship", outcome="failed", yes=1, no=2)]


def test_quorum_passes_at_quorum_yes_votes(sup: Supervisor) -> None:
    open_vote(sup, rule="quorum", quorum=2)
    assert sup.vote("ann", "ship", "no", 1) == []
    assert sup.vote("bob", "ship", "yes", 2) == []
    assert sup.vote("cy", "ship", "yes", 3) == [VoteClosed(name="ship", outcome="passed", yes=2, no=1)]


def test_a_vote_closes_when_everyone_voted(sup: Supervisor) -> None:
    open_vote(sup, voters=("ann", "bob"), rule="quorum", quorum=2)
    assert sup.vote("ann", "ship", "yes", 1) == []
    assert sup.vote("bob", "ship", "no", 2) == [VoteClosed(name="ship", outcome="failed", yes=1, no=1)]


def test_deadline_without_quorum(sup: Supervisor) -> None:
    open_vote(sup, rule="quorum", quorum=3, deadline=60)
    sup.vote("ann", "ship", "yes", 1)
    sup.vote("bob", "ship", "yes", 2)
    assert next_deadline(sup.state) == 60
    assert sup.tick(59) == []
    assert sup.tick(60) == [VoteClosed(name="ship", outcome="no-quorum", yes=2, no=0)]
    assert next_deadline(sup.state) is None


def test_deadline_closes_a_majority_vote_that_did_not_pass(sup: Supervisor) -> None:
    open_vote(sup, deadline=60)
    sup.vote("ann", "ship", "yes", 1)
    sup.vote("bob", "ship", "yes", 2)
    assert sup.tick(61) == [VoteClosed(name="ship", outcome="failed", yes=2, no=0)]


def test_a_deadline_keeps_a_vote_open_while_quorum_is_not_reached(sup: Supervisor) -> None:
    # with a deadline the others may never vote: one ballot cannot settle it, quorum reached with no yes can
    open_vote(sup, voters=("ann", "bob", "cy"), quorum=2, deadline=60)
    assert sup.vote("ann", "ship", "no", 1) == []
    assert sup.vote("bob", "ship", "no", 2) == [VoteClosed(name="ship", outcome="failed", yes=0, no=2)]


@pytest.mark.parametrize(
    ("yes", "cast", "voters", "rule", "quorum", "outcome"),
    [
        (3, 5, 5, "majority", None, "passed"),
        (2, 4, 4, "majority", None, "failed"),
        (0, 0, 3, "majority", None, "failed"),
        (2, 2, 5, "majority", 3, "no-quorum"),
        (3, 3, 5, "majority", 3, "passed"),
        (2, 2, 5, "quorum", 2, "passed"),
        (1, 2, 5, "quorum", 2, "failed"),
        (1, 1, 5, "quorum", 2, "no-quorum"),
        (3, 3, 5, "quorum", None, "passed"),  # quorum defaults to a majority of voters
    ],
)
def test_vote_outcome(yes: int, cast: int, voters: int, rule: str, quorum: int | None, outcome: str) -> None:
    assert vote_outcome(yes, cast, voters, rule, quorum) == outcome


# --- deadlines ----------------------------------------------------------------------------------------------------


def test_next_deadline_is_the_earliest_pending_one(sup: Supervisor) -> None:
    assert next_deadline(sup.state) is None
    sup.lock("ann", "db", 0, lease=50)
    sup.arrive("bob", BarrierArrived(name="sync", count=2, timeout=40), 0)
    open_vote(sup, deadline=45)
    assert next_deadline(sup.state) == 40
    sup.arrive("cy", BarrierArrived(name="sync"), 1)  # released: its timeout no longer counts
    assert next_deadline(sup.state) == 45
    sup.vote("ann", "ship", "yes", 2)
    sup.vote("bob", "ship", "yes", 2)
    sup.vote("cy", "ship", "yes", 2)
    assert next_deadline(sup.state) == 50
    sup.unlock("ann", "db", 3)
    assert next_deadline(sup.state) is None


def test_due_handles_everything_that_fell_due_at_once(sup: Supervisor) -> None:
    sup.lock("ann", "db", 0, lease=5)
    sup.arrive("bob", BarrierArrived(name="sync", count=2, timeout=5), 0)
    open_vote(sup, deadline=5)
    assert [type(event) for event in sup.tick(100)] == [LockReleased, BarrierReleased, VoteClosed]
    assert sup.tick(200) == []


def test_coordination_reads_the_state_without_changing_it(sup: Supervisor) -> None:
    sup.lock("ann", "db", 0, lease=5)
    sup.lock("bob", "db", 0, lease=5)
    sup.arrive("bob", BarrierArrived(name="sync", count=2, timeout=5), 0)
    before = sup.state.to_json()
    assert due(sup.state, 100) == due(sup.state, 100)
    coordination.on_agent_exit(sup.state, "ann", 100)
    coordination.on_heartbeat(sup.state, "ann", 100)
    assert sup.state.to_json() == before
