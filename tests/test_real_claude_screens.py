"""The real Claude Code, offline against the stub Anthropic API in a private tmux pane, read by claude.toml's rules.

Each test walks the program through a flow and checks, at every step, that the screen reads as the state the
flow is in, and that answering with the keys claude.toml names does what it says.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest

from agent_console.agents.kinds import Detection, detect, load_kind
from tests.agent_clis.claude import prepare
from tests.conftest import tmux, wait_for, when
from tests.stub_models.anthropic import AnthropicStub, ThreadedAnthropicStub, threaded_stub

KIND = load_kind("claude")
TOUCH = {"command": "touch hello.txt", "description": "Create hello.txt"}
START_TIMEOUT = 40.0  # the first start of a 240 MB native binary on a cold cache
STEP_TIMEOUT = 20.0


@dataclass
class ClaudePane:
    socket: str
    stub: ThreadedAnthropicStub
    workdir: Path

    def screen(self) -> str:
        return tmux(self.socket, "capture-pane", "-p", "-t", "claude:0.0")

    def reading(self) -> Detection:
        return detect(KIND, self.screen())

    def wait_state(self, state: str, timeout: float = STEP_TIMEOUT, rule: str | None = None) -> Detection:
        def matches(reading: Detection) -> bool:
            return reading.state.value == state and (rule is None or reading.rule == rule)

        try:
            return wait_for(lambda: when(self.reading(), matches), timeout, f"{state} ({rule or 'any rule'})")
        except AssertionError as error:
            raise AssertionError(f"{error}; the screen reads {self.reading()} and shows:\n{self.screen()}") from None

    def press(self, *keys: str) -> None:
        tmux(self.socket, "send-keys", "-t", "claude:0.0", *keys)

    def type_prompt(self, text: str) -> None:
        tmux(self.socket, "send-keys", "-t", "claude:0.0", "-l", text)
        wait_for(lambda: text in self.screen(), 5.0, f"{text!r} typed into the input box")
        self.press("Enter")


def _start(socket: str, tmp_path: Path, *, dialogs: bool = False) -> Iterator[ClaudePane]:
    with threaded_stub() as stub:
        argv, env = prepare(tmp_path / "home", tmp_path / "work", stub.url, dialogs=dialogs)
        command = ["env", "-i", *(f"{name}={value}" for name, value in env.items()), *argv]
        tmux(socket, "-f", "/dev/null", "new-session", "-d", "-s", "claude", "-x", "100", "-y", "30",
             "-c", str(tmp_path / "work"), *command, ";", "set-option", "-g", "remain-on-exit", "on")  # fmt: skip
        try:
            yield ClaudePane(socket, stub, tmp_path / "work")
        finally:
            tmux(socket, "kill-server")  # before the stub goes away, so Claude never sees it vanish


@pytest.fixture
def claude(tmux_socket: str, tmp_path: Path) -> Iterator[ClaudePane]:
    """Claude Code ready at its prompt (trusted folder, approved key) in a private tmux pane."""
    yield from _start(tmux_socket, tmp_path)


@pytest.fixture
def claude_first_run(tmux_socket: str, tmp_path: Path) -> Iterator[ClaudePane]:
    """Claude Code started in an untrusted folder with an unapproved key: both start-up dialogs come up."""
    yield from _start(tmux_socket, tmp_path, dialogs=True)


def _ask_for_touch(claude: ClaudePane) -> Detection:
    """From idle: a prompt that makes the model ask to run `touch hello.txt`, held at first so that
    "working" can be seen; returns the permission prompt's reading."""
    claude.wait_state("idle", START_TIMEOUT)
    claude.stub.hold()
    claude.stub.use_tool("Bash", TOUCH)
    claude.type_prompt("create hello.txt")
    claude.wait_state("working", rule="working")
    wait_for(lambda: claude.stub.holding, STEP_TIMEOUT, "the request to reach the stub")
    time.sleep(1.0)  # the spinner keeps animating: still working, not idle
    assert claude.reading().state.value == "working"
    claude.stub.release()
    waiting = claude.wait_state("waiting", rule="permission-bash")
    assert waiting.command == "touch hello.txt"
    assert waiting.request is not None and "touch hello.txt" in waiting.request
    assert [option.key for option in waiting.options] == ["1", "2", "3"]
    assert not (claude.workdir / "hello.txt").exists()
    return waiting


