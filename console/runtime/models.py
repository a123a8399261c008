"""Model providers over aiohttp: Anthropic Messages and OpenAI-compatible chat completions (OpenAI, Ollama, vLLM).

Both stream their answer (server-sent events): text is handed to `on_text` as it comes, tool calls are gathered
and returned whole with the turn. A 429, a 5xx or a lost connection before the answer began is retried with
backoff; `timeout` bounds the wait for each byte; cancelling the task that awaits `turn` closes the connection.
The conversation is kept in a neutral form (`UserText`, `AssistantTurn`, `ToolResults`) each provider writes in
its own API's shape. The key goes only into the request's header; errors never quote it.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import aiohttp

from agent_console.agents.errors import Unavailable
from agent_console.runtime.model_settings import ExecutiveSettings

ANTHROPIC_VERSION = "2023-06-01"
RETRY_STATUS = frozenset({408, 409, 429, 500, 502, 503, 504, 529})
BACKOFF_SECONDS = 0.5
BACKOFF_CAP_SECONDS = 8.0
ERROR_CHARS = 300


class ModelError(Unavailable):
    """The model could not answer: what failed, in one line fit for the chat."""


@dataclass(frozen=True)
class Tool:
    name: str
    description: str
    schema: dict[str, Any]


@dataclass(frozen=True)
class ToolCall:
    id: str
    name: str
    arguments: dict[str, Any]
    problem: str | None = None  # its arguments were not a JSON object


@dataclass(frozen=True)
class UserText:
    text: str


@dataclass(frozen=True)
class AssistantTurn:
    text: str
    calls: tuple[ToolCall, ...] = ()


@dataclass(frozen=True)
class ToolResult:
    call: ToolCall
    content: str


@dataclass(frozen=True)
class ToolResults:
    results: tuple[ToolResult, ...]


Message = UserText | AssistantTurn | ToolResults
TextSink = Callable[[str], None]


@dataclass
class Usage:
    input_tokens: int = 0
    output_tokens: int = 0


class ModelProvider(Protocol):
    settings: ExecutiveSettings
    usage: Usage

    async def turn(self, system: str, messages: list[Message], tools: list[Tool], on_text: TextSink) -> AssistantTurn:
        """The model's next turn: its text (streamed to `on_text` too) and the tools it calls."""
        ...

    async def close(self) -> None: ...


@dataclass
class _HttpProvider:
    settings: ExecutiveSettings
    key: str | None
    usage: Usage = field(default_factory=Usage)
    _session: aiohttp.ClientSession | None = None

    path = ""

    def _headers(self) -> dict[str, str]:
        raise NotImplementedError

    def _body(self, system: str, messages: list[Message], tools: list[Tool]) -> dict[str, Any]:
        raise NotImplementedError

    async def _read(self, events: AsyncIterator[tuple[str, str]], on_text: TextSink) -> AssistantTurn:
        raise NotImplementedError

    def _error_text(self, data: Any) -> str:
        error = data.get("error") if isinstance(data, dict) else None
        if isinstance(error, dict):
            kind = error.get("type") or error.get("code") or ""
            return f"{kind}: {error.get('message', '')}".strip(": ")
        if isinstance(error, str):
            return error
        return ""

    def _failed(self, item: Any) -> ModelError:
        return ModelError(f"the model ({self.settings.describe()}) failed: {_error_line(self._error_text(item))}")

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            timeout = aiohttp.ClientTimeout(
                total=None, sock_connect=self.settings.timeout, sock_read=self.settings.timeout
            )
            self._session = aiohttp.ClientSession(timeout=timeout)
        return self._session

    async def turn(self, system: str, messages: list[Message], tools: list[Tool], on_text: TextSink) -> AssistantTurn:
        body = self._body(system, messages, tools)
        url = self.settings.url + self.path
        who = self.settings.describe()
        attempt = 0
        while True:
            retry_after: float | None = None
            try:
                async with self._client().post(url, json=body, headers=self._headers()) as response:
                    if response.status == 200:
                        return await self._read(_sse(response), on_text)
                    text = await response.text()
                    problem = _error_line(self._error_text(_json(text)) or text)
                    if response.status not in RETRY_STATUS or attempt >= self.settings.retries:
                        raise ModelError(f"the model ({who}) answered HTTP {response.status}: {problem}")
                    retry_after = _seconds(response.headers.get("retry-after"))
            except TimeoutError:
                raise ModelError(
                    f"the model ({who}) did not answer within {self.settings.timeout:g}s: try again, or raise "
                    "[executive] timeout"
                ) from None
            except aiohttp.ClientError as error:
                if attempt >= self.settings.retries:
                    raise ModelError(f"cannot reach the model ({who}): {_error_line(str(error))}") from None
            attempt += 1
            delay = min(BACKOFF_CAP_SECONDS, BACKOFF_SECONDS * 2 ** (attempt - 1)) * (0.5 + random.random() / 2)
            await asyncio.sleep(min(BACKOFF_CAP_SECONDS, retry_after) if retry_after is not None else delay)


