"""The supervisor under hostile floods: do legitimate agents still get through while a few agents flood it?

N agents (50 by default) run as shell panes on a private tmux server, watched by the real `Supervisor` running
in this process (as in bench/bus.py). For each flood kind (and a baseline without one) there is one run of S
seconds (30), with its own tmux server, state directory and journal: F agents (5) flood for S seconds while the
other N - F agents are legitimate and each send R status events a second (5), on schedule, for the same S
seconds. Legitimate agents alternate between the two transports (even ones print the escape sequence on their
own terminal, odd ones POST to `/v1/events` on the control API's unix socket; `--legit` picks one), with
bus.py's sender program.

Flood kinds (each flooder is a small Python program in its own pane, so the load runs in the flooders'
processes, never in this one, and is counted apart; it uses the token its pane was started with):

* `baseline`: nobody floods (the flooders sit idle): the floor the machine and the legitimate load set, to read
  the other runs against;
* `events`: status and heartbeat events, alternately, POSTed to `/v1/events` as fast as the answers come back
  (C keep-alive connections per flooder, 4 by default, each in its own thread with one request at a time; the
  stdlib's http.client: cheap, so that the flooders do not starve the machine) — past the limits (20 events/s,
  bursts of 200) the answer is 429. Whatever is accepted is made durable (fsync) before it is answered, so
  one connection per flooder cannot outrun the limit on a slow disk: hence several;
* `approvals`: `POST /v1/approvals` the same way — 20 pending per agent at most, then 429;
* `spoofs`: the pane writes, over and over as `cat` would, a 64 KB file of forged sequences
  (`ESC ] 1337 ; Custom=id=<wrong token> : <base64 JSON> BEL`, each a valid status event under a token that is
  not its agent's) to its own terminal;
* `garbage`: the pane writes random binary bytes to its own terminal, mixed with partial and garbled
  `OSC 1337 ; Custom=id=` sequences (truncated prefixes, bodies cut by an ESC, bad tokens, bad base64, no
  terminator).

The terminal floods are as fast as the pane's pty drains, i.e. as fast as tmux reads it; tmux then forwards the
output to the supervisor's `tmux -C` client, the same stream that carries the legitimate escape sequences.

What is measured (the bench wraps `supervisor.state.apply` on the *instance*; product code is untouched):

* legitimate events: sent (what each agent says it sent), applied (distinct ones seen by `state.apply`), lost
  (sent - applied), and latency from the sender's `time.time_ns()` just before building the event to
  `state.apply` returning (p50/p99/max, also per transport);
* the flood: requests sent and their answers (accepted, refused with 429, other) for the socket kinds; bytes and
  sequences written for the terminal kinds, with what the supervisor counted (forged sequences, malformed ones);
* supervisor CPU (this process: event loop, API server, `tmux -C` reader, journal; user+sys from getrusage) over
  the window — the common start until the last legitimate event is applied — and as % of one core; the `tmux -C`
  client's, the tmux server's and the flooders' CPU beside it;
* RSS of this process before and after the window and its peak (VmRSS sampled every 0.1 s in the window; VmHWM,
  the lifetime peak, includes start-up), and the tmux server's RSS before and after;
* journal growth in bytes and records over the window, by record type; throttle and spoof records are counts (the
  first refusal of a window at once, then one record a window, 60 s by default), so the refusals and forgeries
  still waiting for their window to close are reported as well;
* where the time goes: how late a 10 ms sleep in this event loop wakes (p50/p99/max: how long the loop was busy
  or the process was not scheduled), the time spent in the journal's fsync (on its commit thread, off the event loop),
  and the host's load average at the start and end of the window (the machine may be shared).

Run it from the repository root, in the project's venv:

    python bench/hostile.py                      # 50 agents, 5 flooding, 30 s per kind, baseline + 4 kinds (~4 min)
    python bench/hostile.py --quick              # 10 agents, 2 flooding, 5 s per kind
    python bench/hostile.py --kinds spoofs,garbage --agents 20 --seconds 10

It never touches your own tmux server or home: each run uses a private socket (`-L ac-hostile-…`), `TMUX` and
`TMUX_PANE` are removed from the environment, `HOME`, `XDG_RUNTIME_DIR` and `XDG_STATE_HOME` point into a
temporary folder under /tmp (removed at the end), and the server is killed at the end, also on error or
Ctrl-C. It prints figures; it is not a pass/fail test.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import os
import resource
import secrets
import shlex
import shutil
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from benchlib import percentile, proc_cpu, restore_environment, saved_environment, tmux_executable
from bus import SENDER, kill_server, read_results, wait_files

import agent_console.agents.journal as journal_module
from agent_console.agents.events import SpoofRejected, StatusReported, Throttled
from agent_console.agents.model import Agent, Org, Team
from agent_console.agents.protocol import encode
from agent_console.runtime.supervisor import Supervisor
from agent_console.terminal.tmux import TmuxBackend

TARGET_P99_MS = 50.0
TARGET_FLOODERS = 5
WINDOW_SIZE = (240, 80)
ORG_NAME = "hostile"
TEAM_SIZE = 10
KINDS = ("baseline", "events", "approvals", "spoofs", "garbage")
SPOOF_FILE_BYTES = 64 * 1024

# Runs in every flooding pane. argv: kind agent start_file ready_dir result_dir seconds hold payload_file connections.
# Prepares its load, says it is ready (a file), waits (bounded) for the start file, floods for `seconds`, writes
# what it did to a result file, then stays alive (bounded) so that its pane does not exit mid-run.
FLOODER = """\
import http.client, json, os, random, resource, socket as socketlib, sys, threading, time

