"""Watching and healing: the supervisor's agents are checked against their kind's recovery policy whenever a record
about them arrives (and at one deadline per agent: a heartbeat overdue, a question left too long, a stall turning
into a hang); a condition found starts the kind's recovery ladder, one step at a time, every step journaled.

The decisions are `agents.recovery`'s (pure); this module only acts on them. Rules that never bend: no step acts
on an agent whose pane the human is in, no restart while it waits for an approval, a question is never answered
for the human (it pages), an outage restarts nobody, and an open breaker stops automatic restarts.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Protocol

from agent_console.agents import recovery as decide
from agent_console.agents.events import (
    SUPERVISOR,
    AgentState,
    ApprovalDecided,
    BreakerChanged,
    ConditionDetected,
    Event,
    RecoveryStep,
)
from agent_console.agents.journal import JournalUnavailable, Record
from agent_console.agents.kinds import KindError, load_kind
from agent_console.agents.model import Agent, Org
from agent_console.agents.recovery import Finding, Policy, Step
from agent_console.agents.state import AgentView, OrgState
from agent_console.terminal.base import BackendError, TerminalBackend


class Pages(Protocol):
    def page(self, subject: str, text: str) -> None: ...


class RecoveryHost(Protocol):
    """What recovery needs of the supervisor: the org and its state, the panes, the journal, the human's focus."""

    @property
    def org(self) -> Org: ...

    @property
    def state(self) -> OrgState: ...

    @property
    def backend(self) -> TerminalBackend: ...

    @property
    def say(self) -> Callable[[str], None]: ...

    @property
    def listeners(self) -> list[Callable[[Record], None]]: ...

    @property
    def focus_listeners(self) -> list[Callable[[], None]]: ...

    def submit(self, actor: str, event: Event, trace: str | None = None) -> Record: ...

    def traced(self, trace: str) -> AbstractContextManager[None]: ...

    @property
    def pager(self) -> Pages: ...

    def human_at(self) -> set[str]: ...

    def pane_agent_of(self, name: str) -> str | None: ...

    async def restart_agent(self, name: str) -> str | None: ...

    async def renew_pane(self, name: str, pane: str | None) -> None: ...


# Agents of these kinds share a provider: the same error on several of them at once is the provider's.
PROVIDERS = {"claude": "anthropic", "codex": "openai", "gemini": "google", "aider": "aider"}
OWN_RECORDS = (ConditionDetected, RecoveryStep, BreakerChanged)


