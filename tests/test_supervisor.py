"""The supervisor's logic on an in-memory terminal (tests/fake_terminal.py): screens read into states and
approvals, the outbox typed in when the agent goes idle, exits journaled, forged sequences refused. The same paths
against a real tmux are in tests/test_screens.py and tests/test_delivery.py."""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from agent_console.agents.events import HUMAN, AgentExited, AgentState, MessageSent, SpoofRejected, StatusReported
from agent_console.agents.model import Agent, AgentKind, Org, Team
from agent_console.agents.protocol import encode
from agent_console.runtime.supervisor import Supervisor

from .fake_terminal import FakePane, FakeTerminal

SCREENS = Path(__file__).parent / "fixtures" / "screens" / "claude"


def screen(name: str) -> str:
    """A screen captured from the real Claude Code (tests/fixtures/screens/claude)."""
    return (SCREENS / f"{name}.txt").read_text(encoding="utf-8")


@pytest.fixture
async def supervisor(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Supervisor]:
    # a unix socket's path is short: the runtime dir is not under pytest's long tmp_path
    runtime = tempfile.mkdtemp(prefix="acsv", dir="/tmp")
    monkeypatch.setenv("XDG_RUNTIME_DIR", runtime)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    org = Org(
        name="fake",
        teams=(Team(name="t"),),
        agents=(Agent(name="ann", team="t", kind=AgentKind.CLAUDE, cwd=tmp_path),),
    )
    running = Supervisor(org, FakeTerminal(), (160, 48))  # type: ignore[arg-type]  # what callers use of a backend
    await running.start()
    yield running
    await running.stop()
    await running.backend.close()


def terminal(supervisor: Supervisor) -> FakeTerminal:
    assert isinstance(supervisor.backend, FakeTerminal)
    return supervisor.backend


def ann(supervisor: Supervisor) -> FakePane:
    return terminal(supervisor).pane_of("ann")


async def until(condition: Callable[[], object], what: str, timeout: float = 10.0) -> None:
    """A bounded wait for the supervisor to get somewhere (readings follow output after a settling delay)."""

    async def wait() -> None:
        while not condition():
            await asyncio.sleep(0.02)

    try:
        await asyncio.wait_for(wait(), timeout)
    except TimeoutError:
        raise AssertionError(f"timed out waiting for {what}") from None


async def test_start_lays_out_the_org_and_marks_each_pane_with_its_agent(supervisor: Supervisor) -> None:
    panes = terminal(supervisor).panes.values()
    assert sorted(pane.identity.get("agent") for pane in panes) == ["ann", "exec"]
    assert supervisor.pane_of("ann") == ann(supervisor).pane
    assert supervisor.state.agents["ann"].alive
    assert ann(supervisor).launch.command is not None and "claude" in ann(supervisor).launch.command


async def test_a_screen_that_shows_a_permission_prompt_opens_an_approval_answered_with_its_keys(
    supervisor: Supervisor,
) -> None:
    terminal(supervisor).show(ann(supervisor).pane, screen("waiting-bash"))
    await until(lambda: supervisor.state.approvals, "the prompt to become an approval")
    [(request, approval)] = supervisor.state.approvals.items()
    assert approval.agent == "ann" and approval.command == "touch hello.txt"
    assert supervisor.state.agents["ann"].state is AgentState.WAITING

    await supervisor.decide(request, approved=True, reason=None)
    await until(lambda: ann(supervisor).keys, "the answer to be pressed")
    assert ann(supervisor).keys == ["1"]  # Claude Code's "1. Yes" (agents/kinds/claude.toml)
    assert request not in supervisor.state.approvals