class AnthropicProvider(_HttpProvider):
    """`POST {base_url}/v1/messages`, streamed; tool calls are `tool_use` content blocks."""

    path = "/v1/messages"

    def _headers(self) -> dict[str, str]:
        headers = {"anthropic-version": ANTHROPIC_VERSION, "content-type": "application/json"}
        if self.key:
            headers["x-api-key"] = self.key
        return headers

    def _body(self, system: str, messages: list[Message], tools: list[Tool]) -> dict[str, Any]:
        return {
            "model": self.settings.model,
            "max_tokens": self.settings.max_tokens,
            "system": system,
            "stream": True,
            "messages": [_anthropic_message(message) for message in messages],
            "tools": [{"name": t.name, "description": t.description, "input_schema": t.schema} for t in tools],
        }

    async def _read(self, events: AsyncIterator[tuple[str, str]], on_text: TextSink) -> AssistantTurn:
        text: list[str] = []
        blocks: dict[int, dict[str, Any]] = {}
        async for _event, data in events:
            item = _json(data)
            if not isinstance(item, dict):
                continue
            kind = item.get("type")
            if kind == "error":
                raise self._failed(item)
            if kind == "message_start":
                usage = (item.get("message") or {}).get("usage") or {}
                self.usage.input_tokens += int(usage.get("input_tokens") or 0)
            elif kind == "content_block_start":
                block = item.get("content_block") or {}
                if block.get("type") == "tool_use":
                    blocks[item.get("index", 0)] = _block(block)
            elif kind == "content_block_delta":
                delta = item.get("delta") or {}
                if delta.get("type") == "text_delta":
                    piece = str(delta.get("text", ""))
                    text.append(piece)
                    on_text(piece)
                elif delta.get("type") == "input_json_delta" and item.get("index", 0) in blocks:
                    blocks[item.get("index", 0)]["json"] += str(delta.get("partial_json", ""))
            elif kind == "message_delta":
                self.usage.output_tokens += int((item.get("usage") or {}).get("output_tokens") or 0)
            elif kind == "message_stop":
                break
        calls = tuple(_call(block["id"], block["name"], block["json"] or "{}") for _, block in sorted(blocks.items()))
        return AssistantTurn("".join(text), calls)


