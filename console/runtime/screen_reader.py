"""Reading agents' screens: when a pane's output settles, its screen is captured and read by its kind's rules.

What a reading changes is journaled (a new state or rule, a prompt that appeared or went away, progress that
stalled or resumed); readings that change nothing are not. Nothing polls: a read follows output, and the only
timers are the stall deadline and a re-read when a report made a screen's reading wait.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal, Protocol

from agent_console.agents.events import (
    SUPERVISOR,
    AgentState,
    ApprovalDecided,
    Event,
    ProgressStalled,
    PromptSeen,
    StateObserved,
)
from agent_console.agents.journal import JournalUnavailable, Record
from agent_console.agents.kinds import Answer, Detection, KindDefinition, KindError, detect, load_kind, normalized
from agent_console.agents.kinds.hooks import HookReading, brief
from agent_console.agents.model import Org
from agent_console.agents.state import REPORT_TRUST_SECONDS, SCREEN_OVER_REPORT_CONFIDENCE, OrgState
from agent_console.terminal.base import BackendError, TerminalBackend

SETTLE_SECONDS = 0.15  # output this recent means the program is still drawing: read a little later
PROMPT_SETTLE_SECONDS = 0.3  # a prompt must stay this long to be one (not a frame drawn on the way elsewhere)
ANSWERED_IN_PANE = "answered in the pane"
# After the console pressed a prompt's answer keys, a prompt still on screen is the answered one not yet redrawn
# (a busy program takes its time): only one still there after this long is asked again.
ANSWER_GRACE_SECONDS = 3.0
ECHO_SECONDS = 2.0  # how long typed text may take to show on a busy machine before Enter is pressed anyway


@dataclass(slots=True)
class _Watch:
    """One agent's screen as last read."""

    kind: KindDefinition
    stuck_after: float
    read_handle: asyncio.TimerHandle | None = None
    reading: bool = False
    again: bool = False
    journaled: tuple[AgentState, str | None] | None = None
    screen: str | None = None
    changed: float = field(default_factory=time.monotonic)  # when the screen (minus volatile parts) last changed
    stall_handle: asyncio.TimerHandle | None = None
    stalled: bool = False
    prompt: str | None = None  # the open approval of the prompt on screen
    prompt_request: str | None = None  # the request as the screen shows it (None: not seen on screen yet)
    asking_since: float | None = None  # when the screen started to show the prompt not yet in the queue
    answered_at: float | None = None  # when the console last pressed a prompt's answer keys
    last: Detection | None = None
    printed_at: float = 0.0  # when the pane last printed
    printed: asyncio.Event = field(default_factory=asyncio.Event)


class ScreenWatcher(Protocol):
    """Who else is told that an agent's screen moved (the typist, to see a message taken up)."""

    def screen_moved(self, agent: str, screen: str) -> None: ...


class ReaderHost(Protocol):
    """What the screen reader needs of the supervisor: the org and its state, the panes, and the journal."""

    @property
    def org(self) -> Org: ...

    @property
    def state(self) -> OrgState: ...

    @property
    def backend(self) -> TerminalBackend: ...

    @property
    def typist(self) -> ScreenWatcher: ...

    @property
    def say(self) -> Callable[[str], None]: ...

    def submit(self, actor: str, event: Event, trace: str | None = None) -> Record: ...

    def keep_session(self, agent: str, session: str, source: Literal["hook", "screen"]) -> None: ...


