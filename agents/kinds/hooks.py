"""What an agent program's hook says about its state: Claude Code's hook events, Codex's `notify` payload."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass

from agent_console.agents.errors import InvalidInput
from agent_console.agents.events import AgentState

MAX_DETAIL = 500
CODEX_TITLE_REQUEST = "Generate a concise, single-line task title"


class HookError(InvalidInput, ValueError):
    """The payload is not what the program sends; the message says what is wrong."""


@dataclass(frozen=True, slots=True)
class HookReading:
    """The state a hook event means; `request` and `command` when the program asks the human."""

    state: AgentState
    event: str
    detail: str | None = None
    request: str | None = None
    command: str | None = None
    session: str | None = None  # the conversation it is in, once one exists (unchecked: the caller checks it)


_CLAUDE_STATES = {
    "SessionStart": AgentState.IDLE,
    "UserPromptSubmit": AgentState.WORKING,
    "PreToolUse": AgentState.WORKING,
    "PostToolUse": AgentState.WORKING,
    "PostToolBatch": AgentState.WORKING,
    "PermissionRequest": AgentState.WAITING,
    "Stop": AgentState.IDLE,
    "StopFailure": AgentState.ERROR,  # an API error ended the turn (no Stop follows)
    "SubagentStop": AgentState.WORKING,
    "PreCompact": AgentState.WORKING,
    "SessionEnd": AgentState.OFFLINE,
}


def read_claude_hook(payload: dict) -> HookReading:
    """One Claude Code hook event (its JSON on the hook's stdin) as a state."""
    event = payload.get("hook_event_name")
    if not isinstance(event, str) or not event:
        raise HookError("hook_event_name is missing: not a Claude Code hook payload")
    if event == "Notification":
        message = str(payload.get("message") or "")
        kind = payload.get("notification_type")  # permission_prompt, idle_prompt (older versions: message only)
        asks = kind == "permission_prompt" or (kind is None and "permission" in message.lower())
        return HookReading(AgentState.WAITING if asks else AgentState.IDLE, event, detail=brief(message))
    reading = _read_claude_event(event, payload)
    # SessionStart names a session before anything is written to it: resuming that one fails ("No conversation
    # found with session ID", exit 1, Claude Code 2.1.197), so the id is taken from the events after it.
    session = payload.get("session_id") if event != "SessionStart" else None
    return dataclasses.replace(reading, session=session) if isinstance(session, str) and session else reading


def _read_claude_event(event: str, payload: dict) -> HookReading:
    state = _CLAUDE_STATES.get(event)
    if state is None:
        return HookReading(AgentState.UNKNOWN, event)
    if event in ("Stop", "StopFailure"):
        return HookReading(state, event, detail=brief(str(payload.get("last_assistant_message") or "")))
    if event == "UserPromptSubmit":
        return HookReading(state, event, detail=brief(str(payload.get("prompt") or "")))
    if event in ("PreToolUse", "PostToolUse", "PermissionRequest"):
        tool = str(payload.get("tool_name") or "a tool")
        tool_input = payload.get("tool_input")
        command = _tool_command(tool_input)
        described = _tool_description(tool, tool_input, command)
        if event == "PermissionRequest":
            return HookReading(state, event, detail=brief(described), request=described, command=command)
        return HookReading(state, event, detail=brief(described))
    return HookReading(state, event)


def read_codex_notify(payload: dict) -> HookReading:
    """Codex's `notify` program argument: it is called when a turn ends."""
    kind = payload.get("type")
    if not isinstance(kind, str):
        raise HookError("type is missing: not a Codex notify payload")
    if kind == "agent-turn-complete":
        asked = payload.get("input-messages")
        if isinstance(asked, list) and asked and str(asked[0]).startswith(CODEX_TITLE_REQUEST):
            return HookReading(AgentState.UNKNOWN, kind)  # Codex naming the thread: a turn of its own, not ours
        message = payload.get("last-assistant-message")
        thread = payload.get("thread-id")  # the session `codex resume <id>` takes up again
        session = thread if isinstance(thread, str) and thread else None
        return HookReading(AgentState.IDLE, kind, detail=brief(str(message)) if message else None, session=session)
    return HookReading(AgentState.UNKNOWN, kind)


def _tool_command(tool_input: object) -> str | None:
    if isinstance(tool_input, dict) and isinstance(tool_input.get("command"), str):
        return tool_input["command"]
    return None


def _tool_description(tool: str, tool_input: object, command: str | None) -> str:
    if command is not None:
        return f"{tool}: {command}"
    if isinstance(tool_input, dict):
        for key in ("file_path", "path", "url", "pattern", "query"):
            if isinstance(tool_input.get(key), str):
                return f"{tool}: {tool_input[key]}"
        if tool_input:
            return f"{tool}: {json.dumps(tool_input, ensure_ascii=False, sort_keys=True)}"
    return tool


def brief(text: str | None) -> str | None:
    """`text` on one line, cut to what an observation's detail holds; None when there is nothing to say."""
    text = " ".join((text or "").split())
    if not text:
        return None
    return text if len(text) <= MAX_DETAIL else text[: MAX_DETAIL - 1] + "…"
