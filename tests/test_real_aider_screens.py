"""The real aider, offline against the OpenAI stub, in a private tmux pane: its screens read as the states the
aider rules say, and the keys of the aider kind answer its questions."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from agent_console.agents.kinds import load_kind, normalized
from tests.agent_clis import aider, cli_path
from tests.agent_clis.pane import AgentPane, wait_until
from tests.stub_models.openai import OpenAIStub


@pytest.fixture
async def stub() -> AsyncIterator[OpenAIStub]:
    async with OpenAIStub(model=aider.MODEL) as server:
        yield server


@pytest.fixture
def pane(tmux_socket: str) -> Iterator[AgentPane]:
    cli_path("aider")  # skips when it cannot be installed
    agent = AgentPane(tmux_socket, load_kind("aider"))
    yield agent
    left = agent.stop()
    assert not left, f"aider left processes {left} running after its pane closed"


async def _started(stub: OpenAIStub, pane: AgentPane, tmp_path: Path, **options: bool) -> Path:
    home, work = tmp_path / "home", tmp_path / "work"
    work.mkdir()
    pane.start(*aider.prepare(home, work, stub.url, **options), work)
    if not options.get("dialogs"):
        await pane.until("idle", "prompt", timeout=60)  # aider imports litellm at start: a few seconds
    return work


async def test_a_new_file_is_approved_with_the_kinds_keys(stub: OpenAIStub, pane: AgentPane, tmp_path: Path):
    stub.hold()
    stub.edit_file("hello.txt", "hello\n")
    work = await _started(stub, pane, tmp_path)

    await pane.submit("create hello.txt")
    _, first = await pane.until("working", "waiting-for-model")
    await asyncio.sleep(1.5)
    reading, second = pane.read()
    assert reading.rule == "waiting-for-model"
    assert normalized(pane.kind, first) == normalized(pane.kind, second), "only the spinner moved"

    stub.release()
    reading, _ = await pane.until("waiting", "create-file")
    assert reading.request.splitlines() == ["hello.txt", "Create new file?"]
    assert [option.key for option in reading.options] == ["Y", "N"]
    assert not (work / "hello.txt").exists()

    await pane.answer(reading, "approve")
    _, screen = await pane.until("idle", "prompt")
    assert "Applied edit to hello.txt" in screen
    assert (work / "hello.txt").read_text() == "hello\n"
    assert len(stub.conversation()) == 1, "an applied edit ends the turn"
    print("aider edit:", pane.trace)


async def test_a_command_is_approved_runs_and_then_aider_is_idle(stub: OpenAIStub, pane: AgentPane, tmp_path: Path):
    stub.run_command(["sh", "-c", "sleep 2; touch ran.txt"])
    work = await _started(stub, pane, tmp_path)
    await pane.submit("make ran.txt")
    reading, _ = await pane.until("waiting", "run-command")
    assert reading.command == "sh -c 'sleep 2; touch ran.txt'"
    assert [option.key for option in reading.options] == ["Y", "N", "D"]

    await pane.answer(reading, "approve")
    await pane.until("working", "running-command", timeout=2)
    assert not (work / "ran.txt").exists()
    await pane.until("idle", "prompt")  # no output: aider does not offer to add it to the chat
    assert (work / "ran.txt").exists()
    print("aider command:", pane.trace)


async def test_denied_edits_and_commands_do_not_happen(stub: OpenAIStub, pane: AgentPane, tmp_path: Path):
    stub.edit_file("denied.txt", "no\n")
    stub.run_command(["touch", "denied2.txt"])
    work = await _started(stub, pane, tmp_path)

    await pane.submit("create denied.txt")
    reading, _ = await pane.until("waiting", "create-file")
    await pane.answer(reading, "deny")
    _, screen = await pane.until("idle", "prompt")
    assert "Skipping edits to denied.txt" in screen

    await pane.submit("touch denied2.txt")
    reading, _ = await pane.until("waiting", "run-command")
    await pane.answer(reading, "deny")
    await pane.until("idle", "prompt")
    await asyncio.sleep(0.5)
    assert not (work / "denied.txt").exists() and not (work / "denied2.txt").exists()
    assert len(stub.conversation()) == 2, "a denial ends the turn: nothing goes back to the model"
    print("aider deny:", pane.trace)


async def test_an_api_error_shows_at_once_and_reads_as_error(stub: OpenAIStub, pane: AgentPane, tmp_path: Path):
    stub.fail(400, "The stub refused this request.")
    stub.say("Back again.")
    await _started(stub, pane, tmp_path)
    await pane.submit("this one fails")
    sent = time.monotonic()
    reading, _ = await pane.until("error", "api-error", timeout=10)
    assert time.monotonic() - sent < 5, "aider does not retry a 400"
    assert reading.request.startswith("litellm.BadRequestError") and "The stub refused this request." in reading.request

    await pane.submit("try again")
    await wait_until(lambda: "Back again." in pane.screen(), "the answer")
    _, screen = await pane.until("idle", "prompt")
    assert "Back again." in screen and "The stub refused this request." in screen
    print("aider error:", pane.trace)


async def test_the_git_question_at_start_is_answered_with_the_kinds_keys(
    stub: OpenAIStub, pane: AgentPane, tmp_path: Path
):
    work = await _started(stub, pane, tmp_path, dialogs=True)
    reading, _ = await pane.until("waiting", "git-repo-dialog", timeout=60)
    assert "No git repo found" in reading.request
    await pane.answer(reading, "approve")
    _, screen = await pane.until("idle", "prompt", timeout=30)
    assert "Git repository created" in screen
    assert (work / ".git").is_dir()
