"""UI render cost: the console app, headless, refreshing its views while many agents change state fast.

For each agent count N (50 and 200 by default) a fresh Python process builds an org programmatically (six
top-level teams, two of them with two sub-teams each, one coordinator per team), a real `Supervisor` over
it (journal in a temporary folder; the `TmuxBackend` it needs is never started, so no tmux is used) and the
real `ConsoleApp(supervisor, start_supervisor=False)`, run headless at 120x40 (`App.run_test`). Every
agent is launched first (`OrgLoaded`, `AgentLaunched`), then, inside the app's event loop, a feeder task
wakes every 10 ms and calls `supervisor.submit(agent, StatusReported(...))` for every event due: each agent
reports R times a second (agents evenly out of phase), with a new state, task text and progress each time;
about once every `APPROVAL_PERIOD` seconds an agent also asks an `ApprovalRequested` (some identical
commands), which the human decides (`ApprovalDecided`) 1-4 s later, so the approval queue changes too.

Measured over the S seconds of feeding (plus a short drain), with the product code untouched:

* update: the wall time the loop is held by one step of a refresh (the app coalesces records, refreshes at
  most every `REFRESH_SECONDS`, so refreshes/s should stay <= 5, and runs a refresh one view a message) or
  by a direct `app.refresh_views()` call, wrapped on the app *instance*;
* loop lag: an asyncio `call_later` probe every 50 ms records how late it runs (p99): a stall of the one
  event loop that the supervisor, the widgets and Textual's own rendering share shows up here;
* paint: Textual's own work after an update (layout + compositor render of the dirty widgets), timed by
  wrapping `Screen._refresh_layout` / `Screen._compositor_refresh` on the screen instance. Headless
  Textual renders the widgets' lines exactly as in a terminal; it only skips encoding them to ANSI;
* RSS: this process's resident memory at the end (VmRSS) and its peak (VmHWM), from /proc/self/status;
  one process per agent count, so the figures do not carry over from one run to the next;
* key -> screen: every KEY_PERIOD a key press (`down`, or `up` at the bottom), sent through the driver as
  Pilot sends it, moves the health table's cursor; the figure is the time from sending the key to the end of
  the first compositor paint that shows the cursor moved (the screen the human sees), p50/p99;
* journal commits: the journal appends on the loop and commits (write + fsync) on a thread of its own, so
  the loop never waits on the disk; the figure is each commit's latency (asked -> durable), off the loop;
* events/s achieved.

Run it from the repository root, in the project's venv:

    python bench/ui_render.py                          # 50 and 200 agents x 20 events/s x 10 s (~30 s)
    python bench/ui_render.py --agents 200 --rate 50 --seconds 5
    python bench/ui_render.py --agents 200 --profile   # also print where the loop's time goes (cProfile)

It never touches your own tmux server or home: `HOME`, `XDG_STATE_HOME` and `XDG_RUNTIME_DIR` point into a
temporary folder under /tmp (removed at the end), `TMUX` and `TMUX_PANE` are removed, and tmux is never run.
It prints figures and whether the issue's targets are met; it is not a pass/fail test.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import io
import json
import math
import os
import pstats
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchlib import percentile

from agent_console.tui.app import REFRESH_SECONDS

TARGET_AGENTS = 200
TARGET_P99_MS = 50.0
TARGET_RSS_MB = 200.0
APP_SIZE = (120, 40)
WINDOW_SIZE = (240, 80)
TICK = 0.010  # the feeder's period
# At most this many ticks' worth of events in one turn: a feeder that caught up with all it owes after a stall
# would stall the loop longer still (a reader takes what one read returns). Events past it are skipped, counted.
CATCH_UP_TICKS = 2
PROBE_PERIOD = 0.050  # the loop-lag probe's period
DRAIN = 0.5  # after feeding stops: the last coalesced refresh lands
KEY_PERIOD = 0.25  # seconds between the key -> screen probe's presses
KEY_TIMEOUT = 5.0  # a press whose effect is not painted by then counts as this long
APPROVAL_PERIOD = 10.0  # seconds between an agent's approval requests, on average
DECIDE_AFTER = (1.0, 4.0)  # the human answers a request this many seconds after it came
ORG_NAME = "ui"
TEAMS = (  # (name, parent)
    ("platform", None),
    ("api", "platform"),
    ("storage", "platform"),
    ("frontend", None),
    ("web", "frontend"),
    ("mobile", "frontend"),
    ("infra", None),
    ("research", None),
    ("qa", None),
    ("docs", None),
)
VERBS = ("editing", "reading", "testing", "refactoring", "reviewing", "fixing", "profiling", "documenting")
COMMANDS = ("pytest -q", "npm test", "git push origin HEAD", "make build", "rm -rf build/")
CHILD_TIMEOUT_EXTRA = 90.0  # seconds a child may take beyond --seconds (imports, set-up, drain)


# --- small helpers ----------------------------------------------------------------------------------------


def memory_mb() -> tuple[float, float]:
    """This process's resident memory now (VmRSS) and at its peak (VmHWM), in MB."""
    found: dict[str, float] = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            found[key] = int(value.split()[0]) / 1024  # kB
    return found.get("VmRSS", math.nan), found.get("VmHWM", math.nan)


