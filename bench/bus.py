"""The agent → console event bus under load: many agents reporting status fast, through both transports.

N agents (50 by default) each send R status events a second (100) for S seconds (30), all starting at the
same instant, to the real `Supervisor` running in this process on a private tmux server. Two runs, one per
transport, each with its own tmux server, state directory and journal:

* escape sequence: each agent's pane runs a small Python program that writes
  `encode(token, StatusReported(state=…, task="m<seq>:<time_ns>"))` to its own terminal, with the token from
  `AGENT_CONSOLE_TOKEN`; the supervisor finds it in the output tmux pushes (`tmux -C` `%output`);
* socket: each agent's pane runs a small program that POSTs the same event (`{"v": 1, …}`) to
  `/v1/events` on the control API's unix socket (`AGENT_CONSOLE_SOCKET`, `Authorization: Bearer <token>`),
  over one keep-alive HTTP/1.1 connection per agent (the stdlib's http.client: 50 full async clients would
  starve a 2-core machine and measure themselves), one request at a time as an agent's client would send
  them; when answers come back late the agent falls behind its schedule, and that lag is reported.

Each agent sends event k at `start + phase + k / R` (phases spread the agents evenly over one period), with
`time.time_ns()` taken just before the event is built; when it falls behind its schedule it sends at once
(the lag is reported). The bench wraps, on the supervisor *instance* (product code is untouched):

* `supervisor.state.apply`: the wall clock when each record is applied → emit → state latency (p50/p99/max);
* `supervisor._on_terminal`: for the escape path, the time the `%output` line was read, so that the
  in-process share (tmux -C reader → applied, queueing included) is reported apart;
* `supervisor.journal.append`: time spent journaling on the event loop; and `os.fsync` as the journal's commit
  thread calls it: time in fsync, off the event loop (the journal commits in groups: one fsync for every record
  appended while the previous one ran).

Before the runs, a 1 s probe appends journal-sized lines with an fsync each on the same filesystem, alone,
to show how many fsyncs/s the disk allows; a note is printed when fsync dominates a run. At the end of each
run the state as the API serves it (`state_json`, i.e. `OrgState.to_json`) must show every agent's last event.

Figures: events sent (what each agent says it sent, written to a file when it is done), journaled (its
status records read back from the journal, every HMAC and the hash chain checked), lost (sent - journaled,
must be 0), duplicates and out-of-order records; latency; CPU seconds of this process (the supervisor, with
its API server and tmux -C reader) over the measurement window (start → last event applied) and as % of
one core, plus the `tmux -C` client's, the tmux server's and the agents'; journal bytes, records and rate.

Run it from the repository root, in the project's venv:

    python bench/bus.py                    # 50 agents x 100 events/s x 30 s, both transports (~2 min)
    python bench/bus.py --quick            # 10 agents x 50 events/s x 5 s
    python bench/bus.py --transport socket --agents 20 --rate 200 --seconds 10

It never touches your own tmux server or home: each run uses a private socket (`-L ac-bus-…`), `TMUX` and
`TMUX_PANE` are removed from the environment, `HOME`, `XDG_RUNTIME_DIR` and `XDG_STATE_HOME` point into a
temporary folder under /tmp (removed at the end), and the server is killed at the end, also on error or
Ctrl-C. It prints figures; it is not a pass/fail test.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import resource
import shlex
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from benchlib import percentile, proc_cpu, restore_environment, saved_environment, tmux_executable

import agent_console.agents.journal as journal_module
from agent_console.agents.events import StatusReported
from agent_console.agents.journal import load_or_create_key, read_records
from agent_console.agents.limits import Limits
from agent_console.agents.model import Agent, Org, Team
from agent_console.runtime.supervisor import Supervisor
from agent_console.terminal.base import PaneOutput
from agent_console.terminal.tmux import TmuxBackend

TARGET_P99_MS = 25.0
WINDOW_SIZE = (240, 80)
ORG_NAME = "bus"
TEAM_SIZE = 10
TRANSPORTS = {"escape": "escape sequence", "socket": "socket"}

# Runs in every agent pane. argv: mode agent start_file ready_dir result_dir rate seconds phase hold connections
# drain. Imports first, says it is ready (a file), waits (bounded) for the start file, sends on schedule,
# writes what it sent to a result file, then stays alive (bounded) so that its pane does not exit mid-run.
SENDER = """\
import http.client, json, os, resource, socket as socketlib, sys, time
from agent_console.agents.events import StatusReported

