"""A scripted stand-in for the OpenAI API on 127.0.0.1, for running Codex and aider offline.

Tests queue the replies of the conversation (`say`, `run_command`, `edit_file`, `fail`, `hold`); each request
of the conversation takes the next one (an empty queue answers "Done."). Side requests — Codex's thread
titles, aider's commit messages and chat summaries, model lists — get a harmless answer and leave the script
alone; any other path answers `{}`. Served: `POST /v1/responses` (Codex, streamed as server-sent events),
`POST /v1/chat/completions` (aider through litellm, streamed or not) and `GET /v1/models`.
"""

from __future__ import annotations

import itertools
import json
import shlex
import time
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from .script import Fail, Hold, Say, ScriptedServer

DEFAULT_MODEL = "gpt-stub"


@dataclass
class RunCommand:
    argv: list[str]
    escalated: bool = True
    justification: str | None = None


@dataclass
class EditFile:
    path: str
    content: str


@dataclass
class CallTool:
    """Chat completions: the model calls a function (the console's model executive's tools)."""

    name: str
    arguments: dict[str, Any]
    text: str = ""


Reply = Say | RunCommand | EditFile | CallTool | Fail | Hold


class OpenAIStub(ScriptedServer):
    """The OpenAI API, answering from a script. `url` is the base URL with `/v1`, as the programs want it."""

    def __init__(self, model: str = DEFAULT_MODEL) -> None:
        super().__init__()
        self.model = model
        self._ids = itertools.count(1)

    # -- the script ---------------------------------------------------------------------------------

    def run_command(self, argv: list[str], escalated: bool = True, justification: str | None = None) -> None:
        """Codex: call `exec_command`; `escalated` asks to run outside the sandbox, which needs approval.
        aider: suggest the command in a ```bash block, which aider offers to run."""
        self._script.append(RunCommand(list(argv), escalated, justification))

    def edit_file(self, path: str, content: str) -> None:
        """aider: an answer in the request's edit format that writes `content` to `path` (a new file makes
        aider ask "Create new file?")."""
        self._script.append(EditFile(path, content))

    def call_tool(self, name: str, arguments: dict[str, Any], text: str = "") -> None:
        """Chat completions: the next reply calls tool `name` with `arguments` (finish_reason tool_calls)."""
        self._script.append(CallTool(name, dict(arguments), text))

    def conversation(self) -> list[dict[str, Any]]:
        """The bodies of the requests that took a reply of the script."""
        return [r["body"] for r in self.requests if r.get("scripted")]

    # -- the server ---------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._port}/v1"

    def _routes(self, app: web.Application) -> None:
        app.router.add_get("/v1/models", self._models)
        app.router.add_post("/v1/responses", self._responses)
        app.router.add_post("/v1/chat/completions", self._chat)
        app.router.add_route("*", "/{tail:.*}", self._other)

    async def _record(self, request: web.Request) -> dict[str, Any]:
        raw = await request.read()
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode(errors="replace")
        entry = {"method": request.method, "path": request.path, "headers": dict(request.headers), "body": body}
        self.requests.append(entry)
        return entry

    async def _next_reply(self, entry: dict[str, Any]) -> Reply:
        entry["scripted"] = True
        return await self._take()

    async def _models(self, request: web.Request) -> web.Response:
        await self._record(request)
        return web.json_response(
            {"object": "list", "data": [{"id": self.model, "object": "model", "created": 0, "owned_by": "stub"}]}
        )

    async def _other(self, request: web.Request) -> web.Response:
        await self._record(request)
        return web.json_response({})

    # -- Responses API (Codex) ----------------------------------------------------------------------

    async def _responses(self, request: web.Request) -> web.StreamResponse:
        entry = await self._record(request)
        body = entry["body"] if isinstance(entry["body"], dict) else {}
        schema = (body.get("text") or {}).get("format") or {}
        if schema.get("type") == "json_schema":  # a side request with structured output (the thread title)
            properties = (schema.get("schema") or {}).get("properties") or {}
            answer = json.dumps({key: "Stub task" for key in properties})
            return await self._stream_response(request, [self._message_item(answer)])
        reply = await self._next_reply(entry)
        if isinstance(reply, Fail):
            return _error(reply)
        if isinstance(reply, RunCommand):
            arguments: dict[str, Any] = {"cmd": shlex.join(reply.argv)}
            if reply.escalated:
                arguments["sandbox_permissions"] = "require_escalated"
                arguments["justification"] = reply.justification or f"Do you want to run {shlex.join(reply.argv)}?"
            item = {
                "type": "function_call",
                "id": f"fc_{next(self._ids)}",
                "call_id": f"call_{next(self._ids)}",
                "name": "exec_command",
                "arguments": json.dumps(arguments),
                "status": "completed",
            }
            return await self._stream_response(request, [item])
        if isinstance(reply, Say):
            return await self._stream_response(request, [self._message_item(reply.text)], reply.stall)
        return await self._stream_response(request, [self._message_item(_aider_edit(reply, ""))])

    def _message_item(self, text: str) -> dict[str, Any]:
        return {
            "type": "message",
            "id": f"msg_{next(self._ids)}",
            "role": "assistant",
            "status": "completed",
            "content": [{"type": "output_text", "text": text, "annotations": []}],
        }

    async def _stream_response(
        self, request: web.Request, items: list[dict[str, Any]], stall: Hold | None = None
    ) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
        await response.prepare(request)
        base = {"id": f"resp_{next(self._ids)}", "object": "response", "created_at": int(time.time())}
        base["model"] = self.model

        async def send(kind: str, **fields: Any) -> None:
            event = {"type": kind, **fields}
            await response.write(f"event: {kind}\ndata: {json.dumps(event)}\n\n".encode())

        await send("response.created", response={**base, "status": "in_progress", "output": []})
        for index, item in enumerate(items):
            at = {"item_id": item["id"], "output_index": index}
            if item["type"] == "message":
                text = item["content"][0]["text"]
                await send("response.output_item.added", output_index=index, item={**item, "content": []})
                for part in _halves(text, stall):
                    if isinstance(part, Hold):
                        await part.released.wait()
                    else:
                        await send("response.output_text.delta", **at, content_index=0, delta=part)
                await send("response.output_text.done", **at, content_index=0, text=text)
            else:
                await send("response.output_item.added", output_index=index, item={**item, "arguments": ""})
                await send("response.function_call_arguments.delta", **at, delta=item["arguments"])
                await send("response.function_call_arguments.done", **at, arguments=item["arguments"])
            await send("response.output_item.done", output_index=index, item=item)
        usage = {
            "input_tokens": 100,
            "input_tokens_details": {"cached_tokens": 0},
            "output_tokens": 10,
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": 110,
        }
        await send("response.completed", response={**base, "status": "completed", "output": items, "usage": usage})
        await response.write_eof()
        return response

    # -- Chat Completions (aider through litellm) ---------------------------------------------------

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        entry = await self._record(request)
        body = entry["body"] if isinstance(entry["body"], dict) else {}
        system = "\n".join(
            m["content"]
            for m in body.get("messages", [])
            if m.get("role") == "system" and isinstance(m["content"], str)
        )
        stall = None
        if _is_side_chat(system):
            text = "Update files" if "commit messages" in system else "The user asked for a small change."
        else:
            reply = await self._next_reply(entry)
            if isinstance(reply, Fail):
                return _error(reply)
            if isinstance(reply, CallTool):
                return await self._tool_call(request, reply, body)
            if isinstance(reply, Say):
                text, stall = reply.text, reply.stall
            elif isinstance(reply, RunCommand):
                text = f"Run this:\n\n```bash\n{shlex.join(reply.argv)}\n```\n"
            else:
                text = _aider_edit(reply, system)
        if body.get("stream"):
            return await self._stream_chat(request, text, body, stall)
        if stall is not None:
            await stall.released.wait()
        return web.json_response(
            {
                "id": f"chatcmpl-{next(self._ids)}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": self.model,
                "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 100, "completion_tokens": 10, "total_tokens": 110},
            }
        )

    async def _tool_call(self, request: web.Request, reply: CallTool, body: dict[str, Any]) -> web.StreamResponse:
        cid, call_id = f"chatcmpl-{next(self._ids)}", f"call_stub{next(self._ids):04d}"
        if not body.get("stream"):
            call = {
                "id": call_id,
                "type": "function",
                "function": {"name": reply.name, "arguments": json.dumps(reply.arguments)},
            }
            message = {"role": "assistant", "content": reply.text or None, "tool_calls": [call]}
            choice = {"index": 0, "message": message, "finish_reason": "tool_calls"}
            return web.json_response({"id": cid, "object": "chat.completion", "model": self.model, "choices": [choice]})
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
        await response.prepare(request)
        await _stream_tool_call(response, reply, cid, self.model, call_id)
        await response.write_eof()
        return response

    async def _stream_chat(
        self, request: web.Request, text: str, body: dict[str, Any], stall: Hold | None
    ) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
        await response.prepare(request)
        cid = f"chatcmpl-{next(self._ids)}"

        async def chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> None:
            data = {
                "id": cid,
                "object": "chat.completion.chunk",
                "created": int(time.time()),
                "model": self.model,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
                **extra,
            }
            await response.write(f"data: {json.dumps(data)}\n\n".encode())

        await chunk({"role": "assistant", "content": ""})
        for part in _halves(text, stall):
            if isinstance(part, Hold):
                await part.released.wait()
            else:
                await chunk({"content": part})
        usage = {"prompt_tokens": 100, "completion_tokens": 10, "total_tokens": 110}
        await chunk({}, "stop", **({"usage": usage} if (body.get("stream_options") or {}).get("include_usage") else {}))
        await response.write(b"data: [DONE]\n\n")
        await response.write_eof()
        return response


