"""`OrgState`: what the organisation is now, as a fold over journal records.

The fold is total and deterministic: its result depends only on the records (times come from
`record.time`, never from a clock), and a record whose preconditions do not hold (an ack of an unknown
message, a decision on no pending approval, a release of a lock its sender does not hold) changes
nothing. Deciding what *should* happen (grants, releases, results) is `coordination`'s job; the fold
only records what was journaled.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from .events import (
    EXECUTIVE,
    HUMAN,
    SUPERVISOR,
    AgentExited,
    AgentLaunched,
    AgentSession,
    AgentState,
    ApprovalDecided,
    ApprovalRequested,
    BarrierArrived,
    BarrierCreated,
    BarrierReleased,
    BreakerChanged,
    ConditionDetected,
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
    RecoveryStep,
    ScreenSnapshotTaken,
    SpoofRejected,
    StateObserved,
    StatusReported,
    TaskCancelled,
    TaskCreated,
    TaskFired,
    Throttled,
    VoteCast,
    VoteClosed,
    VoteOpened,
)
from .journal import Record

# A screen that disagrees with what the agent or its hook reported this recently is taken as not yet redrawn
# (a stale capture): it is shown beside the reported state, and the reported state stands.
REPORT_TRUST_SECONDS = 1.5
RECOVERY_HISTORY = 50  # errors, failed recoveries and recovery times kept per agent (the figures need no more)
STEP_ENDS = ("recovered", "paged", "stopped")  # a recovery's last step
# After that, only a confident reading outweighs a report (a bare shell prompt does not outweigh "working").
SCREEN_OVER_REPORT_CONFIDENCE = 0.7


@dataclass(slots=True)
class AgentView:
    """One agent as the journal tells it: its state and task, its pane and process, when it was last heard of.

    `last_event` is the time of the last record it sent (even one the fold ignored) or of its launch or exit.
    """

    name: str
    team: str | None
    state: AgentState = AgentState.UNKNOWN
    task: str | None = None
    progress: str | None = None
    last_event: float | None = None
    pane: str | None = None
    alive: bool = False
    exit_status: int | None = None
    exit_signal: int | None = None
    launches: int = 0
    heartbeat: float | None = None
    reported: float | None = None  # when the agent (protocol) or its program's hook last said its state
    screen_state: AgentState | None = None  # what its screen shows, when a rule of its kind reads it
    screen_rule: str | None = None
    hook_state: AgentState | None = None
    hook_event: str | None = None
    stalled_since: float | None = None  # working, and its screen has not changed since then
    throttled: str | None = None  # the limit it last went over
    throttled_at: float | None = None
    buried: bool = False  # off screen: no pane in the layout, still watched
    life: tuple[str, float] | None = None  # its last proof of life: source (heartbeat, hook, report, screen, process)
    errors: list[float] = field(default_factory=list)  # when it went into error, lately
    error_rule: str | None = None  # what read its last error (a screen rule, a hook event)
    outage: str | None = None  # its provider is out: it is in error with others, and is not restarted
    condition: str | None = None  # the condition of the episode under way, and its evidence
    condition_evidence: str | None = None
    condition_since: float | None = None
    recovery: tuple[int, int, str, str] | None = None  # the last recovery step: step, of, action, outcome
    recovery_at: float | None = None
    failures: list[float] = field(default_factory=list)  # when a recovery's restart did not hold, lately
    breaker: str = "closed"
    breaker_reason: str | None = None
    repair_times: list[float] = field(default_factory=list)  # how long each automatic recovery took, lately

    @property
    def recovering(self) -> bool:
        """A recovery ladder is under way."""
        return self.recovery is not None and self.recovery[3] not in STEP_ENDS

    @property
    def mttr(self) -> float | None:
        """Mean time to recover, over the recoveries kept."""
        return sum(self.repair_times) / len(self.repair_times) if self.repair_times else None

    session: str | None = None  # its program's conversation, as last reported: a restart resumes it

    @property
    def restarts(self) -> int:
        """Launches after the first."""
        return max(0, self.launches - 1)


@dataclass(slots=True)
class PendingApproval:
    """An agent's question to the human, not yet decided."""

    id: str
    agent: str
    text: str
    command: str | None
    requested: float
    source: Literal["agent", "screen", "hook"] = "agent"
    rule: str | None = None  # the screen rule that found the prompt: its keys answer it
    options: tuple[str, ...] = ()

    @property
    def request_key(self) -> tuple[str, str]:
        """What was asked, whoever asked it: the exact command if there is one, else the question."""
        return ("command", self.command) if self.command else ("text", self.text)


