"""A scripted stand-in for the Gemini API on 127.0.0.1, for running Gemini CLI offline.

Tests queue the replies of the conversation (`say`, `call_tool`, `fail`, `hold`); each streamed request of the
conversation (`…:streamGenerateContent`) takes the next one, and an empty queue answers "Done.". Gemini CLI's
side requests — `…:generateContent` with a JSON schema (next-speaker checks, routing, summaries), token counts,
model listings — get a harmless answer and leave the script alone. Any other path is logged and answers `{}`.
Every request is kept in `.requests`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from .script import Fail, Hold, Say, ScriptedServer

DEFAULT_MODEL = "gemini-2.5-flash"


@dataclass
class CallTool:
    name: str
    args: dict[str, Any]


Reply = Say | CallTool | Fail | Hold

_STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
}


class GeminiStub(ScriptedServer):
    """The Gemini API, answering from a script. `url` is the base URL as `GOOGLE_GEMINI_BASE_URL` wants it
    (the SDK adds `/v1beta/models/…`)."""

    def __init__(self, model: str = DEFAULT_MODEL) -> None:
        super().__init__()
        self.model = model
        self.unknown: list[str] = []  # paths the stub has no answer for

    # -- the script ---------------------------------------------------------------------------------

    def call_tool(self, name: str, args: dict[str, Any]) -> None:
        """The model calls the tool `name` (a functionCall), e.g. `run_shell_command` with `{"command": …}`."""
        self._script.append(CallTool(name, dict(args)))

    def conversation(self) -> list[dict[str, Any]]:
        """The bodies of the requests that took a reply of the script."""
        return [r["body"] for r in self.requests if r["kind"] == "main"]

    # -- the server ---------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._port}"

    def _routes(self, app: web.Application) -> None:
        app.router.add_get("/{version}/models", self._models)
        app.router.add_post("/{version}/models/{call}", self._call)
        app.router.add_route("*", "/{tail:.*}", self._other)

    async def _record(self, request: web.Request, kind: str) -> dict[str, Any]:
        raw = await request.read()
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode(errors="replace")
        entry = {
            "method": request.method,
            "path": request.path,
            "query": dict(request.query),
            "headers": dict(request.headers),
            "body": body,
            "kind": kind,
        }
        self.requests.append(entry)
        return entry

    async def _models(self, request: web.Request) -> web.Response:
        await self._record(request, "models")
        model = {
            "name": f"models/{self.model}",
            "displayName": self.model,
            "inputTokenLimit": 1048576,
            "outputTokenLimit": 65536,
            "supportedGenerationMethods": ["generateContent", "countTokens"],
        }
        return web.json_response({"models": [model]})

    async def _other(self, request: web.Request) -> web.Response:
        await self._record(request, "unknown")
        self.unknown.append(f"{request.method} {request.path}")
        return web.json_response({})

    async def _call(self, request: web.Request) -> web.StreamResponse:
        model, _, method = request.match_info["call"].partition(":")
        if method == "streamGenerateContent":
            await self._record(request, "main")
            reply = await self._take()
            if isinstance(reply, Fail):
                return _error(reply)
            if isinstance(reply, CallTool):
                parts = [{"functionCall": {"name": reply.name, "args": reply.args}}]
                return await self._stream(request, [parts], model)
            return await self._stream(request, _halves(reply.text, reply.stall), model)
        entry = await self._record(request, "side")
        body = entry["body"] if isinstance(entry["body"], dict) else {}
        if method == "countTokens":
            return web.json_response({"totalTokens": _token_estimate(body)})
        if method == "embedContent":
            return web.json_response({"embedding": {"values": [0.0] * 8}})
        if method == "generateContent":
            config = body.get("generationConfig") or {}
            schema = config.get("responseJsonSchema") or config.get("responseSchema")
            text = json.dumps(_fill(schema)) if schema else "Stub session"
            return web.json_response(_response([{"text": text}], model, finish=True))
        self.unknown.append(f"{request.method} {request.path}")
        return web.json_response({})

    async def _stream(self, request: web.Request, chunks: list[list[dict] | Hold], model: str) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
        await response.prepare(request)
        for index, chunk in enumerate(chunks):
            if isinstance(chunk, Hold):
                await chunk.released.wait()
                continue
            data = _response(chunk, model, finish=index == len(chunks) - 1)
            await response.write(f"data: {json.dumps(data)}\r\n\r\n".encode())
        await response.write_eof()
        return response


def _response(parts: list[dict[str, Any]], model: str, finish: bool) -> dict[str, Any]:
    candidate: dict[str, Any] = {"content": {"role": "model", "parts": parts}, "index": 0}
    if finish:
        candidate["finishReason"] = "STOP"
    usage = {"promptTokenCount": 100, "candidatesTokenCount": 10, "totalTokenCount": 110}
    return {"candidates": [candidate], "usageMetadata": usage, "modelVersion": model}


def _halves(text: str, stall: Hold | None) -> list[list[dict] | Hold]:
    """The text in two chunks, with the stall (if any) between them, at a line break when there is one."""
    if stall is None:
        return [[{"text": text}]]
    cut = text.rfind("\n", 0, len(text) // 2 + 1) + 1 or len(text) // 2
    return [[{"text": text[:cut]}], stall, [{"text": text[cut:]}]]


def _fill(schema: dict[str, Any]) -> Any:
    """A value that fits a JSON schema. For enums the first value, except that a "user" choice wins: the
    next-speaker check then hands the turn back instead of making the model go on."""
    kind = str(schema.get("type", "object")).lower()
    if "enum" in schema:
        choices = list(schema["enum"])
        return "user" if "user" in choices else choices[0]
    if kind == "object":
        return {key: _fill(value) for key, value in (schema.get("properties") or {}).items()}
    if kind == "array":
        return []
    if kind in ("integer", "number"):
        return 0
    if kind == "boolean":
        return False
    return "stub"


def _token_estimate(body: dict[str, Any]) -> int:
    return max(1, len(json.dumps(body)) // 4)


def _error(reply: Fail) -> web.Response:
    error = {"code": reply.status, "message": reply.message, "status": _STATUS.get(reply.status, "UNKNOWN")}
    return web.json_response({"error": error}, status=reply.status)