class Recovery:
    """The supervisor's healer: one deadline timer and at most one ladder per agent."""

    def __init__(self, supervisor: RecoveryHost) -> None:
        self.supervisor = supervisor
        self.enabled = False  # from `begin` (the supervisor started: its terminal is there to act on) to `close`
        self._due: set[str] = set()
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._cooldowns: dict[str, asyncio.TimerHandle] = {}
        self._ladders: dict[str, asyncio.Task[None]] = {}
        self._policies: dict[str, tuple[Agent, Policy]] = {}
        self._baseline: dict[str, tuple[object, ...]] = {}  # what the agent showed when its ladder began
        self._done: dict[str, str] = {}  # agent → the condition whose ladder ended (paged): not tried again
        self._moved: dict[str, asyncio.Event] = {}  # set on every record about the agent: a wait wakes to check
        self._focus = asyncio.Event()
        self.listeners: list[Callable[[], None]] = []
        supervisor.listeners.append(self._record)
        supervisor.focus_listeners.append(self._focus_moved)

    def begin(self) -> None:
        """Watch and heal from now on: every agent is evaluated once (one may have died while nobody watched)."""
        self.enabled = True
        for agent in self.supervisor.state.agents:
            self._evaluate_soon(agent)

    def close(self) -> None:
        self.enabled = False
        for handle in (*self._timers.values(), *self._cooldowns.values()):
            handle.cancel()
        for task in self._ladders.values():
            task.cancel()

    async def settled(self) -> None:
        """Every ladder cancelled by `close` has ended (none is left pending when the loop closes)."""
        await asyncio.gather(*self._ladders.values(), return_exceptions=True)

    # --- policy --------------------------------------------------------------------------------------------

    def policy(self, agent: str) -> Policy:
        """The agent's policy: its kind's and its own over the defaults (kept until its spec changes)."""
        spec = self.supervisor.org.agent(agent)
        kept = self._policies.get(agent)
        if kept is not None and kept[0] is spec:
            return kept[1]
        try:
            kind = load_kind(spec.kind.value).recovery
        except KindError:
            kind = None
        policy = decide.resolve(kind, spec.recovery)
        self._policies[agent] = (spec, policy)
        return policy

    def _providers(self) -> dict[str, str]:
        return {
            agent.name: PROVIDERS[agent.kind.value] for agent in self.supervisor.org.agents if agent.kind in PROVIDERS
        }

    # --- watching ------------------------------------------------------------------------------------------

    def _record(self, record: Record) -> None:
        if not self.enabled:
            return
        event = record.event
        agent = getattr(event, "agent", None) or record.actor
        if isinstance(event, ApprovalDecided) and event.id in self.supervisor.state.decided:
            agent = self.supervisor.state.decided[event.id].agent  # the asker: a restart held for it may go on
        if agent in self._moved:
            self._moved[agent].set()
        if isinstance(event, OWN_RECORDS) or agent not in self.supervisor.state.agents:
            return
        self._evaluate_soon(agent)

    def _focus_moved(self) -> None:
        self._focus.set()
        self._focus = asyncio.Event()

    def _evaluate_soon(self, agent: str) -> None:
        if not self._due:
            asyncio.get_running_loop().call_soon(self._evaluate_due)
        self._due.add(agent)

    def _evaluate_due(self) -> None:
        due, self._due = self._due, set()
        with contextlib.suppress(JournalUnavailable):  # followed again with the next record
            self._follow_outages()  # across agents: once a batch, not once an agent
        for agent in sorted(due):
            with contextlib.suppress(JournalUnavailable):  # evaluated again with the next record
                self.evaluate(agent)

    def evaluate(self, agent: str) -> list[Finding]:
        """Journal the conditions `agent` entered or left, start its ladder when one needs it, and arm its deadline."""
        state = self.supervisor.state
        view = state.agents.get(agent)
        if view is None or not self.enabled or agent not in {a.name for a in self.supervisor.org.agents}:
            return []
        policy = self.policy(agent)
        now = time.time()
        stuck_after = self.supervisor.org.agent(agent).stuck_after
        found = decide.conditions(view, policy, now, stuck_after, self._awaiting_since(agent))
        running = agent in self._ladders
        if not found:
            self._done.pop(agent, None)
            if view.condition is not None and not running:
                self.supervisor.submit(
                    SUPERVISOR, ConditionDetected(agent=agent, condition=view.condition, evidence="over", cleared=True)
                )
        elif view.condition != found[0].condition:
            first = found[0]
            if view.condition is None and decide.relapsed(view, policy, now) and view.recovery is not None:
                step, of, action, _ = view.recovery
                self._failed(agent, step, of, decide.steps((action,))[0], "relapsed: trouble again soon after", policy)
            self.supervisor.submit(
                SUPERVISOR, ConditionDetected(agent=agent, condition=first.condition, evidence=first.evidence)
            )
        # an outage is the provider's to end: marked and shown (its record is what pages), never climbed
        if found and found[0].condition != "outage" and not running and self._done.get(agent) != found[0].condition:
            self.start(agent, found[0])
        self._arm(agent, view, policy, stuck_after, now)
        return found

    def _follow_outages(self) -> None:
        """Mark the agents whose provider is out (the same error on several at once), and unmark those no longer."""
        state = self.supervisor.state
        threshold = min((self.policy(agent.name).outage_agents for agent in self.supervisor.org.agents), default=2)
        out = decide.outages(state, self._providers(), threshold)
        for name, view in state.agents.items():
            if name in out and view.outage is None:
                self.supervisor.submit(
                    SUPERVISOR, ConditionDetected(agent=name, condition="outage", evidence=out[name][:500])
                )
            elif name not in out and view.outage is not None:
                self.supervisor.submit(
                    SUPERVISOR, ConditionDetected(agent=name, condition="outage", evidence="over", cleared=True)
                )

    def _awaiting_since(self, agent: str) -> float | None:
        asked = [approval.requested for approval in self.supervisor.state.approvals.values() if approval.agent == agent]
        return min(asked) if asked else None

    def _arm(self, agent: str, view: AgentView, policy: Policy, stuck_after: float, now: float) -> None:
        handle = self._timers.pop(agent, None)
        if handle is not None:
            handle.cancel()
        deadline = decide.next_deadline(view, policy, stuck_after, self._awaiting_since(agent), now)
        if deadline is not None:
            loop = asyncio.get_running_loop()
            self._timers[agent] = loop.call_later(deadline - now + 0.05, self._evaluate_soon, agent)

    # --- the ladder ----------------------------------------------------------------------------------------

    def start(self, agent: str, finding: Finding | None, by_hand: bool = False) -> bool:
        """Run `agent`'s ladder for `finding` (None: by hand, with nothing detected). False if one runs already."""
        if agent in self._ladders or not self.enabled:
            return False
        task = asyncio.get_running_loop().create_task(self._run(agent, finding, by_hand), name=f"recovering {agent}")
        self._ladders[agent] = task
        task.add_done_callback(lambda _: self._ended(agent, task))
        return True

    def _ended(self, agent: str, task: asyncio.Task[None]) -> None:
        if self._ladders.get(agent) is task:
            del self._ladders[agent]
        if not task.cancelled() and task.exception() is not None:
            self.supervisor.say(f"recovering {agent} failed: {task.exception()}")
        if self.enabled and agent in self.supervisor.state.agents:
            self._evaluate_soon(agent)

    def running(self, agent: str) -> bool:
        return agent in self._ladders

    async def _run(self, agent: str, finding: Finding | None, by_hand: bool) -> None:
        condition = finding.condition if finding else None
        self._baseline[agent] = _evidence(self.supervisor.state.agents[agent])
        policy = self.policy(agent)
        ladder = decide.steps(policy.ladder)
        total = len(ladder)
        with self.supervisor.traced(secrets.token_hex(8)):
            for index, step in enumerate(ladder, 1):
                if condition is not None and not decide.applicable(step, condition):
                    continue
                if step.action == "page":
                    why = finding.evidence if finding else "recovery asked by hand did not hold"
                    self._step(agent, index, total, step, "paged", f"the human is asked: {why}")
                    # an open breaker pages through its own record; a ladder that gave up pages here
                    self.supervisor.pager.page(f"recovery:{agent}", f"{agent} was not recovered: {why}")
                    self._done[agent] = condition or ""
                    return
                if step.action in decide.ACTING:
                    await self._wait_for_human(agent, index, total, step)
                if step.action in decide.RESTARTS and not by_hand:
                    view = self.supervisor.state.agents[agent]
                    if not decide.breaker_allows(view):
                        self._step(agent, index, total, step, "stopped", "breaker open: no automatic restart")
                        why = f"its breaker is open ({view.breaker_reason}): restart it, or `breaker reset {agent}`"
                        self._step(agent, total, total, Step("page"), "paged", why)
                        self._done[agent] = condition or ""
                        return
                if await self._try(agent, index, total, step, condition, policy):
                    return
            self._done[agent] = condition or ""

    async def _try(self, agent: str, index: int, total: int, step: Step, condition: str | None, policy: Policy) -> bool:
        """Try one step; True once the agent is well again (journaled as recovered)."""
        if step.action == "wait":
            self._step(agent, index, total, step, "trying")
            if await self._well_within(agent, condition, step.seconds, policy):
                return self._recovered(agent, index, total, step)
            self._step(agent, index, total, step, "done", "still not well")
            return False
        if step.action == "nudge":
            view = self.supervisor.state.agents[agent]
            if not view.alive or view.pane is None:
                self._step(agent, index, total, step, "skipped", "its program is not running")
                return False
            with contextlib.suppress(BackendError):
                await self.supervisor.backend.send_keys(view.pane, list(policy.nudge))
            self._step(agent, index, total, step, "done", f"pressed {' '.join(policy.nudge)}")
            if await self._well_within(agent, condition, policy.settle, policy):
                return self._recovered(agent, index, total, step)
            return False
        # restart, new-pane: the program starts again; it holds once alive and well for `settle`
        self._step(agent, index, total, step, "trying")
        try:
            how = await self._restart(agent, step.action == "new-pane")
        except (BackendError, KeyError) as error:
            return self._failed(agent, index, total, step, f"could not start it: {error}", policy)
        await asyncio.sleep(policy.settle)
        after = self.supervisor.state.agents.get(agent)
        if after is not None and after.alive and self._well(agent, condition):
            return self._recovered(agent, index, total, step, how)
        return self._failed(agent, index, total, step, f"{how}, and it did not hold for {policy.settle:g}s", policy)

    async def _restart(self, agent: str, new_pane: bool) -> str:
        supervisor = self.supervisor
        pane = supervisor.pane_agent_of(agent)
        if new_pane or pane is None:
            await supervisor.renew_pane(agent, pane)
            return "started in a new pane" if pane else "its pane was gone: started in a new one"
        await supervisor.restart_agent(agent)
        return "restarted in its pane"

    def _well(self, agent: str, condition: str | None) -> bool:
        """Whether the agent is out of `condition` (None: of every condition). A hung agent must show something
        new besides: a key's echo (Ctrl-C's "^C") moves a frozen program's screen without it coming back."""
        view = self.supervisor.state.agents.get(agent)
        if view is None or not view.alive:
            return False
        found = decide.conditions(
            view,
            self.policy(agent),
            time.time(),
            self.supervisor.org.agent(agent).stuck_after,
            self._awaiting_since(agent),
        )
        if condition is None:
            return not found
        if condition in {item.condition for item in found}:
            return False
        if condition == "hung":
            if view.stalled_since is not None or _evidence(view) == self._baseline.get(agent):
                return False
            # back at a prompt, or it said something itself (its hook, a report): a screen that merely moved again
            # is not enough (a frozen Claude Code's spinner line redraws once after Escape)
            said = _said(view) != _said_in(self._baseline.get(agent))
            return said or view.screen_state is not AgentState.WORKING
        return True

    async def _well_within(self, agent: str, condition: str | None, seconds: float, policy: Policy) -> bool:
        """Wait up to `seconds` for the agent to be well (woken by every record about it)."""
        deadline = time.monotonic() + seconds
        moved = self._moved.setdefault(agent, asyncio.Event())
        while (left := deadline - time.monotonic()) > 0:
            moved.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(moved.wait(), left)
            if condition != "crashed" and self._well(agent, condition):
                return True
        return self._well(agent, condition)

    async def _wait_for_human(self, agent: str, index: int, total: int, step: Step) -> None:
        """Hold while the human is in the agent's pane, and a restart while it waits for an approval."""
        said = False
        while True:
            if agent in self.supervisor.human_at():
                why = "the human is in its pane"
            elif step.action in decide.RESTARTS and self._awaiting_since(agent) is not None:
                why = "it waits for an approval"
            else:
                return
            if not said:
                self._step(agent, index, total, step, "held", why)
                said = True
            moved = self._moved.setdefault(agent, asyncio.Event())
            moved.clear()
            focus = self._focus
            waiters = [asyncio.ensure_future(moved.wait()), asyncio.ensure_future(focus.wait())]
            try:
                await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for waiter in waiters:
                    waiter.cancel()

    def _recovered(self, agent: str, index: int, total: int, step: Step, detail: str | None = None) -> bool:
        view = self.supervisor.state.agents[agent]
        closed = decide.breaker_after_success(view)
        self._step(agent, index, total, step, "recovered", detail)
        if closed is not None:
            self.supervisor.submit(SUPERVISOR, BreakerChanged(agent=agent, state=closed, reason="a recovery held"))
        return True

    def _failed(self, agent: str, index: int, total: int, step: Step, detail: str, policy: Policy) -> bool:
        self._step(agent, index, total, step, "failed", detail)
        view = self.supervisor.state.agents[agent]
        opened = decide.breaker_after_failure(view, policy, time.time())
        if opened is not None:
            failed = decide.failures_within(view, time.time(), policy.breaker_window)
            reason = (
                f"{failed} failed recoveries within {policy.breaker_window:g}s; "
                f"one more try in {policy.breaker_cooldown:g}s"
            )
            self.supervisor.submit(SUPERVISOR, BreakerChanged(agent=agent, state=opened, reason=reason))
            self._cool_down(agent, policy)
        return False

    def _cool_down(self, agent: str, policy: Policy) -> None:
        previous = self._cooldowns.pop(agent, None)
        if previous is not None:
            previous.cancel()
        loop = asyncio.get_running_loop()
        self._cooldowns[agent] = loop.call_later(policy.breaker_cooldown, self._half_open, agent)

    def _half_open(self, agent: str) -> None:
        self._cooldowns.pop(agent, None)
        view = self.supervisor.state.agents.get(agent)
        if view is None or view.breaker != "open":
            return
        with contextlib.suppress(JournalUnavailable):
            self.supervisor.submit(
                SUPERVISOR, BreakerChanged(agent=agent, state="half-open", reason="cool-down over: one more try")
            )
            self._done.pop(agent, None)
            self._evaluate_soon(agent)

    def reset(self, agent: str, actor: str) -> bool:
        """Close `agent`'s breaker by hand; False when it was closed already."""
        view = self.supervisor.state.agents[agent]
        handle = self._cooldowns.pop(agent, None)
        if handle is not None:
            handle.cancel()
        if view.breaker == "closed":
            return False
        self.supervisor.submit(actor, BreakerChanged(agent=agent, state="closed", reason=f"reset by {actor}"))
        self._done.pop(agent, None)
        self._evaluate_soon(agent)
        return True

    def _step(self, agent: str, index: int, total: int, step: Step, outcome: str, detail: str | None = None) -> None:
        self.supervisor.submit(
            SUPERVISOR,
            RecoveryStep(
                agent=agent,
                step=index,
                of=total,
                action=str(step),
                outcome=outcome,
                detail=detail[:500] if detail else None,
            ),
        )


def _evidence(view: AgentView) -> tuple[object, ...]:
    """What the agent shows and says of itself: its screen's reading, its reports, its hook, its heartbeat."""
    return (view.state, view.screen_state, view.screen_rule, view.reported, view.hook_event, view.heartbeat)


def _said(view: AgentView) -> tuple[object, ...]:
    """What the agent itself said last: its report, its hook, its heartbeat."""
    return (view.reported, view.hook_event, view.heartbeat)


def _said_in(evidence: tuple[object, ...] | None) -> tuple[object, ...] | None:
    return None if evidence is None else evidence[3:6]