mode, agent, start_file, ready_dir, result_dir = sys.argv[1:6]
rate, seconds, phase, hold = float(sys.argv[6]), float(sys.argv[7]), float(sys.argv[8]), float(sys.argv[9])
connections, drain = int(sys.argv[10]), float(sys.argv[11])
token = os.environ["AGENT_CONSOLE_TOKEN"]
count = max(1, round(rate * seconds))
states = ("working", "thinking")
deadline = time.time() + hold
result = {"agent": agent, "sent": 0, "ok": 0, "errors": 0, "error": None, "lag_max": 0.0}


def ready():
    open(os.path.join(ready_dir, agent), "w").close()


def start_time():
    while not os.path.exists(start_file):
        if time.time() > deadline:
            sys.exit(1)
        time.sleep(0.02)
    with open(start_file) as handle:
        return float(handle.read())


def finish(cpu0):
    cpu = resource.getrusage(resource.RUSAGE_SELF)
    result["cpu"] = cpu.ru_utime + cpu.ru_stime - cpu0
    temporary = os.path.join(result_dir, "." + agent)
    with open(temporary, "w") as handle:
        json.dump(result, handle)
    os.replace(temporary, os.path.join(result_dir, agent))
    time.sleep(max(0.0, deadline - time.time()))


def cpu_now():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def escape():
    from agent_console.agents.protocol import encode

    out = sys.stdout.fileno()
    ready()
    start = start_time()
    cpu0 = cpu_now()
    for seq in range(count):
        delay = start + phase + seq / rate - time.time()
        if delay > 0:
            time.sleep(delay)
        elif -delay > result["lag_max"]:
            result["lag_max"] = -delay
        task = "m%d:%d" % (seq, time.time_ns())
        view = memoryview(encode(token, StatusReported(state=states[seq % 2], task=task)))
        while view:
            view = view[os.write(out, view):]
        result["sent"] += 1
        result["ok"] += 1
    finish(cpu0)


class UnixHTTPConnection(http.client.HTTPConnection):
    def connect(self):
        self.sock = socketlib.socket(socketlib.AF_UNIX, socketlib.SOCK_STREAM)
        self.sock.settimeout(drain)
        self.sock.connect(os.environ["AGENT_CONSOLE_SOCKET"])


def socket():
    # A plain keep-alive HTTP/1.1 connection per agent, one request at a time (as an agent's client would
    # be): cheap enough that 50 of them do not starve a 2-core machine, unlike a full async client each.
    connection = UnixHTTPConnection("console")
    headers = {"Authorization": "Bearer " + token, "Content-Type": "application/json"}
    ready()
    start = start_time()
    cpu0 = cpu_now()
    for seq in range(count):
        delay = start + phase + seq / rate - time.time()
        if delay > 0:
            time.sleep(delay)
        elif -delay > result["lag_max"]:
            result["lag_max"] = -delay
        task = "m%d:%d" % (seq, time.time_ns())
        event = StatusReported(state=states[seq % 2], task=task)
        body = json.dumps({"v": 1, **event.model_dump(mode="json", exclude_none=True)})
        result["sent"] += 1
        try:
            connection.request("POST", "/v1/events", body, headers)
            response = connection.getresponse()
            response.read()
            if response.status == 202:
                result["ok"] += 1
                continue
            message = "HTTP %d" % response.status
        except Exception as error:
            message = "%s: %s" % (type(error).__name__, error)
            connection.close()
        result["errors"] += 1
        result["error"] = result["error"] or message
    return cpu0