async def _stream_tool_call(response: web.StreamResponse, reply: CallTool, cid: str, model: str, call_id: str) -> None:
    async def chunk(delta: dict[str, Any], finish: str | None = None) -> None:
        choice = {"index": 0, "delta": delta, "finish_reason": finish}
        data = {"id": cid, "object": "chat.completion.chunk", "created": int(time.time()), "model": model}
        await response.write(f"data: {json.dumps(data | {'choices': [choice]})}\n\n".encode())

    await chunk({"role": "assistant", "content": reply.text or None})
    arguments = json.dumps(reply.arguments)
    opening = {"index": 0, "id": call_id, "type": "function", "function": {"name": reply.name, "arguments": ""}}
    await chunk({"tool_calls": [opening]})
    for start in range(0, len(arguments), 16):
        await chunk({"tool_calls": [{"index": 0, "function": {"arguments": arguments[start : start + 16]}}]})
    await chunk({}, "tool_calls")
    await response.write(b"data: [DONE]\n\n")


def _halves(text: str, stall: Hold | None) -> list[str | Hold]:
    """The text in two deltas, with the stall (if any) between them, at a line break when there is one."""
    if stall is None:
        return [text]
    cut = text.rfind("\n", 0, len(text) // 2 + 1) + 1 or len(text) // 2
    return [text[:cut], stall, text[cut:]]


def _is_side_chat(system: str) -> bool:
    """aider's own helpers (commit messages, chat summaries) rather than the conversation."""
    return "one-line Git commit messages" in system or "summarize this partial conversation" in system


def _aider_edit(edit: EditFile, system: str) -> str:
    """`edit` in the edit format the request's system prompt teaches: SEARCH/REPLACE blocks, or whole files."""
    if "SEARCH" in system and "REPLACE" in system:
        return (
            f"Creating {edit.path}.\n\n{edit.path}\n```\n<<<<<<< SEARCH\n=======\n"
            f"{edit.content.rstrip(chr(10))}\n>>>>>>> REPLACE\n```\n"
        )
    return f"Creating {edit.path}.\n\n{edit.path}\n```\n{edit.content.rstrip(chr(10))}\n```\n"


def _error(reply: Fail) -> web.Response:
    kind = {400: "invalid_request_error", 401: "authentication_error", 429: "rate_limit_exceeded"}
    error = {"message": reply.message, "type": kind.get(reply.status, "server_error"), "param": None, "code": None}
    return web.json_response({"error": error}, status=reply.status)
