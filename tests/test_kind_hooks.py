"""What hooks say: every payload captured from the real Claude Code, and Codex's notify argument."""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path

import pytest

from agent_console.agents.events import AgentState
from agent_console.agents.kinds import load_kind
from agent_console.agents.kinds.hooks import HookError, read_claude_hook, read_codex_notify
from agent_console.agents.model import Agent, AgentKind, Org, Team
from agent_console.runtime.agent_hooks import CLAUDE_HOOK_EVENTS, claude_settings, hook_arguments
from agent_console.runtime.deployment import agent_launch, program_launch

HOOKS = Path(__file__).parent / "fixtures" / "hooks"

CLAUDE = {
    "SessionStart": ("idle", None, None),
    "UserPromptSubmit": ("working", "create hello.txt", None),
    "PreToolUse": ("working", "Bash: touch hello.txt", None),
    "PermissionRequest": ("waiting", "Bash: touch hello.txt", "touch hello.txt"),
    "Notification": ("waiting", "Claude needs your permission", None),
    "Notification-idle_prompt": ("idle", "Claude is waiting for your input", None),
    "PostToolUse": ("working", "Bash: touch hello.txt", None),
    "PostToolBatch": ("working", None, None),
    "MessageDisplay": ("unknown", None, None),
    "Stop": ("idle", "Created hello.txt.", None),
    "StopFailure": ("error", "API Error: 400 stub: forced failure", None),
    "SessionEnd": ("offline", None, None),
}


def test_every_captured_claude_payload_has_an_expectation() -> None:
    assert {path.stem for path in (HOOKS / "claude").glob("*.json")} == set(CLAUDE)


@pytest.mark.parametrize("name", sorted(CLAUDE))
def test_a_real_claude_hook_payload_reads_as_its_state(name: str) -> None:
    reading = read_claude_hook(json.loads((HOOKS / "claude" / f"{name}.json").read_text()))
    state, detail, command = CLAUDE[name]
    assert reading.state == AgentState(state)
    assert reading.detail == detail
    assert reading.command == command
    assert (reading.request is not None) == (name == "PermissionRequest")


def test_payloads_that_are_not_a_hooks_are_refused_by_name() -> None:
    with pytest.raises(HookError, match="hook_event_name is missing"):
        read_claude_hook({"tool_name": "Bash"})
    with pytest.raises(HookError, match="type is missing"):
        read_codex_notify({"hook_event_name": "Stop"})
    assert read_claude_hook({"hook_event_name": "SomethingNew"}).state is AgentState.UNKNOWN


def test_the_claude_settings_file_runs_the_hook_command_for_each_event(tmp_path: Path) -> None:
    path = claude_settings(tmp_path / "claude-hooks.json")
    hooks = json.loads(path.read_text())["hooks"]
    assert set(hooks) == set(CLAUDE_HOOK_EVENTS)
    for event, (entry,) in hooks.items():
        (command,) = entry["hooks"]
        assert command["type"] == "command" and command["command"].endswith("-m agent_console hook claude")
        assert ("matcher" in entry) == (event in ("PreToolUse", "PermissionRequest", "PostToolUse"))


def test_hooks_are_wired_by_kind(tmp_path: Path) -> None:
    claude, codex = load_kind("claude"), load_kind("codex")
    assert hook_arguments(claude, "claude --model x", tmp_path)[0] == "--settings"
    assert hook_arguments(claude, "/opt/bin/claude", tmp_path)[1] == str(tmp_path / "claude-hooks.json")
    assert hook_arguments(claude, "./run-claude.sh", tmp_path)[0] == "--settings"  # a wrapper passes them on
    notify = hook_arguments(codex, "codex", tmp_path)
    assert notify[0] == "-c" and json.loads(notify[1].removeprefix("notify="))[-2:] == ["hook", "codex"]
    assert hook_arguments(load_kind("aider"), "aider", tmp_path) == []
    assert hook_arguments(load_kind("shell"), "bash", tmp_path) == []


def test_a_wrapper_script_keeps_its_kinds_arguments_and_hooks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    wrapped = Agent(
        name="cx", team="t", kind=AgentKind.CODEX, command="/opt/wrap/codex-in-box.sh --model m", cwd=tmp_path
    )
    given = Agent(name="cy", team="t", kind=AgentKind.CODEX, command="codex --no-daemon", cwd=tmp_path)
    org = Org(name="wrap", teams=(Team(name="t"),), agents=(wrapped, given))
    served = shlex.split(program_launch(org, wrapped, lambda agent: {}).command)  # (what runs in the boundary)
    assert served[:3] == ["/opt/wrap/codex-in-box.sh", "--model", "m"]
    assert "--no-daemon" in served  # its app-server would outlive the pane
    assert served[served.index("-c") + 1].startswith("notify=")
    assert shlex.split(program_launch(org, wrapped).command) == [*served[:3], "--no-daemon"]  # `up`: no hooks
    assert shlex.split(program_launch(org, given).command) == ["codex", "--no-daemon"]  # not twice


def test_codex_notify_says_idle_when_a_turn_ends_but_not_for_its_title_turn() -> None:
    payload = json.loads((HOOKS / "codex" / "notify.json").read_text())
    reading = read_codex_notify(payload)
    assert (reading.state, reading.event, reading.detail) == (
        AgentState.IDLE,
        "agent-turn-complete",
        "Created hello.txt.",
    )
    title = payload | {"input-messages": ["Generate a concise, single-line task title for this request: …"]}
    assert read_codex_notify(title).state is AgentState.UNKNOWN


def test_an_agent_finds_this_agent_console_on_its_path_after_its_own(monkeypatch: pytest.MonkeyPatch) -> None:
    """Installed in a virtual environment the terminal server never saw, `agent-console emit|ask` still work in
    the agent's pane: the console's folder comes last on the PATH the agent gets, shadowing nothing."""
    org = Org(name="o", teams=(Team(name="t"),), agents=(Agent(name="a", team="t"),))
    here = str(Path(sys.executable).parent)
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    assert agent_launch(org, org.agents[0]).env["PATH"] == f"/usr/bin:/bin:{here}"
    monkeypatch.setenv("PATH", f"{here}:/usr/bin")  # on it already: left as it is
    assert agent_launch(org, org.agents[0]).env["PATH"] == f"{here}:/usr/bin"
    spec_path = Agent(name="b", team="t", env={"PATH": "/opt/x"})  # the spec's own PATH wins
    assert agent_launch(org.model_copy(update={"agents": (spec_path,)}), spec_path).env["PATH"] == "/opt/x"