class OpenAIProvider(_HttpProvider):
    """`POST {base_url}/chat/completions` (base_url ends in /v1), streamed; tool calls are `tool_calls` deltas."""

    path = "/chat/completions"

    def _headers(self) -> dict[str, str]:
        headers = {"content-type": "application/json"}
        if self.key:
            headers["authorization"] = f"Bearer {self.key}"
        return headers

    def _body(self, system: str, messages: list[Message], tools: list[Tool]) -> dict[str, Any]:
        chat: list[dict[str, Any]] = [{"role": "system", "content": system}]
        for message in messages:
            chat.extend(_openai_messages(message))
        return {
            "model": self.settings.model,
            "max_tokens": self.settings.max_tokens,
            "stream": True,
            "stream_options": {"include_usage": True},
            "messages": chat,
            "tools": [
                {"type": "function", "function": {"name": t.name, "description": t.description, "parameters": t.schema}}
                for t in tools
            ],
        }

    async def _read(self, events: AsyncIterator[tuple[str, str]], on_text: TextSink) -> AssistantTurn:
        text: list[str] = []
        calls: dict[int, dict[str, str]] = {}
        async for _event, data in events:
            if data.strip() == "[DONE]":
                break
            item = _json(data)
            if not isinstance(item, dict):
                continue
            if "error" in item:
                raise self._failed(item)
            usage = item.get("usage") or {}
            self.usage.input_tokens += int(usage.get("prompt_tokens") or 0)
            self.usage.output_tokens += int(usage.get("completion_tokens") or 0)
            for choice in item.get("choices") or []:
                delta = choice.get("delta") or {}
                if delta.get("content"):
                    piece = str(delta["content"])
                    text.append(piece)
                    on_text(piece)
                for call in delta.get("tool_calls") or []:
                    slot = calls.setdefault(int(call.get("index", 0)), {"id": "", "name": "", "json": ""})
                    function = call.get("function") or {}
                    slot["id"] = call.get("id") or slot["id"]
                    slot["name"] += function.get("name") or ""
                    slot["json"] += function.get("arguments") or ""
        found = tuple(
            _call(slot["id"] or f"call_{index}", slot["name"], slot["json"] or "{}")
            for index, slot in sorted(calls.items())
        )
        return AssistantTurn("".join(text), found)


def provider_for(settings: ExecutiveSettings, key: str | None) -> ModelProvider:
    kind = AnthropicProvider if settings.provider == "anthropic" else OpenAIProvider
    return kind(settings=settings, key=key)


# --- the two APIs' shapes ------------------------------------------------------------------------------------


def _anthropic_message(message: Message) -> dict[str, Any]:
    if isinstance(message, UserText):
        return {"role": "user", "content": message.text}
    if isinstance(message, AssistantTurn):
        content: list[dict[str, Any]] = [{"type": "text", "text": message.text}] if message.text else []
        content += [{"type": "tool_use", "id": c.id, "name": c.name, "input": c.arguments} for c in message.calls]
        return {"role": "assistant", "content": content or [{"type": "text", "text": "(nothing)"}]}
    results = [{"type": "tool_result", "tool_use_id": r.call.id, "content": r.content} for r in message.results]
    return {"role": "user", "content": results}


def _openai_messages(message: Message) -> list[dict[str, Any]]:
    if isinstance(message, UserText):
        return [{"role": "user", "content": message.text}]
    if isinstance(message, AssistantTurn):
        said: dict[str, Any] = {"role": "assistant", "content": message.text or None}
        if message.calls:
            said["tool_calls"] = [
                {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": json.dumps(c.arguments)}}
                for c in message.calls
            ]
        return [said]
    return [{"role": "tool", "tool_call_id": r.call.id, "content": r.content} for r in message.results]


def _block(block: dict[str, Any]) -> dict[str, Any]:
    return {"id": str(block.get("id", "")), "name": str(block.get("name", "")), "json": ""}


def _call(call_id: str, name: str, arguments: str) -> ToolCall:
    data = _json(arguments)
    if not isinstance(data, dict):
        return ToolCall(call_id, name, {}, problem="the arguments were not a JSON object")
    return ToolCall(call_id, name, data)


async def _sse(response: aiohttp.ClientResponse) -> AsyncIterator[tuple[str, str]]:
    """Server-sent events as (event, data) pairs."""
    event, data = "", list[str]()
    async for raw in response.content:
        line = raw.decode("utf-8", "replace").rstrip("\r\n")
        if not line:
            if data:
                yield event, "\n".join(data)
            event, data = "", list[str]()
        elif line.startswith("event:"):
            event = line[6:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].removeprefix(" "))
    if data:
        yield event, "\n".join(data)


def _json(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return None


def _error_line(text: str) -> str:
    line = " ".join(text.split())
    return line[:ERROR_CHARS] + ("…" if len(line) > ERROR_CHARS else "") or "no details"


def _seconds(value: str | None) -> float | None:
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None
