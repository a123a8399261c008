"""Pane output floods against the console: do they slow the agents, and do status sequences keep moving?

Three figures, each printed (not a pass/fail test):

* decode: `decode_output` (tmux control mode's `%output` unescaping) in MB/s of escaped input, on what tmux
  writes for line-heavy output (`yes`), coloured log lines and random bytes; in this process.
* one agent printing `--megabytes` (20) with `yes | head -c`, timed by its own shell: alone on a private tmux
  server (no client attached: tmux at its own speed), then under the supervisor (the real `Supervisor`, as
  `agent-console serve` runs it, here in this process, on a fresh private server). The ratio is the cost the
  console adds to a flooding agent.
* `--floods` (100) agents each printing `--megabytes` at once, beside one quiet agent that reports a status
  escape sequence (`StatusReported` with its `time_ns` in the task) ten times a second: latency from that
  `time_ns` to the record applied in the supervisor's state (p50/p99/max, and how many of those sent arrived),
  measured for at most `--seconds` (60) of flooding; and how long the floods took.

Run it from the repository root, in the project's venv:

    python bench/output_flood.py            # 20 MB alone vs supervised; 100 agents x 20 MB (a few minutes)
    python bench/output_flood.py --quick    # 5 MB; 20 agents x 5 MB, at most 20 s of flooding

It never touches your own tmux server or home: each run uses a private socket (`-L ac-flood-…`), `TMUX` and
`TMUX_PANE` are removed from the environment, `HOME`, `XDG_RUNTIME_DIR` and `XDG_STATE_HOME` point into a
temporary folder under /tmp (removed at the end), and every server it starts is killed at the end, also on
error or Ctrl-C. The machine's other load shows in the figures: they say what this run saw.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from benchlib import percentile, restore_environment, saved_environment, tmux_executable
from bus import kill_server, make_org, self_cpu

from agent_console.agents.events import StatusReported
from agent_console.runtime.supervisor import Supervisor
from agent_console.terminal.tmux import TmuxBackend
from agent_console.terminal.tmux_control import decode_output

WINDOW_SIZE = (240, 80)
TARGET_RATIO = 1.1
TARGET_DECODE_MB_S = 100.0
TARGET_P99_MS = 100.0
QUIET_RATE = 10.0  # status sequences a second from the quiet agent

# A flooding agent: waits (bounded) for the start file, prints, writes how long that took (ns) to its result.
FLOOD = (
    "i=0; while [ ! -e {start} ] && [ $i -lt 6000 ]; do sleep 0.05; i=$((i+1)); done; "
    "t0=$(date +%s%N); yes | head -c {size}; t1=$(date +%s%N); echo $((t1-t0)) > {result}.tmp; "
    "mv {result}.tmp {result}; sleep 600"
)

# The quiet agent: a status sequence QUIET_RATE times a second until the stop file appears (bounded).
QUIET = """\
import os, sys, time
from agent_console.agents.events import StatusReported
from agent_console.agents.protocol import encode
start_file, stop_file, rate = sys.argv[1], sys.argv[2], float(sys.argv[3])
token = os.environ["AGENT_CONSOLE_TOKEN"]
deadline = time.time() + 900
while not os.path.exists(start_file) and time.time() < deadline:
    time.sleep(0.02)
seq = 0
began = time.time()
while not os.path.exists(stop_file) and time.time() < deadline:
    delay = began + seq / rate - time.time()
    if delay > 0:
        time.sleep(delay)
    event = StatusReported(state="working", task="q%d:%d" % (seq, time.time_ns()))
    os.write(1, encode(token, event) + b"\\r\\n")
    seq += 1
with open(stop_file + ".sent", "w") as handle:
    handle.write(str(seq))