@dataclass(slots=True)
class Decision:
    """How an approval was decided, and by whom."""

    approved: bool
    reason: str | None
    by: str
    agent: str
    time: float


@dataclass(slots=True)
class Barrier:
    """A barrier some agents wait at; its size is set by the first arrival that gives one."""

    name: str
    created: float
    count: int | None = None
    members: tuple[str, ...] | None = None
    timeout: float | None = None
    arrived: list[str] = field(default_factory=list)

    @property
    def deadline(self) -> float | None:
        return None if self.timeout is None else self.created + self.timeout

    @property
    def complete(self) -> bool:
        """Everyone it waits for is there (named members take precedence over a count)."""
        if self.members is not None:
            return set(self.members) <= set(self.arrived)
        return self.count is not None and len(self.arrived) >= self.count

    @property
    def missing(self) -> tuple[str, ...]:
        """Members not yet arrived, sorted (empty for a barrier sized by a count)."""
        if self.members is None:
            return ()
        return tuple(sorted(set(self.members) - set(self.arrived)))


@dataclass(frozen=True, slots=True)
class BarrierRelease:
    """How a barrier last opened."""

    arrived: tuple[str, ...]
    missing: tuple[str, ...]
    timed_out: bool
    time: float


@dataclass(frozen=True, slots=True)
class VoteResult:
    outcome: Literal["passed", "failed", "no-quorum"]
    yes: int
    no: int
    time: float


@dataclass(slots=True)
class Vote:
    """A vote: open until its `result` is journaled; each voter's first ballot counts."""

    name: str
    voters: tuple[str, ...]
    rule: Literal["majority", "quorum"]
    quorum: int | None
    deadline: float | None
    question: str | None
    opened: float
    ballots: dict[str, Literal["yes", "no"]] = field(default_factory=dict)
    result: VoteResult | None = None

    @property
    def is_open(self) -> bool:
        return self.result is None

    @property
    def yes(self) -> int:
        return sum(1 for choice in self.ballots.values() if choice == "yes")

    @property
    def no(self) -> int:
        return len(self.ballots) - self.yes


@dataclass(slots=True)
class Lock:
    """A named lock: its holder (if any), the requests waiting in FIFO order, and the highest token issued."""

    name: str
    holder: str | None = None
    token: int | None = None
    expires: float | None = None
    lease: float | None = None  # what the holder asked for: heartbeats renew it by this much
    waiting: list[tuple[str, float]] = field(default_factory=list)
    max_token: int = 0


@dataclass(slots=True)
class Message:
    """A message not yet acknowledged by every recipient (`pending`)."""

    id: str
    sender: str
    to: str
    text: str
    reply_to: str | None
    time: float
    pending: set[str]
    typed: dict[str, float] = field(default_factory=dict)  # recipient → when it was typed into its pane
    recipients: tuple[str, ...] = ()  # everyone it was for, fixed when sent (`pending` shrinks as they take it)

    def to_json(self) -> dict[str, Any]:
        return {
            "from": self.sender,
            "id": self.id,
            "reply_to": self.reply_to,
            "text": self.text,
            "time": self.time,
            "to": self.to,
        }


@dataclass(slots=True)
class StandingTask:
    """ "When barrier X releases, do Y": waiting until its barrier releases or it times out, or cancelled."""

    id: str
    barrier: str
    action: str
    by: str  # whose command it is: the action runs as them, once the human approves
    via: str
    created: float
    timeout: float | None
    status: Literal["waiting", "released", "timed-out", "cancelled"] = "waiting"
    request: str | None = None  # the approval filed for its action
    said: str | None = None  # what the chat was told when it fired or was cancelled
    ended: float | None = None

    @property
    def deadline(self) -> float | None:
        return None if self.timeout is None else self.created + self.timeout

    def to_json(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "barrier": self.barrier,
            "by": self.by,
            "created": self.created,
            "deadline": self.deadline,
            "ended": self.ended,
            "id": self.id,
            "request": self.request,
            "said": self.said,
            "status": self.status,
        }


