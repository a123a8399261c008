"""Everything that changes the organisation, as versioned events.

Agents send some of them (`AGENT_EVENTS`, over the escape sequence or the control API); the supervisor
and the human produce the rest. Each is journaled once, with its actor, and `OrgState` is a fold over them.
The sender is never part of an event: the journal record's `actor` names it, as the transport proved it.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

SCHEMA_VERSION = 1

_NAME = r"^[a-z0-9][a-z0-9._-]{0,63}$"
_ID = r"^[A-Za-z0-9._:-]{1,80}$"
_TEXT = 4000


class AgentState(StrEnum):
    IDLE = "idle"
    THINKING = "thinking"
    WORKING = "working"
    WAITING = "waiting"  # needs an approval or an answer
    ERROR = "error"
    RECOVERING = "recovering"
    OFFLINE = "offline"
    UNKNOWN = "unknown"


class _Event(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


# --- sent by agents ---------------------------------------------------------------------------------------


class StatusReported(_Event):
    """The agent says what it is doing."""

    type: Literal["status"] = "status"
    state: AgentState
    task: str | None = Field(default=None, max_length=500)
    progress: str | None = Field(default=None, pattern=r"^[0-9]{1,9}/[0-9]{1,9}$")  # "3/5"


class Heartbeat(_Event):
    type: Literal["heartbeat"] = "heartbeat"


class MessageSent(_Event):
    """A message to `@agent`, `#team` or `all`; `id` makes redelivery idempotent."""

    type: Literal["message"] = "message"
    id: str = Field(pattern=_ID)
    to: str = Field(pattern=r"^(@[a-z0-9][a-z0-9-]{0,63}|#[a-z0-9][a-z0-9-]{0,63}|all)$")
    text: str = Field(max_length=_TEXT)
    reply_to: str | None = Field(default=None, pattern=_ID)
    # who it was for, fixed when it was sent (a broadcast names its recipients in its one record); only ever
    # narrows whom `to` reaches (the fold intersects), so an agent cannot widen its reach with it
    recipients: tuple[Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]{0,63}$")], ...] | None = Field(
        default=None, max_length=10_000
    )


class MessageAcknowledged(_Event):
    """The recipient has the message; it leaves the recipient's outbox."""

    type: Literal["message.ack"] = "message.ack"
    id: str = Field(pattern=_ID)


class ApprovalRequested(_Event):
    """The agent asks the human; `command` is the exact command when it is one."""

    type: Literal["approval.request"] = "approval.request"
    id: str = Field(pattern=_ID)
    text: str = Field(max_length=_TEXT)
    command: str | None = Field(default=None, max_length=_TEXT)


class BarrierArrived(_Event):
    """The agent waits at barrier `name`; the first arrival may set its size (`count` or `members`)."""

    type: Literal["barrier.arrive"] = "barrier.arrive"
    name: str = Field(pattern=_NAME)
    count: int | None = Field(default=None, ge=1, le=10_000)
    members: tuple[Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]{0,63}$")], ...] | None = Field(
        default=None, min_length=1, max_length=200
    )
    timeout: float | None = Field(default=None, gt=0, le=86_400)


class VoteCast(_Event):
    type: Literal["vote.cast"] = "vote.cast"
    name: str = Field(pattern=_NAME)
    choice: Literal["yes", "no"]


class LockRequested(_Event):
    """The agent wants lock `name` for `lease` seconds (renewed by heartbeats while it holds it)."""

    type: Literal["lock.acquire"] = "lock.acquire"
    name: str = Field(pattern=_NAME)
    lease: float = Field(default=60.0, gt=0, le=86_400)


class LockReleased(_Event):
    """Lock `name` is free again: released by its holder, or expired, or its holder's pane died."""

    type: Literal["lock.release"] = "lock.release"
    name: str = Field(pattern=_NAME)
    token: int | None = None  # the fencing token being given back
    reason: Literal["released", "expired", "holder-exited"] = "released"


class LogRecorded(_Event):
    type: Literal["log"] = "log"
    level: Literal["debug", "info", "warning", "error"] = "info"
    text: str = Field(max_length=_TEXT)


class MetricRecorded(_Event):
    type: Literal["metric"] = "metric"
    name: str = Field(pattern=_NAME)
    value: float
    unit: str | None = Field(default=None, max_length=20)


