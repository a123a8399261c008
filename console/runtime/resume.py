"""Which conversation an agent's program takes up again when it is started anew (a restart, a dead pane, a
terminal server or machine that restarted), by its kind's `[resume]` table and the session journaled for it.

A first start resumes nothing: only an agent the journal has seen launched has a conversation to go back to.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from agent_console.agents.journal import Journal, JournalError, load_or_create_key
from agent_console.agents.kinds import KindError, load_kind
from agent_console.agents.model import Agent
from agent_console.agents.state import OrgState
from agent_console.runtime import paths


@dataclass(frozen=True)
class Resumption:
    """The arguments added to the agent's command, and how it resumes, in words (journaled)."""

    args: tuple[str, ...]
    how: str


Resumer = Callable[[Agent], Resumption | None]


def resumption(agent: Agent, state: OrgState) -> Resumption | None:
    """How `agent` resumes its conversation when started now; None for a first start, or a kind that cannot."""
    view = state.agents.get(agent.name)
    if view is None or view.launches == 0:
        return None
    try:
        resume = load_kind(agent.kind.value).resume
    except KindError:
        return None
    found = resume.arguments(view.session)
    return Resumption(*found) if found is not None else None


def resumer(state: Callable[[], OrgState]) -> Resumer:
    """`resumption` against the state as it is when each agent is started."""
    return lambda agent: resumption(agent, state())


def journaled_state(org: str) -> OrgState | None:
    """The org's state as its journal tells it (for `up`, which runs without a console); None when there is no
    journal, or it cannot be read (then nothing is resumed: the agents start afresh)."""
    state_dir = paths.state_dir(org, create=False)
    journal, key = state_dir / "journal.jsonl", state_dir / "journal.key"
    if not journal.exists() or not key.exists():
        return None
    try:
        return OrgState.replay(Journal.read(journal, load_or_create_key(key)))
    except (OSError, JournalError, ValueError):
        return None


def journaled_resumer(org: str) -> Resumer | None:
    """For `up`, which runs without a console: resumption by the org's journal as it is now (None: no journal)."""
    state = journaled_state(org)
    return None if state is None else (lambda agent: resumption(agent, state))