def private_environment(workdir: Path) -> None:
    """Point HOME and the XDG folders into `workdir` (short: unix socket paths are capped near 108 bytes)."""
    for name in ("TMUX", "TMUX_PANE"):
        os.environ.pop(name, None)
    for name, sub in (("HOME", "h"), ("XDG_STATE_HOME", "s"), ("XDG_RUNTIME_DIR", "r")):
        path = workdir / sub
        path.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.environ[name] = str(path)


# --- one run (in a child process) ---------------------------------------------------------------------------


def build_org(count: int):
    from agent_console.agents.model import Agent, Org, Role, Team

    teams = [Team(name=name, parent=parent) for name, parent in TEAMS]
    agents = []
    for index in range(count):
        team = TEAMS[index % len(TEAMS)][0]
        role = Role.COORDINATOR if index < len(TEAMS) else Role.WORKER
        agents.append(Agent(name=f"a{index:03d}", team=team, role=role))
    return Org(name=ORG_NAME, teams=tuple(teams), agents=tuple(agents))


class Timed:
    """Wall times of the outermost calls of one or more wrapped callables (nested calls are not counted twice)."""

    def __init__(self) -> None:
        self.durations: list[float] = []
        self.recording = False
        self._depth = 0

    def wrap(self, function):
        def timed(*args, **kwargs):
            self._depth += 1
            began = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                self._depth -= 1
                if self._depth == 0 and self.recording:
                    self.durations.append(time.perf_counter() - began)

        return timed