# --- produced by the supervisor or the human ----------------------------------------------------------------


class OrgLoaded(_Event):
    """The org as the spec says: teams (name → parent) and agents (name → team)."""

    type: Literal["org.load"] = "org.load"
    name: str
    teams: dict[str, str | None]
    agents: dict[str, str]
    order: tuple[str, ...] = ()  # teams then agents in spec order (the journal's JSON sorts object keys)
    buried: tuple[str, ...] = ()  # agents running off screen


class OrgEdit(BaseModel):
    """One change made to the org from the console: a team or an agent added (`table`: its spec table, as in
    ORG.toml), an agent changed in its place (buried, unburied: `table` is its whole new table), or removed."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    action: Literal["add-team", "add-agent", "change-agent", "remove-agent"]
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,63}$")
    table: dict[str, Any] = Field(default_factory=dict)


class OrgEdited(_Event):
    """Every change made to the org from the console since its spec file (`spec`: the file's path; None for an
    org started without one), in order. The next start replays them over that file."""

    type: Literal["org.edit"] = "org.edit"
    spec: str | None = None
    edits: tuple[OrgEdit, ...] = Field(default=(), max_length=10_000)


class AgentLaunched(_Event):
    """The agent's program started in `pane`; `resumed` says how it took up its conversation again, when it did."""

    type: Literal["agent.launch"] = "agent.launch"
    agent: str
    pane: str
    resumed: str | None = Field(default=None, max_length=200)


class AgentSession(_Event):
    """The conversation `agent`'s program is in, as its hook (or its screen) named it: a restart resumes it.
    The id came from the agent's side, so it is bounded and pattern-checked here and again by its kind."""

    type: Literal["agent.session"] = "agent.session"
    agent: str
    session: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")
    source: Literal["hook", "screen"]


class AgentExited(_Event):
    type: Literal["agent.exit"] = "agent.exit"
    agent: str
    status: int | None = None
    signal: int | None = None


class ApprovalDecided(_Event):
    """The answer; `always` answers a program's own prompt with its "yes, and don't ask again" option."""

    type: Literal["approval.decision"] = "approval.decision"
    id: str = Field(pattern=_ID)
    approved: bool
    reason: str | None = Field(default=None, max_length=500)
    always: bool = False


class BarrierCreated(_Event):
    """The human (or the executive) sets up barrier `name` before anyone arrives."""

    type: Literal["barrier.create"] = "barrier.create"
    name: str = Field(pattern=_NAME)
    count: int | None = Field(default=None, ge=1, le=10_000)
    members: tuple[Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]{0,63}$")], ...] | None = Field(
        default=None, min_length=1, max_length=200
    )
    timeout: float | None = Field(default=None, gt=0, le=86_400)


class BarrierReleased(_Event):
    """Barrier `name` opened: everyone arrived, or its timeout passed (then `missing` says who)."""

    type: Literal["barrier.release"] = "barrier.release"
    name: str = Field(pattern=_NAME)
    arrived: tuple[str, ...]
    missing: tuple[str, ...] = ()
    timed_out: bool = False


class VoteOpened(_Event):
    type: Literal["vote.open"] = "vote.open"
    name: str = Field(pattern=_NAME)
    question: str | None = Field(default=None, max_length=_TEXT)
    voters: tuple[str, ...]
    rule: Literal["majority", "quorum"] = "majority"
    quorum: int | None = Field(default=None, ge=1)
    deadline: float | None = None  # epoch seconds


class VoteClosed(_Event):
    type: Literal["vote.result"] = "vote.result"
    name: str = Field(pattern=_NAME)
    outcome: Literal["passed", "failed", "no-quorum"]
    yes: int
    no: int


class LockGranted(_Event):
    """`holder` has lock `name` until `expires` (epoch seconds); `token` only grows (fencing)."""

    type: Literal["lock.grant"] = "lock.grant"
    name: str = Field(pattern=_NAME)
    holder: str
    token: int
    expires: float


class StateObserved(_Event):
    """What the supervisor read of an agent: its screen (by a rule of its kind) or its program's hook said so."""

    type: Literal["agent.observe"] = "agent.observe"
    agent: str
    state: AgentState
    source: Literal["screen", "hook"]
    rule: str | None = Field(default=None, max_length=100)  # the screen rule, or the hook's event name
    confidence: float = Field(default=1.0, ge=0, le=1)
    detail: str | None = Field(default=None, max_length=500)


