"""Team broadcasts are one journal record naming their recipients, then each recipient's delivery; direct override:
while the human is in an agent's pane the executive sends it nothing, and says so."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from agent_console.agents.events import (
    EXECUTIVE,
    SUPERVISOR,
    AgentLaunched,
    MessageAcknowledged,
    MessageSent,
    MessageTyped,
    OrgLoaded,
)
from agent_console.agents.model import Agent, Org, Team
from agent_console.runtime.commands import Actor
from agent_console.runtime.supervisor import Supervisor
from agent_console.terminal.tmux import TmuxBackend


def org_of(core: int, ops: int = 1) -> Org:
    return Org(
        name="crew",
        teams=(Team(name="core"), Team(name="ops")),
        agents=(
            *(Agent(name=f"c{index}", team="core", command="bash") for index in range(core)),
            *(Agent(name=f"o{index}", team="ops", command="bash") for index in range(ops)),
        ),
    )


async def started(org: Org) -> Supervisor:
    """A supervisor never started (no tmux): its journal, fold and commands (no agent launched)."""
    supervisor = Supervisor(org, TmuxBackend("ac-test-unused"), (120, 40))
    supervisor.submit(
        SUPERVISOR,
        OrgLoaded(
            name=org.name,
            teams={team.name: team.parent for team in org.teams},
            agents={agent.name: agent.team for agent in org.agents},
        ),
    )
    return supervisor


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path / "run"))
    return tmp_path


@pytest.fixture
async def crew(home: Path) -> AsyncIterator[Supervisor]:
    supervisor = await started(org_of(3))
    yield supervisor
    supervisor.journal.close()


async def run(supervisor: Supervisor, line: str, actor: Actor | None = None) -> str:
    return await supervisor.commands.run_line(supervisor, line, actor or Actor.human("chat"))


def messages(supervisor: Supervisor) -> list[MessageSent]:
    return [r.event for r in supervisor.recent_records() if isinstance(r.event, MessageSent)]


async def test_a_team_broadcast_is_one_record_naming_its_recipients_then_each_delivery(crew: Supervisor) -> None:
    said = await run(crew, "send #core stand-up in five")
    (sent,) = messages(crew)
    assert sent.recipients == ("c0", "c1", "c2")
    assert said == (
        f"queued for #core (message {sent.id}, 3 recipients) — c0, c1, c2: offline: its program is not running"
    )
    crew.submit(SUPERVISOR, MessageTyped(id=sent.id, agent="c1"))
    crew.submit("c0", MessageAcknowledged(id=sent.id))
    assert await run(crew, f"delivery {sent.id}") == (
        f"message {sent.id} from human to #core (3 recipients); delivered: c0; typed in, not yet taken up: c1; "
        "c2: offline: its program is not running"
    )
    crew.submit("c1", MessageAcknowledged(id=sent.id))
    crew.submit("c2", MessageAcknowledged(id=sent.id))
    assert await run(crew, f"delivery {sent.id}") == f"message {sent.id}: delivered to every recipient"
    with pytest.raises(Exception, match=r"^delivery: no message 'nope'"):
        await run(crew, "delivery nope")


async def test_a_broadcast_to_200_agents_is_one_bounded_record_and_one_line(home: Path) -> None:
    supervisor = await started(org_of(199))  # and o0: 200
    try:
        said = await run(supervisor, "send all release freeze from noon")
        (sent,) = messages(supervisor)
        assert len(sent.recipients or ()) == 200
        assert said.endswith("c0, c1, c2, c3, c4, c5, c6, c7 and 192 more: offline: its program is not running")
        assert len(said) < 300  # not 200 clauses
        for name in sent.recipients or ():
            supervisor.submit(SUPERVISOR, MessageTyped(id=sent.id, agent=name))
            supervisor.submit(name, MessageAcknowledged(id=sent.id))
        records = supervisor.recent_records(limit=2000)
        per_message = [r for r in records if getattr(r.event, "id", None) == sent.id]
        assert len(per_message) == 1 + 2 * 200  # the broadcast, then each delivery: typed, taken up
    finally:
        supervisor.journal.close()


async def test_an_agent_cannot_widen_its_reach_with_a_recipients_list(crew: Supervisor) -> None:
    # c0 (a worker of core) names o0, of another team, among the recipients of a message to its own team
    crew.handle("c0", MessageSent(id="forged", to="#core", text="rm -rf /", recipients=("c1", "o0")))
    assert crew.state.outbox("o0") == []
    assert [m["id"] for m in crew.state.outbox("c1")] == ["forged"]  # narrowing within its reach is all it does
    assert crew.state.outbox("c2") == []
    crew.handle("c0", MessageSent(id="plain", to="#core", text="hello"))  # the legitimate path still works
    assert [m["id"] for m in crew.state.outbox("c2")] == ["plain"]


async def test_while_the_human_is_in_a_pane_the_executive_sends_it_nothing_and_says_so(crew: Supervisor) -> None:
    crew.submit(SUPERVISOR, AgentLaunched(agent="c1", pane="%7"))
    crew.pane_agent["%7"] = "c1"
    crew.focused_pane = "%7"  # the focus monitor: the human clicked into c1's pane
    said = await run(crew, "send @c1 run the migrations", Actor.executive("chat"))
    assert said == (
        "queued for @c1 — a human is in its pane: the executive sends it nothing until they leave it (direct override)"
    )
    assert crew.typist.why_waiting("c1").endswith("(direct override)")
    assert (await run(crew, "status", Actor.executive("chat"))).endswith(
        "the human is in c1's pane: the executive sends it nothing until they leave (direct override)"
    )
    assert crew.override("c1") == (
        "the human is in its pane: the executive sends it nothing until they leave (1 message(s) wait)"
    )
    assert crew.override("c0") is None
    assert [m["from"] for m in crew.state.outbox("c1")] == [EXECUTIVE]
    crew.focused_pane = "%1"  # they left: the message is the typist's to type once c1 is idle
    assert "direct override" not in (crew.typist.why_waiting("c1") or "")
