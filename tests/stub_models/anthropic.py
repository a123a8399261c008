"""A stub of the Anthropic Messages API on 127.0.0.1, scripted by tests, for running the real Claude Code offline.

The main conversation loop (requests that carry the agent's tools) is answered from a queue of scripted replies:
`say`, `use_tool`, `fail`, `hold`; an empty queue answers "Done.". Everything else Claude Code asks on the side
(the session title, from a small model, with no tools; token counts) gets a short harmless answer without touching
the queue. Unknown paths get a 404 in the API's error shape. Every request is kept in `.requests`.

The script methods are thread-safe: a synchronous test can drive a stub served by `ThreadedAnthropicStub`.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

SIDE_TEXT = "Stub session"
DEFAULT_TEXT = "Done."


@dataclass
class Hold:
    released: threading.Event = field(default_factory=threading.Event)


@dataclass
class Say:
    text: str
    stall: Hold | None = None  # the stream stops halfway through the text until released


@dataclass
class UseTool:
    name: str
    input: dict[str, Any]
    text: str = ""


@dataclass
class Fail:
    status: int
    error_type: str
    message: str
    retry: bool = False


Reply = Say | UseTool | Fail | Hold


@dataclass
class Received:
    """One request as the stub saw it."""

    method: str
    path: str
    headers: dict[str, str]
    body: Any
    kind: str  # "main", "side", "count_tokens", "probe" or "unknown"
    at: float = field(default_factory=time.monotonic)


def is_main_loop(body: Any, main_tool: str = "Bash") -> bool:
    """The agent's own turn: Claude Code sends its tools (Bash, Edit, ...) only with the main loop (the console's
    model executive sends its commands: `main_tool="status"`).

    The session-title request carries `tools: []` and asks for JSON through `output_config`."""
    if not isinstance(body, dict):
        return False
    names = {tool.get("name") for tool in body.get("tools") or [] if isinstance(tool, dict)}
    return main_tool in names


class AnthropicStub:
    """Serves /v1/messages (streaming and not), /v1/messages/count_tokens, HEAD and GET /."""

    def __init__(
        self, *, side_text: str = SIDE_TEXT, default_text: str = DEFAULT_TEXT, main_tool: str = "Bash"
    ) -> None:
        self.main_tool = main_tool
        self.side_text = side_text
        self.default_text = default_text
        self.requests: list[Received] = []
        self._script: deque[Reply] = deque()
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._pending_holds: list[Hold] = []
        self._holding = 0
        self._stopping = threading.Event()
        self._runner: web.AppRunner | None = None
        self.url = ""

    # -- script ----------------------------------------------------------------------------------------------
    def say(self, text: str, stall: bool = False) -> None:
        """The next main-loop reply is this text (end_turn); with `stall`, a streamed answer stops halfway
        through until `release()` (a reply caught in the middle, to be cancelled)."""
        hold = None
        if stall:
            hold = Hold()
            with self._lock:
                self._pending_holds.append(hold)
        self._push(Say(text, hold))

    def use_tool(self, name: str, input: dict[str, Any], text: str = "") -> None:
        """The next main-loop reply calls tool `name` with `input` (stop_reason tool_use)."""
        self._push(UseTool(name, dict(input), text))

    def fail(self, status: int, error_type: str, message: str, *, retry: bool = False) -> None:
        """The next main-loop request gets an API error. Without `retry`, `x-should-retry: false` tells
        Claude Code not to retry, so "API Error: …" shows at once instead of after up to 10 back-off attempts.
        (An `overloaded_error` is retried whatever the header says: each attempt takes the next reply.)"""
        self._push(Fail(status, error_type, message, retry))

    def hold(self) -> Hold:
        """The next main-loop request waits until `release()`; then it gets the reply queued after this."""
        hold = Hold()
        self._push(hold)
        return hold

    def release(self) -> None:
        """Lets the oldest held (or yet to be held) request go on."""
        with self._lock:
            for item in self._pending_holds:
                if not item.released.is_set():
                    item.released.set()
                    return
        raise RuntimeError("release() without a hold()")

    def clear(self) -> None:
        """Drops the replies not served yet (a denied tool call ends the turn: its follow-up is never asked)."""
        with self._lock:
            self._script.clear()

    @property
    def holding(self) -> bool:
        """A main-loop request is parked on a hold right now."""
        return self._holding > 0

    @property
    def pending(self) -> int:
        """Scripted replies not served yet."""
        with self._lock:
            return len(self._script)

    def main_requests(self) -> list[Received]:
        return [r for r in self.requests if r.kind == "main"]

    def _push(self, reply: Reply) -> None:
        with self._lock:
            self._script.append(reply)
            if isinstance(reply, Hold):
                self._pending_holds.append(reply)

    def _next(self) -> Reply:
        with self._lock:
            return self._script.popleft() if self._script else Say(self.default_text)

    # -- server ----------------------------------------------------------------------------------------------
    async def start(self) -> None:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._dispatch)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        host, port = self._runner.addresses[0][:2]
        self.url = f"http://{host}:{port}"

    async def stop(self) -> None:
        self._stopping.set()
        with self._lock:
            for item in self._pending_holds:
                item.released.set()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode("utf-8", "replace")
        path = request.path
        if path in ("/", "") and request.method in ("HEAD", "GET"):
            kind = "probe"
        elif path == "/v1/messages/count_tokens" and request.method == "POST":
            kind = "count_tokens"
        elif path == "/v1/messages" and request.method == "POST":
            kind = "main" if is_main_loop(body, self.main_tool) else "side"
        else:
            kind = "unknown"
        self.requests.append(Received(request.method, path, dict(request.headers), body, kind))
        if kind == "probe":
            return web.Response(text="ok" if request.method == "GET" else None)
        if kind == "count_tokens":
            return web.json_response({"input_tokens": _rough_tokens(body)})
        if kind == "unknown":
            error = {"type": "not_found_error", "message": f"stub: no route for {request.method} {path}"}
            return web.json_response({"type": "error", "error": error}, status=404)
        if kind == "side":
            reply: Reply = Say(self._side_text(body))
        else:
            reply = self._next()
            while isinstance(reply, Hold):
                self._holding += 1
                try:
                    while not reply.released.is_set() and not self._stopping.is_set():
                        await asyncio.sleep(0.02)
                finally:
                    self._holding -= 1
                reply = self._next()
        if isinstance(reply, Fail):
            return self._error(reply)
        model = body.get("model", "claude-stub") if isinstance(body, dict) else "claude-stub"
        blocks = self._blocks(reply)
        stop_reason = "tool_use" if isinstance(reply, UseTool) else "end_turn"
        if isinstance(body, dict) and body.get("stream"):
            try:
                stall = reply.stall if isinstance(reply, Say) else None
                return await self._stream(request, model, blocks, stop_reason, stall)
            except ConnectionResetError:  # the client gave up (Esc in Claude Code): nothing left to answer
                return web.Response(status=499)
        return web.json_response(self._message(model, blocks, stop_reason))

    def _side_text(self, body: Any) -> str:
        # The session-title request asks for JSON (output_config.format json_schema): fill every string field.
        fmt = ((body.get("output_config") or {}).get("format") or {}) if isinstance(body, dict) else {}
        schema = fmt.get("schema") if isinstance(fmt, dict) and fmt.get("type") == "json_schema" else None
        if not isinstance(schema, dict):
            return self.side_text
        properties = schema.get("properties") or {}
        return json.dumps({name: self.side_text for name, spec in properties.items() if spec.get("type") == "string"})

    def _blocks(self, reply: Say | UseTool) -> list[dict[str, Any]]:
        if isinstance(reply, Say):
            return [{"type": "text", "text": reply.text}]
        blocks: list[dict[str, Any]] = []
        if reply.text:
            blocks.append({"type": "text", "text": reply.text})
        tool_id = f"toolu_stub{next(self._ids):04d}"
        blocks.append({"type": "tool_use", "id": tool_id, "name": reply.name, "input": reply.input})
        return blocks

    def _message(self, model: str, blocks: list[dict[str, Any]], stop_reason: str | None) -> dict[str, Any]:
        return {
            "id": f"msg_stub{next(self._ids):04d}",
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": blocks,
            "stop_reason": stop_reason,
            "stop_sequence": None,
            "usage": _usage(_output_tokens(blocks)),
        }

    async def _stream(
        self,
        request: web.Request,
        model: str,
        blocks: list[dict[str, Any]],
        stop_reason: str,
        stall: Hold | None = None,
    ) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
        response.headers["request-id"] = f"req_stub{next(self._ids):04d}"
        await response.prepare(request)

        async def send(event: str, data: dict[str, Any]) -> None:
            await response.write(f"event: {event}\ndata: {json.dumps(data)}\n\n".encode())

        start = self._message(model, [], None) | {"usage": _usage(1)}
        await send("message_start", {"type": "message_start", "message": start})
        await send("ping", {"type": "ping"})
        for index, block in enumerate(blocks):
            if block["type"] == "text":
                await send("content_block_start", _block_start(index, {"type": "text", "text": ""}))
                pieces = list(_chunks(block["text"], 24))
                for number, piece in enumerate(pieces):
                    if stall is not None and number == max(1, len(pieces) // 2):
                        while not stall.released.is_set() and not self._stopping.is_set():
                            await asyncio.sleep(0.02)
                    await send("content_block_delta", _delta(index, {"type": "text_delta", "text": piece}))
            else:
                opening = {"type": "tool_use", "id": block["id"], "name": block["name"], "input": {}}
                await send("content_block_start", _block_start(index, opening))
                for piece in _chunks(json.dumps(block["input"]), 24):
                    partial = {"type": "input_json_delta", "partial_json": piece}
                    await send("content_block_delta", _delta(index, partial))
            await send("content_block_stop", {"type": "content_block_stop", "index": index})
        delta = {"stop_reason": stop_reason, "stop_sequence": None}
        usage = {"output_tokens": _output_tokens(blocks)}
        await send("message_delta", {"type": "message_delta", "delta": delta, "usage": usage})
        await send("message_stop", {"type": "message_stop"})
        await response.write_eof()
        return response

    def _error(self, reply: Fail) -> web.Response:
        body = {"type": "error", "error": {"type": reply.error_type, "message": reply.message}}
        headers = {"request-id": f"req_stub{next(self._ids):04d}", "x-should-retry": str(reply.retry).lower()}
        return web.json_response(body, status=reply.status, headers=headers)


class ThreadedAnthropicStub(AnthropicStub):
    """The stub served from a thread of its own, for synchronous tests that poll a terminal."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    def start_in_thread(self, timeout: float = 10.0) -> None:
        ready = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            try:
                loop.run_until_complete(self.start())
            except BaseException as exc:  # reported to the starting thread
                failure.append(exc)
                ready.set()
                loop.close()
                return
            ready.set()
            loop.run_forever()
            loop.run_until_complete(self.stop())
            loop.close()

        self._thread = threading.Thread(target=run, name="anthropic-stub", daemon=True)
        self._thread.start()
        if not ready.wait(timeout):
            raise RuntimeError("the Anthropic stub did not start")
        if failure:
            raise failure[0]

    def stop_thread(self, timeout: float = 10.0) -> None:
        self._stopping.set()
        if self._loop is not None and self._thread is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout)


@contextmanager
def threaded_stub(**kwargs: Any) -> Iterator[ThreadedAnthropicStub]:
    """A running stub for the length of the block, stopped afterwards."""
    stub = ThreadedAnthropicStub(**kwargs)
    stub.start_in_thread()
    try:
        yield stub
    finally:
        stub.stop_thread()


def _usage(output_tokens: int) -> dict[str, int]:
    return {
        "input_tokens": 12,
        "output_tokens": output_tokens,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
    }


def _output_tokens(blocks: list[dict[str, Any]]) -> int:
    return sum(len(json.dumps(block)) for block in blocks) // 4 + 1


def _block_start(index: int, block: dict[str, Any]) -> dict[str, Any]:
    return {"type": "content_block_start", "index": index, "content_block": block}


def _delta(index: int, delta: dict[str, Any]) -> dict[str, Any]:
    return {"type": "content_block_delta", "index": index, "delta": delta}


def _chunks(text: str, size: int) -> Iterator[str]:
    if not text:
        yield ""
    for i in range(0, len(text), size):
        yield text[i : i + size]


def _rough_tokens(body: Any) -> int:
    return max(1, len(json.dumps(body)) // 4) if body is not None else 1