class PromptSeen(_Event):
    """An agent's program asks the human (a prompt on its screen, or its hook said so): an approval to decide.
    Deciding it presses the kind's keys in the agent's pane."""

    type: Literal["approval.prompt"] = "approval.prompt"
    id: str = Field(pattern=_ID)
    agent: str
    text: str = Field(max_length=_TEXT)
    command: str | None = Field(default=None, max_length=_TEXT)
    source: Literal["screen", "hook"]
    rule: str | None = Field(default=None, max_length=100)
    options: tuple[str, ...] = Field(default=(), max_length=20)


class ProgressStalled(_Event):
    """A working agent's screen has not changed for `seconds` (`stalled`), or it moves again (not `stalled`)."""

    type: Literal["agent.stall"] = "agent.stall"
    agent: str
    stalled: bool
    seconds: float = Field(ge=0)


class MessageTyped(_Event):
    """A message from the human typed into its recipient's pane; delivered once the agent takes it up."""

    type: Literal["message.typed"] = "message.typed"
    id: str = Field(pattern=_ID)
    agent: str


class SpoofRejected(_Event):
    """Sequences in `pane` carried a token that is not its agent's: dropped, and counted (`count` of them: a
    flood is journaled as one record a window per pane)."""

    type: Literal["spoof"] = "spoof"
    pane: str
    agent: str | None = None
    count: int = Field(default=1, ge=1)


class JournalResumed(_Event):
    """The journal could not be written from `paused_at` (for `reason`) until this record: `refused` agent
    requests were refused meanwhile (nothing was accepted that is not journaled)."""

    type: Literal["journal.resume"] = "journal.resume"
    paused_at: float
    reason: str = Field(max_length=500)
    refused: int = Field(ge=0)


class CommandRan(_Event):
    """A console command was run by the record's actor, through the front door `via`: its arguments, and whether
    it worked (`error` says why not)."""

    type: Literal["command"] = "command"
    name: str = Field(pattern=r"^[a-z][a-z-]{0,39}$")
    args: dict[str, Any] = Field(default_factory=dict)
    via: Literal["key", "palette", "line", "chat", "cli", "api"]
    ok: bool = True
    error: str | None = Field(default=None, max_length=500)


class AccessDenied(_Event):
    """The record's actor was refused `operation` (a route of the control API, or an event it sent): `reason` says
    who may do what. Refused commands are `CommandRan` records; agents' denials are bounded by their limits."""

    type: Literal["denied"] = "denied"
    operation: str = Field(max_length=200)
    reason: str = Field(max_length=500)


class Throttled(_Event):
    """`agent` went over one of its limits: `refused` of its requests were refused within `window` seconds."""

    type: Literal["throttle"] = "throttle"
    agent: str
    limit: Literal["events", "messages", "approvals"]
    refused: int = Field(ge=1)
    window: float = Field(gt=0)


class ConditionDetected(_Event):
    """The supervisor found `agent` in a condition (or, `cleared`, out of it again), with its evidence: journaled
    once an episode, however long it lasts."""

    type: Literal["condition"] = "condition"
    agent: str
    condition: Literal["crashed", "hung", "silent", "error-loop", "outage", "unanswered"]
    evidence: str = Field(max_length=500)
    cleared: bool = False


class RecoveryStep(_Event):
    """One step of `agent`'s recovery ladder (`step` of `of`): what was tried (`action`) and how it went. The
    record's trace is the episode's: every step of one recovery shares it."""

    type: Literal["recovery.step"] = "recovery.step"
    agent: str
    step: int = Field(ge=0, le=100)
    of: int = Field(ge=0, le=100)
    action: str = Field(max_length=40)
    outcome: Literal["trying", "done", "failed", "held", "skipped", "recovered", "paged", "stopped"]
    detail: str | None = Field(default=None, max_length=500)


class BreakerChanged(_Event):
    """`agent`'s circuit breaker: `open` stops automatic restarts (the human is asked), `half-open` allows one try
    after the cool-down, `closed` again once a recovery held."""

    type: Literal["breaker"] = "breaker"
    agent: str
    state: Literal["closed", "open", "half-open"]
    reason: str = Field(max_length=500)