async def test_a_prompt_still_drawn_just_after_its_answer_is_not_asked_again(supervisor: Supervisor) -> None:
    """A busy program redraws its answered prompt (the cursor on another option) before it moves on: that is
    the same prompt, not a new request — no ghost in the queue for the human to answer blind."""
    fake, pane = terminal(supervisor), ann(supervisor)
    fake.show(pane.pane, screen("waiting-bash"))
    await until(lambda: supervisor.state.approvals, "the prompt to become an approval")
    [request] = supervisor.state.approvals
    await supervisor.decide(request, approved=True, reason=None)
    await until(lambda: pane.keys == ["1"], "the answer to be pressed")
    reads = supervisor.screens.reads
    fake.show(pane.pane, screen("waiting-bash-dont-ask"))  # redrawn on its way out
    await until(lambda: supervisor.screens.reads > reads, "the redrawn prompt to be read")
    await asyncio.sleep(1.0)  # over three times the time a prompt takes to settle
    assert supervisor.state.approvals == {}
    fake.show(pane.pane, screen("working-after-approve"))
    await until(lambda: supervisor.state.agents["ann"].state is AgentState.WORKING, "ann to work")
    assert list(supervisor.state.decided) == [request]


async def test_a_prompt_still_there_well_after_its_answer_is_asked_again(supervisor: Supervisor) -> None:
    """Keys that never arrived leave the program asking: after a grace period the human is asked again."""
    fake, pane = terminal(supervisor), ann(supervisor)
    fake.show(pane.pane, screen("waiting-bash"))
    await until(lambda: supervisor.state.approvals, "the prompt to become an approval")
    [request] = supervisor.state.approvals
    await supervisor.decide(request, approved=True, reason=None)
    fake.show(pane.pane, screen("waiting-edit"))  # still asking, something else: the answer was lost
    await until(lambda: supervisor.state.approvals, "the prompt to be asked again", timeout=15.0)
    [again] = supervisor.state.approvals.values()
    assert again.id != request and again.agent == "ann"


async def test_a_message_waits_in_the_outbox_while_the_agent_works_and_is_typed_once_it_is_idle(
    supervisor: Supervisor,
) -> None:
    fake, pane = terminal(supervisor), ann(supervisor)
    fake.show(pane.pane, screen("working-thinking"))
    await until(lambda: supervisor.state.agents["ann"].state is AgentState.WORKING, "ann to work")
    supervisor.submit(HUMAN, MessageSent(id="m1", to="@ann", text="add a test"))
    assert [message["id"] for message in supervisor.state.outbox("ann")] == ["m1"]
    assert supervisor.typist.why_waiting("ann") == "it is working: typed once it is idle"

    fake.show(pane.pane, screen("working-tool-running"))  # still working: the message keeps waiting
    await until(lambda: supervisor.screens.reads >= 2, "the second screen to be read")
    assert pane.typed == []

    fake.show(pane.pane, screen("idle-done"))
    await until(lambda: pane.keys == ["Enter"], "the message to be typed and sent")
    assert pane.typed == ["add a test"]
    assert supervisor.state.typed_message("ann") is not None

    fake.show(pane.pane, screen("working-thinking"))  # it takes the message up
    await until(lambda: supervisor.state.outbox("ann") == [], "the message to count as delivered")


async def test_a_message_is_held_while_a_human_is_in_the_pane(supervisor: Supervisor) -> None:
    fake, pane = terminal(supervisor), ann(supervisor)
    fake.focus(pane.pane)
    fake.show(pane.pane, screen("idle-done"))
    await until(lambda: supervisor.state.agents["ann"].state is AgentState.IDLE, "ann to be idle")
    supervisor.submit(HUMAN, MessageSent(id="m2", to="@ann", text="later"))
    assert supervisor.typist.why_waiting("ann") is not None and "a human is in its pane" in (
        supervisor.typist.why_waiting("ann") or ""
    )
    assert pane.typed == []

    fake.focus(fake.pane_of("exec").pane)  # the human leaves
    await until(lambda: pane.typed == ["later"], "the message to be typed")


async def test_an_agents_exit_is_journaled_with_its_status(supervisor: Supervisor) -> None:
    terminal(supervisor).exit(ann(supervisor).pane, status=3)
    await until(lambda: not supervisor.state.agents["ann"].alive, "ann to be gone")
    supervisor.journal.flush()
    exits = [record.event for record in supervisor.recent_records()]
    assert [event for event in exits if isinstance(event, AgentExited)] == [AgentExited(agent="ann", status=3)]


