"""The console follows real agent programs: each runs in a pane of a supervisor (as `serve` and the console run
it), offline against a stub model API, and the console's state follows every step, on its pane's badge and border
too; its prompts are answered from the approval queue with the kind's keys; a denial is seen as one; a forced API
error shows as an error, and a message sent meanwhile is typed in once the agent is idle again.
"""

from __future__ import annotations

import asyncio
import os
import shlex
import sys
import tempfile
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from agent_console.agents.events import HUMAN, AgentState, ApprovalDecided, MessageSent
from agent_console.agents.journal import Record
from agent_console.agents.model import Agent, AgentKind, Org, Team
from agent_console.agents.state import PendingApproval
from agent_console.runtime.supervisor import Supervisor
from agent_console.terminal.tmux import TmuxBackend
from agent_console.themes import state_color, state_glyph, team_color
from tests.agent_clis import aider as aider_cli
from tests.agent_clis import claude as claude_cli
from tests.agent_clis import codex as codex_cli
from tests.agent_clis import gemini as gemini_cli
from tests.stub_models.anthropic import AnthropicStub
from tests.stub_models.gemini import GeminiStub
from tests.stub_models.openai import OpenAIStub

from .conftest import descendants, runs_in_own_pid_namespace, tmux

START_TIMEOUT = 60.0  # a cold first start of a large native binary
STEP_TIMEOUT = 30.0
LABEL = "agent · t"  # the console's title for the agent's pane: its name and team