kind, agent, start_file, ready_dir, result_dir = sys.argv[1:6]
seconds, hold, payload_file, connections = float(sys.argv[6]), float(sys.argv[7]), sys.argv[8], int(sys.argv[9])
token = os.environ["AGENT_CONSOLE_TOKEN"]
deadline = time.time() + hold
result = {"agent": agent, "kind": kind, "sent": 0, "statuses": {}, "errors": 0, "error": None, "bytes": 0}


def cpu_now():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def start_time():
    open(os.path.join(ready_dir, agent), "w").close()
    while not os.path.exists(start_file):
        if time.time() > deadline:
            sys.exit(1)
        time.sleep(0.02)
    with open(start_file) as handle:
        return float(handle.read())


class UnixHTTPConnection(http.client.HTTPConnection):
    def connect(self):
        self.sock = socketlib.socket(socketlib.AF_UNIX, socketlib.SOCK_STREAM)
        self.sock.settimeout(30)
        self.sock.connect(os.environ["AGENT_CONSOLE_SOCKET"])


def connection_flood(start, index, tallies):
    connection = UnixHTTPConnection("console")
    headers = {"Authorization": "Bearer " + token, "Content-Type": "application/json"}
    if kind == "events":
        path = "/v1/events"
        bodies = ['{"v":1,"type":"status","state":"working","task":"f%d"}', '{"v":1,"type":"heartbeat"}']
    else:
        path = "/v1/approvals"
        bodies = ['{"text":"flood %d","command":"rm -rf /"}']
    tally = tallies[index] = {"sent": 0, "statuses": {}, "errors": 0, "error": None}
    statuses = tally["statuses"]
    end = start + seconds
    seq = index
    while time.time() < end:
        body = bodies[seq % len(bodies)]
        if "%d" in body:
            body = body % seq
        seq += connections
        tally["sent"] += 1
        try:
            connection.request("POST", path, body, headers)
            response = connection.getresponse()
            response.read()
            statuses[str(response.status)] = statuses.get(str(response.status), 0) + 1
        except Exception as error:
            tally["errors"] += 1
            tally["error"] = tally["error"] or "%s: %s" % (type(error).__name__, error)
            connection.close()


