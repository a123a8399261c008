"""What the supervisor decides for barriers, locks and votes: pure functions from state to events.

Each function reads an `OrgState` (never changes it) and returns the events to journal, in order, with
actor `SUPERVISOR`. They are decided together from one state, so the caller journals and applies all of
them before calling any of these functions again (`due` included). The `on_*` functions
expect the triggering event to be journaled *and applied* already (the arrival, the request, the
release, the exit, the heartbeat, the ballot): they decide from the state that includes it. `due` and
`next_deadline` carry everything that happens because time passed, so the supervisor sleeps until
`next_deadline` and calls `due`, without polling.

Lock expiry is enforced when someone else needs the lock (`on_lock_request`) and by `due`; until then a
holder whose lease ran out may still renew it (by heartbeat or by asking again), since nobody else has
been given the lock in between and its fencing token stays the same.
"""

from __future__ import annotations

from typing import Literal

from .events import (
    BarrierArrived,
    BarrierReleased,
    Event,
    LockGranted,
    LockReleased,
    LockRequested,
    VoteCast,
    VoteClosed,
)
from .state import Barrier, Lock, OrgState, Vote

Outcome = Literal["passed", "failed", "no-quorum"]

# --- barriers ---------------------------------------------------------------------------------------------------


def on_barrier_arrive(state: OrgState, agent: str, event: BarrierArrived, now: float) -> list[Event]:
    """After an arrival is applied: release the barrier once everyone is there (or its timeout has passed)."""
    barrier = state.barriers.get(event.name)
    if barrier is None:
        return []
    return _settle_barrier(barrier, now)


def _settle_barrier(barrier: Barrier, now: float) -> list[Event]:
    if barrier.complete:
        return [BarrierReleased(name=barrier.name, arrived=tuple(barrier.arrived))]
    deadline = barrier.deadline
    if deadline is not None and deadline <= now:
        return [
            BarrierReleased(name=barrier.name, arrived=tuple(barrier.arrived), missing=barrier.missing, timed_out=True)
        ]
    return []


# --- locks ------------------------------------------------------------------------------------------------------


def on_lock_request(state: OrgState, agent: str, event: LockRequested, now: float) -> list[Event]:
    """After a request is applied: grant the lock if it is free (or its lease ran out), renew it for its holder;
    otherwise nothing (the request waits in the lock's queue)."""
    lock = state.locks.get(event.name)
    if lock is None:
        return []
    if lock.holder == agent and lock.token is not None:
        return [LockGranted(name=lock.name, holder=agent, token=lock.token, expires=now + event.lease)]
    return _settle_lock(state, lock, now)


def on_lock_release(state: OrgState, agent: str, event: LockReleased, now: float) -> list[Event]:
    """After a release is applied: if the lock is free now, grant it to the next live waiter (FIFO)."""
    lock = state.locks.get(event.name)
    if lock is None or lock.holder is not None:
        return []
    return _grant_next(state, lock, now)


def on_agent_exit(state: OrgState, agent: str, now: float) -> list[Event]:
    """After the agent's exit is applied: release each lock it holds ("holder-exited"), passing each on."""
    events: list[Event] = []
    for lock in _locks_held_by(state, agent):
        events.append(LockReleased(name=lock.name, token=lock.token, reason="holder-exited"))
        events += _grant_next(state, lock, now)
    return events


def on_heartbeat(state: OrgState, agent: str, now: float) -> list[Event]:
    """After a heartbeat is applied: renew each lock the agent holds for the lease it asked for."""
    return [
        LockGranted(name=lock.name, holder=agent, token=lock.token, expires=now + lock.lease)
        for lock in _locks_held_by(state, agent)
        if lock.token is not None and lock.lease is not None
    ]


def _locks_held_by(state: OrgState, agent: str) -> list[Lock]:
    return [lock for _, lock in sorted(state.locks.items()) if lock.holder == agent]


def _settle_lock(state: OrgState, lock: Lock, now: float) -> list[Event]:
    """Expire a lapsed lease and pass the lock on; grant a free lock to its first live waiter."""
    if lock.holder is None:
        return _grant_next(state, lock, now)
    if lock.expires is not None and lock.expires <= now:
        return [LockReleased(name=lock.name, token=lock.token, reason="expired"), *_grant_next(state, lock, now)]
    return []