async def run_one(count: int, args: argparse.Namespace, workdir: Path) -> dict:
    from textual.events import Key

    from agent_console.agents.events import (
        HUMAN,
        SUPERVISOR,
        AgentLaunched,
        AgentState,
        ApprovalDecided,
        ApprovalRequested,
        OrgLoaded,
        StatusReported,
    )
    from agent_console.runtime.supervisor import Supervisor
    from agent_console.terminal.tmux import TmuxBackend
    from agent_console.tui import app as app_module
    from agent_console.tui.app import ConsoleApp
    from agent_console.widgets.approval_queue import ApprovalQueue
    from agent_console.widgets.health_table import HealthTable
    from agent_console.widgets.org_tree import OrgTree
    from agent_console.widgets.trace_view import TraceView

    rss_start, _ = memory_mb()
    rng = random.Random(args.seed)
    org = build_org(count)
    backend = TmuxBackend(socket_name=f"ac-ui-{os.getpid()}")  # never started: no tmux server is run
    supervisor = Supervisor(org, backend, WINDOW_SIZE, journal_path=workdir / "journal.jsonl")
    names = [agent.name for agent in org.agents]
    supervisor.submit(
        SUPERVISOR,
        OrgLoaded(
            name=org.name,
            teams={team.name: team.parent for team in org.teams},
            agents={agent.name: agent.team for agent in org.agents},
        ),
    )
    for index, name in enumerate(names):
        supervisor.submit(SUPERVISOR, AgentLaunched(agent=name, pane=f"%{index + 1}"))

    app = ConsoleApp(supervisor, start_supervisor=False)
    updates, paints, submits, refreshes = Timed(), Timed(), Timed(), Timed()
    # on the instance: the product code is untouched. The coalesced refresh runs one step (view) a message;
    # a direct refresh_views() runs them all at once: either holds the loop that long.
    # (Earlier versions refresh in one call: the bench measures them too, for before/after figures.)
    app.refresh_views = updates.wrap(app.refresh_views)
    if hasattr(app, "_refresh_step"):
        app._refresh_step = updates.wrap(app._refresh_step)
        app._refresh_in_steps = refreshes.wrap(app._refresh_in_steps)
    else:
        refreshes = updates
    submit = submits.wrap(supervisor.submit)
    commits: list[float] = []  # journal commit latencies, measured on the journal's thread
    journal_commit = supervisor.journal.commit

    def timed_commit():
        began = time.perf_counter()
        future = journal_commit()
        if measuring:
            future.add_done_callback(lambda _: commits.append(time.perf_counter() - began))
        return future

    supervisor.journal.commit = timed_commit
    key_waits: list[float] = []  # key posted -> first paint showing its effect
    key_pending: dict[str, float] = {}  # began, row: the press in flight
    lateness: list[float] = []
    loop = asyncio.get_running_loop()
    states = (AgentState.THINKING, AgentState.WORKING, AgentState.IDLE, AgentState.WAITING, AgentState.ERROR)
    weights = (30, 45, 12, 10, 3)
    total = round(count * args.rate * args.seconds)
    request_chance = 1 / (args.rate * APPROVAL_PERIOD)
    sent = {"status": 0, "requests": 0, "decisions": 0, "skipped": 0}
    last_sent = 0.0

    def status_event(index: int, seq: int) -> StatusReported:
        state = rng.choices(states, weights)[0]
        task = f"{rng.choice(VERBS)} src/module_{(index * 7 + seq) % 97:02d}.py (step {seq})"
        return StatusReported(state=state, task=task, progress=f"{seq % 10 + 1}/10")

    async def feed(began: float) -> None:
        nonlocal last_sent
        next_event = 0
        decisions: list[tuple[float, str]] = []  # (due, approval id), in request order
        while next_event < total or decisions:
            now = time.perf_counter()
            due = min(total, int((now - began) * count * args.rate) + 1)
            behind = due - next_event - round(CATCH_UP_TICKS * TICK * count * args.rate)
            if behind > 0:
                next_event += behind
                sent["skipped"] += behind
            while next_event < due:
                index, seq = next_event % count, next_event // count
                submit(names[index], status_event(index, seq))
                sent["status"] += 1
                if rng.random() < request_chance:
                    approval_id = f"r{index}-{seq}"
                    if rng.random() < 0.6:
                        request = ApprovalRequested(id=approval_id, text="run a command", command=rng.choice(COMMANDS))
                    else:
                        request = ApprovalRequested(
                            id=approval_id, text=f"may I touch {status_event(index, seq).task}?"
                        )
                    submit(names[index], request)
                    sent["requests"] += 1
                    decisions.append((now + rng.uniform(*DECIDE_AFTER), approval_id))
                next_event += 1
            if next_event >= total:
                decisions = [each for each in decisions if each[0] <= now + TICK]  # not waited for past the end
            while decisions and decisions[0][0] <= now:
                _, approval_id = decisions.pop(0)
                if approval_id in supervisor.state.approvals:
                    submit(HUMAN, ApprovalDecided(id=approval_id, approved=rng.random() < 0.8))
                    sent["decisions"] += 1
            last_sent = time.perf_counter()
            decisions.sort()
            await asyncio.sleep(TICK)

    def probe(due: float) -> None:
        ran = loop.time()
        lateness.append(ran - due)
        if measuring:  # the next one is due a period after this one ran: one stall, one late probe
            loop.call_at(ran + PROBE_PERIOD, probe, ran + PROBE_PERIOD)

    collections: list[float] = []  # garbage-collector pauses (they stall the loop too)
    full_collections: list[float] = []  # of which the oldest generation's
    collecting: list[float] = []

    def on_gc(phase: str, info: dict) -> None:
        if phase == "start":
            collecting[:] = [time.perf_counter()]
        elif collecting and measuring:
            collections.append(time.perf_counter() - collecting[0])
            if info.get("generation") == 2:
                full_collections.append(collections[-1])

    measuring = False
    profiler = cProfile.Profile() if args.profile else None
    gc.callbacks.append(on_gc)
    try:
        async with app.run_test(size=APP_SIZE) as pilot:
            await pilot.pause()
            if hasattr(app_module, "freeze_long_lived"):
                app_module.freeze_long_lived()  # as the console does once it started its org (not started here)
            screen = app.screen
            for name in ("_refresh_layout", "_compositor_refresh"):  # Textual's paint, timed on the instance
                if hasattr(screen, name):
                    setattr(screen, name, paints.wrap(getattr(screen, name)))
            health = app.query_one(HealthTable)
            screen.set_focus(health)
            composite = screen._compositor_refresh

            def painted() -> None:
                composite()
                if key_pending and health.cursor_row != key_pending["row"]:
                    key_waits.append(time.perf_counter() - key_pending["began"])
                    key_pending.clear()

            screen._compositor_refresh = painted

            async def press_keys() -> None:
                while measuring:
                    await asyncio.sleep(KEY_PERIOD)
                    if not measuring or not health.row_count:
                        continue
                    row = health.cursor_row
                    key = "up" if row >= health.row_count - 1 else "down"
                    key_pending.update(began=time.perf_counter(), row=row)
                    # sent the way Pilot.press sends it (through the driver, as a terminal's key comes), without
                    # Pilot's wait for the app to go idle: under this load it seldom is, and the paint is the figure
                    event = Key(key, None)
                    event.set_sender(app)
                    app._driver.send_message(event)
                    waited = time.perf_counter()
                    while key_pending and time.perf_counter() - waited < KEY_TIMEOUT:
                        await asyncio.sleep(0.001)
                    if key_pending:
                        key_waits.append(KEY_TIMEOUT)
                        key_pending.clear()

            parts: dict[str, Timed] = {}  # where the time goes, by widget method (wrapped on the instances)
            for label, widget_type, method in (
                ("OrgTree.update_org", OrgTree, "update_org"),
                ("HealthTable.update_health", HealthTable, "update_health"),
                ("ApprovalQueue.update_approvals", ApprovalQueue, "update_approvals"),
                ("TraceView.add_records", TraceView, "add_records"),
                # Textual's DataTable re-measures column widths when idle, after cells changed with update_width
                ("HealthTable._update_column_widths (idle)", HealthTable, "_update_column_widths"),
                ("ApprovalQueue._update_column_widths (idle)", ApprovalQueue, "_update_column_widths"),
            ):
                widget = app.query_one(widget_type)
                if hasattr(widget, method):
                    parts[label] = Timed()
                    setattr(widget, method, parts[label].wrap(getattr(widget, method)))
            await asyncio.sleep(0.3)  # the first full paint is done before measuring
            cpu_began = time.process_time()
            measuring = True
            for timed in (updates, paints, submits, refreshes, *parts.values()):
                timed.recording = True
            if profiler is not None:
                profiler.enable()
            began = time.perf_counter()
            loop.call_at(loop.time() + PROBE_PERIOD, probe, loop.time() + PROBE_PERIOD)
            pressing = asyncio.create_task(press_keys())
            await feed(began)
            fed = last_sent - began
            await asyncio.sleep(DRAIN)
            measuring = False
            await pressing
            if profiler is not None:
                profiler.disable()
            for timed in (updates, paints, submits, refreshes, *parts.values()):
                timed.recording = False
            window = time.perf_counter() - began
            cpu = time.process_time() - cpu_began
            rss, peak = memory_mb()
            trace_nodes = len(app.query_one(TraceView).shown_records)
            pending = len(supervisor.state.approvals)
    finally:
        gc.callbacks.remove(on_gc)
        supervisor.journal.flush()
        supervisor.journal.close()

    if profiler is not None:
        for order in ("tottime", "cumulative"):
            out = io.StringIO()
            pstats.Stats(profiler, stream=out).sort_stats(order).print_stats(args.profile_lines)
            print(f"\n--- {count} agents: cProfile, by {order} ---\n{out.getvalue()}", file=sys.stderr)

    def ms(values: list[float]) -> dict[str, float]:
        ordered = sorted(values)
        return {
            "p50": percentile(ordered, 50) * 1000,
            "p99": percentile(ordered, 99) * 1000,
            "max": (ordered[-1] * 1000) if ordered else math.nan,
            "count": len(ordered),
            "total": sum(ordered),
        }

    events = sent["status"] + sent["requests"] + sent["decisions"]
    return {
        "agents": count,
        "rate": args.rate,
        "seconds": args.seconds,
        "fed": fed,
        "window": window,
        "events": events,
        "sent": sent,
        "events_per_s": events / fed if fed > 0 else math.nan,
        "refreshes_per_s": len(refreshes.durations) / window,
        "update": ms(updates.durations),
        "paint": ms(paints.durations),
        "commit": ms(commits),
        "key": ms(key_waits),
        "submit": ms(submits.durations),
        "lag": ms(lateness),
        "gc": ms(collections),
        "gc_full": ms(full_collections),
        "parts": {label: ms(timed.durations) for label, timed in parts.items()},
        "cpu": cpu,
        "rss": rss,
        "peak": peak,
        "rss_start": rss_start,
        "trace_nodes": trace_nodes,
        "pending": pending,
    }