@dataclass(frozen=True, slots=True)
class Metric:
    value: float
    unit: str | None
    time: float


class OrgState:
    """The organisation now. `apply` mutates it in place: the caller owns it."""

    def __init__(self) -> None:
        self.seq = 0
        self.org: str | None = None
        self.teams: dict[str, str | None] = {}
        self.agents: dict[str, AgentView] = {}
        self.approvals: dict[str, PendingApproval] = {}
        self.decided: dict[str, Decision] = {}
        self.barriers: dict[str, Barrier] = {}
        self.barrier_releases: dict[str, BarrierRelease] = {}
        self.votes: dict[str, Vote] = {}
        self.locks: dict[str, Lock] = {}
        self.messages: dict[str, Message] = {}
        self.outboxes: dict[str, list[str]] = {}
        self.spoofs: dict[str, int] = {}
        self.spoofs_total = 0
        self.logs: dict[str, int] = {}
        self.logs_total = 0
        self.metrics: dict[tuple[str, str], Metric] = {}
        self.tasks: dict[str, StandingTask] = {}  # standing tasks, in the order made (ended ones kept)
        self.snapshots: dict[str, ScreenSnapshotTaken] = {}  # agent → the last snapshot of its screen
        self.snapshot_times: dict[str, float] = {}
        self._seen_messages: set[str] = set()
        self._org_event: OrgLoaded | None = None
        self.org_edits: dict[str | None, tuple[OrgEdit, ...]] = {}  # spec file (None: none) → the console's edits

    @classmethod
    def replay(cls, records: Iterable[Record]) -> OrgState:
        """The state the records fold to, from an empty one."""
        state = cls()
        for record in records:
            state.apply(record)
        return state

    def apply(self, record: Record) -> None:
        """Fold one record in. Never raises for an event whose preconditions fail: it is ignored."""
        self.seq = record.seq
        view = self.agents.get(record.actor)
        if view is not None:
            view.last_event = record.time
            if view.alive:  # whatever it sends proves it alive (a heartbeat says so by name)
                view.life = ("report", record.time)
        handler = _HANDLERS.get(type(record.event))
        if handler is not None:
            handler(self, record.actor, record.event, record.time)

    # --- queries ------------------------------------------------------------------------------------------

    def org_event(self) -> OrgLoaded | None:
        """The last `OrgLoaded` applied: the org as the journal knows it."""
        return self._org_event

    def open_votes(self) -> set[str]:
        return {name for name, vote in self.votes.items() if vote.is_open}

    def outbox(self, agent: str) -> list[dict[str, Any]]:
        """The messages waiting for `agent`, oldest first."""
        return [self.messages[message_id].to_json() for message_id in self.outboxes.get(agent, ())]

    def was_sent(self, message_id: str) -> bool:
        """Whether a message of that id was ever sent (pending or delivered)."""
        return message_id in self._seen_messages

    def typed_message(self, agent: str) -> Message | None:
        """The message typed into `agent`'s pane that it has not taken up yet."""
        for message_id in self.outboxes.get(agent, ()):
            if agent in self.messages[message_id].typed:
                return self.messages[message_id]
        return None

    def identical_approvals(self, approval_id: str) -> list[str]:
        """Ids (oldest first, `approval_id` included) of pending approvals asking the same thing, from any agent.
        The console's own requests (a merge, a discard) are never grouped with agents': an agent asking in the
        same words as one would have it approved along with its own."""
        approval = self.approvals.get(approval_id)
        if approval is None:
            return []
        if approval.agent == EXECUTIVE:
            return [approval_id]
        ordered = sorted(self.approvals.values(), key=lambda item: (item.requested, item.id))
        return [other.id for other in ordered if other.request_key == approval.request_key and other.agent != EXECUTIVE]

    def team_agents(self, team: str) -> list[str]:
        """Agents of `team` and of its sub-teams (at any depth), sorted."""
        teams = {team}
        grew = True
        while grew:
            grew = False
            for name, parent in self.teams.items():
                if parent in teams and name not in teams:
                    teams.add(name)
                    grew = True
        return sorted(name for name, view in self.agents.items() if view.team in teams)

    def to_json(self) -> dict[str, Any]:
        """The whole state as JSON-able data; the same records always give the same (sorted) result."""
        return {
            "seq": self.seq,
            "org": self.org,
            "teams": dict(sorted(self.teams.items())),
            "agents": {name: self._agent_json(self.agents[name]) for name in sorted(self.agents)},
            "approvals": [
                {
                    "agent": approval.agent,
                    "command": approval.command,
                    "id": approval.id,
                    "options": list(approval.options),
                    "requested": approval.requested,
                    "source": approval.source,
                    "text": approval.text,
                }
                for approval in sorted(self.approvals.values(), key=lambda item: (item.requested, item.id))
            ],
            "decided": {
                key: {
                    "agent": decision.agent,
                    "approved": decision.approved,
                    "by": decision.by,
                    "reason": decision.reason,
                    "time": decision.time,
                }
                for key, decision in sorted(self.decided.items())
            },
            "barriers": {
                name: {
                    "arrived": list(barrier.arrived),
                    "count": barrier.count,
                    "created": barrier.created,
                    "deadline": barrier.deadline,
                    "members": None if barrier.members is None else list(barrier.members),
                    "missing": list(barrier.missing),
                    "timeout": barrier.timeout,
                }
                for name, barrier in sorted(self.barriers.items())
            },
            "barrier_releases": {
                name: {
                    "arrived": list(release.arrived),
                    "missing": list(release.missing),
                    "time": release.time,
                    "timed_out": release.timed_out,
                }
                for name, release in sorted(self.barrier_releases.items())
            },
            "votes": {name: _vote_json(vote) for name, vote in sorted(self.votes.items())},
            "locks": {
                name: {
                    "expires": lock.expires,
                    "holder": lock.holder,
                    "lease": lock.lease,
                    "max_token": lock.max_token,
                    "token": lock.token,
                    "waiting": [[agent, lease] for agent, lease in lock.waiting],
                }
                for name, lock in sorted(self.locks.items())
            },
            "messages": {
                key: dict(sorted({**message.to_json(), "pending": sorted(message.pending)}.items()))
                for key, message in sorted(self.messages.items())
            },
            "outboxes": {agent: list(ids) for agent, ids in sorted(self.outboxes.items()) if ids},
            "spoofs": {"by_agent": dict(sorted(self.spoofs.items())), "total": self.spoofs_total},
            "logs": {"by_actor": dict(sorted(self.logs.items())), "total": self.logs_total},
            "metrics": _metrics_json(self.metrics),
            "tasks": {key: task.to_json() for key, task in sorted(self.tasks.items())},
            "snapshots": {
                agent: {**event.model_dump(exclude={"type", "agent"}), "time": self.snapshot_times[agent]}
                for agent, event in sorted(self.snapshots.items())
            },
        }

    def _agent_json(self, view: AgentView) -> dict[str, Any]:
        return {
            "alive": view.alive,
            "exit_signal": view.exit_signal,
            "exit_status": view.exit_status,
            "heartbeat": view.heartbeat,
            "last_event": view.last_event,
            "launches": view.launches,
            "outbox": len(self.outboxes.get(view.name, ())),
            "pane": view.pane,
            "progress": view.progress,
            "restarts": view.restarts,
            "hook_event": view.hook_event,
            "hook_state": view.hook_state.value if view.hook_state else None,
            "screen_rule": view.screen_rule,
            "screen_state": view.screen_state.value if view.screen_state else None,
            "session": view.session,
            "spoofs": self.spoofs.get(view.name, 0),
            "stalled_since": view.stalled_since,
            "state": view.state.value,
            "task": view.task,
            "team": view.team,
            "throttled": view.throttled,
            "throttled_at": view.throttled_at,
            "life": None if view.life is None else {"source": view.life[0], "time": view.life[1]},
            "condition": view.condition,
            "condition_evidence": view.condition_evidence,
            "outage": view.outage,
            "recovery": None
            if view.recovery is None
            else dict(zip(("step", "of", "action", "outcome"), view.recovery, strict=True)),
            "breaker": view.breaker,
            "breaker_reason": view.breaker_reason,
            "mttr": view.mttr,
        }

    # --- the fold, one method per event type ----------------------------------------------------------------

    def _org_loaded(self, actor: str, event: OrgLoaded, now: float) -> None:
        self._org_event = event
        self.org = event.name
        rank = {name: position for position, name in enumerate(event.order)}
        self.teams = {name: event.teams[name] for name in sorted(event.teams, key=lambda n: rank.get(n, len(rank)))}
        for name in [name for name in self.agents if name not in event.agents]:
            del self.agents[name]
            for message_id in self.outboxes.pop(name, []):
                self._delivered(message_id, name)
        for name, team in event.agents.items():
            view = self.agents.get(name)
            if view is None:
                view = self.agents[name] = AgentView(name=name, team=team)
            view.team = team
            view.buried = name in event.buried
        # Spec order, as the order field keeps it through the journal's sorted JSON.
        self.agents = {name: self.agents[name] for name in sorted(self.agents, key=lambda n: rank.get(n, len(rank)))}

    def _org_edited(self, actor: str, event: OrgEdited, now: float) -> None:
        self.org_edits[event.spec] = event.edits

    def _launched(self, actor: str, event: AgentLaunched, now: float) -> None:
        view = self.agents.get(event.agent)
        if view is None:
            return
        view.launches += 1
        view.alive = True
        view.pane = event.pane
        view.last_event = now
        # a restarted agent is recovering until it says otherwise; a first launch has no evidence yet
        view.state = AgentState.RECOVERING if view.launches > 1 else AgentState.UNKNOWN
        view.life = ("process", now)
        view.outage = None
        if view.launches == 1:  # a restart keeps its task: the program resumes it
            view.task = None
            view.progress = None
        view.reported = view.screen_state = view.screen_rule = view.hook_state = view.hook_event = None
        view.stalled_since = None
        # a message typed into the program that was replaced was never taken up: it is typed again
        for message_id in self.outboxes.get(event.agent, ()):
            self.messages[message_id].typed.pop(event.agent, None)

    def _session(self, actor: str, event: AgentSession, now: float) -> None:
        view = self.agents.get(event.agent)
        if view is not None:
            view.session = event.session

    def _exited(self, actor: str, event: AgentExited, now: float) -> None:
        view = self.agents.get(event.agent)
        if view is None:
            return
        view.alive = False
        view.state = AgentState.OFFLINE
        view.exit_status = event.status
        view.exit_signal = event.signal
        view.last_event = now
        view.stalled_since = None
        # its queued lock requests die with it; the locks it holds are released by the supervisor's events
        for lock in self.locks.values():
            lock.waiting = [entry for entry in lock.waiting if entry[0] != event.agent]

    def _status(self, actor: str, event: StatusReported, now: float) -> None:
        view = self.agents.get(actor)
        if view is None or not view.alive:
            return
        _errored(view, event.state, None, now)
        view.state = event.state
        view.reported = now
        view.life = ("report", now)
        if event.state is AgentState.IDLE:
            view.task = event.task
            view.progress = event.progress
        else:
            if event.task is not None:
                view.task = event.task
            if event.progress is not None:
                view.progress = event.progress

    def _observed(self, actor: str, event: StateObserved, now: float) -> None:
        """Hooks are believed as they come; a screen is believed unless the agent or its hook just said otherwise.
        An `unknown` reading changes nothing."""
        view = self.agents.get(event.agent)
        if view is None or not view.alive:
            return
        if event.source == "hook":
            view.hook_state, view.hook_event = event.state, event.rule
            view.life = ("hook", now)
            if event.state is not AgentState.UNKNOWN:
                _errored(view, event.state, event.rule, now)
                view.state = event.state
                view.reported = now
            return
        view.screen_state, view.screen_rule = event.state, event.rule
        view.life = ("screen", now)
        if event.state is AgentState.UNKNOWN:
            return
        if view.reported is None or (
            now - view.reported >= REPORT_TRUST_SECONDS and event.confidence >= SCREEN_OVER_REPORT_CONFIDENCE
        ):
            _errored(view, event.state, event.rule, now)
            view.state = event.state
        if view.state is not AgentState.WORKING:
            view.stalled_since = None

    def _stalled(self, actor: str, event: ProgressStalled, now: float) -> None:
        view = self.agents.get(event.agent)
        if view is not None and view.alive:
            view.stalled_since = now - event.seconds if event.stalled else None
            if not event.stalled:
                view.life = ("screen", now)

    def _prompt_seen(self, actor: str, event: PromptSeen, now: float) -> None:
        view = self.agents.get(event.agent)
        if view is None or event.id in self.approvals or event.id in self.decided:
            return
        self.approvals[event.id] = PendingApproval(
            id=event.id,
            agent=event.agent,
            text=event.text,
            command=event.command,
            requested=now,
            source=event.source,
            rule=event.rule,
            options=event.options,
        )

    def _heartbeat(self, actor: str, event: Heartbeat, now: float) -> None:
        view = self.agents.get(actor)
        if view is not None and view.alive:
            view.heartbeat = now
            view.life = ("heartbeat", now)

    def _message(self, actor: str, event: MessageSent, now: float) -> None:
        if event.id in self._seen_messages:
            return
        if event.to == "all":
            recipients = [name for name in self.agents if name != actor]
        elif event.to.startswith("#"):
            recipients = [name for name in self.team_agents(event.to[1:]) if name != actor]
        else:
            recipients = [event.to[1:]] if event.to[1:] in self.agents else []
        if event.recipients is not None:  # fixed at send time; never beyond whom `to` reaches
            named = set(event.recipients)
            recipients = [name for name in recipients if name in named]
        if not recipients:
            return
        self._seen_messages.add(event.id)
        self.messages[event.id] = Message(
            id=event.id,
            sender=actor,
            to=event.to,
            text=event.text,
            reply_to=event.reply_to,
            time=now,
            pending=set(recipients),
            recipients=tuple(recipients),
        )
        for name in recipients:
            self.outboxes.setdefault(name, []).append(event.id)

    def _typed(self, actor: str, event: MessageTyped, now: float) -> None:
        message = self.messages.get(event.id)
        if message is not None and event.agent in message.pending:
            message.typed[event.agent] = now

    def _ack(self, actor: str, event: MessageAcknowledged, now: float) -> None:
        outbox = self.outboxes.get(actor)
        if outbox is None or event.id not in outbox:
            return
        outbox.remove(event.id)
        if not outbox:
            del self.outboxes[actor]
        self._delivered(event.id, actor)

    def _delivered(self, message_id: str, recipient: str) -> None:
        message = self.messages.get(message_id)
        if message is None:
            return
        message.pending.discard(recipient)
        if not message.pending:
            del self.messages[message_id]

    def _approval_requested(self, actor: str, event: ApprovalRequested, now: float) -> None:
        if event.id in self.approvals or event.id in self.decided:
            return
        self.approvals[event.id] = PendingApproval(
            id=event.id, agent=actor, text=event.text, command=event.command, requested=now
        )

    def _approval_decided(self, actor: str, event: ApprovalDecided, now: float) -> None:
        pending = self.approvals.pop(event.id, None)
        if pending is None:
            return
        self.decided[event.id] = Decision(
            approved=event.approved, reason=event.reason, by=actor, agent=pending.agent, time=now
        )

    def _barrier_arrived(self, actor: str, event: BarrierArrived, now: float) -> None:
        barrier = self.barriers.get(event.name)
        if barrier is None:
            barrier = self.barriers[event.name] = Barrier(name=event.name, created=now)
        if barrier.count is None and barrier.members is None:
            barrier.count = event.count
            barrier.members = event.members
        if barrier.timeout is None:
            barrier.timeout = event.timeout
        if actor in barrier.arrived or (barrier.members is not None and actor not in barrier.members):
            return
        barrier.arrived.append(actor)

    def _barrier_created(self, actor: str, event: BarrierCreated, now: float) -> None:
        if event.name in self.barriers:
            return  # already waiting: its size was set by whoever came first
        self.barriers[event.name] = Barrier(
            name=event.name, created=now, count=event.count, members=event.members, timeout=event.timeout
        )

    def _barrier_released(self, actor: str, event: BarrierReleased, now: float) -> None:
        if self.barriers.pop(event.name, None) is None:
            return
        self.barrier_releases[event.name] = BarrierRelease(
            arrived=event.arrived, missing=event.missing, timed_out=event.timed_out, time=now
        )

    def _vote_opened(self, actor: str, event: VoteOpened, now: float) -> None:
        current = self.votes.get(event.name)
        if current is not None and current.is_open:
            return
        self.votes[event.name] = Vote(
            name=event.name,
            voters=event.voters,
            rule=event.rule,
            quorum=event.quorum,
            deadline=event.deadline,
            question=event.question,
            opened=now,
        )

    def _vote_cast(self, actor: str, event: VoteCast, now: float) -> None:
        vote = self.votes.get(event.name)
        if vote is None or not vote.is_open or actor not in vote.voters or actor in vote.ballots:
            return
        vote.ballots[actor] = event.choice

    def _vote_closed(self, actor: str, event: VoteClosed, now: float) -> None:
        vote = self.votes.get(event.name)
        if vote is None or not vote.is_open:
            return
        vote.result = VoteResult(outcome=event.outcome, yes=event.yes, no=event.no, time=now)

    def _lock_requested(self, actor: str, event: LockRequested, now: float) -> None:
        lock = self.locks.get(event.name)
        if lock is None:
            lock = self.locks[event.name] = Lock(name=event.name)
        if lock.holder == actor:
            lock.lease = event.lease
            return
        for index, (agent, _) in enumerate(lock.waiting):
            if agent == actor:
                lock.waiting[index] = (actor, event.lease)
                return
        lock.waiting.append((actor, event.lease))

    def _lock_granted(self, actor: str, event: LockGranted, now: float) -> None:
        lock = self.locks.get(event.name)
        if lock is None:
            lock = self.locks[event.name] = Lock(name=event.name)
        if lock.holder is not None:
            if lock.holder == event.holder and lock.token == event.token:
                lock.expires = event.expires
            return
        if event.token <= lock.max_token:
            return  # fencing tokens only grow
        lease = event.expires - now
        for index, (agent, asked) in enumerate(lock.waiting):
            if agent == event.holder:
                lease = asked
                del lock.waiting[index]
                break
        lock.holder = event.holder
        lock.token = event.token
        lock.expires = event.expires
        lock.lease = lease
        lock.max_token = event.token

    def _lock_released(self, actor: str, event: LockReleased, now: float) -> None:
        lock = self.locks.get(event.name)
        if lock is None:
            return
        may_release = actor == lock.holder or actor in (SUPERVISOR, HUMAN)
        if lock.holder is not None and may_release and event.token in (None, lock.token):
            lock.holder = lock.token = lock.expires = lock.lease = None
            return
        # a waiter that gives the lock back withdraws its request
        lock.waiting = [entry for entry in lock.waiting if entry[0] != actor]

    def _task_created(self, actor: str, event: TaskCreated, now: float) -> None:
        if event.id in self.tasks:
            return
        self.tasks[event.id] = StandingTask(
            id=event.id,
            barrier=event.barrier,
            action=event.action,
            by=actor,
            via=event.via,
            created=now,
            timeout=event.timeout,
        )

    def _task_fired(self, actor: str, event: TaskFired, now: float) -> None:
        task = self.tasks.get(event.id)
        if task is None or task.status != "waiting":
            return
        task.status, task.request, task.said, task.ended = event.outcome, event.request, event.said, now

    def _task_cancelled(self, actor: str, event: TaskCancelled, now: float) -> None:
        task = self.tasks.get(event.id)
        if task is None or task.status != "waiting":
            return
        task.status, task.said, task.ended = "cancelled", event.reason, now

    def _log(self, actor: str, event: LogRecorded, now: float) -> None:
        self.logs_total += 1
        self.logs[actor] = self.logs.get(actor, 0) + 1

    def _snapshot(self, actor: str, event: ScreenSnapshotTaken, now: float) -> None:
        self.snapshots[event.agent] = event
        self.snapshot_times[event.agent] = now

    def _metric(self, actor: str, event: MetricRecorded, now: float) -> None:
        self.metrics[(actor, event.name)] = Metric(value=event.value, unit=event.unit, time=now)

    def _spoof(self, actor: str, event: SpoofRejected, now: float) -> None:
        self.spoofs_total += event.count
        if event.agent is not None:
            self.spoofs[event.agent] = self.spoofs.get(event.agent, 0) + event.count

    def _throttled(self, actor: str, event: Throttled, now: float) -> None:
        view = self.agents.get(event.agent)
        if view is not None:
            view.throttled, view.throttled_at = event.limit, now

    def _condition(self, actor: str, event: ConditionDetected, now: float) -> None:
        view = self.agents.get(event.agent)
        if view is None:
            return
        if event.condition == "outage":
            view.outage = None if event.cleared else event.evidence
        if event.cleared:
            if view.condition == event.condition:
                view.condition = view.condition_evidence = view.condition_since = None
            return
        if view.condition is None:
            view.condition_since = now
        view.condition, view.condition_evidence = event.condition, event.evidence

    def _recovery_step(self, actor: str, event: RecoveryStep, now: float) -> None:
        view = self.agents.get(event.agent)
        if view is None:
            return
        view.recovery = (event.step, event.of, event.action, event.outcome)
        view.recovery_at = now
        if event.outcome == "failed" and event.action in ("restart", "new-pane"):
            _keep(view.failures, now)
        if event.outcome == "recovered":
            if view.condition_since is not None:
                _keep(view.repair_times, now - view.condition_since)
            view.condition = view.condition_evidence = view.condition_since = None

    def _breaker(self, actor: str, event: BreakerChanged, now: float) -> None:
        view = self.agents.get(event.agent)
        if view is not None:
            view.breaker, view.breaker_reason = event.state, event.reason
            if event.state == "closed":
                view.failures.clear()


