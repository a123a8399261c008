"""The control API: aiohttp on a unix socket (0600), a bearer token per agent and one for the human.

Requests that need an answer (approval, barrier, lock) wait for it, bounded by a timeout. Every error is
a JSON body `{"error": "..."}` with a 4xx status that says what was wrong.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from collections.abc import Awaitable, Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any, Literal, NoReturn, Protocol, TypeVar

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from agent_console.agents import roles
from agent_console.agents.errors import (
    Conflict,
    ConsoleError,
    Forbidden,
    InvalidInput,
    NotFound,
    Unavailable,
    describe_validation,
)
from agent_console.agents.events import (
    ApprovalDecided,
    BarrierArrived,
    BarrierReleased,
    Event,
    LockGranted,
    LockRequested,
    VoteCast,
    VoteOpened,
)
from agent_console.agents.journal import JournalUnavailable, Record
from agent_console.agents.protocol import ProtocolError, decode_object
from agent_console.agents.tracing import Cause, Causes, parse_traceparent
from agent_console.runtime.commands import Actor, CommandRegistry, Via
from agent_console.runtime.host import CommandHost

MAX_BODY = 64 * 1024
MAX_DEPTH = 32  # no request of the API nests deeper; a deeper body is an attack on the parser
HEAD_TIMEOUT = 10.0  # a connection that has not sent a whole request head by then is closed
IDLE_TIMEOUT = 30.0  # a kept-alive connection with no request for this long is closed
SUPERVISOR_KEY: web.AppKey[ServedOrg] = web.AppKey("supervisor")
PRINCIPAL: web.RequestKey[roles.Principal] = web.RequestKey("principal", roles.Principal)  # as its token proved
MAX_WAIT = 24 * 3600.0
# The domain's kinds of error as HTTP statuses (the one place they are mapped for the API).
STATUS_OF_KIND: tuple[tuple[type[ConsoleError], int], ...] = (
    (InvalidInput, 400),
    (Forbidden, 403),
    (NotFound, 404),
    (Conflict, 409),
    (JournalUnavailable, 507),  # Insufficient Storage: the disk, not the request, is at fault
    (Unavailable, 503),
)
VIA_HEADER = "X-Agent-Console-Via"  # the command line says it is the front door; anything else is the API


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AskBody(_Body):
    text: str = Field(min_length=1, max_length=4000)
    command: str | None = Field(default=None, max_length=4000)


class WaitBody(_Body):
    timeout: float | None = Field(default=None, gt=0, le=MAX_WAIT)


class BarrierBody(_Body):
    count: int | None = Field(default=None, ge=1, le=10_000)
    members: list[str] | None = None
    timeout: float | None = Field(default=None, gt=0, le=MAX_WAIT)


class LockBody(_Body):
    lease: float = Field(default=60.0, gt=0, le=86_400)
    timeout: float | None = Field(default=None, gt=0, le=MAX_WAIT)


class ReleaseBody(_Body):
    token: int | None = None


class VoteBody(_Body):
    choice: Literal["yes", "no"]


class VoteOpenBody(_Body):
    question: str | None = Field(default=None, max_length=4000)
    voters: list[str] | None = None
    rule: Literal["majority", "quorum"] = "majority"
    quorum: int | None = Field(default=None, ge=1)
    deadline: float | None = Field(default=None, gt=0, le=MAX_WAIT)  # seconds from now


class DecisionBody(_Body):
    approved: bool
    reason: str | None = Field(default=None, max_length=500)
    always: bool = False


BodyT = TypeVar("BodyT", bound=BaseModel)


class ServedOrg(CommandHost, Protocol):
    """What the control API asks of the supervisor it serves: each route's one call, and the org's commands."""

    @property
    def commands(self) -> CommandRegistry: ...

    async def durable(self) -> None: ...

    def principal_for_token(self, token: str) -> roles.Principal | None: ...

    def journal_denial(self, principal: roles.Principal, operation: str, reason: str) -> None: ...

    def admit_request(self, agent: str) -> None: ...

    @property
    def causes(self) -> Causes: ...

    def traced(self, trace: str, parent: str | None = None) -> AbstractContextManager[None]: ...

    def handle(self, agent: str, event: Event) -> Record: ...

    def hook(self, agent: str, program: str, payload: dict) -> None: ...

    def request_approval(self, agent: str, text: str, command: str | None) -> str: ...

    async def wait_approval(self, agent: str, request_id: str, timeout: float | None) -> ApprovalDecided | None: ...

    async def barrier_wait(self, agent: str, arrival: BarrierArrived) -> BarrierReleased: ...

    async def lock_acquire(self, agent: str, want: LockRequested, timeout: float | None) -> LockGranted | None: ...

    async def lock_release(self, agent: str, name: str, token: int | None) -> None: ...

    async def open_vote(
        self,
        actor: str,
        name: str,
        question: str | None,
        voters: list[str] | None,
        rule: str,
        quorum: int | None,
        deadline: float | None,
    ) -> VoteOpened: ...

    async def wait_messages(self, agent: str, timeout: float | None, new: bool = False) -> list[dict]: ...

    async def acknowledge(self, agent: str, message_id: str) -> None: ...

    async def explain(self, agent: str) -> dict: ...

    def pending_approvals(self) -> list[dict]: ...

    def state_json(self) -> dict: ...

    def public_state(self, agent: str) -> dict: ...


class ApiError(ConsoleError):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _depth(data: Any) -> int:
    """How deeply `data` nests lists and objects (iteratively: a deep body must not exhaust the stack)."""
    deepest, stack = 0, [(data, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, level)
            if level <= MAX_DEPTH:
                stack.extend((child, level + 1) for child in (item.values() if isinstance(item, dict) else item))
    return deepest


class _HeadDeadline(asyncio.Protocol):
    """Wraps the HTTP protocol of one connection and closes it when no whole request head came within
    HEAD_TIMEOUT: half-open or trickling clients cannot pile up (aiohttp's server has no such timeout)."""

    def __init__(self, inner: asyncio.Protocol) -> None:
        self.inner = inner
        self.received = b""
        self.deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.deadline = asyncio.get_running_loop().call_later(HEAD_TIMEOUT, transport.close)
        self.inner.connection_made(transport)

    def data_received(self, data: bytes) -> None:
        if self.deadline is not None:
            self.received = (self.received + data)[-4096:]
            if b"\r\n\r\n" in self.received:
                self.deadline.cancel()
                self.deadline, self.received = None, b""
        self.inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self.inner.eof_received()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.deadline is not None:
            self.deadline.cancel()
        self.inner.connection_lost(exc)

    def pause_writing(self) -> None:
        self.inner.pause_writing()

    def resume_writing(self) -> None:
        self.inner.resume_writing()


def status_of(error: ConsoleError) -> int:
    return next((status for kind, status in STATUS_OF_KIND if isinstance(error, kind)), 500)


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def _errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        response = await handler(request)
        if request.method != "GET":
            # Durable before acknowledged: what this request journaled is on disk before it is answered.
            await request.app[SUPERVISOR_KEY].durable()
        return response
    except ApiError as error:
        return _error(error.status, error.message)
    except ConsoleError as error:
        return _error(status_of(error), str(error))
    except web.HTTPRequestEntityTooLarge:
        return _error(413, f"request body too large (at most {MAX_BODY} bytes)")
    except web.HTTPException as error:
        if error.status >= 400:
            return _error(error.status, error.reason or "request refused")
        raise


def _authenticate(supervisor: ServedOrg, request: web.Request) -> roles.Principal:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise ApiError(401, "missing bearer token (Authorization: Bearer <token>)")
    principal = supervisor.principal_for_token(token.strip())
    if principal is None:
        raise ApiError(401, "unknown token: it is not this org's human token nor any of its agents'")
    return principal


@web.middleware
async def _authorize(request: web.Request, handler: Handler) -> web.StreamResponse:
    """The one check of every route: who the token names (a kind, never a name compared), and the route's row of
    the permission matrix (a route scoped by team checks its target in its handler, once it has read it)."""
    route = request.match_info.route
    if route.resource is None:  # no such route: 404/405 say so
        return await handler(request)
    supervisor = request.app[SUPERVISOR_KEY]
    principal = _authenticate(supervisor, request)
    method = "GET" if route.method == "HEAD" else route.method  # aiohttp answers HEAD with the GET handler
    operation = f"{method} {route.resource.canonical}"
    refused = roles.denial(supervisor.org, principal, "route", operation, scoped_later=True)
    if refused is not None:
        _refuse(supervisor, principal, operation, refused)
    request[PRINCIPAL] = principal
    claimed = request.headers.get("traceparent")
    if claimed is None:
        return await handler(request)
    with supervisor.traced(*_joined(supervisor, principal, claimed)):
        return await handler(request)


def _joined(supervisor: ServedOrg, principal: roles.Principal, header: str) -> Cause:
    """The trace a request's W3C `traceparent` joins: an agent's claim is checked (agents/tracing.py)."""
    claimed = parse_traceparent(header)
    if principal.kind != "agent":
        return claimed
    try:
        return supervisor.causes.claim(principal.name, claimed)
    except Forbidden as error:
        _refuse(supervisor, principal, "traceparent", str(error))


def _refuse(supervisor: ServedOrg, principal: roles.Principal, operation: str, reason: str) -> NoReturn:
    """Refuse with 403 saying why, journaled with who and why; an agent's refusal counts against its limit first
    (429 past it, unjournaled but for the count): refusals cannot flood the journal."""
    if principal.kind == "agent":
        supervisor.admit_request(principal.name)
    supervisor.journal_denial(principal, operation, reason)
    raise ApiError(403, reason)


class ControlServer:
    """Serves `supervisor` on `path`; `start()` binds the socket (0600), `stop()` removes it."""

    def __init__(self, supervisor: ServedOrg, path: Path) -> None:
        self.supervisor = supervisor
        self.path = path
        self.app = web.Application(client_max_size=MAX_BODY, middlewares=[_errors, _authorize])
        self.app[SUPERVISOR_KEY] = supervisor
        self._runner: web.AppRunner | None = None
        self._listener: asyncio.Server | None = None
        routes = [
            web.post("/v1/events", self.post_event),
            web.post("/v1/approvals", self.ask),
            web.post("/v1/approvals/{id}/wait", self.wait_answer),
            web.post("/v1/barriers/{name}/wait", self.barrier_wait),
            web.post("/v1/locks/{name}/acquire", self.lock_acquire),
            web.post("/v1/locks/{name}/release", self.lock_release),
            web.post("/v1/votes/{name}", self.vote_open),
            web.post("/v1/votes/{name}/cast", self.vote_cast),
            web.get("/v1/messages", self.messages),
            web.post("/v1/messages/{id}/ack", self.ack),
            web.get("/v1/state", self.state),
            web.get("/v1/approvals", self.approvals),
            web.post("/v1/approvals/{id}", self.decide),
            web.post("/v1/hooks/{program}", self.hook),
            web.get("/v1/agents/{name}/explain", self.explain),
            web.get("/v1/commands", self.commands),
            web.post("/v1/commands/{name}", self.run_command),
        ]
        self.app.add_routes(routes)

    async def start(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        if self.path.exists():
            if await _answers(self.path):
                raise ApiError(409, f"another console already serves this org on {self.path}")
            self.path.unlink()  # stale, from a console that did not stop cleanly
        # Waiting requests (an agent's ask) are cut, not answered, when the console stops: the agent's
        # client takes that as "console gone" and waits for the next one.
        self._runner = web.AppRunner(
            self.app, access_log=None, handle_signals=False, shutdown_timeout=0.5, keepalive_timeout=IDLE_TIMEOUT
        )
        await self._runner.setup()
        server = self._runner.server
        assert server is not None
        old_umask = os.umask(0o177)  # the socket is born 0600: no window where others can connect
        try:
            self._listener = await asyncio.get_running_loop().create_unix_server(
                lambda: _HeadDeadline(server()), str(self.path), backlog=128
            )
        finally:
            os.umask(old_umask)
        os.chmod(self.path, 0o600)

    async def stop(self) -> None:
        if self._listener is not None:
            self._listener.close()
            self._listener = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()

    # --- helpers ----------------------------------------------------------------------------------------

    def _principal(self, request: web.Request) -> roles.Principal:
        return request[PRINCIPAL]

    def _agent(self, request: web.Request) -> str:
        """The agent a route for agents only serves (the matrix let no one else through)."""
        principal = self._principal(request)
        assert principal.kind == "agent", principal
        return principal.name

    async def _json(self, request: web.Request) -> Any:
        if request.content_length is not None and request.content_length > MAX_BODY:
            raise ApiError(413, f"request body too large (at most {MAX_BODY} bytes)")
        raw = await request.read()
        if not raw:
            return {}
        try:
            data = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            raise ApiError(400, f"body is not JSON: {error}") from None
        except RecursionError:
            raise ApiError(400, f"body is nested too deeply (at most {MAX_DEPTH} levels)") from None
        if _depth(data) > MAX_DEPTH:
            raise ApiError(400, f"body is nested too deeply (at most {MAX_DEPTH} levels)")
        return data

    async def _body(self, request: web.Request, model: type[BodyT]) -> BodyT:
        data = await self._json(request)
        if not isinstance(data, dict):
            raise ApiError(400, "body must be a JSON object")
        try:
            return model.model_validate(data)
        except ValidationError as error:
            raise ApiError(422, _describe(error)) from None

    # --- routes -----------------------------------------------------------------------------------------

    async def post_event(self, request: web.Request) -> web.Response:
        actor = self._agent(request)
        data = await self._json(request)
        try:
            event = decode_object(data)
        except ProtocolError as error:
            raise ApiError(422, str(error)) from None
        record = self.supervisor.handle(actor, event)
        return web.json_response({"seq": record.seq}, status=202)

    async def ask(self, request: web.Request) -> web.Response:
        actor = self._agent(request)
        body = await self._body(request, AskBody)
        request_id = self.supervisor.request_approval(actor, body.text, body.command)
        return web.json_response({"id": request_id}, status=201)

    async def wait_answer(self, request: web.Request) -> web.Response:
        actor = self._agent(request)
        body = await self._body(request, WaitBody)
        request_id = request.match_info["id"]
        decision = await self.supervisor.wait_approval(actor, request_id, body.timeout)
        if decision is None:
            return web.json_response({"id": request_id, "timed_out": True})
        return web.json_response({"id": request_id, "approved": decision.approved, "reason": decision.reason})

    async def barrier_wait(self, request: web.Request) -> web.Response:
        actor = self._agent(request)
        body = await self._body(request, BarrierBody)
        try:
            arrival = BarrierArrived(
                name=request.match_info["name"],
                count=body.count,
                members=tuple(body.members) if body.members else None,
                timeout=body.timeout,
            )
        except ValidationError as error:
            raise ApiError(422, _describe(error)) from None
        release = await self.supervisor.barrier_wait(actor, arrival)
        return web.json_response(release.model_dump(mode="json"))

    async def lock_acquire(self, request: web.Request) -> web.Response:
        actor = self._agent(request)
        body = await self._body(request, LockBody)
        try:
            want = LockRequested(name=request.match_info["name"], lease=body.lease)
        except ValidationError as error:
            raise ApiError(422, _describe(error)) from None
        grant = await self.supervisor.lock_acquire(actor, want, body.timeout)
        if grant is None:
            return web.json_response({"timed_out": True})
        return web.json_response(grant.model_dump(mode="json"))

    async def lock_release(self, request: web.Request) -> web.Response:
        actor = self._agent(request)
        body = await self._body(request, ReleaseBody)
        await self.supervisor.lock_release(actor, request.match_info["name"], body.token)
        return web.json_response({"released": True})

    async def vote_open(self, request: web.Request) -> web.Response:
        principal = self._principal(request)
        body = await self._body(request, VoteOpenBody)
        if principal.kind == "agent":  # an agent opens votes among those it may address
            voters = roles.Target(agents=tuple(body.voters or ()), everyone=body.voters is None, talk=True)
            refused = roles.denial(self.supervisor.org, principal, "route", "POST /v1/votes/{name}", voters)
            if refused is not None:
                hint = " (name the voters with voters: [...])" if body.voters is None else ""
                _refuse(self.supervisor, principal, "POST /v1/votes/{name}", refused + hint)
        try:
            opened = await self.supervisor.open_vote(
                principal.name,
                request.match_info["name"],
                body.question,
                body.voters,
                body.rule,
                body.quorum,
                body.deadline,
            )
        except ValidationError as error:
            raise ApiError(422, _describe(error)) from None
        return web.json_response(opened.model_dump(mode="json"), status=201)

    async def vote_cast(self, request: web.Request) -> web.Response:
        actor = self._agent(request)
        body = await self._body(request, VoteBody)
        try:
            cast = VoteCast(name=request.match_info["name"], choice=body.choice)
        except ValidationError as error:
            raise ApiError(422, _describe(error)) from None
        self.supervisor.handle(actor, cast)
        return web.json_response({"recorded": True})

    async def messages(self, request: web.Request) -> web.Response:
        actor = self._agent(request)
        try:
            wait = float(request.query.get("wait", "0"))
        except ValueError:
            raise ApiError(400, "wait: give seconds as a number") from None
        if not 0 <= wait <= MAX_WAIT:
            raise ApiError(400, f"wait: between 0 and {MAX_WAIT:.0f} seconds")
        new = request.query.get("new", "") in ("1", "true")
        return web.json_response({"messages": await self.supervisor.wait_messages(actor, wait, new)})

    async def ack(self, request: web.Request) -> web.Response:
        actor = self._agent(request)
        await self.supervisor.acknowledge(actor, request.match_info["id"])
        return web.json_response({"acknowledged": True})

    async def state(self, request: web.Request) -> web.Response:
        principal = self._principal(request)
        if principal.kind == "human":
            return web.json_response(self.supervisor.state_json())
        return web.json_response(self.supervisor.public_state(principal.name))

    async def approvals(self, request: web.Request) -> web.Response:
        return web.json_response({"approvals": self.supervisor.pending_approvals()})

    async def decide(self, request: web.Request) -> web.Response:
        body = await self._body(request, DecisionBody)
        if body.always and not body.approved:
            raise ApiError(422, "always: only an approval can be for always")
        await self.supervisor.decide(request.match_info["id"], body.approved, body.reason, body.always)
        return web.json_response({"decided": True, "approved": body.approved})

    async def commands(self, request: web.Request) -> web.Response:
        return web.json_response({"commands": [command.schema() for command in self.supervisor.commands]})

    async def run_command(self, request: web.Request) -> web.Response:
        """Run a command of the registry as the token's holder (the human, or an agent: the registry's
        permissions say what each may run); the body is its arguments."""
        principal = self._principal(request)
        via: Via = "cli" if request.headers.get(VIA_HEADER) == "cli" else "api"
        if principal.kind == "agent":
            self.supervisor.admit_request(principal.name)  # refused attempts are journaled: an agent cannot flood them
        actor = Actor.human(via) if principal.kind == "human" else Actor.agent(principal.name, via)
        registry = self.supervisor.commands
        command = registry.find(request.match_info["name"])
        args = registry.arguments(command, await self._json(request))
        said = await registry.run(self.supervisor, command, args, actor)
        return web.json_response({"command": command.name, "result": said})

    async def hook(self, request: web.Request) -> web.Response:
        actor = self._agent(request)
        program = request.match_info["program"]
        if program not in ("claude", "codex"):
            raise ApiError(404, f"no hook for {program!r}: claude and codex have hooks")
        data = await self._json(request)
        if not isinstance(data, dict):
            raise ApiError(400, "body must be the hook's JSON object")
        self.supervisor.hook(actor, program, data)
        return web.json_response({"recorded": True}, status=202)

    async def explain(self, request: web.Request) -> web.Response:
        return web.json_response(await self.supervisor.explain(request.match_info["name"]))


def _describe(error: ValidationError) -> str:
    return describe_validation(error, nowhere="body", words={"extra_forbidden": "unknown field"})


async def _answers(path: Path) -> bool:
    try:
        _, writer = await asyncio.wait_for(asyncio.open_unix_connection(str(path)), 1.0)
    except (OSError, TimeoutError):
        return False
    writer.close()
    with contextlib.suppress(Exception):
        await writer.wait_closed()
    return True