@dataclass
class Run:
    """A supervisor running one real agent program, and the stub it talks to."""

    supervisor: Supervisor
    stub: object
    workdir: Path
    agent: str
    states: list[AgentState]  # every state the console's view of the agent went through, in order
    socket: str
    titles: set[str]  # the titles the program gave its pane (OSC 2), as seen after each step

    @property
    def state(self) -> AgentState:
        return self.supervisor.state.agents[self.agent].state

    async def until(self, what: str, condition: Callable[[], object], timeout: float = STEP_TIMEOUT):
        async def wait():
            while not (value := condition()):
                await asyncio.sleep(0.05)
            return value

        try:
            return await asyncio.wait_for(wait(), timeout)
        except TimeoutError:
            screen = await self.supervisor.backend.capture(self.supervisor.pane_of(self.agent))
            view = self.supervisor.state.agents[self.agent]
            raise AssertionError(
                f"timed out waiting for {what}; state {view.state} (screen {view.screen_state}/{view.screen_rule}, "
                f"hook {view.hook_state}/{view.hook_event}), states seen {self.states}, screen:\n{screen}"
            ) from None

    async def until_state(self, state: AgentState, timeout: float = STEP_TIMEOUT) -> None:
        await self.until(f"state {state}", lambda: self.state is state, timeout)
        await self.until_pane_shows_state()

    def pane_shows(self) -> tuple[str, str, str, str]:
        """The pane's badge, border colour, border line (as tmux expands it to draw it) and title."""
        pane = self.supervisor.pane_of(self.agent)
        shown = "#{@badge}\t#{@agent_console_border}\t#{E:pane-border-format}\t#{pane_title}"
        badge, border, line, title = tmux(self.socket, "display", "-p", "-t", pane, shown).rstrip("\n").split("\t")
        return badge, border, line, title

    def state_look(self) -> tuple[str, str]:
        """The badge and border colour the console's state calls for now: the table's state, pending requests."""
        state = self.state.value
        pending = sum(1 for approval in self.supervisor.state.approvals.values() if approval.agent == self.agent)
        badge = f"{state_glyph(state)} {state}" + (f" · {pending} to approve" if pending else "")
        return badge, state_color(state) if state in ("waiting", "error") else team_color(0)

    async def until_pane_shows_state(self) -> None:
        """The pane's badge and border equal the state the health table shows, and its border names the agent
        (whatever title the program gave the pane)."""

        def calm_and_true() -> bool:  # a message typed into the pane makes it pulse (reversed) for a moment
            badge, colour, line, _ = self.pane_shows()
            return (badge, colour) == self.state_look() and f"bold]{LABEL}#[default]" in line

        await self.until("the pane to show the state, its name calm (not pulsing)", calm_and_true)
        _, _, line, title = self.pane_shows()
        if title != LABEL:
            self.titles.add(title)
            assert line.endswith(f" · {title.replace('#', '##')} "), line  # the program's own, beside it

    async def type_prompt(self, text: str) -> None:
        """As a person types at the program's prompt (the console's own messages are pasted: see delivery)."""
        pane = self.supervisor.pane_of(self.agent)
        tmux(self.socket, "send-keys", "-t", pane, "-l", text)
        for _ in range(100):
            if text in await self.supervisor.backend.capture(pane):
                break
            await asyncio.sleep(0.05)
        await self.supervisor.backend.send_keys(pane, ["Enter"])

    async def assert_inside_boundary(self) -> None:
        """The program runs in its isolation boundary: every process under its pane is in another PID namespace
        than this test's (the pane's own process, bubblewrap, stays here with the environment tmux gave it)."""
        if self.supervisor.boundary.bwrap is None:  # no working bubblewrap here: the console says so itself
            assert self.supervisor.boundary.exposure
            return
        info = await self.supervisor.backend.pane(self.supervisor.pane_of(self.agent))
        assert info.pid is not None and runs_in_own_pid_namespace(info.pid), descendants(info.pid or 0)

    async def pending(self) -> PendingApproval:
        return await self.until(
            "an approval in the queue", lambda: next(iter(self.supervisor.state.approvals.values()), None)
        )

    def decide(self, approval: PendingApproval, approved: bool) -> None:
        self.supervisor.submit(HUMAN, ApprovalDecided(id=approval.id, approved=approved))

    async def approve_and_finish(self, approval: PendingApproval, made: str, release: Callable[[], None]) -> None:
        """Approved from the queue: `made` appears, the agent works on until `release` lets its next reply go,
        then idles; the console followed every step from the start."""
        self.decide(approval, approved=True)
        await self.until(f"{made} created", lambda: (self.workdir / made).exists())
        await self.until_state(AgentState.WORKING)
        release()
        await self.until_state(AgentState.IDLE)
        assert in_order(self.states, [AgentState.IDLE, AgentState.WORKING, AgentState.WAITING, AgentState.WORKING])
        assert self.states[-1] is AgentState.IDLE
        assert self.supervisor.state.decided[approval.id].approved is True
        assert self.supervisor.state.approvals == {}

    async def deny_and_check(self, approval: PendingApproval, not_made: str) -> None:
        """Denied from the queue: the agent is idle again, `not_made` never appears, the queue is empty."""
        self.decide(approval, approved=False)
        await self.until_state(AgentState.IDLE)
        await asyncio.sleep(1.0)  # time for a command that should not run to have run
        assert not (self.workdir / not_made).exists()
        assert self.supervisor.state.decided[approval.id].approved is False
        assert self.supervisor.state.approvals == {}
        assert self.state is AgentState.IDLE

    async def error_on_prompt(self) -> None:
        """The stub is set to fail: a prompt makes the console show the agent in error."""
        await self.type_prompt("say hello")
        await self.until_state(AgentState.ERROR)

    async def message_in_error_waits_until_idle(self) -> None:
        """In error, a message from the human waits; once a turn the human starts in the pane ends well (the
        agent idle again, as its screen or hook says), it is typed in and taken up."""
        assert self.state is AgentState.ERROR
        self.supervisor.submit(HUMAN, MessageSent(id="m-after-error", to=f"@{self.agent}", text="say goodbye"))
        assert self.supervisor.typist.why_waiting(self.agent) == "it is in error: typed once it is idle"
        await self.type_prompt("say hello again")  # the stub's next reply is a plain answer
        pane = self.supervisor.pane_of(self.agent)
        await self.until("the message typed in", lambda: self.supervisor.state.outbox(self.agent) == [])
        assert "say goodbye" in await self.supervisor.backend.capture(pane)
        await self.until_state(AgentState.IDLE)


def in_order(seen: list[AgentState], expected: list[AgentState]) -> bool:
    """Whether `expected` appears in `seen` as a subsequence."""
    position = 0
    for state in seen:
        if position < len(expected) and state is expected[position]:
            position += 1
    return position == len(expected)


