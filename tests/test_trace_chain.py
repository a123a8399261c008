"""The chain across three agents, for real: the human's chat line → a message typed into lead's shell → lead's
work messages db and api → db (joining the message's trace with TRACEPARENT) asks → the human approves → the
three meet at a barrier. One trace with the right tree and durations, in the journal, in the trace viewer and
in what a local OTLP/HTTP collector receives."""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from .conftest import tmux

pytest.importorskip("opentelemetry.sdk", reason="the [otel] extra is not installed: pip install -e '.[test,otel]'")

from aiohttp import web
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from agent_console.agents.journal import Record
from agent_console.agents.spans import TraceIndex

LEAD = """\
agent-console emit status working --task 'the migration'
agent-console send @db 'run the migration'
agent-console send @api 'update the client'
agent-console barrier wait migrated --members lead,db,api --timeout 120
agent-console emit status idle
"""
# db and api take their message from their inbox and join its trace
WORKER = """\
message=$(agent-console inbox --wait 120 --ack)
field() {{ printf '%s' "$message" | {python} -c "import json,sys; print(json.loads(sys.stdin.readline())['$1'])"; }}
export TRACEPARENT=$(field traceparent)
agent-console emit status working --task "$(field text)"
{ask}agent-console barrier wait migrated --members lead,db,api --timeout 120
agent-console emit status idle
echo done > {out}
"""
ASK = "agent-console ask 'migrate the schema?' --command 'alembic upgrade head' --timeout 120 > {out}.ask\n"


class Collector:
    """A tiny OTLP/HTTP collector: decodes each export (protobuf) and keeps its spans."""

    def __init__(self) -> None:
        self.spans: list = []
        self.requests = 0

    async def traces(self, request: web.Request) -> web.Response:
        body = ExportTraceServiceRequest()
        body.ParseFromString(await request.read())
        self.requests += 1
        for resource in body.resource_spans:
            for scope in resource.scope_spans:
                self.spans.extend(scope.spans)
        return web.Response(
            body=ExportTraceServiceResponse().SerializeToString(), content_type="application/x-protobuf"
        )


@pytest.fixture
async def collector() -> AsyncIterator[tuple[Collector, str]]:
    found = Collector()
    app = web.Application()
    app.router.add_post("/v1/traces", found.traces)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield found, f"http://127.0.0.1:{port}"
    await runner.cleanup()


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    runtime = Path(tempfile.mkdtemp(prefix="acrt", dir="/tmp"))
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(runtime))
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    monkeypatch.delenv("TMUX", raising=False)
    monkeypatch.delenv("TMUX_PANE", raising=False)
    yield tmp_path
    shutil.rmtree(runtime, ignore_errors=True)


async def until(condition, what: str, seconds: float = 60.0):
    for _ in range(int(seconds / 0.1)):
        value = condition()
        if value:
            return value
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


