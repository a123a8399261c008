"""The standing-task scene with real shells in a private tmux: "when all three pass the tests, deploy". The human
opens a barrier, makes the task and messages the team; each shell arrives with `agent-console barrier wait` from its
own pane; the deploy is asked for only once the barrier releases, and runs once approved — also across a restart
of the console."""

from __future__ import annotations

import asyncio
from pathlib import Path

from agent_console.agents.events import EXECUTIVE
from agent_console.agents.model import Agent, Org, Team
from agent_console.runtime.supervisor import Supervisor

from .test_serve import SHELL, Chat, org_home, running, stopped  # noqa: F401 (fixtures)

NAMES = ("ann", "bob", "cat")


def qa(home: Path) -> Org:
    return Org(
        name="scene",
        teams=(Team(name="qa"),),
        agents=tuple(Agent(name=name, team="qa", command=SHELL, cwd=home) for name in NAMES),
    )


async def until(condition, what: str, timeout: float = 20.0) -> None:
    async def wait() -> None:
        while not condition():
            await asyncio.sleep(0.05)

    try:
        await asyncio.wait_for(wait(), timeout)
    except TimeoutError:
        raise AssertionError(f"never happened: {what}") from None


async def type_in(supervisor: Supervisor, agent: str, line: str) -> None:
    pane = supervisor.pane_of(agent)
    await supervisor.backend.send_text(pane, line)
    await supervisor.backend.send_keys(pane, ["Enter"])


def requests(supervisor: Supervisor) -> list[tuple[str, str | None]]:
    return [(a.id, a.command) for a in supervisor.state.approvals.values() if a.agent == EXECUTIVE]


async def test_deploy_is_asked_for_only_after_all_three_arrive_and_runs_once_approved(
    org_home: Path,  # noqa: F811
    tmux_socket: str,
) -> None:
    console, _ = await running(qa(org_home), tmux_socket)
    chat = Chat(console)
    notes: list[str] = []
    console.standing.note_listeners.append(notes.append)
    try:
        for name in NAMES:  # a shell says it is idle: messages are typed into it
            await type_in(console, name, "agent-console emit status idle")
        await until(lambda: all(console.state.agents[n].state.value == "idle" for n in NAMES), "three idle shells")
        await chat("/barrier tests-pass --members ann,bob,cat")
        deployed = org_home / "deployed"
        await chat(f"""/when tests-pass "send @ann 'echo deployed-by-ann > {deployed}'" """)
        # the shells' stand-in for "run the tests and arrive at the barrier"
        said = await chat("/send #qa echo tests-ok && agent-console barrier wait tests-pass")
        assert said is not None and said.startswith("queued for #qa (message ")
        await until(lambda: len(console.state.barrier_releases) == 1, "the barrier releases", timeout=30)
        release = console.state.barrier_releases["tests-pass"]
        assert sorted(release.arrived) == list(NAMES) and not release.timed_out
        await until(lambda: requests(console) != [], "the deploy asked for")
        ((request, command),) = requests(console)
        assert command == f"send @ann 'echo deployed-by-ann > {deployed}'"
        assert notes[0].startswith("task t1: All 3 arrived at 'tests-pass' (")
        assert not deployed.exists()  # asked, not done
        approved = await chat(f"/approve {request}")
        assert approved is not None and approved.startswith("approved executive: send @ann")
        await until(deployed.exists, "the deploy ran (typed into ann's shell)")
        assert deployed.read_text().strip() == "deployed-by-ann"
    finally:
        await stopped(console)


async def test_a_standing_task_survives_a_restart_of_the_console(org_home: Path, tmux_socket: str) -> None:  # noqa: F811
    console, _ = await running(qa(org_home), tmux_socket)
    chat = Chat(console)
    await chat("/barrier tests-pass --members ann,bob,cat")
    await chat('/when tests-pass "send #qa deploy now"')
    for name in ("ann", "bob"):
        await type_in(console, name, "agent-console barrier wait tests-pass")
    await until(lambda: len(console.state.barriers["tests-pass"].arrived) == 2, "two arrivals")
    await stopped(console)  # the console goes away; the shells and the journal stay

    again, report = await running(qa(org_home), tmux_socket)
    try:
        assert sorted(report.adopted) == list(NAMES)
        assert again.state.tasks["t1"].status == "waiting"  # rebuilt from the journal
        assert requests(again) == []
        await type_in(again, "cat", "agent-console barrier wait tests-pass")
        await until(lambda: requests(again) != [], "the deploy asked for after the restart")
        ((request, command),) = requests(again)
        assert command == "send #qa deploy now"
        said = await Chat(again)(f"/approve {request}")
        assert said is not None and said.startswith("approved executive: send #qa deploy now — queued for #qa")
    finally:
        await stopped(again)
