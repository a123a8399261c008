"""The supervisor: brings the org up, watches its panes, journals what it concludes, serves the control API.

Everything that changes the org goes through `submit`: journaled once, applied to the `OrgState`, then
waiters (an agent blocked in `ask`, a barrier, a lock) are woken. Time-driven work (lease expiry, barrier
timeouts, vote deadlines) sleeps until the next deadline; nothing polls.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import contextvars
import inspect
import logging
import os
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, Literal, cast

from agent_console.agents import coordination, roles, standing
from agent_console.agents.errors import Conflict, ConsoleError, InvalidInput, NotFound
from agent_console.agents.events import (
    EXECUTIVE,
    HUMAN,
    SUPERVISOR,
    AccessDenied,
    AgentExited,
    AgentLaunched,
    AgentSession,
    ApprovalDecided,
    ApprovalRequested,
    BarrierArrived,
    BarrierReleased,
    Event,
    Heartbeat,
    JournalResumed,
    LockGranted,
    LockReleased,
    LockRequested,
    MessageAcknowledged,
    MessageSent,
    OrgEdited,
    OrgLoaded,
    SpoofRejected,
    Throttled,
    VoteCast,
    VoteOpened,
)
from agent_console.agents.journal import (
    Journal,
    JournalError,
    JournalUnavailable,
    Record,
    anchor_path_for,
    load_or_create_key,
)
from agent_console.agents.kinds.hooks import HookError, read_claude_hook, read_codex_notify
from agent_console.agents.layout import EXEC_SHARE_PERCENT, MIN_PANE_COLS
from agent_console.agents.limits import AgentLimiter, Limit
from agent_console.agents.model import EXEC_SLOT, Agent, AgentKind, Org, Team
from agent_console.agents.protocol import Frame, ProtocolError, Rejected, SequenceParser, decode_payload
from agent_console.agents.recovery import recovery_label
from agent_console.agents.redaction import Redactor
from agent_console.agents.spec import apply_edits, describe_edit, dump_spec, edits_between, merge_edits
from agent_console.agents.state import AgentState, OrgState, PendingApproval
from agent_console.agents.tracing import Cause, Causes, traceparent
from agent_console.runtime import isolation, otlp, paths, worktrees
from agent_console.runtime.debug_pane import DebugPane
from agent_console.runtime.delivery import OutboxTypist
from agent_console.runtime.deployment import SHELL_COMMAND, UpReport, agent_launch, bring_up
from agent_console.runtime.exec_agent import ExecRelay
from agent_console.runtime.logs import StructuredLog
from agent_console.runtime.org_commands import org_commands
from agent_console.runtime.paging import Pager
from agent_console.runtime.pulses import Pulses
from agent_console.runtime.recovery import Recovery
from agent_console.runtime.resume import resumer, resumption
from agent_console.runtime.screen_reader import ScreenReader
from agent_console.runtime.server import ApiError, ControlServer
from agent_console.runtime.snapshots import ScreenSnapshots, SnapshotStore
from agent_console.runtime.standing import StandingTasks
from agent_console.runtime.status_line import StatusLine
from agent_console.terminal.base import (
    BackendError,
    BackendLost,
    PaneClosed,
    PaneExited,
    PaneFocused,
    PaneOutput,
    PaneStyle,
    TerminalBackend,
    TerminalEvent,
)
from agent_console.themes import EXEC_COLOR, state_color, state_glyph, team_color

Progress = Callable[[str], None]
# what a pane shows: state, pending approvals, pane, team, recovery under way
Look = tuple[AgentState, int, str | None, str | None, str | None]
Operation = Callable[[], str] | Callable[[], Awaitable[str]]  # the console's own request, run once approved
RESTYLE_SECONDS = 0.1  # pane badges follow states within this, however many events arrive
WORKTREE_READ_SECONDS = 3.0  # output in a pane with a worktree reads it again, at most this often
ATTENTION_STATES = {"waiting", "error"}  # the pane's border takes the state's colour
CONSOLE_SHARE_PERCENT = 50  # the console itself in the executive pane needs room; a shell there needs less
CONSOLE_MIN_COLS = 80  # below this its queue and chat are unusable: agents give way, or spill to other windows
JOURNAL_RETRY_SECONDS = 1.0  # while the journal cannot be written: nothing tells when the disk has room again
HELD_OUTPUT_BYTES = 8 * 1024 * 1024  # pane output kept while the journal is paused (screens are read again after)
# The trace of what a task is doing now (a command and what it journals), with that task: tasks it starts (a
# screen watcher outliving the command) copy the context, and must not journal under that trace forever.
_current_trace: contextvars.ContextVar[tuple[str, str | None, asyncio.Task | None] | None] = contextvars.ContextVar(
    "current_trace", default=None
)


log = logging.getLogger(__name__)


def current_trace() -> str | None:
    """The trace the running code journals under, if any (its log lines carry it)."""
    current = _current_trace.get()
    return current[0] if current is not None else None


class Supervisor:
    """Runs one org: its panes, its journal, its state and its control API."""

    def __init__(
        self,
        org: Org,
        backend: TerminalBackend,
        size: tuple[int, int],
        journal_path: Path | None = None,
        progress: Progress | None = None,
        exec_pane: str | None = None,
        spec: Path | None = None,
        log_level: str = "info",
    ) -> None:
        self.org = org
        self.spec_org = org  # the org as its spec file says, before the console's changes
        # The console's changes to the org are kept per spec file: another file of the same org starts clean.
        self.spec = str(spec.absolute()) if spec is not None else None
        self.notices: list[str] = []  # what the user should hear about the start (the org rebuilt, ...)
        self.backend = backend
        self.size = size
        self.exec_pane = exec_pane
        self.say = progress or (lambda message: None)
        # Decided before anything starts: a required boundary that cannot be had stops the start, and none
        # at all is said (`exposure`), by every front door that starts agents.
        self.boundary = isolation.boundary(org.isolation)
        self.state_dir = paths.state_dir(org.name)
        self.journal_path = journal_path or self.state_dir / "journal.jsonl"
        self.socket_path = paths.socket_path(org.name)
        self.human_token = paths.human_token(org.name, create=True)
        self._index_tokens()
        key = self._key = load_or_create_key(self.state_dir / "journal.key")
        existing = Journal.read(self.journal_path, key) if self.journal_path.exists() else ()
        self.state = OrgState.replay(existing)  # pending approvals, barriers and outboxes survive a restart
        # Appends only queue; the journal's own thread writes and syncs them, a batch at a time: see _commit.
        # Its anchor (last record's seq and hash, signed) is kept beside the key: a removed tail is then found.
        anchor = anchor_path_for(self.journal_path, self.state_dir / "journal.key")
        self.journal = Journal.open(self.journal_path, key, sync=False, anchor=anchor)
        self._anchor_problem: str | None = None  # the last said of why the anchor cannot be written
        self._commit_due = False
        self._committing: asyncio.Future[None] | None = None
        self._committing_seq = 0
        self.server = ControlServer(self, self.socket_path)
        self.pane_agent: dict[str, str] = {}
        self.malformed = 0
        self.report: UpReport | None = None
        self._parsers: dict[str, SequenceParser] = {}
        self._approvals: dict[str, asyncio.Future[ApprovalDecided]] = {}
        # The console's own requests (merge, discard): what each does once approved; gone with the process
        self._operations: dict[str, Operation] = {}
        self.outcomes: dict[str, str] = {}  # request → what its operation did, or why it could not
        # One bring_up at a time: a change made while the org starts (the executive acts at once) waits for it,
        # else both would create the session, or start the same agent twice.
        self._deploying = asyncio.Lock()
        self._barriers: dict[str, list[asyncio.Future[BarrierReleased]]] = {}
        self._locks: dict[tuple[str, str], asyncio.Future[LockGranted]] = {}
        self._inboxes: dict[str, asyncio.Event] = {}
        self.listeners: list[Callable[[Record], None]] = []  # told of every record (the UI coalesces)
        self.causes = Causes()  # which trace a new record joins (agents/tracing.py)
        self.otlp: otlp.OtlpExport | None = None
        self.focus_listeners: list[Callable[[], None]] = []  # told when the terminal's focus moves
        self.focused_pane: str | None = None
        self._restyle_due: set[str] = set()
        self._shown: dict[str, Look] = {}  # agent → what its pane was last styled to show
        self._restyle_handle: asyncio.TimerHandle | None = None
        self._changed = asyncio.Event()
        self._tasks: list[asyncio.Task] = []
        self.stopped = asyncio.Event()
        self.failure: str | None = None  # why the supervisor stopped on its own, when it did
        self.paused: str | None = None  # why the journal cannot be written, while it cannot
        self._paused_at = 0.0
        self._refused_while_paused = 0
        self._held: collections.deque[TerminalEvent] = collections.deque()
        self._held_bytes = 0
        self.fault_listeners: list[Callable[[], None]] = []  # told when the journal pauses or resumes
        self.failure_listeners: list[Callable[[], None]] = []  # told when it stops on its own (`failure` says why)
        # Agents' worktrees as the health table shows them (branch, changes): read with git when an agent's state
        # changes (it stops working: it may have written) and after a merge or discard, never per frame.
        self.worktree_shown: dict[str, str] = {}
        self.status_listeners: list[Callable[[], None]] = []  # told when `worktree_shown` changes
        self._worktrees_due: set[str] = set()
        self._worktree_reader: asyncio.Task[None] | None = None
        self._worktrees_after_output: set[str] = set()
        self._worktree_timer: asyncio.TimerHandle | None = None
        self.limiter = AgentLimiter(org.limits)
        self._spoof_counts: dict[str, int] = {}  # pane → sequences spoofed since its last spoof record
        self.typist = OutboxTypist(self)
        self.screens = ScreenReader(self)
        self.pulses = Pulses(self)  # panes flash as messages pass
        self.status_line = StatusLine(self)  # the org's figures in the terminal's status line
        self.recovery = Recovery(self)  # watches every agent's liveness and heals what it can
        self._renewing = asyncio.Lock()
        self.pager = Pager(self)  # pages the human for approvals left waiting, errors, breakers
        self.commands = org_commands()  # what every front door runs (keys, chat, CLI, API)
        self.standing = StandingTasks(self)  # "when barrier X releases, do Y", from the journal
        self.exec_relay = ExecRelay(self)  # an exec agent's replies, for the chat
        self.known_arrangements: list[str] = []  # for the palette, which cannot wait on the terminal
        # what an agent's screen showed when it failed, stalled or was denied, kept beside the journal
        self.snapshots = ScreenSnapshots(self, SnapshotStore(self.journal_path.parent / "snapshots"))
        self.listeners.append(self.snapshots)
        # the console's logs, its journal and its agents' reports as JSON lines (`agent-console logs`)
        self.log = StructuredLog(self.state_dir, log_level, trace_of=current_trace)
        self.listeners.append(self.log)
        self.debug_pane = DebugPane(backend, org.name)  # `trace-follow`: the log stream in a pane of its own

    # --- life cycle -------------------------------------------------------------------------------------

    async def start(self) -> UpReport:
        self.log.install()
        log.info("serving org %s: journal %s, control socket %s", self.org.name, self.journal_path, self.socket_path)
        await self.server.start()
        self._rebuild()
        events = self.backend.events()  # subscribed now: output during start-up waits in its queue
        self.report = await self._deploy(remove_orphans=False)
        with contextlib.suppress(BackendError):  # only the palette's list: the command says what went wrong
            await self.arrangement_names()
        if self.report.resumed:
            self.notices.append(
                "started again, resuming their conversations: "
                + "; ".join(f"{agent} ({how})" for agent, how in self.report.resumed.items())
            )
        untokened, unbounded = await self._unprepared()
        if untokened:
            self.notices.append(
                f"{', '.join(untokened)} started without this org's token (by an older `agent-console up`?): "
                "their `agent-console ask`, `emit` and hooks cannot reach the console. Restart them to give them "
                "one: `/restart NAME` in the console; under `serve`, end the program and start `serve` again"
            )
        if unbounded:
            self.notices.append(
                f"{', '.join(unbounded)} run outside the isolation boundary (started before it, or by an older "
                "`agent-console up`): they can act as you until restarted (`/restart NAME` in the console)"
            )
        with contextlib.suppress(worktrees.WorktreeError):  # unreadable: `diff` and the others say so
            left = sorted(set(worktrees.registered(self.org.name)) - _names(self.org))
            if left:  # the spec no longer has them: their work is kept, never deleted unasked
                self.notices.append(
                    f"kept the worktrees of {', '.join(left)}, no longer in the org: /merge NAME or /discard NAME"
                )
        self.standing.start()  # a barrier released while the console was down fires its tasks now
        self._tasks = [
            asyncio.create_task(self._watch(events), name="watching the panes"),
            asyncio.create_task(self._deadlines(), name="keeping deadlines"),
        ]
        for task in self._tasks:
            task.add_done_callback(self._task_ended)
        self.otlp = otlp.start(lambda: self.org, self.listeners, self.notices)
        await self.status_line.install()
        self.pager.start()
        self.recovery.begin()
        return self.report

    def _task_ended(self, task: asyncio.Task) -> None:
        """A background task that fails stops the supervisor, saying so: it never dies silently."""
        if task.cancelled() or task.exception() is None:
            return
        error = task.exception()
        self._fail(f"{task.get_name()} failed: {error.__class__.__name__}: {error}")

    def _fail(self, reason: str) -> None:
        if self.failure is not None:
            return
        self.failure = reason
        log.error("stopped on its own: %s", reason)
        self.say(reason)
        self.stopped.set()
        for listener in self.failure_listeners:
            listener()

    async def _deploy(self, remove_orphans: bool) -> UpReport:
        """Make the terminal match `self.org` and journal what changed (the org itself, launches, exits)."""
        async with self._deploying:
            return await self._deploy_now(remove_orphans)

    async def _deploy_now(self, remove_orphans: bool) -> UpReport:
        loaded = OrgLoaded(
            name=self.org.name,
            teams={team.name: team.parent for team in self.org.teams},
            agents={agent.name: agent.team for agent in self.org.agents},
            order=(*(team.name for team in self.org.teams), *(agent.name for agent in self.org.agents)),
            buried=tuple(agent.name for agent in self.org.agents if agent.buried),
        )
        if self.state.org_event() != loaded:
            self.submit(SUPERVISOR, loaded)
        report = await bring_up(
            self.org,
            self.backend,
            self.size,
            remove_orphans=remove_orphans,
            progress=self.say,
            extra_env=self._env,
            exec_pane=self.exec_pane,
            exec_share=CONSOLE_SHARE_PERCENT if self.exec_pane else EXEC_SHARE_PERCENT,
            exec_min_width=CONSOLE_MIN_COLS if self.exec_pane else MIN_PANE_COLS,
            resumer=resumer(lambda: self.state),
        )
        for info, _, _ in await self.backend.list_panes_detailed(all_sessions=False):
            if info.org == self.org.name and info.agent in _names(self.org):
                self.pane_agent[info.pane] = info.agent
                view = self.state.agents.get(info.agent)
                fresh = info.agent in report.started or info.agent in report.restarted
                if fresh or view is None or view.pane != info.pane or not view.alive:
                    if view is not None and view.launches:
                        self._replaced(info.agent, "its program was started again")
                    resumed = report.resumed.get(info.agent) if fresh else None
                    self.submit(SUPERVISOR, AgentLaunched(agent=info.agent, pane=info.pane, resumed=resumed))
                self.screens.watch(info.agent)
                if not info.alive:
                    self._agent_gone(info.agent, None, None)
        for agent in self.state.agents:  # bringing up styled the panes afresh (team colours, no badge)
            self._restyle_soon(agent)
        self._read_worktrees_soon(self.state.agents)
        return report

    async def _unprepared(self) -> tuple[list[str], list[str]]:
        """Running agents whose program did not start with their token, and those that run outside the org's
        boundary (read where /proc shows it: Linux; the pane's process is bubblewrap's when bounded)."""
        untokened, unbounded = [], []
        bwrap = os.path.realpath(self.boundary.bwrap) if self.boundary.bwrap else None
        for info, _, _ in await self.backend.list_panes_detailed(all_sessions=False):
            agent = self.pane_agent.get(info.pane)
            if agent is None or not info.alive or info.pid is None:
                continue
            environment = _process_environment(info.pid)
            if environment is not None and environment.get("AGENT_CONSOLE_TOKEN") != self.tokens.get(agent):
                untokened.append(agent)
            if bwrap is not None and _executable(info.pid) not in (bwrap, None):
                unbounded.append(agent)
        return untokened, unbounded

    def _rebuild(self) -> None:
        """The org as the spec says, with the changes made from the console since (journaled) replayed over it."""
        edits = self.state.org_edits.get(self.spec, ())
        if not edits:
            return
        self.org, applied, skipped = apply_edits(self.org, edits)
        self._index_tokens()
        if applied:
            self.notices.append(f"the org as you left it: {'; '.join(describe_edit(edit) for edit in applied)}")
        if skipped:
            self.notices.append(
                "the spec changed, so these changes made in the console no longer apply and are dropped: "
                + "; ".join(f"{describe_edit(edit)} ({why})" for edit, why in skipped)
            )
            self.submit(SUPERVISOR, OrgEdited(spec=self.spec, edits=tuple(applied)))

    async def reconfigure(self, org: Org, actor: str = HUMAN) -> UpReport:
        """Run `org` from now on: new agents start, removed ones are closed, the panes are laid out again.
        The change is journaled, so that the next start rebuilds the org as it is now."""
        here = Path.cwd()  # an agent's relative cwd is the console's: made absolute to mean the same after a restart
        org = org.model_copy(update={"agents": tuple(a.model_copy(update={"cwd": here / a.cwd}) for a in org.agents)})
        edits = edits_between(self.org, org)
        if edits:
            merged = merge_edits(self.state.org_edits.get(self.spec, ()), edits, self.spec_org)
            self.submit(actor, OrgEdited(spec=self.spec, edits=merged))
        removed = _names(self.org) - _names(org)
        self.org = org
        self._index_tokens()
        # Only the removed agents' panes close: panes the org does not know (orphans) stay, to be adopted.
        for pane, agent in list(self.pane_agent.items()):
            if agent in removed:
                with contextlib.suppress(BackendError):  # closed already
                    await self.backend.close_pane(pane)
        return await self._deploy(remove_orphans=False)

    def save(self, path: Path, actor: str = HUMAN) -> str:
        """Write the org as it is now as a spec at `path`; saved over its own spec, the console's changes are
        in the file and are not replayed again. Returns what was written, in words."""
        paths.write_text_atomically(path, dump_spec(self.org, path))
        if self.spec is not None and str(path.absolute()) == self.spec:
            self.spec_org = self.org
            if self.state.org_edits.get(self.spec):
                self.submit(actor, OrgEdited(spec=self.spec, edits=()))
        return f"{len(self.org.teams)} team(s), {len(self.org.agents)} agent(s)"

    # --- arrangements ---------------------------------------------------------------------------------

    @property
    def arrangements_dir(self) -> Path:
        return self.state_dir / "arrangements"

    async def save_arrangement(self, name: str) -> str:
        kept = await self.backend.save_arrangement(name, self.arrangements_dir)
        self.known_arrangements = sorted({*self.known_arrangements, name})
        return kept

    async def restore_arrangement(self, name: str) -> list[str]:
        return await self.backend.restore_arrangement(name, self.arrangements_dir)

    async def arrangement_names(self) -> list[str]:
        self.known_arrangements = await self.backend.arrangement_names(self.arrangements_dir)
        return self.known_arrangements

    async def orphans(self) -> dict[str, Agent]:
        """Panes of this org that run an agent it does not have, as the agents their pane options describe."""
        known = _names(self.org)
        found: dict[str, Agent] = {}
        for info, _, meta in await self.backend.list_panes_detailed(all_sessions=False):
            if info.org != self.org.name or not info.agent or info.agent == EXEC_SLOT or info.agent in known:
                continue
            command = meta.get("command") or None
            kind = meta.get("kind") if meta.get("kind") in {k.value for k in AgentKind} else AgentKind.SHELL
            try:
                found[info.agent] = Agent(
                    name=info.agent,
                    team=meta.get("team") or "adopted",
                    kind=kind,
                    command=None if command == SHELL_COMMAND else command,
                    cwd=Path.cwd(),
                )
            except ValueError:
                continue  # pane options no agent could have: not ours to take
        return found

    async def adopt(self, names: list[str] | None, actor: str = HUMAN) -> list[str]:
        """Take the orphan panes named (None: all of them) back into the org, with their team (made when
        missing); their programs keep running. Returns the names adopted."""
        orphans = await self.orphans()
        unknown = [name for name in names or () if name not in orphans]
        if unknown:
            raise KeyError(", ".join(unknown))
        chosen = [orphans[name] for name in (names if names is not None else orphans)]
        teams = {team.name for team in self.org.teams}
        new_teams = [Team(name=name) for name in dict.fromkeys(a.team for a in chosen) if name not in teams]
        org = self.org.replaced(teams=(*self.org.teams, *new_teams), agents=(*self.org.agents, *chosen))
        await self.reconfigure(org, actor)
        return [agent.name for agent in chosen]

    def _index_tokens(self) -> None:
        """Each agent of the org keeps its token (new agents get one); the human's token names the human."""
        self.tokens = paths.agent_tokens(self.org.name, [agent.name for agent in self.org.agents])
        self._actors = {
            token: roles.Principal("agent", agent) for agent, token in self.tokens.items() if agent in _names(self.org)
        }
        self._actors[self.human_token] = roles.Principal("human", HUMAN)
        self._worktree_agents = {agent.name for agent in self.org.agents if self.org.uses_worktree(agent)}
        # an agent that prints a token (its own or one it found) must not put it in the journal
        self.redactor = Redactor(self.org.redact, literals=list(self._actors))

    async def restart_agent(self, name: str) -> str | None:
        """Start the agent's program again in its own pane, resuming its conversation when its kind can; how it
        resumes, in words (None: it starts afresh)."""
        agent = self.org.agent(name)
        pane = self.pane_of(name)
        resume = resumption(agent, self.state)
        await self.backend.respawn_pane(pane, agent_launch(self.org, agent, self._env, resume))
        self._replaced(name, "its program was restarted")
        self.submit(SUPERVISOR, AgentLaunched(agent=name, pane=pane, resumed=resume.how if resume else None))
        self.screens.watch(name)
        return resume.how if resume else None

    def _replaced(self, name: str, why: str) -> None:
        """The agent's program is replaced by a new one: what the old one asked is withdrawn (its prompt, or
        the `ask` waiting in it, is gone with it: an answer would reach nothing, or the wrong question), and
        it exits (the locks it held are released) unless the journal has it exited already."""
        for approval in [approval for approval in self.state.approvals.values() if approval.agent == name]:
            note = f"withdrawn: {why}, and the question went with the old one (asked again if still needed)"
            self.submit(SUPERVISOR, ApprovalDecided(id=approval.id, approved=False, reason=note))
        view = self.state.agents.get(name)
        if view is not None and view.alive:
            self._agent_gone(name, None, None)

    async def renew_pane(self, name: str, pane: str | None) -> None:
        """Start the agent again in a new pane, closing `pane` (where restarts did not hold; None: its pane is
        gone). One at a time: each brings up every agent without a pane, and two at once would give an agent
        two panes (nor may one close the pane another just made)."""
        async with self._renewing:
            if pane is not None and self.pane_agent.get(pane) == name:
                self.pane_agent.pop(pane, None)
                self.screens.forget(name)
                with contextlib.suppress(BackendError):  # closed already
                    await self.backend.close_pane(pane)
            if self.pane_agent_of(name) is None:  # else brought up meanwhile by another agent's renewal
                await self._deploy(remove_orphans=False)

    def pane_agent_of(self, name: str) -> str | None:
        """The agent's pane, or None while it has none."""
        return next((pane for pane, agent in self.pane_agent.items() if agent == name), None)

    def human_at(self) -> set[str]:
        """Agents whose pane has the terminal's focus: a human is typing there."""
        agent = self.pane_agent.get(self.focused_pane or "")
        return {agent} if agent else set()

    async def select(self, name: str) -> None:
        """Give the agent's pane the terminal's focus (its window first)."""
        await self.backend.select_pane(self.pane_of(name))

    def recent_records(self, limit: int | None = 1000) -> list[Record]:
        """The journal's last records, for the trace viewer at start (what is still queued for the disk too)."""
        with contextlib.suppress(OSError, JournalError):
            self.journal.flush()
        return list(collections.deque(Journal.read(self.journal_path, self._key), maxlen=limit))

    def pane_of(self, name: str) -> str:
        for pane, agent in self.pane_agent.items():
            if agent == name:
                return pane
        raise KeyError(name)

    async def stop(self) -> None:
        if self._restyle_handle is not None:
            self._restyle_handle.cancel()
        self.pulses.close()
        await self.pulses.settled()
        with contextlib.suppress(BackendError):  # the follower's pane goes with the console that opened it
            await self.debug_pane.close()
        self.pager.close()
        await self.pager.settled()
        await self.status_line.remove()
        self.screens.close()
        self.recovery.close()
        await self.recovery.settled()
        if self.otlp is not None:
            await self.otlp.close()
        self.snapshots.close()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.server.stop()
        answers: list[asyncio.Future[Any]] = [*self._approvals.values(), *self._locks.values()]
        for future in answers:
            future.cancel()
        for waiting in self._barriers.values():
            for future in waiting:
                future.cancel()
        self.journal.close()
        log.info("stopped serving org %s", self.org.name)
        self.log.close()
        self.stopped.set()

    def _env(self, agent: Agent) -> dict[str, str]:
        return paths.control_env(self.org.name, self.tokens[agent.name])

    # --- the one way in ---------------------------------------------------------------------------------

    @contextlib.contextmanager
    def traced(self, trace: str, parent: str | None = None) -> Iterator[None]:
        """What this task journals inside shares `trace`, under the span `parent` (None: at the trace's top)."""
        token = _current_trace.set((trace, parent, asyncio.current_task()))
        try:
            yield
        finally:
            _current_trace.reset(token)

    def current_trace(self) -> Cause | None:
        """The trace and parent span this task journals under now (None: outside `traced`)."""
        current = _current_trace.get()
        if current is None or current[2] is not asyncio.current_task():
            return None
        return Cause(current[0], current[1])

    def submit(
        self,
        actor: str,
        event: Event,
        trace: str | None = None,
        *,
        parent: str | None = None,
        span: str | None = None,
    ) -> Record:
        """Journal `event` as done by `actor`, apply it, and wake whoever waits on it. Without a `trace`, the
        record joins what caused it: a decision its ask, an agent's record the message it works on (see
        agents/tracing.py), else the trace this task is in (`traced`), else a trace of its own."""
        if trace is None:
            current = self.current_trace()
            cause = self.causes.cause(actor, event)
            if isinstance(event, ApprovalDecided) and cause is not None:
                # a decision joins its ask (under the command deciding it, when that command joined the ask too)
                cause = current if current is not None and current.trace == cause.trace else cause
            else:
                cause = current or cause
            if cause is not None:
                trace, parent = cause
        event = self.redactor.event(event)  # secrets are never stored, hence never shown
        try:
            if self.paused is not None:
                raise JournalUnavailable(self.paused)
            try:
                record = self.journal.append(actor, event, trace=trace, parent=parent, span=span)
            except JournalError as error:
                self._pause(str(error))
                raise JournalUnavailable(self.paused or str(error)) from None
        except JournalUnavailable:
            if actor not in (SUPERVISOR, HUMAN):
                self._refused_while_paused += 1
            raise
        self.causes.note(record)
        self._schedule_flush()
        decided = event if isinstance(event, ApprovalDecided) else None
        prompt = self.state.approvals.get(decided.id) if decided is not None else None
        self.state.apply(record)
        if decided is not None and prompt is not None and prompt.source != "agent" and actor != SUPERVISOR:
            # decided in the console: the program's own prompt is answered with its kind's keys
            answer = self.screens.answer(prompt.agent, prompt.rule, decided.approved, decided.always)
            asyncio.get_running_loop().create_task(answer)
        for listener in self.listeners:
            listener(record)
        self._note_restyle(record)
        self._wake(record.event)
        self._changed.set()
        return record

    def _note_restyle(self, record: Record) -> None:
        """Panes show their agent's effective state and pending count (badge, and border colour when it needs
        attention): whatever record changed what an agent's pane should show restyles it, coalesced."""
        event = record.event
        if isinstance(event, OrgLoaded):
            concerned: Iterable[str] = self.state.agents
        else:
            concerned = {getattr(event, "agent", None) or record.actor}
            if isinstance(event, ApprovalDecided) and event.id in self.state.decided:
                concerned.add(self.state.decided[event.id].agent)
        for agent in concerned:
            if agent in self.state.agents and self._look(agent) != self._shown.get(agent):
                self._restyle_soon(agent)

    def _look(self, agent: str) -> Look:
        """What the agent's pane shows: its effective state, pending approvals, pane and team."""
        view = self.state.agents[agent]
        pending = sum(1 for approval in self.state.approvals.values() if approval.agent == agent)
        return view.state, pending, view.pane, view.team, recovery_label(view)

    def _restyle_soon(self, agent: str) -> None:
        self._restyle_due.add(agent)
        if self._restyle_handle is None:
            loop = asyncio.get_running_loop()
            self._restyle_handle = loop.call_later(RESTYLE_SECONDS, lambda: loop.create_task(self._restyle()))

    async def _restyle(self) -> None:
        self._restyle_handle = None
        due, self._restyle_due = self._restyle_due, set()
        colors = {team.name: team_color(index, team.color) for index, team in enumerate(self.org.teams)}
        self._read_worktrees_soon(due)
        for agent in sorted(due):
            if agent not in self.state.agents:
                continue
            look = self._shown[agent] = self._look(agent)
            state, pending, pane, team, healing = look
            if pane is None:
                continue
            badge = f"{state_glyph(state)} {state}" + (f" · {pending} to approve" if pending else "")
            if healing:
                badge += f" · {healing}"
            border = state_color(state) if state in ATTENTION_STATES else colors.get(team or "", EXEC_COLOR)
            with contextlib.suppress(BackendError):  # a pane that just closed: nothing to show
                await self.backend.style_pane(pane, PaneStyle(border=border, badge=badge))

    def _read_worktrees_soon(self, agents: Iterable[str]) -> None:
        """Read the worktrees of `agents` (those that have one) in a thread, one reading at a time."""
        self._worktrees_due.update(
            agent for agent in agents if agent in self.worktree_shown or self._has_worktree(agent)
        )
        if self._worktrees_due and (self._worktree_reader is None or self._worktree_reader.done()):
            self._worktree_reader = asyncio.get_running_loop().create_task(self._read_worktrees())

    def _has_worktree(self, name: str) -> bool:
        return name in self._worktree_agents

    def _worktree_output(self, agent: str) -> None:
        """Output in a pane with a worktree may mean files written: its worktree is read again, at most once
        every WORKTREE_READ_SECONDS (an idle pane costs nothing; a busy one one reading a period)."""
        self._worktrees_after_output.add(agent)
        if self._worktree_timer is None:
            self._worktree_timer = asyncio.get_running_loop().call_later(WORKTREE_READ_SECONDS, self._worktrees_settled)

    def _worktrees_settled(self) -> None:
        self._worktree_timer = None
        due, self._worktrees_after_output = self._worktrees_after_output, set()
        self._read_worktrees_soon(due)

    async def _read_worktrees(self) -> None:
        while self._worktrees_due:
            due, self._worktrees_due = self._worktrees_due, set()
            read = await asyncio.to_thread(_worktree_texts, self.org.name, due)
            shown = {**self.worktree_shown, **read}
            for agent in due - read.keys():
                shown.pop(agent, None)  # gone (discarded, or the agent with it)
            if shown != self.worktree_shown:
                self.worktree_shown = shown
                for listener in self.status_listeners:
                    listener()

    def _schedule_flush(self) -> None:
        if not self._commit_due:
            self._commit_due = True
            asyncio.get_running_loop().call_soon(self._commit)

    def _commit(self) -> asyncio.Future[None]:
        """Everything journaled so far becomes durable on the journal's commit thread (the loop never waits on
        the disk); records of the same turn, and of turns while a batch is written, share one write and fsync."""
        self._commit_due = False
        committing = self._committing
        failed = committing is not None and committing.done() and (committing.cancelled() or committing.exception())
        if committing is None or failed or self._committing_seq != self.journal.seq:
            self._committing_seq = self.journal.seq
            committing = self._committing = asyncio.wrap_future(self.journal.commit())
            committing.add_done_callback(self._committed)
        return committing

    def _committed(self, committing: asyncio.Future[None]) -> None:
        error = None if committing.cancelled() else committing.exception()
        if self.journal.anchor_problem != self._anchor_problem:  # said once, and once more when it is over
            self._anchor_problem = self.journal.anchor_problem
            self.say(self._anchor_problem or f"the journal's anchor {self.journal.anchor_path} is written again")
        if error is None or self.journal.closed:
            return
        if self.journal.failed is not None:
            self._take_back()
        self._pause(f"cannot make the journal {self.journal_path} durable: {_reason(error)}")

    def _take_back(self) -> None:
        """The disk refused records already applied (none of them acknowledged: that waits for the commit):
        the journal goes on from its last record on disk, and the state is folded again from the file."""
        forgotten = self.journal.rewind()
        self.state = OrgState.replay(Journal.read(self.journal_path, self._key))
        self.say(f"{forgotten} record(s) the disk refused were taken back (none had been acknowledged)")

    async def durable(self) -> None:
        """Wait until everything journaled so far is on disk (before acknowledging it to anyone)."""
        try:
            await asyncio.shield(self._commit())
        except (OSError, JournalError) as error:
            self._pause(f"cannot make the journal {self.journal_path} durable: {_reason(error)}")
            self._refused_while_paused += 1  # the request that waits here is refused, its records taken back
            raise JournalUnavailable(self.paused or str(error)) from None

    def _submit_all(self, events: list[Event], trace: str, parent: str | None = None) -> None:
        for event in events:
            self.submit(SUPERVISOR, event, trace=trace, parent=parent)

    def handle(self, agent: str, event: Event) -> Record:
        """An agent's event (from its pane or the API), with what it sets off (grants, releases, results)."""
        now = time.time()
        if isinstance(event, MessageSent):
            self._admit(agent, "messages", self.limiter.admit_message(agent, now))
        else:
            self._admit(agent, "events", self.limiter.admit_event(agent, now))
        sender = roles.Principal("agent", agent)
        refused = roles.denial(self.org, sender, "event", event.type, _event_target(event))
        if refused is not None:  # counted against its limit above: refusals cannot flood the journal
            self.journal_denial(sender, f"event {event.type}", refused)
            raise ApiError(403, refused)
        if isinstance(event, VoteCast) and event.name not in self.state.open_votes():
            raise ApiError(409, f"no open vote named {event.name!r}")
        if isinstance(event, LockReleased) and event.reason != "released":
            event = event.model_copy(update={"reason": "released"})  # only the supervisor expires locks
        record = self.submit(agent, event)
        follow: list[Event] = []
        if isinstance(event, Heartbeat):
            follow = coordination.on_heartbeat(self.state, agent, now)
        elif isinstance(event, BarrierArrived):
            follow = coordination.on_barrier_arrive(self.state, agent, event, now)
        elif isinstance(event, LockRequested):
            follow = coordination.on_lock_request(self.state, agent, event, now)
        elif isinstance(event, LockReleased):
            follow = coordination.on_lock_release(self.state, agent, event, now)
        elif isinstance(event, VoteCast):
            follow = coordination.on_vote_cast(self.state, agent, event, now)
        self._submit_all(follow, record.trace, record.span)
        return record

    def admit_request(self, agent: str) -> None:
        """Count one request of `agent` against its event limit (refused with 429 when over it)."""
        self._admit(agent, "events", self.limiter.admit_event(agent, time.time()))

    def _admit(self, agent: str, limit: Limit, admitted: bool) -> None:
        """Refuse (HTTP 429, or a dropped sequence) what is over `agent`'s `limit`; refusals are journaled as a
        count: the first at once, the rest at the end of the window."""
        if admitted:
            return
        limits = self.limiter.limits
        if self.limiter.refusals.add(agent, limit):
            self.submit(SUPERVISOR, Throttled(agent=agent, limit=limit, refused=1, window=limits.window))
            asyncio.get_running_loop().call_later(limits.window, self._report_refusals, agent, limit)
        raise ApiError(429, f"{agent} is over its limit of {limits.describe(limit)}: refused")

    def _report_refusals(self, agent: str, limit: Limit) -> None:
        refused = self.limiter.refusals.take(agent, limit)
        if refused and agent in self.state.agents:
            with contextlib.suppress(JournalUnavailable):  # a count is not worth holding
                self.submit(
                    SUPERVISOR, Throttled(agent=agent, limit=limit, refused=refused, window=self.limiter.limits.window)
                )

    def _spoofed(self, pane: str, agent: str) -> None:
        """A forged sequence: the first of a window is journaled at once, the rest as one count when it ends."""
        if pane in self._spoof_counts:
            self._spoof_counts[pane] += 1
            return
        self._spoof_counts[pane] = 0
        self.submit(SUPERVISOR, SpoofRejected(pane=pane, agent=agent))
        asyncio.get_running_loop().call_later(self.limiter.limits.window, self._report_spoofs, pane, agent)

    def _report_spoofs(self, pane: str, agent: str) -> None:
        count = self._spoof_counts.pop(pane, 0)
        if count:
            with contextlib.suppress(JournalUnavailable):
                self.submit(SUPERVISOR, SpoofRejected(pane=pane, agent=agent, count=count))

    def _wake(self, event: Event) -> None:
        if isinstance(event, ApprovalDecided):
            approval = self._approvals.pop(event.id, None)
            if approval is not None and not approval.done():
                approval.set_result(event)
        elif isinstance(event, BarrierReleased):
            for barrier in self._barriers.pop(event.name, []):
                if not barrier.done():
                    barrier.set_result(event)
        elif isinstance(event, LockGranted):
            lock = self._locks.pop((event.name, event.holder), None)
            if lock is not None and not lock.done():
                lock.set_result(event)
        elif isinstance(event, MessageSent):
            for waiting in self._inboxes.values():
                waiting.set()  # cheap: each waiter re-reads its own outbox

    # --- panes ------------------------------------------------------------------------------------------

    async def _watch(self, events: AsyncIterator[TerminalEvent]) -> None:
        async for event in events:
            if self.paused is not None:
                self._hold(event)
                continue
            try:
                self._on_terminal(event)
            except JournalUnavailable:
                self._hold(event)
        self._fail(f"the terminal server went away ({self.backend.where}): its panes, and the agents in them, are gone")

    def _hold(self, event: TerminalEvent) -> None:
        """Keep what the panes say while the journal is paused; output beyond a bound is let go (the screens
        are read again on resuming), exits, closes and focus never."""
        if isinstance(event, PaneOutput):
            if self._held_bytes + len(event.data) > HELD_OUTPUT_BYTES:
                return
            self._held_bytes += len(event.data)
        self._held.append(event)

    def _pause(self, reason: str) -> None:
        if self.paused is not None:
            return
        self.paused = f"the journal cannot be written, so nothing is accepted until it can: {reason}"
        self._paused_at = time.time()
        self._refused_while_paused = 0
        log.warning("%s", self.paused)
        self.say(self.paused)
        for listener in self.fault_listeners:
            listener()
        asyncio.get_running_loop().call_later(JOURNAL_RETRY_SECONDS, self._retry_journal)

    def _retry_journal(self) -> None:
        resumed = JournalResumed(
            paused_at=self._paused_at, reason=(self.paused or "")[:500], refused=self._refused_while_paused
        )
        try:
            record = self.journal.append(SUPERVISOR, resumed)
        except JournalError:
            asyncio.get_running_loop().call_later(JOURNAL_RETRY_SECONDS, self._retry_journal)
            return
        committing = asyncio.wrap_future(self.journal.commit())
        committing.add_done_callback(lambda done: self._resume_if_written(record, done))

    def _resume_if_written(self, record: Record, committing: asyncio.Future[None]) -> None:
        """Resume once the resume record itself is on disk; else try again later."""
        if self.journal.closed:
            return
        if committing.cancelled() or committing.exception() is not None:
            if self.journal.failed is not None:
                self.journal.rewind()
            asyncio.get_running_loop().call_later(JOURNAL_RETRY_SECONDS, self._retry_journal)
            return
        self.paused = None
        self.state.apply(record)
        for listener in self.listeners:
            listener(record)
        refused = self._refused_while_paused
        self.say(f"the journal can be written again: resumed ({refused} agent request(s) were refused)")
        for fault_listener in self.fault_listeners:
            fault_listener()
        held, self._held, self._held_bytes = self._held, collections.deque(), 0
        while held:
            event = held.popleft()
            try:
                self._on_terminal(event)
            except JournalUnavailable:  # full again: keep the rest, in order
                held.appendleft(event)
                self._held.extendleft(reversed(held))
                return
        for agent in self.state.agents:
            self.screens.schedule(agent)
        self._changed.set()

    def _on_terminal(self, event: TerminalEvent) -> None:
        if isinstance(event, PaneOutput):
            agent = self.pane_agent.get(event.pane)
            if agent is None:
                return
            parser = self._parsers.get(event.pane)
            if parser is None or event.gap:  # after a gap, a sequence begun before it can never end
                parser = self._parsers[event.pane] = SequenceParser()
            for item in parser.feed(event.data):
                self._on_sequence(event.pane, agent, item)
            self.screens.output(agent)
            if agent in self._worktree_agents:
                self._worktree_output(agent)
        elif isinstance(event, PaneExited):
            agent = self.pane_agent.get(event.pane)
            if agent is not None:
                self._agent_gone(agent, event.status, event.signal)
        elif isinstance(event, PaneClosed):
            agent = self.pane_agent.pop(event.pane, None)
            self._parsers.pop(event.pane, None)
            if agent is not None and self.state.agents.get(agent) and self.state.agents[agent].alive:
                self._agent_gone(agent, None, None)
        elif isinstance(event, PaneFocused):
            self.focused_pane = event.pane
            for listener in self.focus_listeners:
                listener()
        elif isinstance(event, BackendLost):
            self.say(f"lost the terminal: {event.reason}")

    def _on_sequence(self, pane: str, agent: str, item: Frame | Rejected) -> None:
        if isinstance(item, Rejected):
            self.malformed += 1
            return
        if not secrets.compare_digest(item.token, self.tokens.get(agent, "")):
            self._spoofed(pane, agent)
            return
        try:
            event = decode_payload(item.payload)
        except ProtocolError:
            self.malformed += 1
            return
        try:
            self.handle(agent, event)
        except ApiError as error:  # over a limit (counted there), or e.g. a vote on no open vote: dropped
            if error.status != 429:
                self.malformed += 1
        except JournalUnavailable:  # the disk is full: dropped, as any event refused
            self.malformed += 1

    def _agent_gone(self, agent: str, status: int | None, signal: int | None) -> None:
        self.screens.forget(agent)
        trace = self.submit(SUPERVISOR, AgentExited(agent=agent, status=status, signal=signal)).trace
        self._submit_all(coordination.on_agent_exit(self.state, agent, time.time()), trace)

    # --- time ---------------------------------------------------------------------------------------------

    async def _deadlines(self) -> None:
        while True:
            self._changed.clear()
            deadlines = [coordination.next_deadline(self.state), standing.next_deadline(self.state)]
            deadline = min((d for d in deadlines if d is not None), default=None)
            timeout = None if deadline is None else max(0.0, deadline - time.time())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), timeout)
            due = coordination.due(self.state, time.time())
            if due:
                with contextlib.suppress(JournalUnavailable):  # due again once the journal resumes
                    self._submit_all(due, secrets.token_hex(8))
            task_deadline = standing.next_deadline(self.state)
            if task_deadline is not None and task_deadline <= time.time():
                self.standing.check()

    # --- requests that wait -------------------------------------------------------------------------------

    def request_approval(self, agent: str, text: str, command: str | None) -> str:
        self._admit(agent, "events", self.limiter.admit_event(agent, time.time()))
        pending = sum(1 for approval in self.state.approvals.values() if approval.agent == agent)
        self._admit(agent, "approvals", self.limiter.admit_approval(pending))
        request_id = f"a{secrets.token_hex(4)}"
        self.submit(agent, ApprovalRequested(id=request_id, text=text, command=command))
        return request_id

    def request_operation(self, text: str, command: str, operation: Operation, request_id: str | None = None) -> str:
        """File the console's own request in the approval queue (asked by the executive, never an agent): the
        human answers it as any other, and `operation` (a function, run in a thread, or a coroutine function) runs
        only once it is approved. Returns its id. A `request_id` still pending (filed before a restart) gets its
        operation back."""
        request_id = request_id or f"a{secrets.token_hex(4)}"
        if request_id not in self.state.approvals:
            self.submit(EXECUTIVE, ApprovalRequested(id=request_id, text=text, command=command))
        self._operations[request_id] = operation
        return request_id

    async def wait_approval(self, agent: str, request_id: str, timeout: float | None) -> ApprovalDecided | None:
        """The human's answer to `agent`'s request; None when `timeout` passes first (the request is then
        withdrawn). Waiting again after a lost connection, or a restart of the console, is fine."""
        decided = self.state.decided.get(request_id)
        if decided is not None:  # answered while the agent was not waiting (e.g. the console restarted)
            return ApprovalDecided(id=request_id, approved=decided.approved, reason=decided.reason)
        pending = self.state.approvals.get(request_id)
        if pending is None or pending.agent != agent:
            raise ApiError(404, f"{agent} has no approval request {request_id!r}")
        future = self._approvals.get(request_id)
        if future is None or future.done():
            future = self._approvals[request_id] = asyncio.get_running_loop().create_future()
        try:
            return await asyncio.wait_for(asyncio.shield(future), timeout)
        except TimeoutError:
            if request_id in self.state.approvals:
                self.submit(SUPERVISOR, ApprovalDecided(id=request_id, approved=False, reason="timed out"))
            return None

    async def barrier_wait(self, agent: str, arrival: BarrierArrived) -> BarrierReleased:
        future: asyncio.Future[BarrierReleased] = asyncio.get_running_loop().create_future()
        waiting = self._barriers.setdefault(arrival.name, [])
        waiting.append(future)
        try:
            self.handle(agent, arrival)
        except BaseException:
            waiting.remove(future)  # refused (not allowed, over its limit): nobody waits
            raise
        return await future

    async def lock_acquire(self, agent: str, want: LockRequested, timeout: float | None) -> LockGranted | None:
        future: asyncio.Future[LockGranted] = asyncio.get_running_loop().create_future()
        self._locks[(want.name, agent)] = future
        self.handle(agent, want)
        try:
            return await asyncio.wait_for(asyncio.shield(future), timeout)
        except TimeoutError:
            self._locks.pop((want.name, agent), None)
            return None

    async def lock_release(self, agent: str, name: str, token: int | None) -> None:
        held = self.state.locks.get(name)
        if held is None or held.holder != agent:
            raise ApiError(409, f"lock {name!r} is not held by {agent}")
        self.handle(agent, LockReleased(name=name, token=token))

    async def open_vote(
        self,
        actor: str,
        name: str,
        question: str | None,
        voters: list[str] | None,
        rule: str,
        quorum: int | None,
        deadline: float | None,
    ) -> VoteOpened:
        everyone = sorted(_names(self.org))
        unknown = [voter for voter in voters or [] if voter not in everyone]
        if unknown:
            raise ApiError(422, f"voters: unknown agent(s) {', '.join(unknown)}")
        opened = VoteOpened(
            name=name,
            question=question,
            voters=tuple(voters or everyone),
            rule=rule,
            quorum=quorum,
            deadline=time.time() + deadline if deadline else None,
        )
        self.submit(actor, opened)
        return opened

    async def acknowledge(self, agent: str, message_id: str) -> None:
        if message_id not in {message["id"] for message in self.messages_for(agent)}:
            raise ApiError(404, f"no pending message {message_id!r} for {agent}")
        self.submit(agent, MessageAcknowledged(id=message_id))

    async def decide(
        self, request_id: str, approved: bool, reason: str | None, always: bool = False
    ) -> PendingApproval:
        """The human's answer to a pending request (the one implementation of a decision); the request."""
        pending = self.state.approvals.get(request_id)
        if pending is None:
            if request_id in self.state.decided:
                raise Conflict(f"request {request_id!r} is already decided")
            raise NotFound(f"no pending approval {request_id!r}")
        if always and not approved:
            raise InvalidInput("always: only an approval can be for always")
        if always and not self.screens.can_always(pending.agent, pending.rule):
            raise Conflict(f"{pending.agent}'s prompt has no 'always' answer: approve it once")
        self.submit(HUMAN, ApprovalDecided(id=request_id, approved=approved, reason=reason, always=always))
        operation = self._operations.pop(request_id, None)
        if approved and operation is not None:
            try:
                if inspect.iscoroutinefunction(operation):
                    self.outcomes[request_id] = await operation()
                else:  # a git command, say: in a thread, the loop never waits on it
                    self.outcomes[request_id] = await asyncio.to_thread(cast(Callable[[], str], operation))
            except ConsoleError as error:
                self.outcomes[request_id] = str(error)
            self._read_worktrees_soon(self.state.agents)
        elif approved and pending.agent == EXECUTIVE:
            self.outcomes[request_id] = "nothing done: the console restarted since it was asked: ask again"
        return pending

    # --- agent programs' hooks and screens ------------------------------------------------------------------

    def hook(self, agent: str, program: str, payload: dict) -> None:
        """A report from the agent program's hook (`agent-console hook claude|codex`)."""
        self._admit(agent, "events", self.limiter.admit_event(agent, time.time()))
        try:
            reading = read_claude_hook(payload) if program == "claude" else read_codex_notify(payload)
        except HookError as error:
            raise ApiError(422, str(error)) from None
        self.screens.hook(agent, reading)
        if reading.session is not None:
            self.keep_session(agent, reading.session, "hook")

    def keep_session(self, agent: str, session: str, source: Literal["hook", "screen"]) -> None:
        """Journal the conversation the agent's program is in, so that its restarts resume it. The id is the
        agent's word: one its kind would not give is dropped (and counted), never put on a command line."""
        view = self.state.agents.get(agent)
        if view is None or view.session == session:
            return
        kind = self.screens.kind_of(agent)
        if kind is None or not kind.resume.session or not kind.resume.accepts(session):
            self.malformed += 1
            return
        self.submit(SUPERVISOR, AgentSession(agent=agent, session=session, source=source))

    async def explain(self, agent: str) -> dict:
        """Why `agent` is in its state: its screen read now, and what its hook and its own reports said."""
        view = self.state.agents.get(agent)
        if view is None:
            raise ApiError(404, f"no agent named {agent!r} in org {self.org.name!r}")
        kind = self.screens.kind_of(agent)
        reading = await self.screens.read_now(agent)
        return {
            "agent": agent,
            "kind": kind.kind if kind else None,
            "state": self.state.agents[agent].state.value,
            "screen": self.redactor.data(reading.to_json()) if reading else None,
            "hook": {"state": view.hook_state.value, "event": view.hook_event} if view.hook_state else None,
            "reported": view.reported,
            "stalled_since": view.stalled_since,
            "alive": view.alive,
            "override": self.override(agent),
        }

    def override(self, agent: str) -> str | None:
        """What direct override holds back from `agent` now: the human is in its pane, so the executive sends it
        nothing (None: nothing is held)."""
        if agent not in self.human_at():
            return None
        held = sum(1 for message in self.state.outbox(agent) if message["from"] == EXECUTIVE)
        return f"the human is in its pane: the executive sends it nothing until they leave ({held} message(s) wait)"

    # --- reading ------------------------------------------------------------------------------------------

    def principal_for_token(self, token: str) -> roles.Principal | None:
        """Who a token names: the human, or an agent of the org (a kind and a name, never a name alone)."""
        for known, principal in self._actors.items():
            if secrets.compare_digest(known, token):
                return principal
        return None

    def journal_denial(self, principal: roles.Principal, operation: str, reason: str) -> None:
        """Journal that `principal` was refused `operation` (the caller has counted an agent's against its limit)."""
        self.submit(principal.name, AccessDenied(operation=operation[:200], reason=reason[:500]))

    def messages_for(self, agent: str) -> list[dict]:
        return self.state.outbox(agent)

    async def wait_messages(self, agent: str, timeout: float | None, new: bool = False) -> list[dict]:
        """The agent's pending messages, waiting up to `timeout` for one to arrive (with `new`: for one more
        to arrive, whatever is pending already). Each names its `traceparent`: what the agent does about it
        can join the message's trace (`--trace-parent`, `TRACEPARENT`)."""
        messages = self.state.outbox(agent)
        deadline = time.monotonic() + (timeout or 0)
        while timeout and (new or not messages):
            # a message to anyone wakes every waiter: without `new`, one for someone else means waiting on
            left = deadline - time.monotonic()
            if left <= 0:
                break
            arrived = self._inboxes.setdefault(agent, asyncio.Event())
            arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(arrived.wait(), left)
            messages = self.state.outbox(agent)
            if new:
                break
        for message in messages:
            sent = self.causes.message(message["id"])
            if sent is not None and sent.parent is not None:
                message["traceparent"] = traceparent(sent.trace, sent.parent)
        return messages

    def pending_approvals(self) -> list[dict]:
        return self.state.to_json()["approvals"]

    def public_state(self, agent: str) -> dict:
        """What `agent` may read of the org: the public view and its own messages and approvals."""
        return roles.public_view(self.state, self.org, agent)

    def state_json(self) -> dict:
        data = self.state.to_json()
        data["malformed"] = self.malformed
        data.update(self.backend.state_location())
        return data