def requests(start):
    # `connections` keep-alive connections, each in its own thread, one request at a time on each
    tallies = [None] * connections
    threads = [threading.Thread(target=connection_flood, args=(start, index, tallies)) for index in range(connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for tally in tallies:
        result["sent"] += tally["sent"]
        result["errors"] += tally["errors"]
        result["error"] = result["error"] or tally["error"]
        for status, number in tally["statuses"].items():
            result["statuses"][status] = result["statuses"].get(status, 0) + number


def baseline(start):
    time.sleep(max(0.0, start + seconds - time.time()))


def write_all(out, view):
    while view:
        view = view[os.write(out, view):]


def spoofs(start):
    with open(payload_file, "rb") as handle:
        data = handle.read()
    out = sys.stdout.fileno()
    end = start + seconds
    while time.time() < end:
        write_all(out, memoryview(data))
        result["bytes"] += len(data)
        result["sent"] += 1


def garbage_pool(rng):
    prefix = b"\\x1b]1337;Custom=id="
    b64 = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/="
    parts = []
    size = 0
    while size < 1 << 20:
        choice = rng.random()
        if choice < 0.5:
            part = rng.randbytes(rng.randrange(1, 2048))
        elif choice < 0.6:
            part = prefix[: rng.randrange(1, len(prefix))]  # a truncated prefix
        elif choice < 0.7:  # a body cut short by an ESC
            token = bytes(rng.choices(b64, k=rng.randrange(8, 64)))
            part = prefix + token + b":" + bytes(rng.choices(b64, k=rng.randrange(0, 300))) + b"\\x1b["
        elif choice < 0.8:  # a token that is not a token
            token = rng.randbytes(rng.randrange(1, 40)).replace(b"\\x07", b"").replace(b"\\x1b", b"")
            part = prefix + token + b":e30=\\x07"
        elif choice < 0.9:  # a plausible token, a payload that is not base64 JSON
            body = rng.randbytes(rng.randrange(1, 200)).replace(b"\\x07", b"").replace(b"\\x1b", b"")
            part = prefix + bytes(rng.choices(b64[:62], k=32)) + b":" + body + b"\\x07"
        else:  # no terminator for a while
            part = prefix + bytes(rng.choices(b64, k=rng.randrange(1000, 8000)))
        parts.append(part)
        size += len(part)
    return b"".join(parts)


def garbage(start):
    pool = garbage_pool(random.Random(agent))
    view = memoryview(pool)
    rng = random.Random(agent + "!")
    out = sys.stdout.fileno()
    end = start + seconds
    while time.time() < end:
        offset = rng.randrange(0, len(pool) - 65536)
        length = rng.randrange(1, 65536)
        write_all(out, view[offset : offset + length])
        result["bytes"] += length
        result["sent"] += 1


flood = {"baseline": baseline, "events": requests, "approvals": requests, "spoofs": spoofs, "garbage": garbage}[kind]
start = start_time()
time.sleep(max(0.0, start - time.time()))
cpu0 = cpu_now()
flood(start)
result["cpu"] = cpu_now() - cpu0
temporary = os.path.join(result_dir, "." + agent)
with open(temporary, "w") as handle:
    json.dump(result, handle)
os.replace(temporary, os.path.join(result_dir, agent))
time.sleep(max(0.0, deadline - time.time()))
"""

_live_sockets: dict[str, Path | None] = {}  # socket name → socket file, for the last-resort cleanup


# --- small helpers ----------------------------------------------------------------------------------------


def self_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def status_kb(field_name: str, pid: int | str = "self") -> int | None:
    """A `kB` field (VmRSS, VmHWM) of /proc/<pid>/status, in kB; None when unreadable."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field_name + ":"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


def make_org(commands: dict[str, str], cwd: Path) -> Org:
    """Shell agents in teams of `TEAM_SIZE`, in the order given (the flooders first, in team t0)."""
    names = list(commands)
    teams = [Team(name=f"t{index}") for index in range(math.ceil(len(names) / TEAM_SIZE))]
    agents = [
        Agent(name=name, team=f"t{index // TEAM_SIZE}", kind="shell", command=commands[name], cwd=cwd)
        for index, name in enumerate(names)
    ]
    return Org(name=ORG_NAME, teams=tuple(teams), agents=tuple(agents))


def spoof_file(path: Path) -> int:
    """A file of forged sequences, each a valid status event under a random token (never an agent's): how
    many sequences it holds."""
    sequences = []
    size = 0
    while size < SPOOF_FILE_BYTES:
        forged = encode(secrets.token_urlsafe(24), StatusReported(state="error", task=f"forged {len(sequences)}"))
        sequences.append(forged)
        size += len(forged)
    path.write_bytes(b"".join(sequences))
    return len(sequences)


# --- measurement state ------------------------------------------------------------------------------------


@dataclass
class Probe:
    """What the wrapper on `state.apply` sees; counters are cumulative (snapshots at the window's edges)."""

    latencies: dict[str, list[float]] = field(default_factory=dict)  # legitimate agent → emit → applied, ms
    seen: dict[str, set[int]] = field(default_factory=dict)  # legitimate agent → sequence numbers applied
    applied: int = 0
    last_applied_ns: int = 0
    counting: bool = False  # record types are counted inside the window only
    types: Counter = field(default_factory=Counter)
    throttled_refused: int = 0  # the sum of the journaled Throttled.refused
    spoofed: int = 0  # the sum of the journaled SpoofRejected.count
    fsync_s: float = 0.0  # time in the group commit's fsync (on the journal's commit thread)
    fsyncs: int = 0
    fsync_max: float = 0.0
    stalls: list[float] = field(default_factory=list)  # event-loop lag samples in the window, ms


def instrument(supervisor: Supervisor, probe: Probe, legitimate: set[str]) -> None:
    """Wrap `state.apply` on this supervisor instance (never its class)."""
    state_apply = supervisor.state.apply

    def apply(record) -> None:
        state_apply(record)
        event = record.event
        if probe.counting:
            probe.types[event.type] += 1
            if type(event) is Throttled:
                probe.throttled_refused += event.refused
            elif type(event) is SpoofRejected:
                probe.spoofed += event.count
        if type(event) is not StatusReported or record.actor not in legitimate or (event.task or "")[:1] != "m":
            return
        now_ns = time.time_ns()
        seq_text, _, sent_text = event.task[1:].partition(":")
        try:
            seq, sent_ns = int(seq_text), int(sent_text)
        except ValueError:
            return
        probe.latencies.setdefault(record.actor, []).append((now_ns - sent_ns) / 1e6)
        probe.seen.setdefault(record.actor, set()).add(seq)
        probe.applied += 1
        probe.last_applied_ns = now_ns

    def fsync(descriptor: int) -> None:
        if threading.current_thread().name != "journal commit":
            return real_fsync(descriptor)
        began = time.perf_counter()
        try:
            real_fsync(descriptor)
        finally:
            took = time.perf_counter() - began
            if probe.counting:
                probe.fsync_s += took
                probe.fsyncs += 1
                probe.fsync_max = max(probe.fsync_max, took)

    supervisor.state.apply = apply
    journal_module.os.fsync = fsync  # the os module itself: put back by `uninstrument`


real_fsync = os.fsync


def uninstrument() -> None:
    journal_module.os.fsync = real_fsync


async def loop_lag(probe: Probe, period: float = 0.01) -> None:
    """Sleep `period` over and over; how late each wake-up is shows how long the event loop was busy."""
    while True:
        began = time.perf_counter()
        await asyncio.sleep(period)
        if probe.counting:
            probe.stalls.append((time.perf_counter() - began - period) * 1e3)


@dataclass
class RunResult:
    kind: str
    agents: int
    flooders: int
    rate: float
    seconds: float
    ready: int = 0
    windows: int = 0
    connections: int = 1
    load: tuple[float, float] = (math.nan, math.nan)  # the host's 1-minute load average at the start and the end
    setup_s: float = 0.0
    window_s: float = 0.0
    drain_s: float = 0.0
    drained: bool = False
    legit_sent: int = 0
    legit_applied: int = 0
    legit_lost: int = 0
    legit_errors: int = 0
    legit_first_error: str | None = None
    legit_missing: int = 0  # legitimate agents that never said what they sent
    lag_max: float = 0.0
    latencies: list[float] = field(default_factory=list)
    by_transport: dict[str, list[float]] = field(default_factory=dict)
    flood_sent: int = 0
    flood_statuses: Counter = field(default_factory=Counter)
    flood_errors: int = 0
    flood_first_error: str | None = None
    flood_bytes: int = 0
    flood_missing: int = 0
    forged_written: int = 0
    forged_counted: int = 0  # journaled counts + the ones waiting for their window
    malformed: int = 0
    supervisor_cpu: float | None = None
    client_cpu: float | None = None
    server_cpu: float | None = None
    flooders_cpu: float = 0.0
    legit_cpu: float = 0.0
    rss_before: int | None = None
    rss_after: int | None = None
    rss_peak: int | None = None
    hwm: int | None = None
    server_rss_before: int | None = None
    server_rss_after: int | None = None
    journal_bytes: int = 0
    journal_records: int = 0
    types: Counter = field(default_factory=Counter)
    throttled_journaled: int = 0
    throttled_waiting: int = 0
    spoofed_waiting: int = 0
    pending_approvals: int = 0
    stalls: list[float] = field(default_factory=list)
    fsync_s: float = 0.0
    fsyncs: int = 0
    fsync_max: float = 0.0


# --- one run ----------------------------------------------------------------------------------------------


def agent_commands(args: argparse.Namespace, kind: str, work: Path, payload: Path, hold: float) -> dict[str, str]:
    """Flooders `f00`… first, then the legitimate `a000`…, each a program in its pane."""
    start_file, ready_dir, results_dir = work / "start", work / "ready", work / "results"
    legit = args.agents - args.flooders
    commands: dict[str, str] = {}
    for index in range(args.flooders):
        name = f"f{index:02d}"
        argv = [sys.executable, "-I", str(work / "flooder.py"), kind, name, start_file, ready_dir, results_dir]
        argv += [f"{args.seconds:g}", f"{hold:g}", payload, str(args.connections)]
        commands[name] = " ".join(shlex.quote(str(part)) for part in argv)
    for index in range(legit):
        name = f"a{index:03d}"
        transport = args.legit if args.legit != "both" else ("escape", "socket")[index % 2]
        argv = [sys.executable, "-I", str(work / "sender.py"), transport, name, start_file, ready_dir, results_dir]
        argv += [f"{args.rate:g}", f"{args.seconds:g}", f"{index / max(legit, 1) / args.rate:.6f}", f"{hold:g}"]
        argv += ["1", f"{args.drain:g}"]
        commands[name] = " ".join(shlex.quote(str(part)) for part in argv)
    return commands


async def run_one(kind: str, args: argparse.Namespace, root: Path) -> RunResult:
    """One flood kind: a fresh tmux server, state folder and journal; the supervisor in this process."""
    count, flooders, seconds = args.agents, args.flooders, args.seconds
    result = RunResult(kind, count, flooders, args.rate, seconds)
    result.connections = args.connections
    run_dir = root / kind[0]
    work = run_dir / "w"
    ready_dir, results_dir = work / "ready", work / "results"
    for folder in (run_dir / "r", run_dir / "s", run_dir / "h", ready_dir, results_dir):
        folder.mkdir(parents=True, mode=0o700)
    os.environ.update(XDG_RUNTIME_DIR=str(run_dir / "r"), XDG_STATE_HOME=str(run_dir / "s"), HOME=str(run_dir / "h"))
    (work / "sender.py").write_text(SENDER)
    (work / "flooder.py").write_text(FLOODER)
    payload = work / "forged"
    per_file = spoof_file(payload)
    start_file = work / "start"
    hold = 120.0 + seconds + args.drain
    commands = agent_commands(args, kind, work, payload, hold)
    legitimate = {name for name in commands if name.startswith("a")}
    transport_of = {
        name: args.legit if args.legit != "both" else ("escape", "socket")[index % 2]
        for index, name in enumerate(sorted(legitimate))
    }
    org = make_org(commands, work)
    socket_name = f"ac-hostile-{os.getpid()}-{kind}-{os.urandom(3).hex()}"
    _live_sockets[socket_name] = Path("/tmp") / f"tmux-{os.getuid()}" / socket_name  # until tmux says
    backend = TmuxBackend(socket_name, org.name, config_file="/dev/null")
    supervisor: Supervisor | None = None
    probe = Probe()
    results: list[dict] = []
    lag_task: asyncio.Task | None = None
    try:
        setup_start = time.monotonic()
        supervisor = Supervisor(org, backend, WINDOW_SIZE, journal_path=run_dir / "s" / "journal.jsonl")
        instrument(supervisor, probe, legitimate)
        print(f"  {kind}: starting {count} agents ({flooders} flooding)…", file=sys.stderr, flush=True)
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
            f"  {kind}: {result.ready} agents ready in {report.windows} window(s) after {result.setup_s:.1f} s; "
            f"flooding for {seconds:g} s…",
            file=sys.stderr,
            flush=True,
        )

        # The window: from the common start until the last legitimate event is applied.
        start = time.time() + 1.0
        partial = start_file.with_suffix(".tmp")
        partial.write_text(f"{start:.6f}")
        partial.replace(start_file)
        await asyncio.sleep(max(0.0, start - time.time()))
        journal_path = supervisor.journal_path
        size0, seq0 = journal_path.stat().st_size, supervisor.journal.seq
        malformed0 = supervisor.malformed
        probe.counting = True
        load0 = os.getloadavg()[0]
        lag_task = asyncio.get_running_loop().create_task(loop_lag(probe))
        cpu0 = (self_cpu(), proc_cpu(client_pid), proc_cpu(server_pid))
        result.rss_before = result.rss_peak = status_kb("VmRSS")
        result.server_rss_before = status_kb("VmRSS", server_pid)

        deadline = start + seconds + args.drain
        while time.time() < deadline:
            await asyncio.sleep(0.1)
            rss = status_kb("VmRSS")
            if rss is not None and (result.rss_peak is None or rss > result.rss_peak):
                result.rss_peak = rss
            if supervisor.stopped.is_set():
                print("  warning: the supervisor stopped (lost its terminal)", file=sys.stderr)
                break
            if time.time() < start + seconds:
                continue
            results = read_results(results_dir)
            legit_done = [item for item in results if item["agent"] in legitimate]
            if len(results) >= count and probe.applied >= sum(item["sent"] for item in legit_done):
                result.drained = True
                break
        cpu1 = (self_cpu(), proc_cpu(client_pid), proc_cpu(server_pid))
        probe.counting = False
        result.load = (load0, os.getloadavg()[0])
        end_ns = max(probe.last_applied_ns, int((start + seconds) * 1e9)) if result.drained else time.time_ns()
        result.window_s = end_ns / 1e9 - start
        result.drain_s = end_ns / 1e9 - (start + seconds)
        result.rss_after = status_kb("VmRSS")
        result.hwm = status_kb("VmHWM")
        result.server_rss_after = status_kb("VmRSS", server_pid)
        result.journal_bytes = journal_path.stat().st_size - size0
        result.journal_records = supervisor.journal.seq - seq0
        result.types = probe.types
        result.throttled_journaled = probe.throttled_refused
        result.throttled_waiting = sum(supervisor.limiter.refusals.counts.values())
        result.spoofed_waiting = sum(supervisor._spoof_counts.values())
        result.forged_counted = probe.spoofed + result.spoofed_waiting
        result.malformed = supervisor.malformed - malformed0
        result.pending_approvals = len(supervisor.pending_approvals())
        if not result.drained:
            results = read_results(results_dir)
            print(
                f"  warning: not every legitimate event was applied within --drain {args.drain:g} s "
                f"({probe.applied} applied, {len(results)}/{count} agents done)",
                file=sys.stderr,
            )

        def delta(index: int) -> float | None:
            before, after = cpu0[index], cpu1[index]
            return None if before is None or after is None else after - before

        result.supervisor_cpu, result.client_cpu, result.server_cpu = delta(0), delta(1), delta(2)
    finally:
        if lag_task is not None:
            lag_task.cancel()
        if supervisor is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(supervisor.stop(), 10)
            await asyncio.sleep(0.5)  # screen reads already under way finish before their tmux client closes
        uninstrument()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(backend.close(), 5)
        kill_server(socket_name, _live_sockets.pop(socket_name, None))

    for item in results:
        if item["agent"] in legitimate:
            sent, seen = item["sent"], probe.seen.get(item["agent"], set())
            result.legit_sent += sent
            result.legit_applied += len(seen & set(range(sent)))
            result.legit_errors += item["errors"]
            result.legit_first_error = result.legit_first_error or item["error"]
            result.legit_cpu += item.get("cpu", 0.0)
            result.lag_max = max(result.lag_max, item["lag_max"])
        else:
            result.flood_sent += item["sent"]
            result.flood_statuses.update(item["statuses"])
            result.flood_errors += item["errors"]
            result.flood_first_error = result.flood_first_error or item["error"]
            result.flood_bytes += item["bytes"]
            result.flooders_cpu += item.get("cpu", 0.0)
    result.legit_lost = result.legit_sent - result.legit_applied
    result.stalls = sorted(probe.stalls)
    result.fsync_s, result.fsyncs, result.fsync_max = probe.fsync_s, probe.fsyncs, probe.fsync_max
    done = {item["agent"] for item in results}
    result.legit_missing = len(legitimate - done)
    result.flood_missing = flooders - len(done - legitimate)
    if kind == "spoofs":
        result.forged_written = result.flood_sent * per_file
    for agent, values in probe.latencies.items():
        result.latencies.extend(values)
        result.by_transport.setdefault(transport_of[agent], []).extend(values)
    result.latencies.sort()
    for values in result.by_transport.values():
        values.sort()
    return result


# --- report -----------------------------------------------------------------------------------------------


def cpu_text(seconds: float | None, window: float) -> str:
    if seconds is None:
        return "n/a"
    return f"{seconds:.1f} s ({100 * seconds / window:.0f}%)" if window > 0 else f"{seconds:.1f} s"


def mb(kilobytes: int | None) -> str:
    return "n/a" if kilobytes is None else f"{kilobytes / 1024:.0f}"


def latency_text(values: list[float]) -> str:
    if not values:
        return "none applied"
    return f"p50 {percentile(values, 50):.1f} ms, p99 {percentile(values, 99):.1f} ms, max {values[-1]:.1f} ms"


def flood_text(result: RunResult) -> str:
    window = result.seconds
    if result.kind == "baseline":
        return (
            f"none: the {result.flooders} would-be flooders sit idle (the floor: the machine and the legitimate load)"
        )
    if result.kind in ("events", "approvals"):
        statuses = result.flood_statuses
        accepted = statuses.get("202", 0) + statuses.get("201", 0)
        refused = statuses.get("429", 0)
        other = sum(statuses.values()) - accepted - refused
        text = (
            f"{result.flood_sent} requests ({result.flood_sent / window:.0f}/s from {result.flooders} flooders x "
            f"{result.connections} connections): "
            f"{accepted} accepted, {refused} refused (429), {other} other answers, {result.flood_errors} errors"
        )
        if result.kind == "approvals":
            text += f"; {result.pending_approvals} approvals pending at the end"
    elif result.kind == "spoofs":
        text = (
            f"{result.flood_bytes / 1e6:.0f} MB written ({result.flood_bytes / window / 1e6:.1f} MB/s), "
            f"{result.forged_written} forged sequences; the supervisor counted {result.forged_counted} forged, "
            f"{result.malformed} malformed"
        )
    else:
        text = (
            f"{result.flood_bytes / 1e6:.0f} MB of garbage written ({result.flood_bytes / window / 1e6:.1f} MB/s); "
            f"the supervisor counted {result.malformed} malformed sequences, {result.forged_counted} forged"
        )
    if result.flood_missing:
        text += f"; {result.flood_missing} flooders never said what they did"
    return text + (f"; first error: {result.flood_first_error}" if result.flood_first_error else "")


def report(results: list[RunResult], args: argparse.Namespace, elapsed: float) -> None:
    legit = args.agents - args.flooders
    transport = "alternately escape sequence and socket" if args.legit == "both" else args.legit
    print()
    print(
        f"{args.agents} agents, {args.flooders} flooding and {legit} legitimate ({args.rate:g} status events/s each, "
        f"{transport}), {args.seconds:g} s per flood kind; supervisor in-process, tmux window "
        f"{WINDOW_SIZE[0]}x{WINDOW_SIZE[1]}; host: {os.cpu_count()} CPUs."
    )
    print("latency    = legitimate sender's time_ns just before building the event → supervisor.state.apply returned.")
    print("lost       = legitimate events sent - distinct ones applied.")
    print("cpu        = user+sys over the window (common start → last legitimate event applied), % of one core.")
    print()
    header = (
        f"{'flood':<10}{'sent':>7}{'applied':>8}{'lost':>6}{'p50 ms':>8}{'p99 ms':>8}{'max ms':>9}"
        f"  {'supervisor cpu':<15}{'RSS MB before/after/peak':>25}{'journal':>17}"
    )
    print(header)
    for result in results:
        values = result.latencies
        journal = f"{result.journal_bytes / 1e3:.0f} kB/{result.journal_records}"
        rss = f"{mb(result.rss_before)}/{mb(result.rss_after)}/{mb(result.rss_peak)}"
        print(
            f"{result.kind:<10}{result.legit_sent:>7}{result.legit_applied:>8}{result.legit_lost:>6}"
            f"{percentile(values, 50):>8.1f}{percentile(values, 99):>8.1f}{(values[-1] if values else math.nan):>9.1f}"
            f"  {cpu_text(result.supervisor_cpu, result.window_s):<15}{rss:>25}{journal:>17}"
        )
    for result in results:
        window = result.window_s
        print()
        print(f"{result.kind}:")
        print(
            f"  setup {result.setup_s:.1f} s ({result.ready}/{result.agents} agents ready, {result.windows} tmux "
            f"windows); window {window:.1f} s, drain after the flood {max(0.0, result.drain_s):.1f} s"
            f"{'' if result.drained else ' (NOT drained: --drain timed out)'}; host load average "
            f"{result.load[0]:.1f} → {result.load[1]:.1f}"
        )
        print(f"  flood: {flood_text(result)}")
        legit_text = (
            f"  legitimate: {result.legit_sent} sent, {result.legit_applied} applied, {result.legit_lost} lost, "
            f"{result.legit_errors} send errors; worst lag behind schedule {result.lag_max * 1e3:.0f} ms"
        )
        if result.legit_missing:
            legit_text += f"; {result.legit_missing} agents never said what they sent"
        print(legit_text + (f"; first error: {result.legit_first_error}" if result.legit_first_error else ""))
        for name, values in sorted(result.by_transport.items()):
            print(f"    {name:<7} {len(values):>6} applied: {latency_text(values)}")
        print(
            f"  cpu: supervisor {cpu_text(result.supervisor_cpu, window)}, tmux -C client "
            f"{cpu_text(result.client_cpu, window)}, tmux server {cpu_text(result.server_cpu, window)}, "
            f"flooders {cpu_text(result.flooders_cpu, window)}, legitimate agents {cpu_text(result.legit_cpu, window)}"
        )
        print(
            f"  rss: supervisor {mb(result.rss_before)} MB before, {mb(result.rss_after)} MB after, peak in the window "
            f"{mb(result.rss_peak)} MB (VmHWM since start-up {mb(result.hwm)} MB); tmux server "
            f"{mb(result.server_rss_before)} → {mb(result.server_rss_after)} MB"
        )
        stalls = result.stalls
        if stalls:
            print(
                f"  event loop: lag of a 10 ms sleep p50 {percentile(stalls, 50):.1f} ms, p99 "
                f"{percentile(stalls, 99):.1f} ms, max {stalls[-1]:.1f} ms ({sum(1 for value in stalls if value > 20)} "
                f"wake-ups over 20 ms late); journal fsync {result.fsync_s:.2f} s in {result.fsyncs} flushes "
                f"(max {result.fsync_max * 1e3:.1f} ms)"
            )
        types = ", ".join(f"{name} {number}" for name, number in result.types.most_common(6))
        print(
            f"  journal: +{result.journal_bytes / 1e3:.0f} kB, +{result.journal_records} records in the window "
            f"({types or 'none'}); throttle records {result.types.get('throttle', 0)} (counting "
            f"{result.throttled_journaled} refusals, {result.throttled_waiting} more wait for their window), spoof "
            f"records {result.types.get('spoof', 0)} (counting {result.forged_counted - result.spoofed_waiting} "
            f"forgeries, {result.spoofed_waiting} more wait for their window)"
        )
    print()
    floor = next((result for result in results if result.kind == "baseline"), None)
    for result in results:
        p99 = percentile(result.latencies, 99)
        complete = result.legit_lost == 0 and not result.legit_missing and result.legit_sent > 0
        met = complete and p99 <= TARGET_P99_MS
        why = "" if complete else f", {result.legit_lost} lost" if result.legit_lost else ", incomplete run"
        if floor is not None and result is not floor:
            why += f"; baseline p99 {percentile(floor.latencies, 99):.1f} ms"
        scale = "" if result.flooders >= TARGET_FLOODERS else f" (only {result.flooders} flooding here)"
        if result.kind == "baseline":
            scale = " (nobody floods: the floor)"
        print(
            f"target {result.kind} (legitimate p99 ≤ {TARGET_P99_MS:g} ms while {TARGET_FLOODERS} agents flood, "
            f"nothing lost): {'MET' if met else 'NOT MET'} (p99 {p99:.1f} ms{why}){scale}"
        )
    print(f"total run time {elapsed:.1f} s")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python bench/hostile.py",
        description=(
            "The supervisor under hostile floods: F of N agents flood it (events, approvals, forged sequences, "
            "garbage on their terminals) while the others send status events at a steady rate. Prints the "
            "legitimate events' latency and losses, the flood's refusals, supervisor CPU, RSS and journal growth."
        ),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--agents", type=int, default=50, help="agents (panes) in all, in teams of 10")
    parser.add_argument("--flooders", type=int, default=5, help="how many of them flood")
    parser.add_argument("--seconds", type=float, default=30.0, help="how long each run floods (and the others send)")
    parser.add_argument("--rate", type=float, default=5.0, help="status events per second per legitimate agent")
    parser.add_argument("--kinds", default=",".join(KINDS), help="flood kinds to run, comma-separated")
    parser.add_argument(
        "--legit", choices=["both", "escape", "socket"], default="both", help="the legitimate agents' transport"
    )
    parser.add_argument(
        "--connections", type=int, default=4, help="concurrent connections per flooder (events, approvals)"
    )
    parser.add_argument("--quick", action="store_true", help="a fast check: 10 agents, 2 flooding, 5 s")
    parser.add_argument(
        "--drain", type=float, default=60.0, help="seconds allowed after the flood for legitimate events to land"
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.agents, args.flooders, args.seconds = 10, 2, 5.0
    args.kinds = [kind.strip() for kind in args.kinds.split(",") if kind.strip()]
    unknown = [kind for kind in args.kinds if kind not in KINDS]
    if unknown or not args.kinds:
        parser.error(f"--kinds: unknown {', '.join(unknown) or '(none given)'}; choose from {', '.join(KINDS)}")
    if args.connections < 1:
        parser.error("--connections must be ≥ 1")
    if args.flooders < 0 or args.agents <= args.flooders or args.rate <= 0 or args.seconds <= 0 or args.drain <= 0:
        parser.error("--flooders must be ≥ 0 and < --agents; --rate, --seconds and --drain > 0")
    return args


async def run_all(args: argparse.Namespace, root: Path) -> list[RunResult]:
    return [await run_one(kind, args, root) for kind in args.kinds]


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    for name in ("TMUX", "TMUX_PANE"):  # never reach the user's own server
        os.environ.pop(name, None)
    tmux_executable()
    saved = saved_environment()
    began = time.monotonic()
    root = Path(tempfile.mkdtemp(prefix="ach-", dir="/tmp"))  # short: unix socket paths are capped ~108 bytes
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
