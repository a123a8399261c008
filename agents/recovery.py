"""Self-healing, the pure part: what proves an agent alive, which conditions its evidence shows, which step of its
kind's recovery ladder comes next, and the circuit breaker's arithmetic.

Nothing here reads a clock or a pane: every function takes the state and `now`, so each decision is unit-testable
and the runtime (`console/runtime/recovery.py`) only acts on what these return.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from .events import AgentState
from .state import AgentView, OrgState

Condition = Literal["crashed", "hung", "silent", "error-loop", "outage", "unanswered"]
# What a ladder may do: press the kind's interrupt keys, wait, restart the program in its pane, start it in a new
# pane, or give up and ask the human.
STEP = re.compile(r"^(nudge|restart|new-pane|page|wait (\d{1,5}(?:\.\d+)?))$")
ACTING = ("nudge", "restart", "new-pane")  # steps that touch the agent (held while the human is in its pane)
RESTARTS = ("restart", "new-pane")  # steps the breaker counts
# Conditions no step may act on: a question is the human's to answer; an outage is the provider's to end.
HUMAN_ONLY: frozenset[Condition] = frozenset({"unanswered", "outage"})


class RecoveryPolicy(BaseModel):
    """A kind's `[recovery]` table, or an agent's override of it (unset fields: the kind's)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    ladder: tuple[str, ...] | None = None  # e.g. ["nudge", "wait 10", "restart", "new-pane", "page"]
    nudge: tuple[str, ...] | None = None  # the kind's interrupt keys (tmux names: Escape, C-c)
    heartbeat_timeout: float | None = Field(default=None, gt=0, le=86_400)  # for agents that sent a heartbeat
    max_prompt_wait: float | None = Field(default=None, gt=0, le=86_400)  # a question unanswered this long pages
    error_loop: int | None = Field(default=None, ge=2, le=1000)  # this many errors …
    error_window: float | None = Field(default=None, gt=0, le=86_400)  # … within this many seconds
    settle: float | None = Field(default=None, gt=0, le=3600)  # a restart holds once alive and well this long
    breaker_failures: int | None = Field(default=None, ge=1, le=100)  # K failed recoveries …
    breaker_window: float | None = Field(default=None, gt=0, le=86_400)  # … within this many seconds open it
    breaker_cooldown: float | None = Field(default=None, gt=0, le=86_400)  # then one try after this long
    outage_agents: int | None = Field(default=None, ge=2, le=1000)  # the same error on this many of one provider
    relapse: float | None = Field(default=None, ge=0, le=86_400)  # trouble this soon after a restart: it failed

    @field_validator("ladder")
    @classmethod
    def _check_ladder(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        if value is None:
            return value
        if not value:
            raise ValueError('ladder is empty: give at least one step (e.g. ["page"])')
        for step in value:
            if not STEP.match(step):
                raise ValueError(f"ladder step {step!r} is not one of: nudge, wait SECONDS, restart, new-pane, page")
        return value

    def over(self, base: RecoveryPolicy) -> RecoveryPolicy:
        """This policy's set fields over `base`'s."""
        return base.model_copy(update=self.model_dump(exclude_none=True))


# What holds where neither the kind nor the agent says otherwise.
DEFAULTS = RecoveryPolicy(
    ladder=("nudge", "wait 10", "restart", "restart", "new-pane", "page"),
    nudge=("C-c",),
    heartbeat_timeout=60.0,
    max_prompt_wait=600.0,
    error_loop=5,
    error_window=300.0,
    settle=5.0,
    breaker_failures=3,
    breaker_window=600.0,
    breaker_cooldown=300.0,
    outage_agents=2,
    relapse=30.0,
)


@dataclass(frozen=True, slots=True)
class Policy:
    """A policy with every field known (the defaults, the kind's, then the agent's)."""

    ladder: tuple[str, ...]
    nudge: tuple[str, ...]
    heartbeat_timeout: float
    max_prompt_wait: float
    error_loop: int
    error_window: float
    settle: float
    breaker_failures: int
    breaker_window: float
    breaker_cooldown: float
    outage_agents: int
    relapse: float


def resolve(*layers: RecoveryPolicy | None) -> Policy:
    """The defaults, then each layer over the last (a kind's, then an agent's)."""
    merged = DEFAULTS
    for layer in layers:
        if layer is not None:
            merged = layer.over(merged)
    return Policy(**merged.model_dump())


# --- liveness ----------------------------------------------------------------------------------------------------


def proof_of_life(view: AgentView) -> tuple[str, float] | None:
    """The agent's last proof of life and its source: a heartbeat, its hook, its own report, its screen changing,
    or its process starting. None before it was launched."""
    return view.life


# --- conditions --------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Finding:
    condition: Condition
    evidence: str


def conditions(
    view: AgentView, policy: Policy, now: float, stuck_after: float, awaiting_since: float | None
) -> list[Finding]:
    """The conditions `view` is in at `now`, with the evidence for each (most serious first). `awaiting_since`:
    when its oldest pending approval was asked (None: none pending)."""
    found: list[Finding] = []
    if view.launches and not view.alive:
        how = (
            f"signal {view.exit_signal}"
            if view.exit_signal
            else f"status {view.exit_status}"
            if view.exit_status is not None
            else "no status: it ended, or its pane closed"
        )
        return [Finding("crashed", f"the process ended ({how})")]
    if not view.alive:
        return []
    if view.outage is not None:
        found.append(Finding("outage", f"the provider fails for several agents: {view.outage}"))
    if awaiting_since is not None and now - awaiting_since >= policy.max_prompt_wait:
        found.append(Finding("unanswered", f"a question waits for the human for {round(now - awaiting_since)}s"))
    if view.stalled_since is not None and view.state is AgentState.WORKING and now - view.stalled_since >= stuck_after:
        found.append(Finding("hung", f"working, and its screen unchanged for {round(now - view.stalled_since)}s"))
    if view.heartbeat is not None and now - view.heartbeat >= policy.heartbeat_timeout:
        found.append(Finding("silent", f"no heartbeat for {round(now - view.heartbeat)}s (it sent them before)"))
    recent = errors_within(view, now, policy.error_window)
    if recent >= policy.error_loop and view.state is AgentState.ERROR:
        found.append(Finding("error-loop", f"{recent} errors in {round(policy.error_window)}s"))
    return found


def errors_within(view: AgentView, now: float, window: float) -> int:
    return sum(1 for moment in view.errors if now - moment <= window)


def next_deadline(
    view: AgentView, policy: Policy, stuck_after: float, awaiting_since: float | None, now: float
) -> float | None:
    """When a condition not yet true becomes true if nothing else happens (one timer per agent is enough):
    a heartbeat overdue, a question left too long, a stall turning into a hang."""
    moments = []
    if view.alive and view.heartbeat is not None:
        moments.append(view.heartbeat + policy.heartbeat_timeout)
    if view.alive and awaiting_since is not None:
        moments.append(awaiting_since + policy.max_prompt_wait)
    if view.alive and view.stalled_since is not None:
        moments.append(view.stalled_since + stuck_after)
    future = [moment for moment in moments if moment > now]
    return min(future) if future else None


def outages(state: OrgState, provider_of: dict[str, str], threshold: int) -> dict[str, str]:
    """Agents whose provider is out: `threshold` or more live agents of one provider in error with the same error
    (the rule that read it off their screens) at once. Agent → the shared error. Such agents are not restarted:
    a restart cannot mend the provider."""
    groups: dict[tuple[str, str], list[str]] = {}
    for name, view in state.agents.items():
        provider = provider_of.get(name)
        if provider is None or not view.alive or view.state is not AgentState.ERROR or not view.error_rule:
            continue
        groups.setdefault((provider, view.error_rule), []).append(name)
    out: dict[str, str] = {}
    for (provider, rule), names in groups.items():
        if len(names) >= threshold:
            out.update(dict.fromkeys(names, f"{provider}: {rule} on {len(names)} agents"))
    return out


# --- the ladder --------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Step:
    action: Literal["nudge", "wait", "restart", "new-pane", "page"]
    seconds: float = 0.0

    def __str__(self) -> str:
        return f"wait {self.seconds:g}s" if self.action == "wait" else self.action


def steps(ladder: tuple[str, ...]) -> list[Step]:
    parsed = []
    for text in ladder:
        match = STEP.match(text)
        if match is None:  # checked when the policy was read
            raise ValueError(text)
        if match.group(2) is not None:
            parsed.append(Step("wait", float(match.group(2))))
        else:
            parsed.append(Step(match.group(1)))  # type: ignore[arg-type]
    return parsed


def applicable(step: Step, condition: Condition) -> bool:
    """Whether `step` makes sense for `condition`: a dead process cannot be nudged nor waited for; nothing may
    act on what only the human (a question) or the provider (an outage) can end."""
    if condition in HUMAN_ONLY:
        return step.action == "page"
    if condition == "crashed":
        return step.action not in ("nudge", "wait")
    return True


# --- the breaker -------------------------------------------------------------------------------------------------

BreakerState = Literal["closed", "open", "half-open"]


def failures_within(view: AgentView, now: float, window: float) -> int:
    return sum(1 for moment in view.failures if now - moment <= window)


def breaker_after_failure(view: AgentView, policy: Policy, now: float) -> BreakerState | None:
    """The breaker's new state after a failed recovery was folded in (None: unchanged). A failure while half-open
    opens it at once; a closed breaker opens at K failures within the window."""
    if view.breaker == "half-open":
        return "open"
    if view.breaker == "closed" and failures_within(view, now, policy.breaker_window) >= policy.breaker_failures:
        return "open"
    return None


def relapsed(view: AgentView, policy: Policy, now: float) -> bool:
    """Whether trouble found at `now` means the agent's last restart did not hold after all (it crashed again
    soon after: a crash loop whose exits the terminal reports late, or a program that dies once it is busy)."""
    last = view.recovery
    return (
        last is not None
        and last[2] in RESTARTS
        and last[3] == "recovered"
        and view.recovery_at is not None
        and now - view.recovery_at <= policy.relapse
    )


def breaker_allows(view: AgentView) -> bool:
    """Whether an automatic restart may be tried: closed, or half-open (its one try)."""
    return view.breaker != "open"


def breaker_after_success(view: AgentView) -> BreakerState | None:
    return "closed" if view.breaker == "half-open" else None


# --- what the console shows ----------------------------------------------------------------------------------------

RECOVERING_GLYPH = "🔄"


def recovery_label(view: AgentView) -> str | None:
    """What the pane's badge, the tree and the health table add to the agent's state: its provider's outage, its
    open breaker, or the step its recovery is at (None: nothing to add)."""
    if view.outage is not None:
        return "error (provider)"
    if view.breaker == "open":
        return "breaker open"
    if view.recovering and view.recovery is not None:
        step, of, _, outcome = view.recovery
        return f"{RECOVERING_GLYPH} {'held' if outcome == 'held' else 'recovering'} (step {step}/{of})"
    if view.breaker == "half-open":
        return "breaker half-open"
    return None


def health_row(state: OrgState, agent: str, now: float) -> dict[str, Any]:
    """One agent's health as data (`health --as-json`, the health command's lines)."""
    view = state.agents[agent]
    life = view.life
    last = view.recovery
    return {
        "agent": agent,
        "state": view.state.value,
        "shown": recovery_label(view),
        "alive": view.alive,
        "life": None if life is None else {"source": life[0], "age": round(max(0.0, now - life[1]), 1)},
        "condition": view.condition,
        "evidence": view.condition_evidence,
        "outage": view.outage,
        "recovery": None if last is None else {"step": last[0], "of": last[1], "action": last[2], "outcome": last[3]},
        "breaker": view.breaker,
        "breaker_reason": view.breaker_reason,
        "restarts": view.restarts,
        "mttr": None if view.mttr is None else round(view.mttr, 1),
    }


def health_line(row: dict[str, Any]) -> str:
    """`health_row` in one line of words."""
    life = row["life"]
    parts = [f"{row['agent']}: {row['shown'] or row['state']}"]
    parts.append(f"last proof of life: {life['source']}, {life['age']:g}s ago" if life else "never seen alive")
    if row["condition"]:
        parts.append(f"{row['condition']} ({row['evidence']})")
    step = row["recovery"]
    if step:
        parts.append(f"last recovery: step {step['step']}/{step['of']} {step['action']} {step['outcome']}")
    parts.append(f"breaker {row['breaker']}" + (f" ({row['breaker_reason']})" if row["breaker"] != "closed" else ""))
    if row["mttr"] is not None:
        parts.append(f"MTTR {row['mttr']:g}s")
    return "; ".join(parts)