async def test_a_report_with_the_agents_token_counts_and_a_forged_one_is_journaled_as_spoofed(
    supervisor: Supervisor,
) -> None:
    fake, pane = terminal(supervisor), ann(supervisor).pane
    fake.print(pane, encode("forged-token-0000", StatusReported(state=AgentState.WORKING, task="forged")))
    fake.print(pane, encode(supervisor.tokens["ann"], StatusReported(state=AgentState.WORKING, task="real")))
    await until(lambda: supervisor.state.agents["ann"].task == "real", "ann's own report")
    records = [record.event for record in supervisor.recent_records()]
    assert [event for event in records if isinstance(event, SpoofRejected)] == [SpoofRejected(pane=pane, agent="ann")]
    assert all(getattr(event, "task", None) != "forged" for event in records)


async def test_bury_takes_the_pane_off_screen_keeps_it_watched_and_is_journaled_as_an_edit(
    supervisor: Supervisor,
) -> None:
    from agent_console.agents.events import CommandRan, OrgEdited
    from agent_console.runtime.commands import Actor

    registry = supervisor.commands
    bury = registry.find("bury")
    said = await registry.run(supervisor, bury, registry.parse(bury, ["@ann"]), Actor.human("line"))
    assert said.startswith("buried ann: its pane is off screen")
    assert ann(supervisor).buried and supervisor.state.agents["ann"].buried
    edits = [r.event for r in supervisor.recent_records() if isinstance(r.event, OrgEdited)]
    assert [(e.action, e.name, e.table.get("buried")) for e in edits[-1].edits] == [("change-agent", "ann", True)]

    # Still watched: a prompt on its screen is queued, and answered with keys in its pane.
    terminal(supervisor).show(ann(supervisor).pane, screen("waiting-bash"))
    await until(lambda: supervisor.state.approvals, "the buried agent's prompt to become an approval")
    [request] = supervisor.state.approvals
    await supervisor.decide(request, approved=True, reason=None)
    await until(lambda: ann(supervisor).keys, "the answer to be pressed")

    unbury = registry.find("unbury")
    said = await registry.run(supervisor, unbury, registry.parse(unbury, ["ann"]), Actor.human("line"))
    assert said == "unburied ann: back in its team's place in the layout"
    exec_window = next(p.window for p in terminal(supervisor).panes.values() if p.identity.get("agent") == "exec")
    assert not ann(supervisor).buried and ann(supervisor).window == exec_window
    assert not supervisor.state.agents["ann"].buried
    assert supervisor.state.org_edits[supervisor.spec] == ()  # unburied, the spec's own ann again: no edit left
    ran = [(r.event.name, r.event.ok) for r in supervisor.recent_records() if isinstance(r.event, CommandRan)]
    assert ran == [("bury", True), ("unbury", True)]


async def test_arrangement_commands_reach_the_backend_and_are_journaled_with_their_actor(
    supervisor: Supervisor,
) -> None:
    from agent_console.agents.errors import Forbidden
    from agent_console.agents.events import CommandRan
    from agent_console.runtime.commands import Actor

    run = supervisor.commands.run_line
    said = await run(supervisor, "arrangement save daily", Actor.executive("chat"))
    assert said.startswith("saved arrangement daily: 1 window(s), 2 pane(s)")  # the exec slot and ann
    assert supervisor.known_arrangements == ["daily"]  # what the palette offers
    pane = ann(supervisor)
    window = pane.window
    pane.window = "@moved"  # as if a human moved it by hand
    terminal(supervisor).window_names["@moved"] = "moved"
    assert await run(supervisor, "arrangement list", Actor.human("line")) == "arrangements: daily"
    said = await run(supervisor, "arrangement load daily", Actor.human("line"))
    assert said.startswith("loaded arrangement daily") and pane.window == window
    with pytest.raises(Forbidden, match=r"^worker ann may not run arrangement: the windows on screen are the human's"):
        await run(supervisor, "arrangement load daily", Actor.agent("ann", "api"))
    ran = [(r.actor, r.event.args, r.event.ok) for r in supervisor.recent_records() if isinstance(r.event, CommandRan)]
    assert ran[-4:] == [
        ("executive", {"action": "save", "name": "daily"}, True),
        ("human", {"action": "list"}, True),
        ("human", {"action": "load", "name": "daily"}, True),
        ("ann", {"action": "load", "name": "daily"}, False),
    ]