time.sleep(600)
"""

_live: dict[str, Path | None] = {}  # tmux socket name → socket file, for the last-resort cleanup


# --- decode ---------------------------------------------------------------------------------------------------


def tmux_escape(raw: bytes) -> bytes:
    return b"".join(b"\\%03o" % byte if byte < 0x20 or byte == 0x5C else bytes((byte,)) for byte in raw)


def decode_rates(seconds: float = 0.5) -> dict[str, float]:
    """MB/s of escaped input that `decode_output` reads, per kind of output (each chunk as tmux sends a line)."""
    kinds = {
        "yes (line-heavy)": tmux_escape(b"y\r\n" * 8000),
        "coloured log lines": tmux_escape(b"\x1b[32m12:00:01 INFO\x1b[0m worker 7 finished step 3 of 9\r\n" * 400),
        "random bytes": tmux_escape(os.urandom(24000)),
    }
    rates = {}
    for name, chunk in kinds.items():
        count = 0
        began = time.perf_counter()
        while (took := time.perf_counter() - began) < seconds:
            decode_output(chunk)
            count += 1
        rates[name] = len(chunk) * count / took / 1e6
    return rates


# --- one agent, alone and supervised ------------------------------------------------------------------------


def run_tmux(socket_name: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [tmux_executable(), "-L", socket_name, "-f", "/dev/null", *args], capture_output=True, timeout=30
    )


async def wait_file(path: Path, timeout: float) -> str | None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists():
            return path.read_text().strip()
        await asyncio.sleep(0.05)
    return None


async def alone(root: Path, size: int, timeout: float) -> float | None:
    """Seconds the flood takes in a pane of a private tmux server that no client is attached to."""
    work = root / "alone"
    work.mkdir()
    start, result = work / "start", work / "result"
    socket_name = f"ac-flood-{os.getpid()}-alone"
    _live[socket_name] = None
    try:
        command = FLOOD.format(start=shlex.quote(str(start)), size=size, result=shlex.quote(str(result)))
        made = run_tmux(socket_name, "new-session", "-d", "-s", "a", "-x", "240", "-y", "80", command)
        if made.returncode != 0:
            raise SystemExit(f"cannot start tmux: {made.stderr.decode().strip()}")
        await asyncio.sleep(0.5)
        start.touch()
        took = await wait_file(result, timeout)
        return int(took) / 1e9 if took else None
    finally:
        kill_server(socket_name, None)
        _live.pop(socket_name, None)


@dataclass
class Supervised:
    flood_s: list[float] = field(default_factory=list)  # each flood's own time, seconds
    unfinished: int = 0
    latencies: list[float] = field(default_factory=list)  # quiet agent: emit → applied, ms
    in_process: list[float] = field(default_factory=list)  # quiet agent: %output line read → applied, ms
    sent: int = 0
    window_s: float = 0.0
    supervisor_cpu: float = 0.0
    setup_s: float = 0.0


async def supervised(root: Path, name: str, floods: int, size: int, quiet: bool, limit: float) -> Supervised:
    """`floods` agents printing `size` bytes each (and a quiet agent reporting, when `quiet`) under the supervisor."""
    outcome = Supervised()
    work = root / name
    for folder in ("r", "s", "h", "results"):
        (work / folder).mkdir(parents=True, mode=0o700)
    os.environ.update(XDG_RUNTIME_DIR=str(work / "r"), XDG_STATE_HOME=str(work / "s"), HOME=str(work / "h"))
    start, stop = work / "start", work / "stop"
    commands = {
        f"f{index:03d}": FLOOD.format(
            start=shlex.quote(str(start)), size=size, result=shlex.quote(str(work / "results" / f"f{index:03d}"))
        )
        for index in range(floods)
    }
    if quiet:
        script = work / "quiet.py"
        script.write_text(QUIET)
        commands["quiet"] = shlex.join([sys.executable, "-I", str(script), str(start), str(stop), f"{QUIET_RATE:g}"])
    org = make_org(len(commands), commands, work)
    socket_name = f"ac-flood-{os.getpid()}-{name}"
    _live[socket_name] = None
    backend = TmuxBackend(socket_name, org.name, config_file="/dev/null")
    supervisor: Supervisor | None = None
    try:
        began = time.monotonic()
        supervisor = Supervisor(org, backend, WINDOW_SIZE, journal_path=work / "s" / "journal.jsonl")
        apply = supervisor.state.apply

        def applied(record) -> None:
            apply(record)
            event = record.event
            if type(event) is StatusReported and event.task and event.task.startswith("q"):
                sent_ns = int(event.task.partition(":")[2])
                outcome.latencies.append((time.time_ns() - sent_ns) / 1e6)
                if received[0] is not None:
                    outcome.in_process.append((time.monotonic() - received[0]) * 1e3)

        on_terminal = supervisor._on_terminal
        received: list[float | None] = [None]

        def terminal(event) -> None:
            received[0] = getattr(event, "received", None)
            try:
                on_terminal(event)
            finally:
                received[0] = None

        supervisor.state.apply = applied
        supervisor._on_terminal = terminal
        print(f"  {name}: starting {len(commands)} agents…", file=sys.stderr, flush=True)
        await asyncio.wait_for(supervisor.start(), 60 + 2.0 * len(commands))
        await asyncio.sleep(1.0 + 0.05 * len(commands))  # the shells are up and waiting for the start file
        outcome.setup_s = time.monotonic() - began
        print(f"  {name}: flooding…", file=sys.stderr, flush=True)
        cpu0, t0 = self_cpu(), time.monotonic()
        start.touch()
        results = work / "results"
        while time.monotonic() - t0 < limit:
            await asyncio.sleep(0.1)
            if sum(1 for entry in results.iterdir() if not entry.name.endswith(".tmp")) >= floods:
                break
        outcome.window_s = time.monotonic() - t0
        outcome.supervisor_cpu = self_cpu() - cpu0
        stop.touch()
        if quiet:
            sent = await wait_file(Path(f"{stop}.sent"), 10)
            outcome.sent = int(sent) if sent else 0
            deadline = time.monotonic() + 15  # the last sequences on their way (bounded)
            while len(outcome.latencies) < outcome.sent and time.monotonic() < deadline:
                await asyncio.sleep(0.1)
        for index in range(floods):
            took = (results / f"f{index:03d}").read_text().strip() if (results / f"f{index:03d}").exists() else ""
            if took:
                outcome.flood_s.append(int(took) / 1e9)
            else:
                outcome.unfinished += 1
    finally:
        if supervisor is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(supervisor.stop(), 10)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(backend.close(), 5)
        kill_server(socket_name, None)
        _live.pop(socket_name, None)
    outcome.latencies.sort()
    outcome.in_process.sort()
    return outcome


# --- report -------------------------------------------------------------------------------------------------


def report(args: argparse.Namespace, rates: dict[str, float], solo: float | None, one: Supervised, many: Supervised):
    megabytes = args.megabytes
    print()
    print(f"host: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at the end (other work shows here)")
    print()
    print("decode_output, MB/s of escaped input:")
    for name, rate in rates.items():
        print(f"  {name:<20}{rate:>8.0f}")
    slowest = min(rates.values())
    print(f"target decode ≥ {TARGET_DECODE_MB_S:g} MB/s: {'MET' if slowest >= TARGET_DECODE_MB_S else 'NOT MET'}")
    print()
    print(f"one agent printing {megabytes:g} MB (yes | head -c), timed by its shell:")
    supervised_s = one.flood_s[0] if one.flood_s else None
    print(f"  alone on tmux (no client)   {'did not finish' if solo is None else f'{solo:.2f} s'}")
    print(f"  under the supervisor        {'did not finish' if supervised_s is None else f'{supervised_s:.2f} s'}")
    if solo and supervised_s:
        ratio = supervised_s / solo
        print(f"  ratio {ratio:.2f}; target ≤ {TARGET_RATIO:g}: {'MET' if ratio <= TARGET_RATIO else 'NOT MET'}")
        print(f"  supervisor cpu {one.supervisor_cpu:.2f} s over {one.window_s:.1f} s")
    print()
    floods = many.flood_s
    print(f"{args.floods} agents printing {megabytes:g} MB each at once, and a quiet agent reporting {QUIET_RATE:g}/s:")
    if floods:
        ordered = sorted(floods)
        print(
            f"  floods finished: {len(floods)}/{args.floods} within {many.window_s:.1f} s (limit {args.seconds:g} s); "
            f"each took p50 {percentile(ordered, 50):.1f} s, max {ordered[-1]:.1f} s"
        )
    else:
        print(f"  no flood finished within {many.window_s:.1f} s (limit {args.seconds:g} s)")
    print(f"  supervisor cpu {many.supervisor_cpu:.1f} s over {many.window_s:.1f} s")
    values = many.latencies
    print(
        f"  quiet agent's status sequences: {len(values)} applied of {many.sent} sent; emit → applied p50 "
        f"{percentile(values, 50):.1f} ms, p99 {percentile(values, 99):.1f} ms, max "
        f"{(values[-1] if values else float('nan')):.1f} ms"
    )
    share = many.in_process
    if share:
        print(
            f"  of which in this process (tmux -C line read → applied): p50 {percentile(share, 50):.1f} ms, "
            f"p99 {percentile(share, 99):.1f} ms, max {share[-1]:.1f} ms; the rest is tmux and the scheduler"
        )
    p99 = percentile(values, 99)
    complete = many.sent > 0 and len(values) >= many.sent
    met = complete and p99 <= TARGET_P99_MS
    print(
        f"target quiet p99 ≤ {TARGET_P99_MS:g} ms, none lost: {'MET' if met else 'NOT MET'}"
        + ("" if complete else f" ({many.sent - len(values)} not applied)")
    )


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python bench/output_flood.py",
        description="Pane output floods: decode speed, one flood alone vs supervised, many floods beside a quiet "
        "agent's status sequences.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--megabytes", type=float, default=20.0, help="what each flooding agent prints (MB)")
    parser.add_argument("--floods", type=int, default=100, help="flooding agents beside the quiet one")
    parser.add_argument("--seconds", type=float, default=60.0, help="at most this long of the many floods")
    parser.add_argument("--quick", action="store_true", help="5 MB; 20 agents x 5 MB, at most 20 s")
    args = parser.parse_args(argv)
    if args.quick:
        args.megabytes, args.floods, args.seconds = 5.0, 20, 20.0
    if args.megabytes <= 0 or args.floods < 1 or args.seconds <= 0:
        parser.error("--megabytes and --seconds must be > 0, --floods ≥ 1")
    return args


async def run_all(args: argparse.Namespace, root: Path):
    size = int(args.megabytes * 1_000_000)
    rates = decode_rates()
    print("  one agent alone on tmux…", file=sys.stderr, flush=True)
    solo = await alone(root, size, 300)
    one = await supervised(root, "one", 1, size, quiet=False, limit=300)
    many = await supervised(root, "many", args.floods, size, quiet=True, limit=args.seconds)
    return rates, solo, one, many


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    for name in ("TMUX", "TMUX_PANE"):  # never reach the user's own server
        os.environ.pop(name, None)
    tmux_executable()
    saved = saved_environment()
    root = Path(tempfile.mkdtemp(prefix="acf-", dir="/tmp"))  # short: unix socket paths are capped ~108 bytes
    try:
        results = asyncio.run(run_all(args, root))
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    finally:
        for socket_name in list(_live):  # last resort: nothing left behind
            kill_server(socket_name, None)
            _live.pop(socket_name, None)
        restore_environment(saved)
        shutil.rmtree(root, ignore_errors=True)
    report(args, *results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