def child_main(args: argparse.Namespace) -> int:
    workdir = Path(args.workdir)
    private_environment(workdir)  # before anything creates state
    result = asyncio.run(run_one(args.child, args, workdir))
    print("RESULT " + json.dumps(result), flush=True)
    return 0


# --- the parent: one child per agent count, then the table ------------------------------------------------------


def run_child(count: int, args: argparse.Namespace, root: Path) -> dict:
    workdir = root / f"n{count}"
    workdir.mkdir(mode=0o700)
    command = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--child",
        str(count),
        "--workdir",
        str(workdir),
        "--rate",
        str(args.rate),
        "--seconds",
        str(args.seconds),
        "--profile-lines",
        str(args.profile_lines),
    ]
    if args.seed is not None:
        command += ["--seed", str(args.seed)]
    if args.profile:
        command.append("--profile")
    env = {key: value for key, value in os.environ.items() if key not in ("TMUX", "TMUX_PANE")}
    env.update(HOME=str(workdir / "h"), XDG_STATE_HOME=str(workdir / "s"), XDG_RUNTIME_DIR=str(workdir / "r"))
    print(f"  {count} agents x {args.rate} events/s x {args.seconds} s…", file=sys.stderr, flush=True)
    done = subprocess.run(
        command,
        stdout=subprocess.PIPE,
        text=True,
        env=env,
        cwd=Path(__file__).resolve().parent.parent,
        timeout=args.seconds + CHILD_TIMEOUT_EXTRA,
    )
    for line in done.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT ") :])
    raise SystemExit(f"the run with {count} agents failed (exit status {done.returncode})")


