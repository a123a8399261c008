"""Standing tasks: "when barrier X releases, do Y" — filed for the human's approval only once the barrier releases,
journaled, folded, and picked up again after a restart of the console."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from agent_console.agents import standing
from agent_console.agents.errors import Conflict, Forbidden, InvalidInput, NotFound
from agent_console.agents.events import (
    EXECUTIVE,
    HUMAN,
    SUPERVISOR,
    BarrierArrived,
    BarrierReleased,
    MessageSent,
    OrgLoaded,
    TaskCreated,
    TaskFired,
)
from agent_console.agents.journal import Journal
from agent_console.agents.model import Agent, Org, Role, Team
from agent_console.agents.state import OrgState
from agent_console.runtime.commands import Actor
from agent_console.runtime.supervisor import Supervisor
from agent_console.terminal.tmux import TmuxBackend

NAMES = ("ann", "bob", "cat")


def crew() -> Org:
    return Org(
        name="crew",
        teams=(Team(name="core"),),
        agents=(
            Agent(name="boss", team="core", role=Role.EXEC, command="bash"),
            *(Agent(name=name, team="core", command="bash") for name in NAMES),
        ),
    )


def loaded(supervisor: Supervisor) -> Supervisor:
    org = supervisor.org
    supervisor.submit(
        SUPERVISOR,
        OrgLoaded(name=org.name, teams={"core": None}, agents={agent.name: agent.team for agent in org.agents}),
    )
    return supervisor


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path / "run"))
    return tmp_path


@pytest.fixture
async def sup(home: Path) -> AsyncIterator[Supervisor]:
    """A supervisor never started (no tmux): the journal, the fold, the commands and the approval queue."""
    supervisor = loaded(Supervisor(crew(), TmuxBackend("ac-test-unused"), (120, 40)))
    yield supervisor
    if not supervisor.journal.closed:
        supervisor.journal.close()


async def run(supervisor: Supervisor, line: str, actor: Actor | None = None) -> str:
    return await supervisor.commands.run_line(supervisor, line, actor or Actor.human("chat"))


async def settle() -> None:
    for _ in range(3):  # the task is checked right after the record that may fire it
        await asyncio.sleep(0)


def arrive(supervisor: Supervisor, name: str, barrier: str = "tests-pass") -> None:
    supervisor.handle(name, BarrierArrived(name=barrier))


def executive_requests(supervisor: Supervisor) -> list[tuple[str, str | None]]:
    return [(a.id, a.command) for a in supervisor.state.approvals.values() if a.agent == EXECUTIVE]


async def test_the_action_is_asked_for_only_once_the_barrier_releases_and_runs_once_approved(sup: Supervisor) -> None:
    notes: list[str] = []
    sup.standing.note_listeners.append(notes.append)
    await run(sup, "barrier tests-pass --members ann,bob,cat")
    said = await run(sup, 'when tests-pass "send all deploy to staging"')
    assert said == (
        "task t1: once barrier 'tests-pass' releases (waiting for ann, bob, cat); then `send all deploy to staging` "
        "waits for your approval, to run as the human"
    )
    for name in ("ann", "bob"):
        arrive(sup, name)
        await settle()
        assert executive_requests(sup) == []  # not before everyone is there
    assert "t1: when 'tests-pass' releases: `send all deploy to staging` (by human)" in await run(sup, "tasks")
    arrive(sup, "cat")
    await settle()
    ((request, command),) = executive_requests(sup)
    assert command == "send all deploy to staging"
    task = sup.state.tasks["t1"]
    assert (task.status, task.request) == ("released", request)
    assert notes == [
        f"task t1: All 3 arrived at 'tests-pass' (ann, bob, cat); `send all deploy to staging` is waiting for your "
        f"approval (request {request})"
    ]
    records = sup.recent_records()
    assert not any(isinstance(r.event, MessageSent) for r in records)  # nothing ran yet
    (released,) = [r for r in records if isinstance(r.event, BarrierReleased)]
    fired = [r for r in records if isinstance(r.event, TaskFired) or getattr(r.event, "id", None) == request]
    assert [r.event.type for r in fired] == ["task.fire", "approval.request"]
    assert {r.trace for r in fired} == {released.trace}  # the trace shows the release firing the task
    done = await run(sup, f"approve {request}")
    assert done.startswith("approved executive: send all deploy to staging — queued for all")
    (sent,) = [r for r in sup.recent_records() if isinstance(r.event, MessageSent)]
    assert sent.actor == HUMAN and sent.event.text == "deploy to staging"
    assert notes[-1].startswith("task t1: ran `send all deploy to staging` as the human: queued for all")


async def test_a_denied_task_runs_nothing(sup: Supervisor) -> None:
    await run(sup, "barrier b1 --count 1")
    await run(sup, 'when b1 "kill ann"', Actor.executive("chat"))
    arrive(sup, "bob", "b1")
    await settle()
    ((request, _),) = executive_requests(sup)
    assert await run(sup, f"deny {request}") == "denied executive: kill ann"
    assert "ann" in {agent.name for agent in sup.org.agents}


async def test_a_barrier_that_times_out_files_nothing_and_says_who_was_missing(sup: Supervisor) -> None:
    await run(sup, "barrier db-ready --members ann,bob --timeout 5")
    await run(sup, 'when db-ready "send all go"')
    arrive(sup, "ann", "db-ready")
    sup.submit(SUPERVISOR, BarrierReleased(name="db-ready", arrived=("ann",), missing=("bob",), timed_out=True))
    await settle()
    assert executive_requests(sup) == []
    task = sup.state.tasks["t1"]
    assert task.status == "timed-out"
    assert task.said == (
        "timed out: barrier 'db-ready' opened when its timeout passed without bob; `send all go` was not filed"
    )


async def test_a_task_gives_up_at_its_own_deadline_naming_whom_it_waited_for(sup: Supervisor) -> None:
    sup.submit(HUMAN, BarrierArrived(name="db", members=("ann", "bob")))  # opened by the first arrival's size
    sup.handle("ann", BarrierArrived(name="db", members=("ann", "bob")))
    created = sup.submit(HUMAN, TaskCreated(id="t1", barrier="db", action="send all go", timeout=30))
    assert standing.next_deadline(sup.state) == created.time + 30
    assert standing.due(sup.state, created.time + 29) == []
    (firing,) = standing.due(sup.state, created.time + 30)
    assert firing.outcome == "timed-out"
    assert firing.said == "timed out after 30s: waiting for bob at 'db'; `send all go` was not filed"


async def test_an_earlier_release_of_the_same_barrier_does_not_fire_a_new_task(sup: Supervisor) -> None:
    await run(sup, "barrier sync --count 1")
    arrive(sup, "ann", "sync")
    await settle()
    said = await run(sup, 'when sync "send all again"')
    assert "barrier 'sync' is not open yet" in said
    await settle()
    assert sup.state.tasks["t1"].status == "waiting" and executive_requests(sup) == []
    await run(sup, "barrier sync --count 1")
    arrive(sup, "bob", "sync")
    await settle()
    assert [command for _, command in executive_requests(sup)] == ["send all again"]


async def test_cancelled_tasks_fire_no_more(sup: Supervisor) -> None:
    await run(sup, "barrier b --count 1")
    await run(sup, 'when b "send all go"')
    assert await run(sup, "cancel-task t1") == "cancelled task t1: `send all go` will not be asked for"
    with pytest.raises(Conflict, match="task t1 has ended already: cancelled: cancelled by the human"):
        await run(sup, "cancel-task t1")
    with pytest.raises(NotFound, match=r"no task 't9'"):
        await run(sup, "cancel-task t9")
    arrive(sup, "ann", "b")
    await settle()
    assert executive_requests(sup) == []


async def test_the_action_is_checked_when_made_and_runs_as_its_maker_never_more(sup: Supervisor) -> None:
    boss = Actor.agent("boss", "cli")
    with pytest.raises(InvalidInput, match=r"^when: the action 'deploy now': no command 'deploy'"):
        await run(sup, 'when b "deploy now"')
    with pytest.raises(InvalidInput, match=r"^when: approve cannot be a task's action"):
        await run(sup, 'when b "approve a1234"')
    with pytest.raises(InvalidInput, match=r"^when: the action 'spawn x': spawn: the following arguments"):
        await run(sup, 'when b "spawn x"')
    # the exec (an agent program) may not merge: nor may a task it makes
    with pytest.raises(Forbidden, match=r"^when: the action would be refused: exec boss may not run merge"):
        await run(sup, 'when b "merge ann"', boss)
    with pytest.raises(Forbidden, match=r"^worker ann may not run when"):
        await run(sup, 'when b "send all hi"', Actor.agent("ann", "cli"))
    await run(sup, 'when b "send #core hi from boss"', boss)
    await run(sup, 'when b "send all from the human"')
    assert await run(sup, "tasks", boss) == "t1: when 'b' releases: `send #core hi from boss` (by boss)"
    with pytest.raises(NotFound):
        await run(sup, "cancel-task t2", boss)  # not its own
    await run(sup, "barrier b --count 1")
    arrive(sup, "ann", "b")
    await settle()
    requests = dict((command, request) for request, command in executive_requests(sup))
    await run(sup, f"approve {requests['send #core hi from boss']}")
    sent = [r for r in sup.recent_records() if isinstance(r.event, MessageSent)]
    assert [(r.actor, r.event.text) for r in sent] == [("boss", "hi from boss")]


async def test_a_release_while_the_console_was_down_fires_at_start_and_a_pending_request_runs_after_a_restart(
    home: Path,
) -> None:
    first = loaded(Supervisor(crew(), TmuxBackend("ac-test-unused"), (120, 40)))
    await run(first, "barrier tests-pass --count 2")
    await run(first, 'when tests-pass "send #core ship it"')
    await run(first, "barrier other --count 1")
    await run(first, 'when other "send #core other done"')
    arrive(first, "ann")
    # the console stops right after the barrier opened, before its task could fire
    first.journal.append(SUPERVISOR, BarrierReleased(name="tests-pass", arrived=("ann", "bob")))
    first.journal.close()

    second = Supervisor(crew(), TmuxBackend("ac-test-unused"), (120, 40))
    assert second.state.tasks["t1"].status == "waiting"  # the journal says: released, not yet fired
    second.standing.start()
    ((request, command),) = executive_requests(second)
    assert command == "send #core ship it"
    assert second.state.tasks["t1"].request == request
    arrive(second, "bob", "other")  # t2 fires too; its request is left pending across a restart
    await settle()
    other = next(r for r, c in executive_requests(second) if c == "send #core other done")
    second.journal.close()

    third = Supervisor(crew(), TmuxBackend("ac-test-unused"), (120, 40))
    third.standing.start()
    assert sorted(c for _, c in executive_requests(third)) == ["send #core other done", "send #core ship it"]
    assert len(third.state.approvals) == 2  # nothing filed twice
    said = await run(third, f"approve {other}")
    assert said.startswith("approved executive: send #core other done — queued for #core")
    third.journal.close()
    key = (third.state_dir / "journal.key").read_bytes()
    records = list(Journal.read(third.journal_path, key))
    replayed = OrgState.replay(records)
    assert {task.id: task.status for task in replayed.tasks.values()} == {"t1": "released", "t2": "released"}
    assert sum(isinstance(r.event, TaskFired) for r in records) == 2  # each fired once, across three starts


async def test_an_exec_agent_cannot_crowd_out_the_humans_tasks(sup: Supervisor) -> None:
    boss = Actor.agent("boss", "cli")
    for _ in range(standing.MAX_WAITING):
        await run(sup, 'when b "send #core again"', boss)
    with pytest.raises(Conflict, match=f"^when: {standing.MAX_WAITING} of your tasks wait already"):
        await run(sup, 'when b "send #core once more"', boss)
    assert (await run(sup, 'when b "send all from the human"')).startswith(f"task t{standing.MAX_WAITING + 1}: ")
