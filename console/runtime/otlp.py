"""OTLP export of the journal's spans (`[observability] otlp_endpoint`), with the optional OpenTelemetry extra.

Spans are the journal's (agents/spans.py): each record a span with its real start and end, its parent, and
attributes (actor, agent, team, event type, a short summary; records are redacted before they are journaled, so
no secret is in them). A span's end is known only once what it caused is done, so a trace is sent once nothing in
it is still going on and it has been quiet for `SETTLE` seconds (after `OPEN` seconds of quiet, or when the console
stops, whatever it holds); a record joining a trace already sent goes out later as a span of its own, under its
parent's id. Without `pip install 'agent-console[otel]'` the
console works as before and says, once, that the export is off.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from agent_console.agents.events import CommandRan
from agent_console.agents.journal import Record
from agent_console.agents.model import Org
from agent_console.agents.spans import Span, Trace, TraceIndex, agents_named, summary

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import ReadableSpan

SETTLE = 2.0
"""Seconds a settled trace (nothing in it still going on: agents/spans.py `Trace.pending`) stays quiet before its
spans are sent."""
OPEN = 600.0
"""Seconds a trace with something still going on (an agent that never went idle) stays quiet before it is sent
anyway."""
KEEP = 100_000
"""Records the export keeps in its index (a trace older than that is gone, sent or not)."""
SUMMARY_CHARS = 200
SERVICE = "agent-console"
MISSING = (
    "observability.otlp_endpoint is set but the OpenTelemetry extra is not installed: spans stay in the journal "
    "(pip install 'agent-console[otel]' to export them)"
)


def available() -> bool:
    try:
        import opentelemetry.exporter.otlp.proto.http.trace_exporter
        import opentelemetry.sdk.trace  # noqa: F401
    except ImportError:
        return False
    return True


def _id(value: str, bits: int) -> int:
    """A journal id as an OpenTelemetry id: hex as it is (the console's are), anything else hashed."""
    try:
        number = int(value, 16)
    except ValueError:
        number = 0
    if not 0 < number < 1 << bits:
        number = int.from_bytes(hashlib.sha256(value.encode()).digest()[: bits // 8], "big") or 1
    return number


class OtlpExport:
    """Sends settled traces to an OTLP/HTTP collector at `endpoint` (base address; /v1/traces is added)."""

    def __init__(self, endpoint: str, org: Callable[[], Org], settle: float = SETTLE, exporter: Any = None) -> None:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        for name in ("opentelemetry", "urllib3"):  # their warnings would be printed over the console's screen
            quiet = logging.getLogger(name)
            quiet.addHandler(logging.NullHandler())
            quiet.propagate = False
        self.endpoint = endpoint
        self.settle = settle
        self._org = org
        self._exporter = exporter or OTLPSpanExporter(endpoint=f"{endpoint}/v1/traces", timeout=5)
        self.index = TraceIndex(limit=KEEP)
        self._quiet_since: dict[str, float] = {}  # trace → when its last record came (monotonic)
        self._sent: OrderedDict[str, None] = OrderedDict()  # span ids sent
        self._task: asyncio.Task | None = None
        self.exported = 0
        self.failed = 0

    def on_record(self, record: Record) -> None:
        self.index.add((record,))
        self._quiet_since[record.trace] = time.monotonic()

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="exporting spans")

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(min(0.5, self.settle))
            await self.flush()

    async def flush(self, everything: bool = False) -> int:
        """Send the settled traces' new spans (`everything`: every trace's); how many were sent."""
        now = time.monotonic()
        ready = [trace for trace, since in self._quiet_since.items() if everything or self._ready(trace, now - since)]
        spans: list[ReadableSpan] = []
        for trace_id in ready:
            del self._quiet_since[trace_id]
            trace = self.index.traces.get(trace_id)
            if trace is not None:
                spans += self._spans(trace)
        if not spans:
            return 0
        from opentelemetry.sdk.trace.export import SpanExportResult

        result = await asyncio.to_thread(self._exporter.export, spans)
        if result is SpanExportResult.SUCCESS:
            self.exported += len(spans)
        else:
            self.failed += len(spans)  # the collector is away: these are not sent again (the journal keeps them)
        return len(spans)

    def _ready(self, trace_id: str, quiet: float) -> bool:
        trace = self.index.traces.get(trace_id)
        return quiet >= (self.settle if trace is None or not trace.pending else max(self.settle, OPEN))

    def _spans(self, trace: Trace) -> list[ReadableSpan]:
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import ReadableSpan
        from opentelemetry.trace import SpanContext, SpanKind, TraceFlags
        from opentelemetry.trace.status import Status, StatusCode

        org = self._org()
        teams = {agent.name: agent.team for agent in org.agents}
        resource = Resource.create({"service.name": SERVICE, "agent_console.org": org.name})
        trace_id = _id(trace.id, 128)
        made: list[ReadableSpan] = []
        for _, span in trace.walk():
            record = span.record
            if record.span in self._sent:
                continue
            self._sent[record.span] = None
            if len(self._sent) > KEEP:
                self._sent.popitem(last=False)
            context = SpanContext(trace_id, _id(record.span, 64), is_remote=False, trace_flags=TraceFlags(1))
            parent = _parent(span)
            parent_context = (
                SpanContext(trace_id, _id(parent, 64), is_remote=False, trace_flags=TraceFlags(1)) if parent else None
            )
            failed = isinstance(record.event, CommandRan) and not record.event.ok
            made.append(
                ReadableSpan(
                    name=_name(record),
                    context=context,
                    parent=parent_context,
                    resource=resource,
                    attributes=_attributes(record, span, teams),
                    kind=SpanKind.INTERNAL,
                    status=Status(StatusCode.ERROR if failed else StatusCode.UNSET),
                    start_time=int(span.start * 1e9),
                    end_time=int(span.end * 1e9),
                )
            )
        return made

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        with contextlib.suppress(Exception):  # a collector gone at the end loses the last spans, not the exit
            await self.flush(everything=True)
        await asyncio.to_thread(self._exporter.shutdown)


def _parent(span: Span) -> str | None:
    """The parent id to export: the span the fold hung it under (a loose record: under its trace's first)."""
    if span.parent is not None:
        return span.parent.record.span
    return span.record.parent  # a parent the fold never saw (an agent's claim or an older record): as named


def _name(record: Record) -> str:
    if isinstance(record.event, CommandRan):
        return f"command {record.event.name}"
    return record.event.type


def _attributes(record: Record, span: Span, teams: Mapping[str, str | None]) -> dict[str, str | int | bool]:
    attributes: dict[str, str | int | bool] = {
        "agent_console.actor": record.actor,
        "agent_console.event": record.event.type,
        "agent_console.seq": record.seq,
        "agent_console.summary": summary(record)[:SUMMARY_CHARS],
    }
    named = agents_named(record)
    agent = record.actor if record.actor in teams else (named[0] if named and named[0] in teams else None)
    if agent is not None:
        attributes["agent_console.agent"] = agent
        team = teams.get(agent)
        if team:
            attributes["agent_console.team"] = team
    if span.orphan:
        attributes["agent_console.parent_unknown"] = True  # an agent named a parent the console never journaled
    return attributes


def start(org: Callable[[], Org], listeners: list[Callable[[Record], None]], notices: list[str]) -> OtlpExport | None:
    """The export the org's spec asks for, started and listening (None: none asked, or the extra is missing,
    which `notices` then says once)."""
    endpoint = org().observability.otlp_endpoint
    if endpoint is None:
        return None
    if not available():
        notices.append(MISSING)
        return None
    export = OtlpExport(endpoint, org)
    listeners.append(export.on_record)
    export.start()
    return export