class HumanPaged(_Event):
    """The console asked for the human's attention: `text` is the page as shown, standing for `count` conditions
    (a flood pages once, with its count), the first of them `subjects` (`approval:ID`, `error:AGENT`,
    `breaker:AGENT`); `channels` are those it reached."""

    type: Literal["page"] = "page"
    text: str = Field(max_length=500)
    subjects: tuple[Annotated[str, Field(max_length=100)], ...] = Field(max_length=20)
    count: int = Field(ge=1)
    channels: tuple[Literal["terminal", "desktop"], ...] = ()


class TaskCreated(_Event):
    """A standing task: once barrier `barrier` releases, `action` (a command line) is filed in the approval queue,
    to run as the record's actor once the human approves; `timeout`: given up after this many seconds."""

    type: Literal["task.create"] = "task.create"
    id: str = Field(pattern=_ID)
    barrier: str = Field(pattern=_NAME)
    action: str = Field(min_length=1, max_length=1000)
    timeout: float | None = Field(default=None, gt=0, le=7 * 86_400)
    via: Literal["key", "palette", "line", "chat", "cli", "api"] = "chat"


class TaskFired(_Event):
    """A standing task's moment came: its barrier released (`request`: the approval filed for its action) or it
    timed out (its barrier's timeout, or its own; nothing filed). `said` is what the chat tells the human."""

    type: Literal["task.fire"] = "task.fire"
    id: str = Field(pattern=_ID)
    outcome: Literal["released", "timed-out"]
    request: str | None = Field(default=None, pattern=_ID)
    said: str = Field(max_length=1000)


class TaskCancelled(_Event):
    type: Literal["task.cancel"] = "task.cancel"
    id: str = Field(pattern=_ID)
    reason: str = Field(default="cancelled", max_length=500)


class ScreenSnapshotTaken(_Event):
    """What `agent`'s screen (and the tail of its scrollback) showed when record `illustrates` was journaled
    (`reason`: an error, a stall, a denied approval, a recovery step): redacted, kept beside the journal under
    its SHA-256 (`digest`). The file may be rotated out later (oldest first); the record stays."""

    type: Literal["screen.snapshot"] = "screen.snapshot"
    agent: str
    digest: str = Field(pattern=r"^[0-9a-f]{64}$")
    reason: str = Field(max_length=40)
    illustrates: int = Field(ge=1)
    size: int = Field(ge=0)


# Written out as unions (not built from tuples) so that a type checker reads them too.
AnyAgentEvent = (
    StatusReported
    | Heartbeat
    | MessageSent
    | MessageAcknowledged
    | ApprovalRequested
    | BarrierArrived
    | VoteCast
    | LockRequested
    | LockReleased
    | LogRecorded
    | MetricRecorded
)
AnySystemEvent = (
    OrgLoaded
    | OrgEdited
    | AgentLaunched
    | AgentExited
    | AgentSession
    | ApprovalDecided
    | BarrierCreated
    | BarrierReleased
    | VoteOpened
    | VoteClosed
    | LockGranted
    | SpoofRejected
    | Throttled
    | JournalResumed
    | StateObserved
    | PromptSeen
    | ProgressStalled
    | MessageTyped
    | CommandRan
    | AccessDenied
    | ConditionDetected
    | RecoveryStep
    | BreakerChanged
    | HumanPaged
    | TaskCreated
    | TaskFired
    | TaskCancelled
    | ScreenSnapshotTaken
)
AgentEvent = Annotated[AnyAgentEvent, Field(discriminator="type")]
Event = Annotated[AnyAgentEvent | AnySystemEvent, Field(discriminator="type")]
AGENT_MODELS: tuple[type[_Event], ...] = get_args(AnyAgentEvent)
SYSTEM_MODELS: tuple[type[_Event], ...] = get_args(AnySystemEvent)

AGENT_EVENT_ADAPTER: TypeAdapter[AgentEvent] = TypeAdapter(AgentEvent)
EVENT_ADAPTER: TypeAdapter[Event] = TypeAdapter(Event)
AGENT_EVENT_TYPES = frozenset(model.model_fields["type"].default for model in AGENT_MODELS)

HUMAN = "human"
SUPERVISOR = "supervisor"
EXECUTIVE = "executive"
