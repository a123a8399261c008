"""The model executive: from the model's tool call to the command's effect, and what each turn costs in tokens.

Latency: a stub model server on 127.0.0.1 (the tests' `tests/stub_models`, Anthropic Messages and OpenAI chat
completions, both streamed) scripts one tool call and then a one-word answer, N times per provider. The org is a
real `Supervisor` (never started: no tmux; the command measured, `barrier NAME --count 2`, is journaled and
changes the org's state, as every command does, without a pane to wait for). Timed on the one event loop with
`time.perf_counter`:

* call → effect: from the moment the provider has read the whole tool call off the stream (its turn returns) to
  the moment the command's record is applied to the org's state (a supervisor listener);
* request → effect: from the start of the model request that answers with the tool call to the same moment
  (the stub's streaming and the HTTP round trip included).

Tokens per turn: the system prompt with the state summary, and the tools' JSON, for an org of 50 agents in 5 teams
(and 400 agents, to show the bound). Estimated as characters / 4 (no tokenizer: say so when quoting it); the
summary is cut at `SUMMARY_CHARS`.

Run it from the repository root, in the project's venv:

    python bench/executive.py            # 200 calls per provider
    python bench/executive.py --quick    # 30
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the tests' stub servers

from benchlib import percentile, restore_environment, saved_environment

from agent_console.agents.events import BarrierCreated
from agent_console.agents.journal import Record
from agent_console.agents.model import Agent, Org, Team
from agent_console.runtime.model_executive import SUMMARY_CHARS, SYSTEM, ModelExecutive
from agent_console.runtime.model_settings import ExecutiveSettings
from agent_console.runtime.models import provider_for
from agent_console.runtime.supervisor import Supervisor
from agent_console.terminal.tmux import TmuxBackend
from tests.stub_models.anthropic import AnthropicStub
from tests.stub_models.openai import OpenAIStub


class Quiet:
    def __init__(self) -> None:
        self.notes: list[str] = []

    def reply(self, piece: str) -> None:
        pass

    def note(self, text: str) -> None:
        self.notes.append(text)


def org_of(agents: int, teams: int = 5) -> Org:
    names = [Team(name=f"team{n}") for n in range(teams)]
    members = [Agent(name=f"agent-{n:03d}", team=f"team{n % teams}") for n in range(agents)]
    return Org(name=f"bench{agents}", teams=tuple(names), agents=(Agent(name="ann", team="team0"), *members))


async def latency(provider: str, calls: int) -> dict[str, list[float]]:
    supervisor = Supervisor(org_of(0, 1), TmuxBackend("ac-bench-unused"), (120, 40))
    stub = AnthropicStub(main_tool="status") if provider == "anthropic" else OpenAIStub()
    await stub.start()
    settings = ExecutiveSettings(provider=provider, model="stub", base_url=stub.url)  # type: ignore[arg-type]
    model = ModelExecutive(supervisor, provider_for(settings, "bench-key-0123456789"), settings)
    applied: dict[str, float] = {}
    turn_ends: list[float] = []
    turn_starts: list[float] = []

    def on_record(record: Record) -> None:
        event = record.event
        if isinstance(event, BarrierCreated):
            applied.setdefault(event.name, time.perf_counter())

    supervisor.listeners.append(on_record)
    turn = model.provider.turn

    async def timed(*args, **kwargs):  # type: ignore[no-untyped-def]
        turn_starts.append(time.perf_counter())
        result = await turn(*args, **kwargs)
        turn_ends.append(time.perf_counter())
        return result

    model.provider.turn = timed  # type: ignore[method-assign]
    figures: dict[str, list[float]] = {"call → effect": [], "request → effect": []}
    try:
        for number in range(calls):
            key, tool = f"b{number}", "barrier"
            arguments = {"name": key, "count": 2}
            if isinstance(stub, AnthropicStub):
                stub.use_tool(tool, arguments)
            else:
                stub.call_tool(tool, arguments)
            stub.say("ok")
            turn_starts.clear()
            turn_ends.clear()
            shown = Quiet()
            await model.converse(f"do {number}", shown)
            if key not in applied:
                raise SystemExit(f"{provider}: {tool} had no effect: {shown.notes}")
            effect = applied[key]
            figures["call → effect"].append(effect - turn_ends[0])
            figures["request → effect"].append(effect - turn_starts[0])
            model.messages.clear()
    finally:
        await model.provider.close()
        await stub.stop()
        supervisor.journal.close()
    return figures


def tokens(agents: int) -> dict[str, int]:
    supervisor = Supervisor(org_of(agents), TmuxBackend("ac-bench-unused"), (120, 40))
    try:
        settings = ExecutiveSettings(provider="anthropic", model="stub", base_url="http://127.0.0.1:9")
        model = ModelExecutive(supervisor, provider_for(settings, None), settings)
        summary = model.summary()
        tools = json.dumps(
            [{"name": t.name, "description": t.description, "input_schema": t.schema} for t in model.tools()]
        )
    finally:
        supervisor.journal.close()
    return {
        "agents": agents + 1,
        "summary chars": len(summary),
        "summary tokens": len(summary) // 4,
        "system + summary tokens": (len(SYSTEM) + len(summary)) // 4,
        "tools tokens": len(tools) // 4,
        "tools": len(model.tools()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--quick", action="store_true")
    options = parser.parse_args()
    calls = 30 if options.quick else options.calls
    saved = saved_environment()
    root = Path(tempfile.mkdtemp(prefix="ac-bench-exec-"))
    try:
        os.environ.update(HOME=str(root), XDG_STATE_HOME=str(root / "state"), XDG_RUNTIME_DIR=str(root / "run"))
        os.environ.pop("TMUX", None)
        os.environ.pop("TMUX_PANE", None)
        print(f"model executive, {calls} tool calls per provider (stub servers on 127.0.0.1, streamed)")
        for provider in ("anthropic", "openai"):
            figures = asyncio.run(latency(provider, calls))
            for name, values in figures.items():
                ms = sorted(value * 1000 for value in values)
                print(
                    f"  {provider:9} {name:17} p50 {percentile(ms, 50):7.2f} ms   p99 {percentile(ms, 99):7.2f} ms"
                    f"   max {ms[-1]:7.2f} ms"
                )
        print(f"tokens per turn (estimate: characters / 4; the summary is cut at {SUMMARY_CHARS} characters)")
        for agents in (49, 399):
            figures_t = tokens(agents)
            print("  " + ", ".join(f"{name} {value}" for name, value in figures_t.items()))
    finally:
        restore_environment(saved)
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
