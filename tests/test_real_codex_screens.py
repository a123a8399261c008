"""The real Codex CLI, offline against the OpenAI stub, in a private tmux pane: its screens read as the states
the codex rules say, and the keys of the codex kind answer its prompts."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from agent_console.agents.kinds import load_kind, normalized
from tests.agent_clis import cli_path, codex
from tests.agent_clis.pane import AgentPane, wait_until
from tests.stub_models.openai import OpenAIStub

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture
async def stub() -> AsyncIterator[OpenAIStub]:
    async with OpenAIStub(model=codex.MODEL) as server:
        yield server


@pytest.fixture
def pane(tmux_socket: str) -> Iterator[AgentPane]:
    cli_path("codex")  # skips when it cannot be installed
    agent = AgentPane(tmux_socket, load_kind("codex"))
    yield agent
    left = agent.stop()
    assert not left, f"Codex left processes {left} running after its pane closed"


def _dirs(tmp_path: Path) -> tuple[Path, Path]:
    home, work = tmp_path / "home", tmp_path / "work"
    work.mkdir()
    return home, work


async def test_a_command_is_approved_with_the_kinds_keys_and_runs(stub: OpenAIStub, pane: AgentPane, tmp_path):
    home, work = _dirs(tmp_path)
    stub.hold()
    stub.run_command(["touch", "hello.txt"], justification="Create hello.txt?")
    stub.hold()
    stub.say("Created hello.txt.")
    pane.start(*codex.prepare(home, work, stub.url), work)
    await pane.until("idle", "composer", timeout=30)

    await pane.submit("create hello.txt")
    await pane.until("working", "working")
    await asyncio.sleep(1.0)  # the thread's title ("Stub task") comes into the footer
    _, first = pane.read()
    await asyncio.sleep(1.5)
    reading, second = pane.read()
    assert reading.state.value == "working"
    assert normalized(pane.kind, first) == normalized(pane.kind, second), "only volatile parts changed"

    stub.release()
    reading, _ = await pane.until("waiting", "approval-prompt")
    assert reading.command == "touch hello.txt"
    assert "Create hello.txt?" in reading.request
    assert [option.key for option in reading.options] == ["y", "p", "esc"]
    assert not (work / "hello.txt").exists()

    await pane.answer(reading, "approve")
    await wait_until(lambda: (work / "hello.txt").exists(), "the approved command to run")
    await asyncio.sleep(0.5)
    await pane.until("working", "working", timeout=1)  # its output went back to the model, which is held
    stub.release()
    _, screen = await pane.until("idle", "composer")
    assert "Created hello.txt." in screen
    call = stub.conversation()[-1]["input"]
    assert any(item.get("type") == "function_call_output" for item in call)
    print("codex approve:", pane.trace)


async def test_approve_always_stops_asking_for_that_command(stub: OpenAIStub, pane: AgentPane, tmp_path: Path):
    home, work = _dirs(tmp_path)
    stub.run_command(["touch", "a.txt"])
    stub.say("Made a.txt.")
    stub.run_command(["touch", "a.txt"])
    stub.say("Made it again.")
    pane.start(*codex.prepare(home, work, stub.url), work)
    await pane.until("idle", timeout=30)
    await pane.submit("make a.txt")
    reading, _ = await pane.until("waiting", "approval-prompt")
    await pane.answer(reading, "approve_always")
    _, screen = await pane.until("idle", "composer")
    assert "always run commands that start with touch a.txt" in screen
    (work / "a.txt").unlink()

    await pane.submit("make it again")

    def finished() -> bool:
        reading, screen = pane.read()
        assert reading.state.value != "waiting", "asked again for an always-approved command"
        return "Made it again." in screen

    await wait_until(finished, "the second turn", timeout=20)
    assert (work / "a.txt").exists()


async def test_a_denied_command_does_not_run_and_ends_the_turn(stub: OpenAIStub, pane: AgentPane, tmp_path: Path):
    home, work = _dirs(tmp_path)
    stub.run_command(["touch", "denied.txt"])
    pane.start(*codex.prepare(home, work, stub.url), work)
    await pane.until("idle", timeout=30)
    await pane.submit("create denied.txt")
    reading, _ = await pane.until("waiting", "approval-prompt")

    await pane.answer(reading, "deny")
    _, screen = await pane.until("idle", "composer")
    assert "You canceled the request to run touch denied.txt" in screen
    assert "Conversation interrupted" in screen
    await asyncio.sleep(1)
    assert not (work / "denied.txt").exists()
    assert len(stub.conversation()) == 1, "a cancel ends the turn: nothing goes back to the model"
    print("codex deny:", pane.trace)


async def test_an_api_error_shows_at_once_and_reads_as_error(stub: OpenAIStub, pane: AgentPane, tmp_path: Path):
    home, work = _dirs(tmp_path)
    stub.fail(400, "The stub refused this request.")
    stub.say("Back again.")
    pane.start(*codex.prepare(home, work, stub.url), work)
    await pane.until("idle", timeout=30)
    await pane.submit("this one fails")
    sent = time.monotonic()
    reading, _ = await pane.until("error", "api-error", timeout=10)
    errored = pane.trace[-1]
    assert time.monotonic() - sent < 5, "retries are capped, so the error shows at once"
    assert "The stub refused this request." in reading.request

    await pane.submit("try again")  # the error scrolls up and no longer counts
    await wait_until(lambda: "Back again." in pane.screen(), "the answer")
    _, screen = await pane.until("idle", "composer")
    assert "Back again." in screen and "The stub refused this request." in screen
    assert ("error", "api-error") not in [step[1:] for step in pane.trace[pane.trace.index(errored) + 1 :]]
    print("codex error:", pane.trace)


async def test_the_trust_dialog_is_answered_with_its_rules_keys(stub: OpenAIStub, pane: AgentPane, tmp_path: Path):
    home, work = _dirs(tmp_path)
    git = work / ".git"  # an empty repository, laid out by hand: Codex asks about trust in version-controlled folders
    (git / "objects").mkdir(parents=True)
    (git / "refs" / "heads").mkdir(parents=True)
    (git / "HEAD").write_text("ref: refs/heads/main\n")
    pane.start(*codex.prepare(home, work, stub.url, dialogs=True), work)
    reading, _ = await pane.until("waiting", "trust-dialog", timeout=30)
    assert [option.key for option in reading.options] == ["1", "2"]
    await asyncio.sleep(1)  # a key pressed the moment the dialog shows can be lost
    await pane.answer(reading, "approve")
    await pane.until("idle", "composer")
    assert f'[projects."{work}"]' in (home / ".codex" / "config.toml").read_text()


async def test_notify_runs_once_a_turn_with_the_panes_environment(stub: OpenAIStub, pane: AgentPane, tmp_path: Path):
    home, work = _dirs(tmp_path)
    calls = tmp_path / "notify.jsonl"
    script = tmp_path / "notify.py"
    script.write_text(
        f"#!{sys.executable}\nimport json, os, sys\nwith open({str(calls)!r}, 'a') as out:\n"
        "    out.write(json.dumps({'argv': sys.argv[1:], 'token': os.environ.get('AGENT_CONSOLE_TOKEN')}) + '\\n')\n"
    )
    script.chmod(0o755)
    stub.say("First answer.")
    stub.say("Second answer.")
    argv, env = codex.prepare(home, work, stub.url, notify=[str(script)], extra_env={"AGENT_CONSOLE_TOKEN": "tok-7"})
    pane.start(argv, env, work)
    await pane.until("idle", timeout=30)
    for prompt, answer in (("first", "First answer."), ("second", "Second answer.")):
        await pane.submit(prompt)
        await wait_until(lambda answer=answer: answer in pane.screen(), f"the answer to {prompt!r}")
        await pane.until("idle", "composer")

    def records() -> list[dict]:
        return [json.loads(line) for line in calls.read_text().splitlines()] if calls.exists() else []

    def turn_payloads() -> list[dict]:
        # The thread's title is asked for in a turn of its own (another thread id), which notifies too.
        payloads = [json.loads(record["argv"][-1]) for record in records()]
        return [p for p in payloads if not p["input-messages"][0].startswith("Generate a concise")]

    await wait_until(lambda: len(turn_payloads()) >= 2, "a notification for each turn")
    await asyncio.sleep(1)  # and no more
    assert all(len(record["argv"]) == 1 and record["token"] == "tok-7" for record in records())
    payloads = [json.loads(record["argv"][0]) for record in records()]
    turns = turn_payloads()
    assert [p["last-assistant-message"] for p in turns] == ["First answer.", "Second answer."]
    assert turns[1]["input-messages"] == ["first", "second"]
    assert {p["type"] for p in payloads} == {"agent-turn-complete"}
    assert turns[0]["cwd"] == str(work) and turns[0]["thread-id"] == turns[1]["thread-id"]
    saved = json.loads((FIXTURES / "hooks" / "codex" / "notify.json").read_text())
    assert set(saved) == set(turns[0]), "the saved payload has the fields Codex sends"