def test_approving_a_bash_command_with_the_kinds_keys_runs_it(claude: ClaudePane) -> None:
    waiting = _ask_for_touch(claude)
    claude.stub.hold()  # the turn after the tool result: working again until released
    claude.stub.say("Created hello.txt.")
    claude.press(*KIND.keys_for(waiting.rule, "approve"))
    claude.wait_state("working", rule="working")
    wait_for(lambda: (claude.workdir / "hello.txt").exists(), STEP_TIMEOUT, "hello.txt to be created")
    claude.stub.release()
    claude.wait_state("idle", rule="input-box")
    assert "Created hello.txt." in claude.screen()
    assert len(claude.stub.main_requests()) == 2  # the prompt, then the tool result


def test_denying_a_bash_command_with_the_kinds_keys_ends_the_turn(claude: ClaudePane) -> None:
    waiting = _ask_for_touch(claude)
    claude.press(*KIND.keys_for(waiting.rule, "deny"))
    claude.wait_state("idle", rule="input-box")
    assert "Interrupted · What should Claude do instead?" in claude.screen()
    time.sleep(1.0)  # a deny sends nothing more to the model
    assert len(claude.stub.main_requests()) == 1
    assert not (claude.workdir / "hello.txt").exists()


def test_an_api_error_reads_as_error_until_the_next_prompt(claude: ClaudePane) -> None:
    claude.wait_state("idle", START_TIMEOUT)
    claude.stub.fail(400, "invalid_request_error", "stub: forced failure")
    claude.type_prompt("fail now")
    error = claude.wait_state("error", rule="api-error")
    assert error.request == "API Error: 400 stub: forced failure"
    claude.stub.say("Fine again.")
    claude.type_prompt("try again")
    claude.wait_state("idle", rule="input-box")
    assert "Fine again." in claude.screen()


def test_the_start_up_dialogs_are_waiting_and_their_own_keys_accept_them(claude_first_run: ClaudePane) -> None:
    claude = claude_first_run
    trust = claude.wait_state("waiting", START_TIMEOUT, rule="trust-folder")
    assert trust.request is not None and str(claude.workdir) in trust.request
    claude.press(*KIND.keys_for(trust.rule, "approve"))
    key = claude.wait_state("waiting", rule="api-key")
    assert [option.key for option in key.options] == ["1", "2"]
    claude.press(*KIND.keys_for(key.rule, "approve"))
    claude.wait_state("idle", rule="input-box")
    assert "Not logged in" not in claude.screen()


# The stub on its own (no Claude): what the real program relies on.


def _sse(text: str) -> list[dict]:
    return [json.loads(line[len("data: ") :]) for line in text.splitlines() if line.startswith("data: ")]


async def test_the_stub_streams_a_tool_call_and_answers_side_requests_without_using_the_script() -> None:
    stub = AnthropicStub()
    await stub.start()
    try:
        stub.use_tool("Bash", TOUCH, text="Creating it.")
        main = {"model": "m", "stream": True, "tools": [{"name": "Bash"}], "messages": []}
        title = {"model": "small", "tools": [], "output_config": {"format": {"type": "json_schema", "schema": {
            "type": "object", "properties": {"title": {"type": "string"}}}}}}  # fmt: skip
        async with aiohttp.ClientSession() as session:
            async with session.post(f"{stub.url}/v1/messages", json=title) as response:
                side = await response.json()
            async with session.post(f"{stub.url}/v1/messages", json=main) as response:
                events = _sse(await response.text())
            async with session.get(f"{stub.url}/api/unknown") as response:
                assert response.status == 404 and (await response.json())["type"] == "error"
        assert json.loads(side["content"][0]["text"]) == {"title": "Stub session"}
        assert [event["type"] for event in events][:3] == ["message_start", "ping", "content_block_start"]
        assert events[-2]["delta"]["stop_reason"] == "tool_use" and events[-1]["type"] == "message_stop"
        pieces = [e["delta"]["partial_json"] for e in events if e.get("delta", {}).get("type") == "input_json_delta"]
        assert json.loads("".join(pieces)) == TOUCH
        assert [r.kind for r in stub.requests] == ["side", "main", "unknown"] and stub.pending == 0
    finally:
        await stub.stop()


async def test_the_stub_holds_a_reply_until_released_and_fails_without_retry() -> None:
    stub = AnthropicStub()
    await stub.start()
    try:
        stub.hold()
        stub.fail(400, "invalid_request_error", "stub: forced failure")
        main = {"model": "m", "stream": True, "tools": [{"name": "Bash"}], "messages": []}
        async with aiohttp.ClientSession() as session:
            request = asyncio.ensure_future(session.post(f"{stub.url}/v1/messages", json=main))
            for _ in range(200):
                if stub.holding:
                    break
                await asyncio.sleep(0.01)
            assert stub.holding and not request.done()
            stub.release()
            async with await request as response:
                assert response.status == 400 and response.headers["x-should-retry"] == "false"
                assert (await response.json())["error"]["type"] == "invalid_request_error"
    finally:
        await stub.stop()