def _event_target(event: Event) -> roles.Target | None:
    """Whom an agent's event reaches, for its row of the permission matrix: a message's recipients, the members
    a barrier is opened for."""
    if isinstance(event, MessageSent):
        return roles.Target.address(event.to)
    if isinstance(event, BarrierArrived):
        return roles.Target(agents=event.members or (), talk=True)
    return None


def _process_environment(pid: int) -> dict[str, str] | None:
    """The environment a process started with, or None where it cannot be read."""
    try:
        raw = Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return None
    pairs = (item.partition(b"=") for item in raw.split(b"\0") if item)
    return {key.decode(errors="replace"): value.decode(errors="replace") for key, _, value in pairs}


def _executable(pid: int) -> str | None:
    """The program a process runs, or None where it cannot be read."""
    try:
        return os.readlink(f"/proc/{pid}/exe")
    except OSError:
        return None


def _worktree_texts(org: str, agents: set[str]) -> dict[str, str]:
    """Each agent's worktree (of those that have one) as the health table shows it: branch, +commits, ~files."""
    texts: dict[str, str] = {}
    try:
        known = worktrees.registered(org)
    except worktrees.WorktreeError:
        return texts  # the list is unreadable: `diff` and the others say so, with where
    for agent, tree in known.items():
        if agent not in agents:
            continue
        try:
            found = worktrees.status(tree)
        except worktrees.WorktreeError:
            texts[agent] = f"{tree.branch} (unreadable)"
            continue
        changes = " ".join(
            part
            for part in (f"+{found.ahead}" if found.ahead else "", f"~{found.uncommitted}" if found.uncommitted else "")
            if part
        )
        texts[agent] = f"{changes or 'clean'} {tree.branch}"  # the changes first: a narrow column keeps them
    return texts


def _reason(error: BaseException) -> str:
    return (error.strerror if isinstance(error, OSError) else None) or str(error)


def _names(org: Org) -> set[str]:
    return {agent.name for agent in org.agents}
