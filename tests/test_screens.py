"""Reading screens in a running supervisor: real programs in a private tmux, read by the shell kind's rules."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import tempfile
from pathlib import Path

import pytest

from agent_console.agents.errors import Conflict
from agent_console.agents.events import HUMAN, AgentState, ApprovalDecided, PromptSeen, StatusReported
from agent_console.agents.model import Agent, Org, Team
from agent_console.runtime.screen_reader import ANSWERED_IN_PANE
from agent_console.runtime.supervisor import Supervisor
from agent_console.terminal.tmux import TmuxBackend

QUESTION = 'read -r -p "Delete the build folder? [y/N] " answer; echo "answer=$answer"; exec sleep 600'


@pytest.fixture
async def running(tmux_socket: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("XDG_RUNTIME_DIR", tempfile.mkdtemp(prefix="acsc", dir="/tmp"))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    started: list[Supervisor] = []

    async def start(*agents: Agent) -> Supervisor:
        org = Org(name="screens", teams=(Team(name="t"),), agents=agents)
        supervisor = Supervisor(org, TmuxBackend(tmux_socket, "screens", config_file="/dev/null"), (160, 48))
        await supervisor.start()
        started.append(supervisor)
        return supervisor

    yield start
    for supervisor in started:
        await supervisor.stop()
        await supervisor.backend.close()


def asker(tmp_path: Path, name: str = "ann", **fields) -> Agent:
    return Agent(name=name, team="t", command=f"bash --norc --noprofile -c '{QUESTION}'", cwd=tmp_path, **fields)


async def until(condition, timeout: float = 10.0, what: str = "the condition"):
    async def wait():
        while not (value := condition()):
            await asyncio.sleep(0.05)
        return value

    try:
        return await asyncio.wait_for(wait(), timeout)
    except TimeoutError:
        raise AssertionError(f"timed out waiting for {what}") from None


def prompts(supervisor: Supervisor) -> list:
    return [record.event for record in supervisor.recent_records() if isinstance(record.event, PromptSeen)]


async def test_a_question_on_screen_is_an_approval_whose_decision_types_the_kinds_keys(running, tmp_path) -> None:
    supervisor = await running(asker(tmp_path))
    approval = await until(lambda: next(iter(supervisor.state.approvals.values()), None), what="the approval")
    assert (approval.agent, approval.source, approval.rule) == ("ann", "screen", "yes-no-question")
    assert approval.text == "Delete the build folder? [y/N]"
    assert supervisor.state.agents["ann"].state is AgentState.WAITING
    supervisor.submit(HUMAN, ApprovalDecided(id=approval.id, approved=True))
    pane = supervisor.pane_of("ann")
    for _ in range(100):
        if "answer=y" in await supervisor.backend.capture(pane):
            break
        await asyncio.sleep(0.05)
    assert "answer=y" in await supervisor.backend.capture(pane)  # the shell kind's approve keys: y, Enter
    await asyncio.sleep(0.5)  # the screen no longer asks: no second approval, the first stays decided
    assert len(prompts(supervisor)) == 1
    assert supervisor.state.decided[approval.id].by == HUMAN


async def test_a_question_answered_in_the_pane_leaves_the_queue(running, tmp_path) -> None:
    supervisor = await running(asker(tmp_path))
    approval = await until(lambda: next(iter(supervisor.state.approvals.values()), None), what="the approval")
    await supervisor.backend.send_keys(supervisor.pane_of("ann"), ["n", "Enter"])  # the human, in the pane
    decided = await until(lambda: supervisor.state.decided.get(approval.id), what="the answer seen on screen")
    assert (decided.reason, decided.by) == (ANSWERED_IN_PANE, "supervisor")
    assert supervisor.state.approvals == {}


async def test_an_unchanging_working_screen_is_flagged_stalled_and_cleared_when_it_moves(running, tmp_path) -> None:
    agent = Agent(name="bob", team="t", command="bash --norc --noprofile", cwd=tmp_path, stuck_after=5)
    supervisor = await running(agent)
    pane = supervisor.pane_of("bob")
    await supervisor.backend.send_text(pane, "clear; sleep 30")
    await supervisor.backend.send_keys(pane, ["Enter"])
    supervisor.submit("bob", StatusReported(state=AgentState.WORKING, task="sleeping"))
    supervisor.screens.schedule("bob")
    await until(lambda: supervisor.state.agents["bob"].stalled_since, timeout=15, what="the stall")
    view = supervisor.state.agents["bob"]
    assert view.state is AgentState.WORKING
    await supervisor.backend.send_keys(pane, ["C-c"])  # the screen moves (and a prompt comes back)
    await until(lambda: supervisor.state.agents["bob"].stalled_since is None, what="the stall cleared")


async def test_explain_reads_the_screen_now_and_names_the_rule(running, tmp_path) -> None:
    supervisor = await running(asker(tmp_path))
    await until(lambda: supervisor.state.approvals, what="the approval")
    explained = await supervisor.explain("ann")
    assert explained["kind"] == "shell"
    assert explained["state"] == "waiting"
    assert explained["screen"]["rule"] == "yes-no-question"
    assert explained["screen"]["request"] == "Delete the build folder? [y/N]"
    assert json.loads(json.dumps(explained)) == explained


async def test_a_hooks_permission_request_is_the_prompts_approval(running, tmp_path) -> None:
    agent = Agent(name="cy", team="t", command="bash --norc --noprofile", cwd=tmp_path)
    supervisor = await running(agent)
    request = {
        "hook_event_name": "PermissionRequest",
        "tool_name": "Bash",
        "tool_input": {"command": "rm -rf build", "description": "Delete the build"},
    }
    supervisor.hook("cy", "claude", request)
    (approval,) = supervisor.state.approvals.values()
    assert (approval.source, approval.command, approval.text) == ("hook", "rm -rf build", "Bash: rm -rf build")
    view = supervisor.state.agents["cy"]
    assert (view.state, view.hook_state, view.hook_event) == (
        AgentState.WAITING,
        AgentState.WAITING,
        "PermissionRequest",
    )
    supervisor.hook("cy", "claude", request)  # the same prompt, reported again: still one approval
    assert len(supervisor.state.approvals) == 1


async def test_the_hook_command_in_an_agents_pane_reports_to_the_console(running, tmp_path) -> None:
    agent = Agent(name="dee", team="t", command="bash --norc --noprofile", cwd=tmp_path)
    supervisor = await running(agent)
    payload = json.dumps({"hook_event_name": "UserPromptSubmit", "prompt": "fix the tests"})
    hook = f"{sys.executable} -m agent_console hook claude"
    await supervisor.backend.send_text(supervisor.pane_of("dee"), f"echo '{payload}' | {hook}; echo hook-rc=$?")
    await supervisor.backend.send_keys(supervisor.pane_of("dee"), ["Enter"])
    await until(lambda: supervisor.state.agents["dee"].hook_event == "UserPromptSubmit", what="the hook's report")
    view = supervisor.state.agents["dee"]
    assert (view.hook_state, view.state) == (AgentState.WORKING, AgentState.WORKING)
    await supervisor.backend.send_text(supervisor.pane_of("dee"), f"echo 'not json' | {hook}; echo hook-rc=$?")
    await supervisor.backend.send_keys(supervisor.pane_of("dee"), ["Enter"])
    for _ in range(400):  # a Python process starting: seconds on a loaded machine
        screen = await supervisor.backend.capture(supervisor.pane_of("dee"))
        if screen.count("hook-rc=0") == 2:
            break
        await asyncio.sleep(0.05)
    assert screen.count("hook-rc=0") == 2  # a hook never fails its agent, even on bad input
    assert "the claude hook's input is not JSON" in screen


async def test_always_is_refused_for_a_prompt_without_an_always_answer(running, tmp_path) -> None:
    supervisor = await running(asker(tmp_path))
    approval = await until(lambda: next(iter(supervisor.state.approvals.values()), None), what="the approval")
    with pytest.raises(Conflict, match="has no 'always' answer"):
        await supervisor.decide(approval.id, True, None, always=True)
    assert approval.id in supervisor.state.approvals  # nothing was decided


async def test_the_explain_command_asks_the_serving_console(running, tmp_path) -> None:
    supervisor = await running(asker(tmp_path))
    await until(lambda: supervisor.state.approvals, what="the approval")

    async def explain(*args: str) -> tuple[int, str, str]:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "agent_console",
            "explain",
            *args,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(process.communicate(), 20)
        return process.returncode, out.decode(), err.decode()

    code, out, _ = await explain("ann", "--org", "screens")
    assert code == 0
    printed = json.loads(out)
    assert (printed["agent"], printed["state"], printed["screen"]["rule"]) == ("ann", "waiting", "yes-no-question")
    code, _, err = await explain("zed", "--org", "screens")
    assert code == 1 and "no agent named 'zed' in org 'screens'" in err and "Traceback" not in err


async def test_a_question_gone_in_a_flash_never_reaches_the_queue(running, tmp_path) -> None:
    flash = 'read -r -t 0.25 -p "Go on? [y/N] " answer; echo " (no answer)"; exec sleep 600'
    agent = Agent(name="eve", team="t", command=f"bash --norc --noprofile -c '{flash}'", cwd=tmp_path)
    supervisor = await running(agent)
    pane = supervisor.pane_of("eve")
    for _ in range(100):
        if "(no answer)" in await supervisor.backend.capture(pane):
            break
        await asyncio.sleep(0.05)
    await asyncio.sleep(1.0)  # time for any read, and any settle, to have happened
    assert prompts(supervisor) == []
    assert supervisor.state.approvals == {}


async def test_a_prompt_a_hook_reported_is_the_one_then_seen_on_screen(running, tmp_path) -> None:
    agent = Agent(name="fay", team="t", command="bash --norc --noprofile", cwd=tmp_path)
    supervisor = await running(agent)
    request = {"hook_event_name": "PermissionRequest", "tool_name": "Bash", "tool_input": {"command": "rm -rf build"}}
    supervisor.hook("fay", "claude", request)  # the hook comes first, its prompt a moment later
    pane = supervisor.pane_of("fay")
    await supervisor.backend.send_text(pane, "clear; read -r -p 'Delete build? [y/N] ' answer")
    await supervisor.backend.send_keys(pane, ["Enter"])
    await until(lambda: supervisor.state.agents["fay"].screen_state is AgentState.WAITING, what="the prompt on screen")
    await asyncio.sleep(0.6)  # past the prompt settle: a second entry would be open by now
    (approval,) = supervisor.state.approvals.values()
    assert (approval.source, approval.command) == ("hook", "rm -rf build")
    await supervisor.backend.send_keys(pane, ["n", "Enter"])
    decided = await until(lambda: supervisor.state.decided.get(approval.id), what="the answer seen on screen")
    assert decided.reason == ANSWERED_IN_PANE
    assert len(prompts(supervisor)) == 1
