"""Limits per agent: an agent that floods the console with events, messages or approval requests is refused the
excess, so that one hostile or looping agent cannot drown the supervisor, the journal or the human's queue.

Rates are token buckets (a burst, refilled at a steady rate); approvals are capped by how many are pending.
What is refused is counted per agent and limit, and journaled once per window as a count.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Limit = Literal["events", "messages", "approvals"]


class Limits(BaseModel):
    """What one agent may do; an org sets them in its spec (`[org.limits]`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    events_per_second: float = Field(default=20.0, gt=0, le=10_000)
    event_burst: int = Field(default=200, ge=1, le=100_000)
    messages_per_second: float = Field(default=2.0, gt=0, le=10_000)
    message_burst: int = Field(default=20, ge=1, le=100_000)
    pending_approvals: int = Field(default=20, ge=1, le=10_000)
    # refusals and forged sequences are journaled as one count a window (the first at once)
    window: float = Field(default=60.0, gt=0, le=3_600)

    def describe(self, limit: Limit) -> str:
        """The limit in words, for the refusal the agent gets."""
        if limit == "events":
            return f"{self.events_per_second:g} events/s (bursts of {self.event_burst})"
        if limit == "messages":
            return f"{self.messages_per_second:g} messages/s (bursts of {self.message_burst})"
        return f"{self.pending_approvals} pending approvals"


@dataclass(slots=True)
class TokenBucket:
    rate: float
    burst: int
    tokens: float
    stamp: float

    def take(self, now: float) -> bool:
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False


@dataclass(slots=True)
class Refusals:
    """Refusals per (agent, limit) in windows: the first opens a window (reported at once), the rest are counted
    until the window is taken."""

    counts: dict[tuple[str, Limit], int] = field(default_factory=dict)

    def add(self, agent: str, limit: Limit) -> bool:
        """Count one refusal; True when it opens a window (the caller reports it and takes the window later)."""
        key = (agent, limit)
        if key not in self.counts:
            self.counts[key] = 0
            return True
        self.counts[key] += 1
        return False

    def take(self, agent: str, limit: Limit) -> int:
        """Close the window: how many were refused in it after the first."""
        return self.counts.pop((agent, limit), 0)


class AgentLimiter:
    """Admits or refuses each agent's next event, message or approval request."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self._events: dict[str, TokenBucket] = {}
        self._messages: dict[str, TokenBucket] = {}
        self.refusals = Refusals()

    def admit_event(self, agent: str, now: float) -> bool:
        return self._bucket(self._events, agent, self.limits.events_per_second, self.limits.event_burst, now).take(now)

    def admit_message(self, agent: str, now: float) -> bool:
        bucket = self._bucket(self._messages, agent, self.limits.messages_per_second, self.limits.message_burst, now)
        return bucket.take(now)

    def admit_approval(self, pending: int) -> bool:
        return pending < self.limits.pending_approvals

    def forget(self, agent: str) -> None:
        self._events.pop(agent, None)
        self._messages.pop(agent, None)

    @staticmethod
    def _bucket(buckets: dict[str, TokenBucket], agent: str, rate: float, burst: int, now: float) -> TokenBucket:
        bucket = buckets.get(agent)
        if bucket is None:
            bucket = buckets[agent] = TokenBucket(rate=rate, burst=burst, tokens=float(burst), stamp=now)
        return bucket