if mode == "escape":
    escape()
else:
    finish(socket())
"""

_live_sockets: dict[str, Path | None] = {}  # socket name → socket file, for the last-resort cleanup


# --- small helpers ----------------------------------------------------------------------------------------


def self_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def kill_server(socket_name: str, socket_file: Path | None) -> None:
    """Kill our private server and remove its socket file (tmux 3.3a leaves it behind)."""
    with contextlib.suppress(subprocess.SubprocessError, OSError):
        subprocess.run([tmux_executable(), "-L", socket_name, "kill-server"], capture_output=True, timeout=5)
    if socket_file is None:
        return
    for _ in range(50):  # the server exits asynchronously; only remove the file once nothing answers
        with contextlib.suppress(subprocess.SubprocessError, OSError):
            probe = subprocess.run(
                [tmux_executable(), "-L", socket_name, "list-sessions"], capture_output=True, timeout=5
            )
            if probe.returncode != 0:
                break
        time.sleep(0.05)
    with contextlib.suppress(OSError):
        socket_file.unlink()


def make_org(count: int, command_for: dict[str, str], cwd: Path, limits: Limits | None = None) -> Org:
    """`count` shell agents in teams of `TEAM_SIZE` (the layout plan spreads them over several windows)."""
    names = list(command_for)
    teams = [Team(name=f"t{index}") for index in range(math.ceil(count / TEAM_SIZE))]
    agents = [
        Agent(name=name, team=f"t{index // TEAM_SIZE}", kind="shell", command=command_for[name], cwd=cwd)
        for index, name in enumerate(names)
    ]
    return Org(name=ORG_NAME, teams=tuple(teams), agents=tuple(agents), limits=limits or Limits())


def fsync_probe(folder: Path, seconds: float = 1.0, line_size: int = 365) -> tuple[int, float]:
    """Append journal-sized lines with an fsync after each, as the journal does, on `folder`'s filesystem,
    alone (no other load) for `seconds`: (fsyncs, seconds taken)."""
    path = folder / "fsync-probe"
    descriptor = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    line = b"x" * (line_size - 1) + b"\n"
    count = 0
    began = time.perf_counter()
    try:
        while time.perf_counter() - began < seconds:
            os.write(descriptor, line)
            os.fsync(descriptor)
            count += 1
    finally:
        os.close(descriptor)
        path.unlink()
    return count, time.perf_counter() - began


# --- measurement state ------------------------------------------------------------------------------------


@dataclass
class Probe:
    """What the wrappers on the supervisor instance see; counters are cumulative (snapshot at the window)."""

    latencies: list[float] = field(default_factory=list)  # emit → applied, ms
    in_process: list[float] = field(default_factory=list)  # tmux -C reader → applied, ms (escape path)
    applied: int = 0
    last_applied_ns: int = 0
    last_seq: dict[str, int] = field(default_factory=dict)
    out_of_order: int = 0
    received: float | None = None  # the PaneOutput being handled (monotonic)
    append_s: float = 0.0
    appends: int = 0
    fsync_s: float = 0.0
    fsyncs: int = 0
    per_second: dict[int, int] = field(default_factory=dict)  # wall-clock second → events applied in it


def instrument(supervisor: Supervisor, probe: Probe) -> None:
    """Wrap bound methods on this supervisor instance (never its class) to time what it does."""
    state_apply = supervisor.state.apply
    on_terminal = supervisor._on_terminal
    journal = supervisor.journal
    journal_append = journal.append

    def apply(record) -> None:
        state_apply(record)
        event = record.event
        if type(event) is not StatusReported or not event.task or not event.task.startswith("m"):
            return
        now_ns = time.time_ns()
        seq_text, _, sent_text = event.task[1:].partition(":")
        try:
            seq, sent_ns = int(seq_text), int(sent_text)
        except ValueError:
            return
        probe.latencies.append((now_ns - sent_ns) / 1e6)
        if probe.received is not None:
            probe.in_process.append((time.monotonic() - probe.received) * 1e3)
        probe.applied += 1
        probe.last_applied_ns = now_ns
        second = now_ns // 1_000_000_000
        probe.per_second[second] = probe.per_second.get(second, 0) + 1
        if seq < probe.last_seq.get(record.actor, -1):
            probe.out_of_order += 1
        probe.last_seq[record.actor] = seq

    def terminal(event) -> None:
        probe.received = event.received if isinstance(event, PaneOutput) else None
        try:
            on_terminal(event)
        finally:
            probe.received = None

    def append(*args, **kwargs):
        began = time.perf_counter()
        try:
            return journal_append(*args, **kwargs)
        finally:
            probe.append_s += time.perf_counter() - began
            probe.appends += 1

    def fsync(descriptor: int) -> None:
        if threading.current_thread().name != "journal commit":
            return real_fsync(descriptor)
        began = time.perf_counter()
        try:
            real_fsync(descriptor)
        finally:
            probe.fsync_s += time.perf_counter() - began
            probe.fsyncs += 1

    supervisor.state.apply = apply
    supervisor._on_terminal = terminal
    journal.append = append
    journal_module.os.fsync = fsync  # the os module itself: put back by `uninstrument`


real_fsync = os.fsync


def uninstrument() -> None:
    journal_module.os.fsync = real_fsync


@dataclass
class RunResult:
    transport: str
    agents: int
    rate: float
    seconds: float
    sent: int = 0
    journaled: int = 0
    lost: int = 0
    duplicates: int = 0
    out_of_order: int = 0
    errors: int = 0
    first_error: str | None = None
    results_missing: int = 0
    latencies: list[float] = field(default_factory=list)
    in_process: list[float] = field(default_factory=list)
    window_s: float = math.nan
    drain_s: float = math.nan
    drained: bool = False
    setup_s: float = math.nan
    ready: int = 0
    windows: int = 0
    supervisor_cpu: float | None = None
    client_cpu: float | None = None
    server_cpu: float | None = None
    senders_cpu: float = 0.0
    lag_max: float = 0.0
    state_current: int = 0  # agents whose state, at the end, shows the last event they sent
    sending_rates: list[int] = field(default_factory=list)  # events applied in each whole second of sending
    journal_bytes: int = 0
    journal_records: int = 0
    journal_total_bytes: int = 0
    journal_total_records: int = 0
    append_s: float = 0.0
    appends: int = 0
    fsync_s: float = 0.0
    fsyncs: int = 0
    verify_s: float = math.nan
    journal_problem: str | None = None
    malformed: int = 0
    spoofs: int = 0


# --- one run ----------------------------------------------------------------------------------------------


async def wait_files(folder: Path, count: int, timeout: float) -> int:
    """Wait (bounded) until `folder` holds `count` files; how many it holds then."""
    deadline = time.monotonic() + timeout
    while True:
        present = sum(1 for entry in folder.iterdir() if not entry.name.startswith("."))
        if present >= count or time.monotonic() > deadline:
            return present
        await asyncio.sleep(0.1)


def read_results(folder: Path) -> list[dict]:
    results = []
    for entry in sorted(folder.iterdir()):
        if entry.name.startswith("."):
            continue
        with contextlib.suppress(OSError, ValueError):
            results.append(json.loads(entry.read_text()))
    return results


async def run_one(transport: str, args: argparse.Namespace, root: Path) -> RunResult:
    """One transport: a fresh tmux server, state folder and journal; the supervisor in this process."""
    count, rate, seconds = args.agents, args.rate, args.seconds
    result = RunResult(TRANSPORTS[transport], count, rate, seconds)
    run_dir = root / transport[0]
    work = run_dir / "w"
    ready_dir, results_dir = work / "ready", work / "results"
    for folder in (run_dir / "r", run_dir / "s", run_dir / "h", ready_dir, results_dir):
        folder.mkdir(parents=True, mode=0o700)
    os.environ.update(XDG_RUNTIME_DIR=str(run_dir / "r"), XDG_STATE_HOME=str(run_dir / "s"), HOME=str(run_dir / "h"))
    sender = work / "sender.py"
    sender.write_text(SENDER)
    start_file = work / "start"
    hold = 120.0 + seconds + args.drain
    commands = {
        f"a{index:03d}": " ".join(
            shlex.quote(part)
            for part in (
                sys.executable,
                "-I",
                str(sender),
                transport,
                f"a{index:03d}",
                str(start_file),
                str(ready_dir),
                str(results_dir),
                f"{rate:g}",
                f"{seconds:g}",
                f"{index / count / rate:.6f}",
                f"{hold:g}",
                "1",
                f"{args.drain:g}",
            )
        )
        for index in range(count)
    }
    # Per-agent limits (20 events/s by default) well above the rate: the bus is measured, not the limiter.
    limits = Limits(events_per_second=max(20.0, 2 * rate), event_burst=max(200, round(2 * rate)))
    org = make_org(count, commands, work, limits)
    socket_name = f"ac-bus-{os.getpid()}-{transport}-{os.urandom(3).hex()}"
    _live_sockets[socket_name] = Path("/tmp") / f"tmux-{os.getuid()}" / socket_name  # until tmux says
    backend = TmuxBackend(socket_name, org.name, config_file="/dev/null")
    supervisor: Supervisor | None = None
    probe = Probe()
    try:
        setup_start = time.monotonic()
        supervisor = Supervisor(org, backend, WINDOW_SIZE, journal_path=run_dir / "s" / "journal.jsonl")
        instrument(supervisor, probe)
        print(f"  {result.transport}: starting {count} agents…", file=sys.stderr, flush=True)
        report = await asyncio.wait_for(supervisor.start(), 60 + 2.0 * count)
        result.windows = report.windows
        socket_path = (await backend.client.command("display-message -p '#{socket_path}'"))[0]
        _live_sockets[socket_name] = Path(socket_path)
        server_pid = int((await backend.client.command("display-message -p '#{pid}'"))[0])
        client_pids = await backend.client.command("list-clients -F '#{client_pid}'")
        client_pid = int(client_pids[0]) if client_pids and client_pids[0].isdigit() else None

        result.ready = await wait_files(ready_dir, count, 30 + 1.0 * count)
        if result.ready < count:
            print(f"  warning: only {result.ready}/{count} agents reported ready", file=sys.stderr)
        result.setup_s = time.monotonic() - setup_start
        print(
            f"  {result.transport}: {result.ready} agents ready in {report.windows} window(s) after "
            f"{result.setup_s:.1f} s; sending for {seconds:g} s…",
            file=sys.stderr,
            flush=True,
        )

        # The measurement window: from the common start to the last event applied.
        start = time.time() + 1.0
        partial = start_file.with_suffix(".tmp")
        partial.write_text(f"{start:.6f}")
        partial.replace(start_file)
        await asyncio.sleep(max(0.0, start - time.time()))
        journal_path = supervisor.journal_path
        size0, seq0 = journal_path.stat().st_size, supervisor.journal.seq
        counters0 = (probe.append_s, probe.appends, probe.fsync_s, probe.fsyncs)
        cpu0 = (self_cpu(), proc_cpu(client_pid), proc_cpu(server_pid))

        deadline = start + seconds + args.drain
        results: list[dict] = []
        while time.time() < deadline:
            await asyncio.sleep(0.1)
            if supervisor.stopped.is_set():
                print("  warning: the supervisor stopped (lost its terminal)", file=sys.stderr)
                break
            if time.time() < start + seconds:
                continue
            results = read_results(results_dir)
            if len(results) >= count and probe.applied >= sum(item["sent"] for item in results):
                result.drained = True
                break
        cpu1 = (self_cpu(), proc_cpu(client_pid), proc_cpu(server_pid))
        end_ns = probe.last_applied_ns if result.drained else time.time_ns()
        result.window_s = end_ns / 1e9 - start
        result.drain_s = end_ns / 1e9 - (start + seconds)
        result.journal_bytes = journal_path.stat().st_size - size0
        result.journal_records = supervisor.journal.seq - seq0
        result.append_s, result.appends = probe.append_s - counters0[0], probe.appends - counters0[1]
        result.fsync_s, result.fsyncs = probe.fsync_s - counters0[2], probe.fsyncs - counters0[3]
        # The state as the API serves it (`OrgState.to_json` via `state_json`): each agent's last event shows.
        agents_json = supervisor.state_json()["agents"]
        for item in results:
            view, last = agents_json.get(item["agent"], {}), item["sent"] - 1
            if item["sent"] and view.get("alive") and (view.get("task") or "").startswith(f"m{last}:"):
                result.state_current += 1
        whole_seconds = range(math.ceil(start), math.floor(start + seconds))
        result.sending_rates = [probe.per_second.get(second, 0) for second in whole_seconds]
        result.malformed = supervisor.malformed
        result.spoofs = supervisor.state.spoofs_total
        if not result.drained:
            results = read_results(results_dir)
            print(
                f"  warning: not everything was applied within --drain {args.drain:g} s "
                f"({probe.applied} applied, {len(results)}/{count} agents done)",
                file=sys.stderr,
            )

        def delta(index: int) -> float | None:
            before, after = cpu0[index], cpu1[index]
            return None if before is None or after is None else after - before

        result.supervisor_cpu, result.client_cpu, result.server_cpu = delta(0), delta(1), delta(2)
    finally:
        if supervisor is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(supervisor.stop(), 10)
        uninstrument()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(backend.close(), 5)
        kill_server(socket_name, _live_sockets.pop(socket_name, None))

    # What each agent sent, against what the journal holds (read back and verified: HMACs and chain).
    result.latencies = sorted(probe.latencies)
    result.in_process = sorted(probe.in_process)
    result.out_of_order = probe.out_of_order
    result.results_missing = count - len(results)
    sent_by = {item["agent"]: item for item in results}
    result.sent = sum(item["sent"] for item in results)
    result.errors = sum(item["errors"] for item in results)
    result.first_error = next((item["error"] for item in results if item["error"]), None)
    result.senders_cpu = sum(item.get("cpu", 0.0) for item in results)
    result.lag_max = max((item["lag_max"] for item in results), default=0.0)
    seen: dict[str, set[int]] = {}
    verify_start = time.monotonic()
    key = load_or_create_key(run_dir / "s" / "agent-console" / ORG_NAME / "journal.key")
    try:
        for record in read_records(journal_path, key):
            result.journal_total_records += 1
            event = record.event
            if type(event) is StatusReported and event.task and event.task.startswith("m"):
                result.journaled += 1
                seen.setdefault(record.actor, set()).add(int(event.task[1:].partition(":")[0]))
    except Exception as error:  # a damaged journal is a finding, not a crash of the bench
        result.journal_problem = str(error)
    result.verify_s = time.monotonic() - verify_start
    result.journal_total_bytes = journal_path.stat().st_size
    unique = sum(len(seqs) for seqs in seen.values())
    result.duplicates = result.journaled - unique
    result.lost = sum(
        item["sent"] - len(seen.get(agent, set()) & set(range(item["sent"]))) for agent, item in sent_by.items()
    )
    return result


# --- report -----------------------------------------------------------------------------------------------


def cpu_text(seconds: float | None, window: float) -> str:
    if seconds is None:
        return "n/a"
    return f"{seconds:.1f} s ({100 * seconds / window:.0f}%)" if window > 0 else f"{seconds:.1f} s"


def report(results: list[RunResult], args: argparse.Namespace, elapsed: float) -> None:
    print()
    print(
        f"{args.agents} agents x {args.rate:g} status events/s x {args.seconds:g} s per transport, started together; "
        f"supervisor in-process, tmux window {WINDOW_SIZE[0]}x{WINDOW_SIZE[1]}, journal group commit (one fsync "
        "on its own thread for every record appended while the previous one ran)"
        + (", beside a process burning one core (--noisy)." if args.noisy else ".")
    )
    fsyncs, took = args.fsync_probe
    print(
        f"host: {os.cpu_count()} CPUs; the journal's disk alone (append a 365-byte line + fsync, nothing else "
        f"running): {fsyncs / took:.0f} fsyncs/s ({took / max(fsyncs, 1) * 1e3:.3f} ms each)."
    )
    print("limits     = each agent may send twice the rate (the default, 20 events/s, would refuse most of it).")
    print("latency    = sender's time_ns just before building the event → supervisor.state.apply returned.")
    print("lost       = sent - distinct status records in the journal (read back, HMACs and chain verified).")
    print("supervisor cpu = this process (event loop: tmux -C reader, API server, journal, state), user+sys, over")
    print("             the window start → last event applied, and as % of one core.")
    print()
    header = (
        f"{'transport':<16}{'agents':>6}{'rate/s':>8}{'seconds':>8}{'sent':>9}{'journaled':>10}{'lost':>6}"
        f"{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}  {'supervisor cpu':<16}"
    )
    print(header)
    for result in results:
        values = result.latencies
        print(
            f"{result.transport:<16}{result.agents:>6}{result.rate:>8g}{result.seconds:>8g}{result.sent:>9}"
            f"{result.journaled:>10}{result.lost:>6}{percentile(values, 50):>9.1f}{percentile(values, 99):>9.1f}"
            f"{(values[-1] if values else math.nan):>9.1f}  {cpu_text(result.supervisor_cpu, result.window_s):<16}"
        )
    for result in results:
        window = result.window_s
        print()
        print(f"{result.transport}:")
        print(
            f"  setup {result.setup_s:.1f} s ({result.ready}/{result.agents} agents ready, {result.windows} tmux "
            f"windows); window {window:.1f} s, drain after the last send {max(0.0, result.drain_s):.1f} s"
            f"{'' if result.drained else ' (NOT drained: --drain timed out)'}"
        )
        rate = result.journal_records / window if window > 0 else math.nan
        print(
            f"  throughput {result.journaled / window if window > 0 else math.nan:.0f} events/s applied "
            f"(offered {result.agents * result.rate:g}/s); "
            f"agents' worst lag behind schedule {result.lag_max * 1e3:.0f} ms"
        )
        if result.sending_rates:
            rates = result.sending_rates
            print(
                f"  applied per second while the agents were sending: min {min(rates)}, median "
                f"{sorted(rates)[len(rates) // 2]}, max {max(rates)} ({len(rates)} whole seconds)"
            )
        print(
            f"  cpu: supervisor {cpu_text(result.supervisor_cpu, window)}, tmux -C client "
            f"{cpu_text(result.client_cpu, window)}, tmux server {cpu_text(result.server_cpu, window)}, "
            f"agents (all {result.agents}) {cpu_text(result.senders_cpu, window)}"
        )
        print(
            f"  journal: {result.journal_records} records, {result.journal_bytes / 1e6:.1f} MB in the window "
            f"({rate:.0f} records/s, {result.journal_bytes / window / 1e6 if window > 0 else math.nan:.2f} MB/s, "
            f"{result.journal_bytes / max(result.journal_records, 1):.0f} B/record); file "
            f"{result.journal_total_records} records, {result.journal_total_bytes / 1e6:.1f} MB, verified in "
            f"{result.verify_s:.1f} s{'' if result.journal_problem is None else ': ' + result.journal_problem}"
        )
        if result.appends:
            mean_fsync = result.fsync_s / max(result.fsyncs, 1)
            print(
                f"  journal.append: {result.append_s:.1f} s in the window "
                f"({result.append_s / result.appends * 1e3:.3f} ms each, {100 * result.append_s / window:.0f}% of it), "
                f"plus fsync {result.fsync_s:.1f} s "
                f"({result.fsyncs} fsyncs for {result.appends} records, {mean_fsync * 1e3:.3f} ms each)"
            )
            if result.fsync_s >= 0.25 * window:
                print(f"  note: fsync takes {100 * result.fsync_s / window:.0f}% of the window (on the commit thread)")
        checks = (
            f"  duplicates {result.duplicates}, out of order {result.out_of_order}, send errors {result.errors}, "
            f"malformed {result.malformed}, spoofs {result.spoofs}"
        )
        checks += f"; final state shows each agent's last event for {result.state_current}/{result.agents} agents"
        if result.results_missing:
            checks += f", {result.results_missing} agents never reported what they sent"
        print(checks + (f"; first error: {result.first_error}" if result.first_error else ""))
        if result.in_process:
            share = result.in_process
            print(
                f"  in-process share (tmux -C line read → applied, queueing included): p50 "
                f"{percentile(share, 50):.1f} ms, p99 {percentile(share, 99):.1f} ms, max {share[-1]:.1f} ms"
            )
    print()
    for result in results:
        p99 = percentile(result.latencies, 99)
        complete = result.lost == 0 and not result.results_missing and result.sent > 0
        met = complete and p99 <= TARGET_P99_MS
        why = "" if complete else f", {result.lost} lost" if result.lost else ", incomplete run"
        print(
            f"target {result.transport} (p99 ≤ {TARGET_P99_MS:g} ms, nothing lost): "
            f"{'MET' if met else 'NOT MET'} (p99 {p99:.1f} ms{why})"
        )
    print(f"total run time {elapsed:.1f} s")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python bench/bus.py",
        description=(
            "Agent → console events under load: N agents x R status events/s for S seconds, through the escape "
            "sequence and through the control API socket (one run each), into the real supervisor on a private "
            "tmux server. Prints events lost, emit → state latency, supervisor CPU and journal figures."
        ),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--agents", type=int, default=50, help="agents (panes), in teams of 10")
    parser.add_argument("--rate", type=float, default=100.0, help="events per second per agent")
    parser.add_argument("--seconds", type=float, default=30.0, help="how long every agent sends")
    parser.add_argument("--quick", action="store_true", help="a fast check: 10 agents x 50 events/s x 5 s")
    parser.add_argument(
        "--transport", choices=["both", "escape", "socket"], default="both", help="which transport(s) to run"
    )
    parser.add_argument(
        "--drain", type=float, default=120.0, help="seconds allowed after the last send for everything to be applied"
    )
    parser.add_argument(
        "--noisy", action="store_true", help="run beside a second process that burns one core (a busy machine)"
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.agents, args.rate, args.seconds = 10, 50.0, 5.0
    if args.agents < 1 or args.rate <= 0 or args.seconds <= 0 or args.drain <= 0:
        parser.error("--agents must be ≥ 1; --rate, --seconds and --drain > 0")
    return args


async def run_all(args: argparse.Namespace, root: Path) -> list[RunResult]:
    transports = ["escape", "socket"] if args.transport == "both" else [args.transport]
    args.fsync_probe = fsync_probe(root)
    noisy = subprocess.Popen([sys.executable, "-c", "while True: pass"]) if args.noisy else None
    try:
        return [await run_one(transport, args, root) for transport in transports]
    finally:
        if noisy is not None:
            noisy.kill()
            noisy.wait()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    for name in ("TMUX", "TMUX_PANE"):  # never reach the user's own server
        os.environ.pop(name, None)
    tmux_executable()
    saved = saved_environment()
    began = time.monotonic()
    root = Path(tempfile.mkdtemp(prefix="acb-", dir="/tmp"))  # short: unix socket paths are capped ~108 bytes
    try:
        results = asyncio.run(run_all(args, root))
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    finally:
        for socket_name, socket_file in list(_live_sockets.items()):  # last resort: nothing left behind
            kill_server(socket_name, socket_file)
            _live_sockets.pop(socket_name, None)
        restore_environment(saved)
        shutil.rmtree(root, ignore_errors=True)
    report(results, args, time.monotonic() - began)
    return 0


if __name__ == "__main__":
    sys.exit(main())