def _errored(view: AgentView, state: AgentState, rule: str | None, now: float) -> None:
    """Count the agent going into error (for error loops), and what read it (for outages)."""
    if state is AgentState.ERROR:
        if view.state is not AgentState.ERROR:
            _keep(view.errors, now)
        view.error_rule = rule
    elif state is not AgentState.UNKNOWN:
        view.error_rule = None


def _keep(moments: list[float], value: float) -> None:
    moments.append(value)
    del moments[:-RECOVERY_HISTORY]


def _vote_json(vote: Vote) -> dict[str, Any]:
    result = vote.result
    return {
        "ballots": dict(sorted(vote.ballots.items())),
        "deadline": vote.deadline,
        "no": vote.no,
        "open": vote.is_open,
        "opened": vote.opened,
        "question": vote.question,
        "quorum": vote.quorum,
        "result": None
        if result is None
        else {"no": result.no, "outcome": result.outcome, "time": result.time, "yes": result.yes},
        "rule": vote.rule,
        "voters": list(vote.voters),
        "yes": vote.yes,
    }


def _metrics_json(metrics: dict[tuple[str, str], Metric]) -> dict[str, dict[str, Any]]:
    grouped: dict[str, dict[str, Any]] = {}
    for (actor, name), metric in sorted(metrics.items()):
        grouped.setdefault(actor, {})[name] = {"time": metric.time, "unit": metric.unit, "value": metric.value}
    return grouped


