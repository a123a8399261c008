"""Wiring agent programs' hooks to the console at launch, without touching the user's own settings.

Claude Code gets a settings file of our own on its command line (`--settings`), which adds hooks to the
user's; Codex gets its `notify` program as a `-c` override. Both run `agent-console hook …`, which reports to
the console serving the agent's org.
"""

from __future__ import annotations

import json
import os
import shlex
import sys
from pathlib import Path

from agent_console.agents.kinds import KindDefinition

CLAUDE_HOOK_EVENTS = (
    "SessionStart",
    "UserPromptSubmit",
    "PreToolUse",
    "PermissionRequest",
    "Notification",
    "PostToolUse",
    "Stop",
    "StopFailure",
    "SessionEnd",
)
TOOL_EVENTS = {"PreToolUse", "PermissionRequest", "PostToolUse"}
HOOK_TIMEOUT_SECONDS = 5


def hook_program() -> list[str]:
    """How an agent's program runs `agent-console`: this interpreter, so no PATH is needed in the pane."""
    return [sys.executable, "-m", "agent_console"]


def claude_settings(path: Path) -> Path:
    """Write (atomically) the settings file that sends every Claude Code hook event to the console."""
    command = shlex.join([*hook_program(), "hook", "claude"])
    hooks = {}
    for event in CLAUDE_HOOK_EVENTS:
        entry: dict = {"hooks": [{"type": "command", "command": command, "timeout": HOOK_TIMEOUT_SECONDS}]}
        if event in TOOL_EVENTS:
            entry = {"matcher": "*", **entry}
        hooks[event] = [entry]
    text = json.dumps({"hooks": hooks}, indent=2, sort_keys=True) + "\n"
    if not path.exists() or path.read_text(encoding="utf-8") != text:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".tmp")
        partial.write_text(text, encoding="utf-8")
        os.replace(partial, path)
    return path


def hook_arguments(kind: KindDefinition, command: str | None, public_dir: Path) -> list[str]:
    """Arguments that wire the kind's hooks into `command`: by the kind, whatever the command's file is called
    (a wrapper script passes them on to the program). Files they name are kept in `public_dir`, the part of
    the state an agent's boundary lets it read."""
    if command is None or kind.program is None:
        return []
    if kind.kind == "claude":
        return ["--settings", str(claude_settings(public_dir / "claude-hooks.json"))]
    if kind.kind == "codex":
        return ["-c", "notify=" + json.dumps([*hook_program(), "hook", "codex"])]
    return []