class ScreenReader:
    """Reads the screens of a supervisor's agents and journals what they show."""

    def __init__(self, supervisor: ReaderHost) -> None:
        self.supervisor = supervisor
        self._watches: dict[str, _Watch] = {}
        self.reads = 0
        # told of every screen read, as captured (the live preview): a view of what is read anyway, no capture more
        self.screen_listeners: list[Callable[[str, str], None]] = []

    # --- which agents ---------------------------------------------------------------------------------------

    def watch(self, agent: str) -> None:
        """Read `agent`'s screen from now on (a launch or a re-adoption: what was read before is forgotten)."""
        self.forget(agent)
        spec = self.supervisor.org.agent(agent)
        try:
            kind = load_kind(spec.kind.value)
        except KindError as error:
            self.supervisor.say(f"{agent}: its screen will not be read: {error}")
            return
        watch = self._watches[agent] = _Watch(kind=kind, stuck_after=spec.stuck_after)
        pending = [
            approval
            for approval in self.supervisor.state.approvals.values()
            if approval.agent == agent and approval.source in ("screen", "hook")
        ]
        if pending:  # a prompt found before a restart of the console is still the one on screen
            watch.prompt = pending[-1].id
        self.schedule(agent)

    def forget(self, agent: str) -> None:
        watch = self._watches.pop(agent, None)
        if watch is not None:
            for handle in (watch.read_handle, watch.stall_handle):
                if handle is not None:
                    handle.cancel()

    def close(self) -> None:
        for agent in list(self._watches):
            self.forget(agent)

    def kind_of(self, agent: str) -> KindDefinition | None:
        watch = self._watches.get(agent)
        return watch.kind if watch else None

    # --- reading --------------------------------------------------------------------------------------------

    def output(self, agent: str) -> None:
        """The agent's pane printed: its screen is read once output settles, and whoever waits for that is told."""
        watch = self._watches.get(agent)
        if watch is not None:
            watch.printed_at = time.monotonic()
            watch.printed.set()
        self.schedule(agent)

    async def snapshot(self, agent: str) -> str | None:
        """The agent's screen now, as readings compare it (volatile parts aside); None when it cannot be captured."""
        watch = self._watches.get(agent)
        view = self.supervisor.state.agents.get(agent)
        if watch is None or view is None or view.pane is None:
            return None
        try:
            return normalized(watch.kind, await self.supervisor.backend.capture(view.pane))
        except BackendError:
            return None

    async def settled(self, agent: str, since: float) -> None:
        """Wait until the agent's pane has printed after `since` (monotonic) and then settled, at most ECHO_SECONDS."""
        watch = self._watches.get(agent)
        deadline = since + ECHO_SECONDS
        while watch is not None and (now := time.monotonic()) < deadline:
            if watch.printed_at > since:
                quiet = SETTLE_SECONDS - (now - watch.printed_at)
                if quiet <= 0:
                    return
                await asyncio.sleep(min(quiet, deadline - now))
            else:
                watch.printed.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(watch.printed.wait(), deadline - now)

    def schedule(self, agent: str, delay: float = SETTLE_SECONDS) -> None:
        """Read `agent`'s screen once its output has settled (called on every output; cheap when one is due)."""
        watch = self._watches.get(agent)
        if watch is None:
            return
        if watch.reading:
            watch.again = True
            return
        if watch.read_handle is None:
            loop = asyncio.get_running_loop()
            watch.read_handle = loop.call_later(delay, lambda: loop.create_task(self._read(agent)))

    async def _read(self, agent: str) -> None:
        watch = self._watches.get(agent)
        if watch is None:
            return
        watch.read_handle = None
        watch.reading = True
        try:
            await self.read_now(agent)
        except JournalUnavailable:
            watch.journaled = None  # not journaled: read again (and journaled) once the journal resumes
        finally:
            watch.reading = False
        if watch.again and self._watches.get(agent) is watch:
            watch.again = False
            self.schedule(agent)

    async def read_now(self, agent: str) -> Detection | None:
        """Capture and read `agent`'s screen, journaling what changed; None when it cannot be captured."""
        watch = self._watches.get(agent)
        view = self.supervisor.state.agents.get(agent)
        if watch is None or view is None or view.pane is None or not view.alive:
            return None
        try:
            screen = await self.supervisor.backend.capture(view.pane)
        except BackendError:
            return None  # the pane just closed: its exit is reported on its own
        if self._watches.get(agent) is not watch:
            return None
        self.reads += 1
        for listener in self.screen_listeners:
            listener(agent, screen)
        reading = detect(watch.kind, screen)
        watch.last = reading
        session = watch.kind.resume.session_on(screen)
        if session is not None:  # the agent's word, as any screen: checked before it is kept
            self.supervisor.keep_session(agent, session, "screen")
        now = time.monotonic()
        flat = normalized(watch.kind, screen)
        moved = flat != watch.screen
        if moved:
            watch.screen, watch.changed = flat, now
            self.supervisor.typist.screen_moved(agent, flat)
        self._journal_reading(agent, watch, reading)
        self._follow_prompt(agent, watch, reading)
        self._follow_progress(agent, watch, moved, now)
        return reading

    def _journal_reading(self, agent: str, watch: _Watch, reading: Detection) -> None:
        view = self.supervisor.state.agents[agent]
        key = (reading.state, reading.rule)
        outweighs = (
            reading.state not in (AgentState.UNKNOWN, view.state)
            and view.reported is not None
            and reading.confidence >= SCREEN_OVER_REPORT_CONFIDENCE
        )
        fresh_for = REPORT_TRUST_SECONDS - (time.time() - (view.reported or 0))
        if key == watch.journaled and (not outweighs or fresh_for > 0):
            if outweighs:  # a report this fresh wins for now: read again when it no longer does
                self.schedule(agent, fresh_for + 0.05)
            return
        watch.journaled = key
        self.supervisor.submit(
            SUPERVISOR,
            StateObserved(
                agent=agent,
                state=reading.state,
                source="screen",
                rule=reading.rule,
                confidence=reading.confidence,
                detail=brief(reading.command or reading.request),
            ),
        )
        if outweighs and fresh_for > 0:
            self.schedule(agent, fresh_for + 0.05)

    # --- prompts --------------------------------------------------------------------------------------------

    def _follow_prompt(self, agent: str, watch: _Watch, reading: Detection) -> None:
        asking = reading.state is AgentState.WAITING
        request = reading.request or reading.command
        if watch.prompt is not None:
            if asking and watch.prompt_request is None:
                watch.prompt_request = request  # the prompt a hook reported (or found before a restart), now seen
                return
            replaced = asking and request is not None and watch.prompt_request != request
            if asking and not replaced:
                return
            # answered in the pane: a program that goes back to its prompt or fails was told no
            self._close_prompt(watch, approved=reading.state not in (AgentState.IDLE, AgentState.ERROR))
            watch.asking_since = None
        if not asking:
            watch.asking_since = watch.answered_at = None
            return
        now = time.monotonic()
        if watch.answered_at is not None and now - watch.answered_at < ANSWER_GRACE_SECONDS:
            self.schedule(agent, ANSWER_GRACE_SECONDS - (now - watch.answered_at) + 0.01)
            return
        if watch.asking_since is None:
            watch.asking_since = now
        if now - watch.asking_since < PROMPT_SETTLE_SECONDS:
            self.schedule(agent, PROMPT_SETTLE_SECONDS - (now - watch.asking_since) + 0.01)
            return
        self.open_prompt(agent, reading.request or _describe(reading), reading.command, "screen", reading)

    def open_prompt(
        self, agent: str, text: str, command: str | None, source: str, reading: Detection | None = None
    ) -> str | None:
        """The prompt on `agent`'s screen becomes an approval (unless one is open for it already)."""
        watch = self._watches.get(agent)
        if watch is None or watch.prompt is not None:
            return None
        watch.prompt = f"p{secrets.token_hex(4)}"
        watch.prompt_request = (reading.request or reading.command) if reading else None
        self.supervisor.submit(
            SUPERVISOR,
            PromptSeen(
                id=watch.prompt,
                agent=agent,
                text=text[:4000],
                command=command[:4000] if command else None,
                source=source,
                rule=reading.rule if reading else None,
                options=tuple((option.key or option.label)[:40] for option in reading.options[:20]) if reading else (),
            ),
        )
        return watch.prompt

    def _close_prompt(self, watch: _Watch, approved: bool) -> None:
        prompt, watch.prompt, watch.prompt_request = watch.prompt, None, None
        if prompt in self.supervisor.state.approvals:  # the human answered in the pane itself
            self.supervisor.submit(SUPERVISOR, ApprovalDecided(id=prompt, approved=approved, reason=ANSWERED_IN_PANE))

    def can_always(self, agent: str, rule: str | None) -> bool:
        """Whether the prompt `rule` found in `agent`'s program has an "always" answer."""
        watch = self._watches.get(agent)
        return watch is not None and bool(watch.kind.keys_for(rule, "approve_always"))

    async def answer(self, agent: str, rule: str | None, approved: bool, always: bool = False) -> None:
        """Press the kind's keys for a decision taken in the console on a prompt found on a screen or by a hook."""
        watch = self._watches.get(agent)
        view = self.supervisor.state.agents.get(agent)
        if watch is None or view is None or view.pane is None or not view.alive:
            return
        answer: Answer = (
            "deny" if not approved else "approve_always" if always and self.can_always(agent, rule) else "approve"
        )
        keys = watch.kind.keys_for(rule, answer)
        watch.answered_at = time.monotonic()
        with contextlib.suppress(BackendError):
            await self.supervisor.backend.send_keys(view.pane, list(keys))
        self.schedule(agent)

    # --- progress -------------------------------------------------------------------------------------------

    def _follow_progress(self, agent: str, watch: _Watch, moved: bool, now: float) -> None:
        working = self.supervisor.state.agents[agent].state is AgentState.WORKING
        if moved or not working:
            if watch.stall_handle is not None:
                watch.stall_handle.cancel()
                watch.stall_handle = None
            if watch.stalled:
                watch.stalled = False
                self.supervisor.submit(SUPERVISOR, ProgressStalled(agent=agent, stalled=False, seconds=0.0))
        if working and watch.stall_handle is None and not watch.stalled:
            due = max(0.0, watch.stuck_after - (now - watch.changed))
            watch.stall_handle = asyncio.get_running_loop().call_later(due, self._stall, agent, watch)

    def _stall(self, agent: str, watch: _Watch) -> None:
        watch.stall_handle = None
        view = self.supervisor.state.agents.get(agent)
        if self._watches.get(agent) is not watch or view is None or view.state is not AgentState.WORKING:
            return
        watch.stalled = True
        seconds = round(time.monotonic() - watch.changed, 1)
        self.supervisor.submit(SUPERVISOR, ProgressStalled(agent=agent, stalled=True, seconds=seconds))

    # --- hooks ----------------------------------------------------------------------------------------------

    def hook(self, agent: str, reading: HookReading) -> None:
        """A hook's report: journaled as the agent's, and a permission request becomes the prompt's approval."""
        self.supervisor.submit(
            agent,
            StateObserved(agent=agent, state=reading.state, source="hook", rule=reading.event, detail=reading.detail),
        )
        if reading.request is not None:
            self.open_prompt(agent, reading.request, reading.command, "hook")
        self.schedule(agent)  # the screen follows the hook: read it, and the stall clock with it


def _describe(reading: Detection) -> str:
    options = " / ".join(option.label for option in reading.options)
    return f"{reading.rule}: {options}" if options else f"the program asks ({reading.rule})"
