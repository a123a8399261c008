"""Event latency: tmux control-mode push (our `TmuxBackend.events()`) against `capture-pane` polling.

For each pane count N (10, 50, 200 by default) the script starts a private tmux server, creates N panes
spread over several windows, and runs a small printer in each pane. Once every printer is up, they all
start printing lines `MARK <pane-tag> <seq> <time.time_ns()>` (K markers per pane, one every `--interval`
seconds, each pane with a random phase so they do not print in lockstep). Each marker is written and
flushed right after its timestamp is taken.

Two watchers run at the same time and record, for every marker, printed → seen:

* pushed (ours): the `PaneOutput` event arriving through `TmuxBackend.events()` (wall clock taken in the
  consumer when the event arrives; markers split over two output chunks are reassembled per pane);
* poll 500 ms: the way claude-squad watches its panes today, a loop that runs
  `tmux capture-pane -p -t <pane>` as a subprocess for every pane, one after another, then sleeps 500 ms.
  A capture shows only the visible screen, so a marker that scrolled off before a poll reached it is never
  seen: those are counted as missed.

It also reports the CPU time spent during the measurement window by the tmux server, by our side of each
method (event-loop thread + the `tmux -C` client process; poll thread + its `capture-pane` processes).

Run it from the repository root, in the project's venv:

    python bench/event_latency.py                 # 10, 50 and 200 panes, 20 markers each
    python bench/event_latency.py --panes 10,50 --markers 10 --interval 0.1

It never touches your own tmux server: each run uses a private socket (`-L ac-bench-…`), `TMUX` and
`TMUX_PANE` are removed from the environment, and the server is killed (its socket file removed) at the
end, also on error or Ctrl-C. It prints figures; it is not a pass/fail test.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import os
import random
import re
import resource
import shlex
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from benchlib import percentile, proc_cpu, tmux_executable

from agent_console.terminal.base import BackendError, BackendLost, Launch, PaneInfo, PaneOutput
from agent_console.terminal.tmux import TmuxBackend

TARGET_PANES = 50
TARGET_P99_MS = 25.0
POLL_PERIOD = 0.5
WINDOW_SIZE = (240, 80)

MARK_RE = re.compile(rb"MARK (p\d+) (\d+) (\d+)")
READY_RE = re.compile(rb"READY (p\d+)")

# Runs in every pane: announce itself, wait (bounded) for the start file, print the markers on schedule,
# then stay alive (bounded) so the pane and its last screen remain for the poller.
PRINTER = """\
import os, sys, time
tag, start_file = sys.argv[1], sys.argv[2]
interval, phase, count, hold = float(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5]), float(sys.argv[6])
out = sys.stdout.fileno()
os.write(out, ("READY %s\\n" % tag).encode())
deadline = time.time() + hold
while not os.path.exists(start_file):
    if time.time() > deadline:
        sys.exit(1)
    time.sleep(0.05)
with open(start_file) as f:
    start = float(f.read())
for seq in range(count):
    delay = start + phase + seq * interval - time.time()
    if delay > 0:
        time.sleep(delay)
    os.write(out, ("MARK %s %d %d\\n" % (tag, seq, time.time_ns())).encode())