def report(results: list[dict], elapsed: float) -> None:
    print()
    print("update  = wall time of one refresh step (one view updated from the supervisor's state) or refresh_views().")
    print("lag     = how late a 50 ms asyncio call_later probe ran: stalls of the shared event loop.")
    print("paint   = Textual's layout + compositor render after updates (Screen._refresh_layout/_compositor_refresh).")
    print("RSS     = VmRSS of the run's own process at the end; peak = VmHWM.")
    print("key     = a Pilot key press (down/up in the health table) to the first paint that shows it.")
    print()
    header = (
        f"{'agents':>6}  {'events/s':>8}  {'seconds':>7}  {'refreshes/s':>11}  {'update p50 ms':>13}  "
        f"{'p99 ms':>7}  {'max ms':>7}  {'loop lag p99 ms':>15}  {'key p50 ms':>10}  {'key p99 ms':>10}  "
        f"{'RSS MB':>7}  {'peak MB':>7}"
    )
    print(header)
    print("-" * len(header))
    for result in results:
        update = result["update"]
        print(
            f"{result['agents']:>6}  {result['events_per_s']:>8.0f}  {result['seconds']:>7g}  "
            f"{result['refreshes_per_s']:>11.2f}  {update['p50']:>13.1f}  {update['p99']:>7.1f}  "
            f"{update['max']:>7.1f}  {result['lag']['p99']:>15.1f}  {result['key']['p50']:>10.1f}  "
            f"{result['key']['p99']:>10.1f}  {result['rss']:>7.0f}  {result['peak']:>7.0f}"
        )
    print()
    for result in results:
        paint, lag, sent = result["paint"], result["lag"], result["sent"]
        window = result["window"]
        print(
            f"{result['agents']:>4} agents: target {result['rate'] * result['agents']} events/s; sent "
            f"{sent['status']} status + {sent['requests']} requests + {sent['decisions']} decisions "
            f"({sent['skipped']} status skipped: the loop was behind); "
            f"{result['pending']} pending at the end; {result['trace_nodes']} trace records shown"
        )
        print(
            f"{'':>12}paint p50 {paint['p50']:.1f} / p99 {paint['p99']:.1f} / max {paint['max']:.1f} ms "
            f"({paint['count'] / window:.1f}/s); loop lag max {lag['max']:.1f} ms; "
            f"CPU {100 * result['cpu'] / window:.0f}% of a core; GC pauses {result['gc']['count']} "
            f"({result['gc_full']['count']} full, p50 {result['gc_full']['p50']:.0f} ms), "
            f"max {result['gc']['max']:.1f} ms, {1000 * result['gc']['total'] / window:.0f} ms/s"
        )
        print(
            f"{'':>12}loop time per second: updates {1000 * result['update']['total'] / window:.0f} ms, paint "
            f"{1000 * paint['total'] / window:.0f} ms, submit {1000 * result['submit']['total'] / window:.0f} ms, "
            f"RSS before the app {result['rss_start']:.0f} MB"
        )
        commit = result["commit"]
        print(
            f"{'':>12}journal commits (own thread, off the loop) {commit['count'] / window:.1f}/s, latency "
            f"p50 {commit['p50']:.1f} / p99 {commit['p99']:.1f} ms"
        )
        for label, part in result["parts"].items():
            print(
                f"{'':>12}{label:<44} {part['count'] / window:>5.1f}/s  p50 {part['p50']:>6.1f}  "
                f"p99 {part['p99']:>6.1f}  max {part['max']:>6.1f} ms  ({1000 * part['total'] / window:.0f} ms/s)"
            )
    print()
    for result in results:
        verdict = "yes" if result["refreshes_per_s"] <= 1 / REFRESH_SECONDS else "NO"
        print(
            f"coalescing at {result['agents']} agents: {result['refreshes_per_s']:.2f} refreshes/s "
            f"(<= {1 / REFRESH_SECONDS:g}/s: {verdict}) for {result['events_per_s']:.0f} events/s"
        )
    at_target = [result for result in results if result["agents"] == TARGET_AGENTS]
    if not at_target:
        print(f"targets (at {TARGET_AGENTS} agents): not measured this run")
    else:
        result = at_target[0]
        p99 = result["update"]["p99"]
        verdict = "met" if p99 <= TARGET_P99_MS else "NOT met"
        print(f"target update p99 <= {TARGET_P99_MS:g} ms at {TARGET_AGENTS} agents: {p99:.1f} ms, {verdict}")
        lag = result["lag"]["p99"]
        verdict = "met" if lag <= TARGET_P99_MS else "NOT met"
        print(f"target loop lag p99 <= {TARGET_P99_MS:g} ms at {TARGET_AGENTS} agents: {lag:.1f} ms, {verdict}")
        key = result["key"]
        print(
            f"key -> screen at {TARGET_AGENTS} agents: p50 {key['p50']:.1f} ms, p99 {key['p99']:.1f} ms "
            f"({key['count']} presses)"
        )
        rss, peak = result["rss"], result["peak"]
        verdict = "met" if max(rss, peak) <= TARGET_RSS_MB else "NOT met"
        print(
            f"target RSS <= {TARGET_RSS_MB:g} MB at {TARGET_AGENTS} agents: {rss:.0f} MB (peak {peak:.0f}), {verdict}"
        )
    print(f"total run time {elapsed:.1f} s")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=(
            "Render cost of the console app, headless, while N agents change state R times a second: "
            "refresh_views() time, event-loop lag, Textual paint time and RSS, one process per agent count. "
            "Prints one table."
        ),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--agents", default="50,200", help="comma-separated agent counts, one run each")
    parser.add_argument("--rate", type=int, default=20, help="status events a second, per agent")
    parser.add_argument("--seconds", type=float, default=10.0, help="how long each run feeds events")
    parser.add_argument("--seed", type=int, default=None, help="seed for states, tasks and approvals")
    parser.add_argument("--profile", action="store_true", help="cProfile each run's window (printed to stderr)")
    parser.add_argument("--profile-lines", type=int, default=30, help="functions listed per --profile table")
    parser.add_argument("--child", type=int, default=None, help=argparse.SUPPRESS)  # internal: one run
    parser.add_argument("--workdir", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    try:
        args.agent_counts = [int(part) for part in args.agents.split(",") if part.strip()]
    except ValueError:
        parser.error("--agents takes comma-separated integers, e.g. 50,200")
    if not args.agent_counts or min(args.agent_counts) < 1 or max(args.agent_counts) > 999:
        parser.error("--agents needs counts between 1 and 999")
    if args.rate < 1 or args.seconds <= 0 or args.seconds > 600:
        parser.error("--rate must be >= 1 and --seconds in (0, 600]")
    if args.child is not None and args.workdir is None:
        parser.error("--child needs --workdir")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.child is not None:
        return child_main(args)
    began = time.monotonic()
    root = Path(tempfile.mkdtemp(prefix="acu-", dir="/tmp"))
    try:
        results = [run_child(count, args, root) for count in args.agent_counts]
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except subprocess.TimeoutExpired as error:
        print(f"a run took too long ({error.timeout:.0f} s) and was stopped", file=sys.stderr)
        return 1
    finally:
        shutil.rmtree(root, ignore_errors=True)
    report(results, time.monotonic() - began)
    return 0


if __name__ == "__main__":
    sys.exit(main())