Starter = Callable[..., Awaitable[Run]]


@pytest.fixture
async def start(tmux_socket: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    # the panes stand for a user's terminal, not a CI job's (Gemini CLI runs headless when CI=true)
    for name in ("CI", "GITHUB_ACTIONS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("XDG_RUNTIME_DIR", tempfile.mkdtemp(prefix="acra", dir="/tmp"))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    running: list[tuple[Supervisor, object]] = []

    async def launch(kind: AgentKind, stub, argv: list[str], env: dict[str, str], workdir: Path) -> Run:
        agent = Agent(name="agent", team="t", kind=kind, command=shlex.join(argv), cwd=workdir, env=env)
        org = Org(name="real", teams=(Team(name="t"),), agents=(agent,))
        supervisor = Supervisor(org, TmuxBackend(tmux_socket, "real", config_file="/dev/null"), (160, 48))
        states: list[AgentState] = []

        def follow(record: Record) -> None:
            view = supervisor.state.agents.get("agent")
            if view is not None and (not states or states[-1] is not view.state):
                states.append(view.state)

        supervisor.listeners.append(follow)
        await supervisor.start()
        running.append((supervisor, stub))
        return Run(supervisor, stub, workdir, "agent", states, tmux_socket, set())

    yield launch
    for supervisor, stub in running:
        await supervisor.stop()
        await supervisor.backend.close()
        await stub.stop()


# --- Claude Code ------------------------------------------------------------------------------------------------

TOUCH = {"command": "touch hello.txt", "description": "Create hello.txt"}


async def claude(start: Starter, tmp_path: Path) -> Run:
    stub = AnthropicStub()
    await stub.start()
    argv, env = claude_cli.prepare(tmp_path / "home", tmp_path / "work", stub.url)
    run = await start(AgentKind.CLAUDE, stub, argv, env, tmp_path / "work")
    await run.until_state(AgentState.IDLE, START_TIMEOUT)
    return run


async def claude_asks_to_touch(run: Run) -> PendingApproval:
    stub: AnthropicStub = run.stub  # type: ignore[assignment]
    stub.hold()
    stub.use_tool("Bash", TOUCH)
    await run.type_prompt("create hello.txt")
    await run.until_state(AgentState.WORKING)
    await run.until("the request held at the stub", lambda: stub.holding)
    stub.release()
    approval = await run.pending()
    await run.until_state(AgentState.WAITING)
    assert approval.command == "touch hello.txt"
    assert not (run.workdir / "hello.txt").exists()
    return approval


async def test_claude_is_followed_through_an_approval_from_the_queue(start: Starter, tmp_path: Path) -> None:
    run = await claude(start, tmp_path)
    await run.assert_inside_boundary()
    approval = await claude_asks_to_touch(run)
    stub: AnthropicStub = run.stub  # type: ignore[assignment]
    stub.hold()
    stub.say("Created hello.txt.")
    await run.approve_and_finish(approval, "hello.txt", stub.release)
    view = run.supervisor.state.agents["agent"]
    assert (view.hook_event, view.hook_state) == ("Stop", AgentState.IDLE)  # the hooks were wired and heard
    assert run.titles, "Claude Code sets its pane's title: the border shows it beside the agent's name"


async def test_claude_denied_from_the_queue_is_seen_as_denied(start: Starter, tmp_path: Path) -> None:
    run = await claude(start, tmp_path)
    approval = await claude_asks_to_touch(run)
    await run.deny_and_check(approval, "hello.txt")  # Escape: "Interrupted · What should Claude do instead?"


async def test_claude_answered_in_its_own_pane_leaves_the_queue(start: Starter, tmp_path: Path) -> None:
    run = await claude(start, tmp_path)
    approval = await claude_asks_to_touch(run)
    await run.supervisor.backend.send_keys(run.supervisor.pane_of("agent"), ["1"])  # the human, in the pane
    decided = await run.until("the answer seen", lambda: run.supervisor.state.decided.get(approval.id))
    assert decided.reason == "answered in the pane" and decided.approved is True
    await run.until("hello.txt created", lambda: (run.workdir / "hello.txt").exists())


async def test_a_forced_api_error_in_claude_shows_as_error(start: Starter, tmp_path: Path) -> None:
    run = await claude(start, tmp_path)
    stub: AnthropicStub = run.stub  # type: ignore[assignment]
    stub.fail(400, "invalid_request_error", "stub: forced failure")
    await run.error_on_prompt()
    view = run.supervisor.state.agents["agent"]
    await run.until("the StopFailure hook", lambda: view.hook_event == "StopFailure")  # a process per hook: slow
    assert in_order(run.states, [AgentState.IDLE, AgentState.WORKING, AgentState.ERROR])
    await run.message_in_error_waits_until_idle()


async def test_claude_approved_for_always_from_the_queue_does_not_ask_again(start: Starter, tmp_path: Path) -> None:
    run = await claude(start, tmp_path)
    approval = await claude_asks_to_touch(run)
    stub: AnthropicStub = run.stub  # type: ignore[assignment]
    stub.say("Created hello.txt.")
    await run.supervisor.decide(approval.id, True, None, always=True)  # the kind's approve_always key: 2
    await run.until_state(AgentState.IDLE)
    assert (run.workdir / "hello.txt").exists()
    stub.use_tool("Bash", {"command": "touch second.txt", "description": "Create second.txt"})
    stub.say("Created second.txt.")
    await run.type_prompt("create second.txt")
    await run.until("second.txt created", lambda: (run.workdir / "second.txt").exists())
    await run.until_state(AgentState.IDLE)
    decided, pending = run.supervisor.state.decided, run.supervisor.state.approvals
    assert (list(decided), pending) == ([approval.id], {}), (decided, pending)  # not asked again


# --- Codex --------------------------------------------------------------------------------------------------------


async def openai_agent(start: Starter, tmp_path: Path, kind: AgentKind) -> tuple[Run, OpenAIStub]:
    """Codex or aider ready at its prompt, talking to a stub OpenAI API."""
    cli = codex_cli if kind is AgentKind.CODEX else aider_cli
    stub = OpenAIStub(model=cli.MODEL)
    await stub.start()
    work = tmp_path / "work"
    work.mkdir()
    argv, env = cli.prepare(tmp_path / "home", work, stub.url)
    run = await start(kind, stub, argv, env, work)
    await run.until_state(AgentState.IDLE, START_TIMEOUT)  # aider imports litellm at start: a few seconds
    return run, stub


async def test_codex_is_followed_through_an_approval_from_the_queue(start: Starter, tmp_path: Path) -> None:
    run, stub = await openai_agent(start, tmp_path, AgentKind.CODEX)
    await run.assert_inside_boundary()
    stub.hold()
    stub.run_command(["touch", "hello.txt"], justification="Create hello.txt?")
    stub.hold()
    stub.say("Created hello.txt.")
    await run.type_prompt("create hello.txt")
    await run.until_state(AgentState.WORKING)
    stub.release()
    approval = await run.pending()
    await run.until_state(AgentState.WAITING)
    assert approval.command == "touch hello.txt" and approval.source == "screen"
    assert not (run.workdir / "hello.txt").exists()
    await run.approve_and_finish(approval, "hello.txt", stub.release)
    # its notify program was wired and reported the end of the turn
    await run.until("codex's notify", lambda: run.supervisor.state.agents["agent"].hook_event == "agent-turn-complete")
    assert run.titles, "Codex sets its pane's title: the border shows it beside the agent's name"


async def test_codex_denied_from_the_queue_is_seen_as_denied(start: Starter, tmp_path: Path) -> None:
    run, stub = await openai_agent(start, tmp_path, AgentKind.CODEX)
    stub.run_command(["touch", "denied.txt"])
    await run.type_prompt("create denied.txt")
    approval = await run.pending()
    await run.deny_and_check(approval, "denied.txt")  # "Conversation interrupted"


async def test_a_forced_api_error_in_codex_shows_as_error(start: Starter, tmp_path: Path) -> None:
    run, stub = await openai_agent(start, tmp_path, AgentKind.CODEX)
    stub.fail(400, "stub: forced failure")
    await run.error_on_prompt()
    assert run.supervisor.state.agents["agent"].screen_rule is not None
    await run.message_in_error_waits_until_idle()


# --- aider --------------------------------------------------------------------------------------------------------


async def test_aider_is_followed_through_an_approval_from_the_queue(start: Starter, tmp_path: Path) -> None:
    run, stub = await openai_agent(start, tmp_path, AgentKind.AIDER)
    await run.assert_inside_boundary()
    stub.hold()
    stub.run_command(["sh", "-c", "sleep 2; touch ran.txt"])
    await run.type_prompt("make ran.txt")
    await run.until_state(AgentState.WORKING)
    stub.release()
    approval = await run.pending()
    await run.until_state(AgentState.WAITING)
    assert approval.command == "sh -c 'sleep 2; touch ran.txt'"
    run.decide(approval, approved=True)
    await run.until_state(AgentState.WORKING)  # the command runs
    await run.until_state(AgentState.IDLE)
    assert (run.workdir / "ran.txt").exists()
    assert in_order(run.states, [AgentState.IDLE, AgentState.WORKING, AgentState.WAITING, AgentState.WORKING])
    assert run.states[-1] is AgentState.IDLE
    assert run.supervisor.state.decided[approval.id].approved is True


async def test_aider_denied_from_the_queue_is_seen_as_denied(start: Starter, tmp_path: Path) -> None:
    run, stub = await openai_agent(start, tmp_path, AgentKind.AIDER)
    stub.edit_file("denied.txt", "no\n")
    await run.type_prompt("create denied.txt")
    approval = await run.pending()
    assert "Create new file?" in approval.text
    await run.deny_and_check(approval, "denied.txt")  # "Skipping edits to denied.txt"


async def test_a_forced_api_error_in_aider_shows_as_error(start: Starter, tmp_path: Path) -> None:
    run, stub = await openai_agent(start, tmp_path, AgentKind.AIDER)
    stub.fail(400, "stub: forced failure")
    await run.error_on_prompt()
    await run.message_in_error_waits_until_idle()


# --- Gemini CLI ---------------------------------------------------------------------------------------------------


async def gemini(start: Starter, tmp_path: Path) -> tuple[Run, GeminiStub]:
    stub = GeminiStub(model=gemini_cli.MODEL)
    await stub.start()
    work = tmp_path / "work"
    work.mkdir()
    argv, env = gemini_cli.prepare(tmp_path / "home", work, stub.url)
    env.pop("GEMINI_CLI_NO_RELAUNCH", None)  # the gemini kind sets it itself
    run = await start(AgentKind.GEMINI, stub, argv, env, work)
    await run.until_state(AgentState.IDLE, START_TIMEOUT)
    return run, stub


async def test_gemini_is_followed_through_an_approval_from_the_queue(start: Starter, tmp_path: Path) -> None:
    run, stub = await gemini(start, tmp_path)
    stub.hold()
    stub.call_tool("run_shell_command", {"command": "touch hello.txt"})
    stub.hold()
    stub.say("Created hello.txt.")
    await run.type_prompt("create hello.txt")
    await run.until_state(AgentState.WORKING)
    stub.release()
    approval = await run.pending()
    await run.until_state(AgentState.WAITING)
    assert approval.command == "touch hello.txt"
    await run.approve_and_finish(approval, "hello.txt", stub.release)


async def test_gemini_denied_from_the_queue_is_seen_as_denied(start: Starter, tmp_path: Path) -> None:
    run, stub = await gemini(start, tmp_path)
    stub.call_tool("run_shell_command", {"command": "touch denied.txt"})
    await run.type_prompt("create denied.txt")
    approval = await run.pending()
    await run.deny_and_check(approval, "denied.txt")  # "Request cancelled."


async def test_a_forced_api_error_in_gemini_shows_as_error(start: Starter, tmp_path: Path) -> None:
    run, stub = await gemini(start, tmp_path)
    stub.fail(400, "stub: forced failure")
    await run.error_on_prompt()