time.sleep(max(0.0, deadline - time.time()))
"""

_live_sockets: dict[str, Path | None] = {}  # socket name → socket file, for the last-resort cleanup


# --- small helpers ----------------------------------------------------------------------------------------


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def kill_server(socket_name: str, socket_file: Path | None) -> None:
    """Kill our private server and remove its socket file (tmux 3.3a leaves it behind)."""
    with contextlib.suppress(subprocess.SubprocessError, OSError):
        subprocess.run(
            [tmux_executable(), "-L", socket_name, "kill-server"],
            capture_output=True,
            timeout=5,
            env=os.environ.copy(),
        )
    if socket_file is None:
        return
    for _ in range(50):  # the server exits asynchronously; only remove the file once nothing answers
        probe = subprocess.run([tmux_executable(), "-L", socket_name, "list-sessions"], capture_output=True, timeout=5)
        if probe.returncode != 0:
            break
        time.sleep(0.05)
    with contextlib.suppress(OSError):
        socket_file.unlink()


# --- measurement state ------------------------------------------------------------------------------------


@dataclass
class Pushed:
    seen: dict[tuple[str, int], float] = field(default_factory=dict)  # marker → latency ms
    in_process: list[float] = field(default_factory=list)  # reader → consumer share, ms
    ready: set[str] = field(default_factory=set)
    buffers: dict[str, bytes] = field(default_factory=dict)
    lost: str | None = None
    all_seen: asyncio.Event = field(default_factory=asyncio.Event)
    ready_event: asyncio.Event = field(default_factory=asyncio.Event)
    expected_markers: int = 0
    expected_ready: int = 0


@dataclass
class Polled:
    seen: dict[tuple[str, int], float] = field(default_factory=dict)  # marker → latency ms
    sweeps: list[float] = field(default_factory=list)  # seconds per sweep over all panes
    errors: int = 0
    thread_cpu: float = 0.0
    stop: threading.Event = field(default_factory=threading.Event)


@dataclass
class Row:
    panes: int
    method: str
    markers: int
    latencies: list[float]
    cpu: float | None


@dataclass
class RunResult:
    panes: int
    rows: list[Row]
    window_s: float
    server_cpu: float | None
    sweep_mean: float
    sweeps: int
    poll_errors: int
    in_process_p99: float
    min_height: int
    setup_s: float


async def consume(backend: TmuxBackend, pushed: Pushed) -> None:
    """Iterate `backend.events()`; time-stamp every marker line as its last chunk arrives."""
    async for event in backend.events():
        now_ns = time.time_ns()
        if isinstance(event, BackendLost):
            pushed.lost = event.reason
            return
        if not isinstance(event, PaneOutput):
            continue
        now_mono = time.monotonic()
        buffer = pushed.buffers.get(event.pane, b"") + event.data
        *lines, rest = buffer.split(b"\n")
        pushed.buffers[event.pane] = rest[-4096:]
        for line in lines:
            match = MARK_RE.search(line)
            if match:
                key = (match.group(1).decode(), int(match.group(2)))
                if key not in pushed.seen:
                    pushed.seen[key] = (now_ns - int(match.group(3))) / 1e6
                    pushed.in_process.append((now_mono - event.received) * 1e3)
                    if len(pushed.seen) >= pushed.expected_markers:
                        pushed.all_seen.set()
                continue
            ready = READY_RE.search(line)
            if ready:
                pushed.ready.add(ready.group(1).decode())
                if len(pushed.ready) >= pushed.expected_ready:
                    pushed.ready_event.set()


def poll_loop(socket_name: str, panes: list[str], polled: Polled, last_mark_wall: float, deadline_wall: float) -> None:
    """claude-squad's loop: capture every pane in turn (a subprocess each), then sleep 500 ms.

    Ends after one complete sweep that began once the last marker was due, or at the deadline.
    """
    cpu_start = time.thread_time()
    base = [tmux_executable(), "-L", socket_name, "capture-pane", "-p", "-t"]
    env = os.environ.copy()
    try:
        while not polled.stop.is_set() and time.time() < deadline_wall:
            sweep_wall = time.time()
            sweep_start = time.monotonic()
            for pane in panes:
                if polled.stop.is_set():
                    return
                try:
                    result = subprocess.run([*base, pane], capture_output=True, timeout=5, env=env)
                except subprocess.TimeoutExpired:
                    polled.errors += 1
                    continue
                seen_ns = time.time_ns()
                if result.returncode != 0:
                    polled.errors += 1
                    continue
                for match in MARK_RE.finditer(result.stdout):
                    key = (match.group(1).decode(), int(match.group(2)))
                    if key not in polled.seen:
                        polled.seen[key] = (seen_ns - int(match.group(3))) / 1e6
            polled.sweeps.append(time.monotonic() - sweep_start)
            if sweep_wall > last_mark_wall + 0.05:
                return
            polled.stop.wait(POLL_PERIOD)
    finally:
        polled.thread_cpu = time.thread_time() - cpu_start


# --- one run ----------------------------------------------------------------------------------------------


async def create_panes(
    backend: TmuxBackend, count: int, per_window: int, command_for: dict[str, str]
) -> dict[str, str]:
    """`count` printer panes, at most `per_window` per window (tiled); pane id → tag."""
    panes: dict[str, str] = {}
    window: PaneInfo | None = None
    in_window = 0
    for index in range(count):
        tag = f"p{index:03d}"
        launch = Launch(command_for[tag])
        info: PaneInfo | None = None
        if window is not None and in_window < per_window:
            try:
                info = await backend.split_pane(window.pane, launch, direction="h" if in_window % 2 else "v")
                await backend.client.command(f"select-layout -t {window.window} tiled")
                in_window += 1
            except BackendError as error:
                if "no space" not in str(error):
                    raise
                info = None  # the window is full: open the next one
        if info is None:
            info = await backend.new_window(f"bench{len(panes) // max(per_window, 1)}", launch)
            window, in_window = info, 1
        panes[info.pane] = tag
    return panes


async def run_one(count: int, args: argparse.Namespace, workdir: Path, rng: random.Random) -> RunResult:
    markers, interval, per_window = args.markers, args.interval, args.per_window
    socket_name = f"ac-bench-{os.getpid()}-{rng.randrange(16**6):06x}"
    tmpdir = os.environ.get("TMUX_TMPDIR") or "/tmp"
    _live_sockets[socket_name] = Path(tmpdir) / f"tmux-{os.getuid()}" / socket_name  # until tmux says
    backend = TmuxBackend(socket_name, "bench", config_file="/dev/null")
    pushed = Pushed(expected_markers=count * markers, expected_ready=count)
    polled = Polled()
    consumer: asyncio.Task[None] | None = None
    poller: threading.Thread | None = None
    start_file = workdir / f"start-{count}"
    printer = workdir / "printer.py"
    hold = 120.0 + markers * interval
    try:
        setup_start = time.monotonic()
        await backend.attach_or_create(WINDOW_SIZE, "bench", Launch(None))
        socket_path = (await backend.client.command("display-message -p '#{socket_path}'"))[0]
        _live_sockets[socket_name] = Path(socket_path)
        server_pid = int((await backend.client.command("display-message -p '#{pid}'"))[0])
        client_pids = await backend.client.command("list-clients -F '#{client_pid}'")
        client_pid = int(client_pids[0]) if client_pids and client_pids[0].isdigit() else None

        consumer = asyncio.create_task(consume(backend, pushed), name="bench-consumer")
        for _ in range(3):
            await asyncio.sleep(0)  # let the consumer subscribe before any printer exists

        phases = {f"p{index:03d}": rng.uniform(0, interval) for index in range(count)}
        commands = {
            tag: " ".join(
                shlex.quote(part)
                for part in (
                    sys.executable,
                    "-I",
                    "-S",
                    str(printer),
                    tag,
                    str(start_file),
                    f"{interval}",
                    f"{phase:.6f}",
                    str(markers),
                    f"{hold}",
                )
            )
            for tag, phase in phases.items()
        }
        print(f"  {count} panes: creating…", file=sys.stderr, flush=True)
        panes = await create_panes(backend, count, per_window, commands)
        infos = [info for info in await backend.list_panes() if info.pane in panes]
        min_height = min((info.height for info in infos), default=0)
        if markers + 1 > min_height:
            print(
                f"  note: panes are {min_height} rows tall, {markers} markers + 1 line will scroll: "
                "the poller will miss some",
                file=sys.stderr,
            )
        try:
            await asyncio.wait_for(pushed.ready_event.wait(), 20 + 0.2 * count)
        except TimeoutError:
            print(f"  warning: only {len(pushed.ready)}/{count} printers reported ready", file=sys.stderr)
        setup_s = time.monotonic() - setup_start
        print(f"  {count} panes: ready after {setup_s:.1f} s; measuring…", file=sys.stderr, flush=True)

        # Measurement window starts here.
        wall0, mono0 = time.time(), time.monotonic()
        cpu0 = (proc_cpu(server_pid), proc_cpu(client_pid), time.thread_time(), children_cpu())
        start = wall0 + 0.5
        partial = start_file.with_suffix(".tmp")
        partial.write_text(f"{start:.6f}")
        partial.replace(start_file)
        last_mark = start + max(phases.values()) + (markers - 1) * interval
        if args.poll:
            poller = threading.Thread(
                target=poll_loop,
                args=(socket_name, list(panes), polled, last_mark, last_mark + 30.0),
                name="bench-poller",
                daemon=True,
            )
            poller.start()

        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(pushed.all_seen.wait(), max(0.0, last_mark - time.time()) + 2.0)
        if poller is not None:
            await asyncio.to_thread(poller.join, max(0.0, last_mark - time.time()) + 35.0)
        polled.stop.set()

        window_s = time.monotonic() - mono0
        cpu1 = (proc_cpu(server_pid), proc_cpu(client_pid), time.thread_time(), children_cpu())
        if pushed.lost:
            print(f"  warning: backend lost: {pushed.lost}", file=sys.stderr)
    finally:
        polled.stop.set()
        if consumer is not None:
            consumer.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await consumer
        with contextlib.suppress(Exception):
            await asyncio.wait_for(backend.close(), 5)
        kill_server(socket_name, _live_sockets.pop(socket_name, None))
        if poller is not None:
            poller.join(5)

    def delta(index: int) -> float | None:
        before, after = cpu0[index], cpu1[index]
        return None if before is None or after is None else after - before

    client_cpu = delta(1)
    pushed_cpu = (cpu1[2] - cpu0[2]) + (client_cpu or 0.0)
    poll_cpu = polled.thread_cpu + (cpu1[3] - cpu0[3])
    sweeps = polled.sweeps
    rows = [Row(count, "pushed (tmux -C)", count * markers, sorted(pushed.seen.values()), pushed_cpu)]
    if args.poll:
        rows.append(Row(count, "poll 500 ms", count * markers, sorted(polled.seen.values()), poll_cpu))
    return RunResult(
        panes=count,
        rows=rows,
        window_s=window_s,
        server_cpu=delta(0),
        sweep_mean=sum(sweeps) / len(sweeps) if sweeps else math.nan,
        sweeps=len(sweeps),
        poll_errors=polled.errors,
        in_process_p99=percentile(sorted(pushed.in_process), 99),
        min_height=min_height,
        setup_s=setup_s,
    )


# --- report -----------------------------------------------------------------------------------------------


def report(results: list[RunResult], args: argparse.Namespace, elapsed: float) -> None:
    print()
    print(
        f"{args.markers} markers per pane, one every {args.interval:g} s (random phase per pane); "
        f"windows {WINDOW_SIZE[0]}x{WINDOW_SIZE[1]}, at most {args.per_window} panes each (tiled)."
    )
    print("pushed      = PaneOutput events from TmuxBackend.events(), timed in the consumer.")
    if args.poll:
        print("poll 500 ms = claude-squad's loop: `tmux capture-pane -p -t <pane>` as a subprocess per pane,")
        print("              one after another (sequential), then sleep 500 ms; seen = first capture with it.")
    else:
        print("poll 500 ms = skipped (--no-poll)")
    print("cpu s       = our side only: pushed = event-loop thread + `tmux -C` process; poll = poll thread +")
    print("              its capture-pane processes. The tmux server's CPU (shared) is listed below the table.")
    print()
    header = (
        f"{'panes':>5}  {'method':<17}{'markers':>8}{'seen':>7}{'missed':>8}"
        f"{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}{'cpu s':>8}"
    )
    print(header)
    for result in results:
        for row in result.rows:
            values = row.latencies
            cpu = f"{row.cpu:8.2f}" if row.cpu is not None else f"{'-':>8}"
            missed = row.markers - len(values)
            print(
                f"{row.panes:>5}  {row.method:<17}{row.markers:>8}{len(values):>7}{missed:>8}"
                f"{percentile(values, 50):>9.2f}{percentile(values, 99):>9.2f}"
                f"{(values[-1] if values else math.nan):>9.2f}{cpu}"
            )
    print()
    for result in results:
        server = f"{result.server_cpu:.2f} s" if result.server_cpu is not None else "n/a"
        print(
            f"{result.panes:>5} panes: tmux server CPU {server} in a {result.window_s:.1f} s window; "
            f"setup {result.setup_s:.1f} s; panes {result.min_height} rows;"
        )
        polling = (
            f"{result.sweeps} poll sweeps of {result.sweep_mean * 1e3:.0f} ms mean "
            f"({result.poll_errors} failed captures); "
            if result.sweeps
            else ""
        )
        print(f"{'':>13}{polling}pushed reader→consumer p99 {result.in_process_p99:.2f} ms")
    target = next((result for result in results if result.panes == TARGET_PANES), None)
    if target is None:
        print(f"\ntarget (pushed p99 ≤ {TARGET_P99_MS:g} ms at {TARGET_PANES} panes): not measured this run")
    else:
        row = target.rows[0]
        p99 = percentile(row.latencies, 99)
        complete = len(row.latencies) == row.markers
        met = complete and p99 <= TARGET_P99_MS
        print(
            f"\ntarget (pushed p99 ≤ {TARGET_P99_MS:g} ms at {TARGET_PANES} panes): "
            f"{'MET' if met else 'NOT MET'} (p99 {p99:.2f} ms"
            f"{'' if complete else f', {row.markers - len(row.latencies)} markers missed'})"
        )
    print(f"total run time {elapsed:.1f} s")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python bench/event_latency.py",
        description=(
            "Latency from a pane printing a line to the watcher seeing it: tmux control-mode push "
            "(TmuxBackend.events()) against claude-squad-style capture-pane polling every 500 ms, "
            "measured in the same run on a private tmux server. Prints one table."
        ),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--panes", default="10,50,200", help="comma-separated pane counts, one run each")
    parser.add_argument("--markers", type=int, default=20, help="markers printed per pane")
    parser.add_argument("--interval", type=float, default=0.25, help="seconds between a pane's markers")
    parser.add_argument(
        "--per-window", type=int, default=8, help="panes per tmux window (tmux refuses to split tiny panes)"
    )
    parser.add_argument(
        "--no-poll",
        dest="poll",
        action="store_false",
        help="skip the polling baseline (to see the tmux server's CPU for the pushed path alone)",
    )
    parser.add_argument("--seed", type=int, default=None, help="seed for the per-pane phases")
    args = parser.parse_args(argv)
    try:
        args.pane_counts = [int(part) for part in args.panes.split(",") if part.strip()]
    except ValueError:
        parser.error("--panes takes comma-separated integers, e.g. 10,50")
    if not args.pane_counts or min(args.pane_counts) < 1:
        parser.error("--panes needs at least one positive count")
    if args.markers < 1 or args.interval <= 0 or args.per_window < 1:
        parser.error("--markers and --per-window must be ≥ 1 and --interval > 0")
    return args


async def run_all(args: argparse.Namespace, workdir: Path) -> list[RunResult]:
    (workdir / "printer.py").write_text(PRINTER)
    rng = random.Random(args.seed)
    results = []
    for count in args.pane_counts:
        results.append(await run_one(count, args, workdir, rng))
    return results


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    for name in ("TMUX", "TMUX_PANE"):  # never reach the user's own server
        os.environ.pop(name, None)
    tmux_executable()
    began = time.monotonic()
    try:
        with tempfile.TemporaryDirectory(prefix="ac-bench-") as workdir:
            results = asyncio.run(run_all(args, Path(workdir)))
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    finally:
        for socket_name, socket_file in list(_live_sockets.items()):  # last resort: nothing left behind
            kill_server(socket_name, socket_file)
            _live_sockets.pop(socket_name, None)
    report(results, args, time.monotonic() - began)
    return 0


if __name__ == "__main__":
    sys.exit(main())