def _grant_next(state: OrgState, lock: Lock, now: float) -> list[Event]:
    """The grant to the first waiter still alive (the lock being free, or about to be), if there is one."""
    holder = lock.holder
    for waiter, lease in lock.waiting:
        if waiter != holder and _alive(state, waiter):
            return [LockGranted(name=lock.name, holder=waiter, token=lock.max_token + 1, expires=now + lease)]
    return []


def _alive(state: OrgState, actor: str) -> bool:
    view = state.agents.get(actor)
    # actors that are not agents (the human) cannot die
    return view is None or view.alive


# --- votes ------------------------------------------------------------------------------------------------------


def on_vote_cast(state: OrgState, agent: str, event: VoteCast, now: float) -> list[Event]:
    """After a ballot is applied: close the vote once its outcome can no longer change."""
    vote = state.votes.get(event.name)
    if vote is None or not vote.is_open:
        return []
    outcome = _settled_outcome(vote, can_abstain=vote.deadline is not None)
    if outcome is None:
        return []
    return [VoteClosed(name=vote.name, outcome=outcome, yes=vote.yes, no=vote.no)]


def vote_outcome(yes: int, cast: int, voters: int, rule: str, quorum: int | None) -> Outcome:
    """The result once voting is over.

    "majority": passed when more than half of all voters said yes. "quorum": passed when at least `quorum`
    said yes (`quorum` defaults to a majority of voters). Either way, fewer than `quorum` ballots is "no-quorum".
    """
    needed_ballots, needed_yes = _thresholds(voters, rule, quorum)
    if cast < needed_ballots:
        return "no-quorum"
    return "passed" if yes >= needed_yes else "failed"


def _thresholds(voters: int, rule: str, quorum: int | None) -> tuple[int, int]:
    if rule == "quorum":
        needed = quorum if quorum is not None else voters // 2 + 1
        return needed, needed
    return quorum or 0, voters // 2 + 1


def _settled_outcome(vote: Vote, can_abstain: bool) -> Outcome | None:
    """The outcome if every way the remaining voters could still vote (or abstain, when there is a deadline)
    gives the same one; otherwise None."""
    voters = len(vote.voters)
    yes, cast = vote.yes, len(vote.ballots)
    remaining = voters - cast
    needed_ballots, needed_yes = _thresholds(voters, vote.rule, vote.quorum)
    most_cast = cast + remaining
    fewest_cast = cast if can_abstain else most_cast
    reachable: set[Outcome] = set()
    if yes + remaining >= needed_yes and most_cast >= needed_ballots:
        reachable.add("passed")
    if most_cast >= needed_ballots and yes < needed_yes:
        reachable.add("failed")
    if fewest_cast < needed_ballots:
        reachable.add("no-quorum")
    if len(reachable) == 1:
        return reachable.pop()
    return None


# --- time -------------------------------------------------------------------------------------------------------


def due(state: OrgState, now: float) -> list[Event]:
    """Everything whose time has come: lapsed leases (released, passed on), barrier timeouts, vote deadlines."""
    events: list[Event] = []
    for _, lock in sorted(state.locks.items()):
        # a free lock with live waiters (they were not alive when it was freed) is settled too
        if lock.holder is None or (lock.expires is not None and lock.expires <= now):
            events += _settle_lock(state, lock, now)
    for _, barrier in sorted(state.barriers.items()):
        deadline = barrier.deadline
        if deadline is not None and deadline <= now:
            events += _settle_barrier(barrier, now)
    for _, vote in sorted(state.votes.items()):
        if vote.is_open and vote.deadline is not None and vote.deadline <= now:
            outcome = vote_outcome(vote.yes, len(vote.ballots), len(vote.voters), vote.rule, vote.quorum)
            events.append(VoteClosed(name=vote.name, outcome=outcome, yes=vote.yes, no=vote.no))
    return events


def next_deadline(state: OrgState) -> float | None:
    """The earliest time `due` has something to do (None: nothing is timed)."""
    deadlines = [lock.expires for lock in state.locks.values() if lock.holder is not None and lock.expires is not None]
    deadlines += [barrier.deadline for barrier in state.barriers.values() if barrier.deadline is not None]
    deadlines += [vote.deadline for vote in state.votes.values() if vote.is_open and vote.deadline is not None]
    return min(deadlines, default=None)
