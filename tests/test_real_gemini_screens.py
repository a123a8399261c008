"""The real Gemini CLI, offline against the Gemini stub, in a private tmux pane: its screens read as the states
the gemini rules say, and the keys of the gemini kind answer its prompts."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from agent_console.agents.kinds import load_kind, normalized
from tests.agent_clis import cli_path, gemini
from tests.agent_clis.pane import AgentPane, wait_until
from tests.stub_models.gemini import GeminiStub

START_TIMEOUT = 40


@pytest.fixture
async def stub() -> AsyncIterator[GeminiStub]:
    async with GeminiStub(model=gemini.MODEL) as server:
        yield server
    assert not server.unknown, f"Gemini asked the stub for {server.unknown}"


@pytest.fixture
def pane(tmux_socket: str) -> Iterator[AgentPane]:
    cli_path("gemini")  # skips when it cannot be installed
    agent = AgentPane(tmux_socket, load_kind("gemini"))
    yield agent
    left = agent.stop()
    assert not left, f"Gemini left processes {left} running after its pane closed"


def _dirs(tmp_path: Path) -> tuple[Path, Path]:
    home, work = tmp_path / "home", tmp_path / "work"
    work.mkdir()
    return home, work


async def _started(pane: AgentPane) -> None:
    await pane.until("idle", "input-prompt", timeout=START_TIMEOUT)
    await wait_until(lambda: "Gemini CLI v" in pane.screen(), "the banner", timeout=10)
    await asyncio.sleep(1)  # keys sent while the first screens are drawn can be lost


def _function_responses(body: dict) -> list[dict]:
    parts = [part for item in body["contents"] for part in item["parts"]]
    return [part["functionResponse"] for part in parts if "functionResponse" in part]


async def test_a_command_is_approved_with_the_kinds_keys_and_runs(stub: GeminiStub, pane: AgentPane, tmp_path):
    home, work = _dirs(tmp_path)
    stub.hold()
    stub.call_tool("run_shell_command", {"command": "touch hello.txt"})
    stub.hold()
    stub.say("Created hello.txt.")
    pane.start(*gemini.prepare(home, work, stub.url), work)
    await _started(pane)

    await pane.submit("create hello.txt")
    await pane.until("working", "responding")
    _, first = pane.read()
    await asyncio.sleep(1.5)
    reading, second = pane.read()
    assert reading.state.value == "working"
    assert first != second and normalized(pane.kind, first) == normalized(pane.kind, second), "only the spinner"

    stub.release()
    reading, _ = await pane.until("waiting", "tool-confirmation")
    assert reading.command == "touch hello.txt"
    assert reading.request.startswith("Shell")
    assert [option.key for option in reading.options] == ["1", "2", "3"]
    assert not (work / "hello.txt").exists()

    await pane.answer(reading, "approve")
    await wait_until(lambda: (work / "hello.txt").exists(), "the approved command to run")
    await pane.until("working", "responding", timeout=5)  # its result went back to the model, which is held
    stub.release()
    await wait_until(lambda: "Created hello.txt." in pane.screen(), "the answer")
    await pane.until("idle", "input-prompt")
    responses = _function_responses(stub.conversation()[-1])
    assert [response["name"] for response in responses] == ["run_shell_command"]
    print("gemini approve:", pane.trace)


async def test_approve_always_stops_asking_for_that_command(stub: GeminiStub, pane: AgentPane, tmp_path: Path):
    home, work = _dirs(tmp_path)
    stub.call_tool("run_shell_command", {"command": "touch a.txt"})
    stub.say("Made a.txt.")
    stub.call_tool("run_shell_command", {"command": "touch a.txt"})
    stub.say("Made it again.")
    pane.start(*gemini.prepare(home, work, stub.url), work)
    await _started(pane)
    await pane.submit("make a.txt")
    reading, _ = await pane.until("waiting", "tool-confirmation")
    assert reading.options[1].label == "Allow for this session"
    await pane.answer(reading, "approve_always")
    await wait_until(lambda: "Made a.txt." in pane.screen(), "the first turn")
    await pane.until("idle", "input-prompt")
    (work / "a.txt").unlink()

    await pane.submit("make it again")

    def finished() -> bool:
        reading, screen = pane.read()
        assert reading.state.value != "waiting", "asked again for a command allowed for the session"
        return "Made it again." in screen

    await wait_until(finished, "the second turn", timeout=20)
    assert (work / "a.txt").exists()


async def test_an_edit_is_asked_for_and_written_once_approved(stub: GeminiStub, pane: AgentPane, tmp_path: Path):
    home, work = _dirs(tmp_path)
    stub.call_tool("write_file", {"file_path": str(work / "notes.md"), "content": "# Notes\n"})
    stub.say("Wrote notes.md.")
    pane.start(*gemini.prepare(home, work, stub.url), work)
    await _started(pane)
    await pane.submit("write notes.md")
    reading, _ = await pane.until("waiting", "tool-confirmation")
    assert reading.request == "WriteFile  Writing to notes.md" and reading.command is None
    assert [option.label for option in reading.options][-1] == "No, suggest changes (esc)"

    await pane.answer(reading, "approve")
    await wait_until(lambda: "Wrote notes.md." in pane.screen(), "the answer")
    await pane.until("idle", "input-prompt")
    assert (work / "notes.md").read_text() == "# Notes\n"


async def test_a_denied_command_does_not_run_and_ends_the_turn(stub: GeminiStub, pane: AgentPane, tmp_path: Path):
    home, work = _dirs(tmp_path)
    stub.call_tool("run_shell_command", {"command": "touch denied.txt"})
    pane.start(*gemini.prepare(home, work, stub.url), work)
    await _started(pane)
    await pane.submit("create denied.txt")
    reading, _ = await pane.until("waiting", "tool-confirmation")

    await pane.answer(reading, "deny")
    _, screen = await pane.until("idle", "input-prompt")
    assert "Request cancelled." in screen
    await asyncio.sleep(1)
    assert not (work / "denied.txt").exists()
    assert len(stub.conversation()) == 1, "a cancel ends the turn: nothing goes back to the model"
    print("gemini deny:", pane.trace)


async def test_an_api_error_reads_as_error_until_the_next_prompt(stub: GeminiStub, pane: AgentPane, tmp_path: Path):
    home, work = _dirs(tmp_path)
    stub.fail(400, "The stub refused this request.")
    stub.say("Back again.")
    pane.start(*gemini.prepare(home, work, stub.url), work)
    await _started(pane)
    await pane.submit("this one fails")
    reading, _ = await pane.until("error", "api-error", timeout=10)
    errored = pane.trace[-1]
    assert "The stub refused this" in reading.request

    await pane.submit("try again")  # the error scrolls up and no longer counts
    await wait_until(lambda: "Back again." in pane.screen(), "the answer")
    _, screen = await pane.until("idle", "input-prompt")
    assert "The stub refused this" in screen
    assert ("error", "api-error") not in [step[1:] for step in pane.trace[pane.trace.index(errored) + 1 :]]
    print("gemini error:", pane.trace)


async def test_the_model_dialog_is_answered_with_its_rules_keys(stub: GeminiStub, pane: AgentPane, tmp_path: Path):
    home, work = _dirs(tmp_path)
    stub.fail(404, f"models/{gemini.MODEL} is not found for API version v1beta.")
    pane.start(*gemini.prepare(home, work, stub.url), work)
    await _started(pane)
    await pane.submit("hello")
    reading, _ = await pane.until("waiting", "model-dialog")
    assert [(option.key, option.label) for option in reading.options] == [("1", "Keep trying"), ("2", "Stop")]

    await pane.answer(reading, "deny")
    reading, _ = await pane.until("error", "api-error")
    assert "is not found" in reading.request
    assert len(stub.conversation()) == 1


async def test_the_trust_dialog_is_answered_with_its_rules_keys(stub: GeminiStub, pane: AgentPane, tmp_path: Path):
    home, work = _dirs(tmp_path)
    pane.start(*gemini.prepare(home, work, stub.url, dialogs=True), work)
    reading, _ = await pane.until("waiting", "trust-folder", timeout=START_TIMEOUT)
    assert [option.key for option in reading.options] == ["1", "2", "3"]
    await asyncio.sleep(1)  # a key pressed the moment the dialog shows can be lost
    await pane.answer(reading, "approve")
    await wait_until(lambda: "restarting to apply the trust changes" in pane.screen(), "the restart")
    await pane.until("idle", "input-prompt", timeout=START_TIMEOUT)
    trusted = json.loads((home / ".gemini" / "trustedFolders.json").read_text())
    assert trusted == {str(work): "TRUST_FOLDER"}
    assert "untrusted" not in pane.screen()

    # The relaunch wrapper outlives a closed pane: end Gemini itself, which ends the pane.
    await asyncio.sleep(1)
    await pane.submit("/quit")
    await wait_until(lambda: not pane.tmux("list-panes"), "Gemini to exit", timeout=15)
    print("gemini trust:", pane.trace)