async def test_three_agents_make_one_trace_in_the_viewer_and_at_an_otlp_collector(
    tmux_socket: str, home: Path, collector: tuple[Collector, str]
) -> None:
    from agent_console.agents.model import Agent, Observability, Org, Team
    from agent_console.runtime.supervisor import Supervisor
    from agent_console.terminal.tmux import TmuxBackend
    from agent_console.tui.app import ConsoleApp
    from agent_console.widgets.trace_view import TraceView

    from .test_app import chat

    received, endpoint = collector
    shell = "bash --norc --noprofile"
    org = Org(
        name="chain",
        teams=(Team(name="core"),),
        agents=tuple(Agent(name=name, team="core", command=shell) for name in ("lead", "db", "api")),
        observability=Observability(otlp_endpoint=endpoint),
    )
    for name, ask in (("db", ASK), ("api", "")):
        out = home / name
        script = WORKER.format(python=sys.executable, out=out, ask=ask.format(out=out))
        (home / f"{name}.sh").write_text(script)
    (home / "lead.sh").write_text(LEAD)

    tmux(tmux_socket, "-f", "/dev/null", "new-session", "-d", "-s", "console", "-x", "120", "-y", "40", "sleep 600")
    exec_pane = tmux(tmux_socket, "display", "-p", "-t", "console:", "#{pane_id}").strip()
    supervisor = Supervisor(org, TmuxBackend(tmux_socket), (120, 40), exec_pane=exec_pane)
    app = ConsoleApp(supervisor, jump_back_key="M-e")
    async with app.run_test(size=(120, 40)) as pilot:
        await until(lambda: supervisor.report is not None, "the org to start")
        panes = {name: supervisor.state.agents[name].pane for name in ("db", "api")}
        await until(lambda: all(panes.values()), "the panes")
        for name, pane in panes.items():  # the workers wait on their inbox
            assert pane is not None
            tmux(tmux_socket, "send-keys", "-t", pane, "-l", f"bash {home / name}.sh")
            tmux(tmux_socket, "send-keys", "-t", pane, "Enter")
        await until(lambda: supervisor.state.agents["lead"].state.value == "idle", "lead idle", 30)

        await chat(pilot, f"@lead bash {home / 'lead.sh'}")
        ask = await until(lambda: list(supervisor.state.approvals.values()), "db's ask")
        await chat(pilot, f"/approve {ask[0].id}")
        await until(lambda: (home / "db").exists() and (home / "api").exists(), "db and api done")
        await until(lambda: supervisor.state.agents["lead"].state.value == "idle", "lead idle again")

        supervisor.journal.flush()
        records = _read(supervisor)
        sent = next(r for r in records if r.event.type == "message" and r.actor == "human")
        chain = [record for record in records if record.trace == sent.trace]
        index = TraceIndex()
        index.add(chain)
        trace = index.traces[sent.trace]
        tree = {span.record.span: span for _, span in trace.walk()}

        # --- the tree ---------------------------------------------------------------------------------------
        drawn = "\n".join(f"{'  ' * d}{s.record.actor} {s.record.event.type} {s.duration:.2f}" for d, s in trace.walk())
        print(drawn)  # shown when the test fails
        (root,) = trace.roots
        assert root.record.event.type == "command" and root.record.event.name == "send"
        assert root.record.event.via == "chat"
        (message,) = root.children
        assert message.record is sent
        typed = next(child for child in message.children if child.record.event.type == "message.typed")
        by_lead = [span.record for span in typed.children if span.record.actor == "lead"]
        kinds = [record.event.type for record in by_lead if record.event.type != "message.ack"]
        assert kinds[:3] == ["status", "message", "message"] and kinds[-1] == "status"
        assert "barrier.arrive" in kinds
        to_db = next(s for s in typed.children if s.record.event.type == "message" and s.record.event.to == "@db")
        # db took its message from its inbox and joined the trace under it (TRACEPARENT)
        db_records = [
            s.record.event.type
            for s in to_db.children
            if s.record.actor == "db" and s.record.event.type != "message.ack"
        ]
        assert db_records[:3] == ["status", "approval.request", "barrier.arrive"], db_records
        asked = next(span for span in to_db.children if span.record.event.type == "approval.request")
        decision = next(s for _, s in asked.walk() if s.record.event.type == "approval.decision")
        assert decision.record.actor == "human" and decision.record.event.approved
        approve = decision.parent
        assert approve is not None and approve.record.event.type == "command" and approve.parent is asked
        release = next(s for s in tree.values() if s.record.event.type == "barrier.release")
        assert release.parent is not None and release.parent.record.event.type == "barrier.arrive"
        # --- the durations ------------------------------------------------------------------------------------
        assert asked.end == approve.end >= decision.end > asked.start  # the ask lasted until the human decided
        arrivals = [s for s in tree.values() if s.record.event.type == "barrier.arrive"]
        assert len(arrivals) == 3 and all(s.end == release.record.time for s in arrivals)  # waited to the release
        lead_idle = by_lead[-1]
        # lead's work: from typed until it is idle again, or until what it caused (db's, api's work) is done
        assert typed.start == typed.record.time and typed.end == max(lead_idle.time, *(s.end for s in typed.children))
        assert root.start == message.start <= typed.start and root.end == trace.end
        assert all(s.parent is None or s.parent.start <= s.start <= s.end <= s.parent.end for s in tree.values())

        # --- the viewer ---------------------------------------------------------------------------------------
        view = app.query_one(TraceView)

        def the_viewer_shows_the_journal() -> bool:
            """The console refreshes a few times a second: its trace is the journal's once it has caught up."""
            supervisor.journal.flush()
            fresh = TraceIndex()
            fresh.add([record for record in _read(supervisor) if record.trace == sent.trace])
            shown = view.index.traces.get(sent.trace)
            walked = [(d, s.record.span) for d, s in fresh.traces[sent.trace].walk()]
            return shown is not None and [(d, s.record.span) for d, s in shown.walk()] == walked

        await until(the_viewer_shows_the_journal, "the viewer to show the journal's trace", 10)
        head = view._heads[sent.trace]
        assert head.data == root.record and [child.data for child in head.children] == [sent]

        # --- the OTLP export ----------------------------------------------------------------------------------
        assert supervisor.otlp is not None
        got = await until(
            lambda: {span.span_id.hex(): span for span in received.spans}.keys() >= set(tree) and received.spans,
            "the chain's spans at the collector",
            30,
        )
        exported = {span.span_id.hex(): span for span in got if span.span_id.hex() in tree}
        assert len(exported) == len(tree)
        trace_ids = {span.trace_id.hex() for span in exported.values()}
        assert trace_ids == {sent.trace.rjust(32, "0")}
        for span_id, span in exported.items():
            folded = tree[span_id]
            assert span.parent_span_id.hex() == (folded.parent.record.span if folded.parent else "") or (
                not span.parent_span_id and folded.parent is None
            ), span.name
            assert span.start_time_unix_nano == int(folded.start * 1e9)
            assert span.end_time_unix_nano == int(folded.end * 1e9)
        attributes = {kv.key: kv.value.string_value for kv in exported[asked.record.span].attributes}
        assert attributes["agent_console.agent"] == "db" and attributes["agent_console.team"] == "core"
        assert attributes["agent_console.event"] == "approval.request"
        assert exported[root.record.span].name == "command send"


def _read(supervisor) -> list[Record]:
    from agent_console.agents.journal import Journal, load_or_create_key
    from agent_console.runtime import paths

    key = load_or_create_key(paths.state_dir(supervisor.org.name) / "journal.key")
    return list(Journal.read(supervisor.journal_path, key))