_HANDLERS: dict[type, Callable[[OrgState, str, Any, float], None]] = {
    OrgLoaded: OrgState._org_loaded,
    OrgEdited: OrgState._org_edited,
    AgentLaunched: OrgState._launched,
    AgentExited: OrgState._exited,
    AgentSession: OrgState._session,
    StatusReported: OrgState._status,
    Heartbeat: OrgState._heartbeat,
    MessageSent: OrgState._message,
    MessageAcknowledged: OrgState._ack,
    MessageTyped: OrgState._typed,
    ApprovalRequested: OrgState._approval_requested,
    ApprovalDecided: OrgState._approval_decided,
    BarrierArrived: OrgState._barrier_arrived,
    BarrierCreated: OrgState._barrier_created,
    BarrierReleased: OrgState._barrier_released,
    VoteOpened: OrgState._vote_opened,
    VoteCast: OrgState._vote_cast,
    VoteClosed: OrgState._vote_closed,
    LockRequested: OrgState._lock_requested,
    LockGranted: OrgState._lock_granted,
    LockReleased: OrgState._lock_released,
    LogRecorded: OrgState._log,
    ScreenSnapshotTaken: OrgState._snapshot,
    MetricRecorded: OrgState._metric,
    SpoofRejected: OrgState._spoof,
    Throttled: OrgState._throttled,
    StateObserved: OrgState._observed,
    ProgressStalled: OrgState._stalled,
    PromptSeen: OrgState._prompt_seen,
    ConditionDetected: OrgState._condition,
    RecoveryStep: OrgState._recovery_step,
    BreakerChanged: OrgState._breaker,
    TaskCreated: OrgState._task_created,
    TaskFired: OrgState._task_fired,
    TaskCancelled: OrgState._task_cancelled,
}
