"""The two terminal backends side by side: tmux (`TmuxBackend`) and iTerm2 (`ITerm2Backend`), same workload.

iTerm2 does not run on Linux, so the iTerm2 side is the real `iterm2` library talking to the in-repo fake
iTerm2 API server (tests/fake_iterm2: the real wire protocol, sessions that are real processes in real ptys
behind a pyte screen), started in a process of its own. Its figures are the library's and the protocol's
cost plus the fake's, not iTerm2's own. The tmux side uses a private tmux server (`-L ac-bench-…`).

For each backend and each pane count N, a worker process (so that memory and CPU are one backend's alone):

1. attaches (creating the session/window), creates N panes with `new_window`/`split_pane` (at most
   `--per-window` per tmux window / iTerm2 tab), stores an identity in each (`set_identity`) and lists them
   (`list_panes`): the startup figures;
2. runs a small printer in each pane; once all report ready, `send_text` tells each to go. Each prints K
   custom control sequences `ESC ] 1337 ; Custom=id=bench : M.<pane>.<seq>.<time_ns> BEL` (one every
   `--interval` s, random phase per pane): printed → the matching `PaneOutput` from `events()`;
3. then K plain lines: printed → the first `PaneOutput` of that pane after it (under iTerm2 a screen-update
   notification, which carries no bytes). A line with no event before its next line is counted as lost;
4. `capture(pane)` round trips, and all N captured at once; `style_pane` (border colour, title, badge: what
   both backends support) round trips, and all N styled at once;
5. the RSS of the worker (the process driving the backend) and the CPU it spent, beside the terminal
   server's (the tmux server, or the fake iTerm2 process).

Run it from the repository root, in the project's venv (the fake needs the test extra, for pyte):

    python bench/backends.py                        # both backends, 10 and 50 panes (about 40 s)
    python bench/backends.py --panes 10 --backends iterm2 --markers 10

It never touches your own tmux server or iTerm2: TMUX/TMUX_PANE are removed from the environment, the tmux
server is private and killed at the end, the fake lives under a short temporary HOME (unix socket paths are
short) and is stopped with every process its sessions started; every wait is bounded. It prints figures;
it is not a pass/fail test.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import contextlib
import json
import os
import random
import re
import resource
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import defaultdict, deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchlib import percentile, proc_cpu, tmux_executable

from agent_console.terminal.base import BackendLost, Launch, PaneInfo, PaneOutput, PaneStyle

ROOT = Path(__file__).resolve().parents[1]
WINDOW_SIZE = (240, 80)
BACKENDS = ("tmux", "iterm2")
# M: marker (tag, seq, time_ns); R: printer ready; D: printer done.
SEQUENCE_RE = re.compile(rb"\x1b\]1337;Custom=id=bench:([MRD])\.(p\d+)(?:\.(\d+)\.(\d+))?\x07")

# Runs in every pane: echo off (the go line is not output), say ready, wait (bounded) for a line on stdin,
# print K custom sequences then K plain lines on schedule, write when each line was printed, say done, and
# stay (bounded) so the pane's screen remains for capture and style.
PRINTER = r"""
import json, os, select, sys, termios, time
tag, out = sys.argv[1], sys.argv[2]
interval, phase, gap, hold = (float(value) for value in sys.argv[3:7])
count = int(sys.argv[7])
deadline = time.time() + hold
attrs = termios.tcgetattr(0)
attrs[3] &= ~termios.ECHO
termios.tcsetattr(0, termios.TCSANOW, attrs)
fd = sys.stdout.fileno()

def osc(payload):
    os.write(fd, ("\033]1337;Custom=id=bench:" + payload + "\007").encode())

def at(when):
    delay = when - time.time()
    if delay > 0:
        time.sleep(delay)

osc("R." + tag)
if not select.select([0], [], [], hold)[0]:
    sys.exit(1)
os.read(0, 64)
start = time.time() + phase
for seq in range(count):
    at(start + seq * interval)
    osc("M.%s.%d.%d" % (tag, seq, time.time_ns()))
start += count * interval + gap
printed = []
for seq in range(count):
    at(start + seq * interval)
    printed.append(time.time_ns())
    os.write(fd, ("line %s %d\n" % (tag, seq)).encode())
with open(out + ".tmp", "w") as file:
    json.dump(printed, file)
os.replace(out + ".tmp", out)
at(start + count * interval)  # so the last line's screen update is not confused with this sequence
osc("D." + tag)
at(deadline)
"""


# --- small helpers ----------------------------------------------------------------------------------------


def rss_mb(pid: int | str = "self", field: str = "VmRSS") -> float | None:
    """Resident memory of a process in MB (`VmHWM`: its peak)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def self_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def child_pids(name: str) -> list[int]:
    """Live children of this process whose command is `name` (the `tmux -C` client the backend started)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        comm, rest = stat[stat.find("(") + 1 : stat.rfind(")")], stat.rsplit(")", 1)[1].split()
        if comm == name and int(rest[1]) == os.getpid():
            found.append(int(entry.name))
    return found


def stray_processes(marker: str) -> list[int]:
    """Processes whose command line mentions `marker` (our work directory): printers left behind."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            with contextlib.suppress(OSError):
                if marker.encode() in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
    return found


def stats(values: list[float]) -> dict[str, float | int]:
    ordered = sorted(values)
    return {
        "n": len(ordered),
        "p50": percentile(ordered, 50),
        "p99": percentile(ordered, 99),
        "max": ordered[-1] if ordered else float("nan"),
    }


async def timed(awaitable: Any) -> tuple[float, Any]:
    """(milliseconds, result) of one awaited call."""
    started = time.perf_counter()
    result = await awaitable
    return (time.perf_counter() - started) * 1e3, result


def tmux_env() -> dict[str, str]:
    return {key: value for key, value in os.environ.items() if key not in ("TMUX", "TMUX_PANE")}


def kill_tmux_server(socket_name: str) -> None:
    """Kill the private server and remove its socket file (tmux 3.3a leaves it behind)."""
    tmux = tmux_executable()
    with contextlib.suppress(subprocess.SubprocessError, OSError):
        subprocess.run([tmux, "-L", socket_name, "kill-server"], capture_output=True, timeout=5, env=tmux_env())
    for _ in range(50):  # the server exits asynchronously; remove the file only once nothing answers
        with contextlib.suppress(subprocess.SubprocessError, OSError):
            probe = subprocess.run([tmux, "-L", socket_name, "ls"], capture_output=True, timeout=5, env=tmux_env())
            if probe.returncode != 0:
                break
        time.sleep(0.05)
    tmpdir = os.environ.get("TMUX_TMPDIR") or "/tmp"
    with contextlib.suppress(OSError):
        (Path(tmpdir) / f"tmux-{os.getuid()}" / socket_name).unlink()


# --- the fake iTerm2, in a process of its own -------------------------------------------------------------


async def serve_fake(home: str) -> None:
    """Run the fake iTerm2 under `home`; print the client environment; stop on stdin EOF or SIGTERM."""
    sys.path.insert(0, str(ROOT))
    from tests.fake_iterm2 import running_fake_iterm2

    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    async with running_fake_iterm2(home, set_env=False, window_size=WINDOW_SIZE) as fake:
        loop.add_reader(sys.stdin.fileno(), stop.set)  # EOF: the worker is done (or died)
        print(json.dumps(fake.client_env()), flush=True)
        await stop.wait()
        loop.remove_reader(sys.stdin.fileno())


# --- a backend on a private terminal ----------------------------------------------------------------------


@dataclass
class Terminal:
    backend: Any
    server_pid: int | None  # the tmux server, or the fake iTerm2 process
    client_pids: list[int] = field(default_factory=list)  # the `tmux -C` client (ours, outside this process)
    connect_ms: float = 0.0


@contextlib.asynccontextmanager
async def tmux_terminal(socket_name: str, first: Launch) -> AsyncIterator[Terminal]:
    from agent_console.terminal.tmux import TmuxBackend

    backend = TmuxBackend(socket_name, "bench", config_file="/dev/null")
    try:
        connect_ms, _ = await timed(backend.attach_or_create(WINDOW_SIZE, "bench", first))
        shown = subprocess.run(
            [tmux_executable(), "-L", socket_name, "display-message", "-p", "-t", "=bench", "#{pid}"],
            capture_output=True,
            text=True,
            timeout=5,
            env=tmux_env(),
        ).stdout.strip()
        yield Terminal(backend, int(shown) if shown.isdigit() else None, child_pids("tmux"), connect_ms)
    finally:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(backend.close(), 5)
        await asyncio.to_thread(kill_tmux_server, socket_name)


@contextlib.asynccontextmanager
async def iterm2_terminal(home: str, first: Launch) -> AsyncIterator[Terminal]:
    fake = await asyncio.create_subprocess_exec(
        sys.executable,
        str(Path(__file__).resolve()),
        "--fake-server",
        home,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    backend = None
    try:
        assert fake.stdout is not None
        line = await asyncio.wait_for(fake.stdout.readline(), 30)
        if not line:
            raise RuntimeError("the fake iTerm2 did not start (see its error above)")
        os.environ.update(json.loads(line))  # HOME, ITERM2_COOKIE, ITERM2_KEY: where the library connects
        from agent_console.terminal.iterm2 import ITerm2Backend

        backend = ITerm2Backend("bench")
        connect_ms, _ = await timed(backend.attach_or_create(WINDOW_SIZE, "bench", first))
        yield Terminal(backend, fake.pid, [], connect_ms)
    finally:
        if backend is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(backend.close(), 5)
        if fake.stdin is not None:
            fake.stdin.close()  # the fake stops, killing every process its sessions started
        try:
            await asyncio.wait_for(fake.wait(), 15)
        except TimeoutError:
            fake.terminate()
            try:
                await asyncio.wait_for(fake.wait(), 10)
            except TimeoutError:
                fake.kill()
                await fake.wait()


# --- watching events() ------------------------------------------------------------------------------------


class Watch:
    """Consumes `events()` from the moment it is made; times markers, readiness and every screen change."""

    def __init__(self, backend: Any) -> None:
        self._stream = backend.events()  # subscribed now, before any printer exists
        self.markers: dict[tuple[str, int], float] = {}  # (tag, seq) → printed → seen, ms
        self.ready: set[str] = set()
        self.done: set[str] = set()
        self.arrivals: dict[str, list[int]] = defaultdict(list)  # pane → time_ns of each PaneOutput
        self.lost: str | None = None
        self._tails: dict[str, bytes] = {}
        self._changed = asyncio.Event()
        self.task = asyncio.create_task(self._run(), name="bench-watch")

    async def _run(self) -> None:
        async for event in self._stream:
            now = time.time_ns()
            if isinstance(event, BackendLost):
                self.lost = event.reason
                self._changed.set()
                return
            if not isinstance(event, PaneOutput):
                continue
            buffer = self._tails.get(event.pane, b"") + event.data
            end, ours = 0, 0
            for match in SEQUENCE_RE.finditer(buffer):
                end = match.end()
                ours += len(match.group(0))
                kind, tag = match.group(1), match.group(2).decode()
                if kind == b"M":
                    key = (tag, int(match.group(3)))
                    self.markers.setdefault(key, (now - int(match.group(4))) / 1e6)
                elif kind == b"R":
                    self.ready.add(tag)
                else:
                    self.done.add(tag)
            self._tails[event.pane] = buffer[end:][-512:]  # a sequence split over two chunks (tmux)
            if not event.data or ours < len(event.data):
                # A screen change (not just one of our sequences): what the plain lines are timed by.
                self.arrivals[event.pane].append(now)
            self._changed.set()

    async def until(self, predicate: Callable[[], bool], timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while not predicate():
            remaining = deadline - time.monotonic()
            if remaining <= 0 or self.lost or self.task.done():
                return False
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), remaining)
        return True

    async def stop(self) -> None:
        self.task.cancel()
        await asyncio.gather(self.task, return_exceptions=True)


# --- one run: one backend, N panes ------------------------------------------------------------------------


async def create_panes(backend: Any, launches: list[Launch], per_window: int) -> tuple[list[PaneInfo], list[float]]:
    """A window (tab) per `per_window` panes, each split evenly (breadth first, alternating directions), so
    no pane gets too small for tmux to split; returns the panes and each call's ms."""
    made: list[PaneInfo] = []
    times: list[float] = []
    while len(made) < len(launches):
        ms, first = await timed(backend.new_window(f"bench{len(made) // per_window}", launches[len(made)]))
        made.append(first)
        times.append(ms)
        queue = deque([(first.pane, 0)])
        for _ in range(1, min(per_window, len(launches) - len(made) + 1)):
            target, depth = queue.popleft()
            direction = "h" if depth % 2 == 0 else "v"
            ms, info = await timed(backend.split_pane(target, launches[len(made)], direction=direction))
            made.append(info)
            times.append(ms)
            queue.extend([(target, depth + 1), (info.pane, depth + 1)])
    return made, times


async def run_one(kind: str, count: int, args: argparse.Namespace) -> dict[str, Any]:
    workdir = Path(args.workdir)
    rng = random.Random(None if args.seed is None else f"{args.seed}-{kind}-{count}")
    markers, interval, gap = args.markers, args.interval, 0.5
    run_seconds = 2 * markers * interval + gap + 2 * interval
    hold = 120.0 + run_seconds  # printers outlive the run, bounded
    tags = [f"p{index:03d}" for index in range(count)]
    out = workdir / f"{kind}-{count}"
    out.mkdir()

    def printer(tag: str) -> Launch:
        argv = [sys.executable, "-I", "-S", str(workdir / "printer.py"), tag, str(out / tag)]
        argv += [f"{interval}", f"{rng.uniform(0, interval):.6f}", f"{gap}", f"{hold}", str(markers)]
        return Launch(shlex.join(argv))

    rss_start = rss_mb()
    wall_start = time.monotonic()
    first = Launch(f"sleep {hold:.0f}")  # the session's own first pane: quiet
    opened = tmux_terminal(args.socket, first) if kind == "tmux" else iterm2_terminal(args.home, first)
    result: dict[str, Any] = {"backend": kind, "panes": count}
    async with opened as terminal:
        backend = terminal.backend
        server_cpu_start, cpu_start = proc_cpu(terminal.server_pid), self_cpu()  # from connected on
        watch = Watch(backend)
        try:
            log(f"{kind} {count}: creating panes…")
            started = time.perf_counter()
            panes, create_times = await create_panes(backend, [printer(tag) for tag in tags], args.per_window)
            create_s = time.perf_counter() - started
            pane_tag = {info.pane: tag for info, tag in zip(panes, tags, strict=True)}

            identity_times = [
                (await timed(backend.set_identity(info.pane, "bench", tag)))[0]
                for info, tag in zip(panes, tags, strict=True)
            ]
            list_times, agents = [], 0
            for _ in range(5):
                ms, listed = await timed(backend.list_panes())
                list_times.append(ms)
                agents = sum(1 for info in listed if info.org == "bench" and info.pane in pane_tag)

            ready = await watch.until(lambda: len(watch.ready) >= count, 20 + 0.3 * count)
            ready_s = time.perf_counter() - started
            if not ready:
                log(f"  warning: {len(watch.ready)}/{count} printers said ready")

            log(f"{kind} {count}: measuring events…")
            send_times = [(await timed(backend.send_text(info.pane, "go\r")))[0] for info in panes]
            finished = await watch.until(lambda: len(watch.done) >= count, run_seconds + 10 + 0.1 * count)
            if not finished:
                log(f"  warning: {len(watch.done)}/{count} printers finished")

            # Plain lines: the first screen change of the pane after the line, before the pane's next line.
            line_latency, line_lost = [], 0
            for info in panes:
                file = out / pane_tag[info.pane]
                printed = json.loads(file.read_text()) if file.exists() else []
                line_lost += markers - len(printed)
                arrivals = sorted(watch.arrivals.get(info.pane, []))
                for index, when in enumerate(printed):
                    limit = printed[index + 1] if index + 1 < len(printed) else when + 1_000_000_000
                    after = bisect.bisect_right(arrivals, when)
                    if after < len(arrivals) and arrivals[after] < limit:
                        line_latency.append((arrivals[after] - when) / 1e6)
                    else:
                        line_lost += 1

            log(f"{kind} {count}: capture and style…")
            capture_times = []
            shows_line = 0
            for index in range(args.calls):
                info = panes[index % count]
                ms, screen = await timed(backend.capture(info.pane))
                capture_times.append(ms)
                shows_line += f"line {pane_tag[info.pane]} {markers - 1}" in screen
            capture_all_ms, _ = await timed(asyncio.gather(*(backend.capture(info.pane) for info in panes)))

            style_times = []
            for index in range(args.calls):
                info = panes[index % count]
                style = PaneStyle(border=f"#3b82{index % 256:02x}", title=f"agent {index}", badge=f"● {index}")
                style_times.append((await timed(backend.style_pane(info.pane, style)))[0])
            style_all_ms, _ = await timed(
                asyncio.gather(
                    *(
                        backend.style_pane(info.pane, PaneStyle(border="#10b981", title=f"all {n}", badge="◆"))
                        for n, info in enumerate(panes)
                    )
                )
            )

            server_cpu_end = proc_cpu(terminal.server_pid)
            result.update(
                sequence=stats(list(watch.markers.values())) | {"sent": count * markers},
                line=stats(line_latency) | {"sent": count * markers, "lost": line_lost},
                capture=stats(capture_times) | {"all_ms": capture_all_ms, "shows_line": shows_line},
                send=stats(send_times),
                style=stats(style_times) | {"all_ms": style_all_ms},
                startup={
                    "connect_ms": terminal.connect_ms,
                    "create_s": create_s,
                    "create": stats(create_times),
                    "identity": stats(identity_times),
                    "list": stats(list_times),
                    "agents": agents,
                    "ready_s": ready_s,
                },
                resources={
                    "rss_start": rss_start,
                    "rss_end": rss_mb(),
                    "rss_peak": rss_mb(field="VmHWM"),
                    "cpu": self_cpu() - cpu_start,
                    "client_cpu": sum(proc_cpu(pid) or 0.0 for pid in terminal.client_pids),
                    "server_cpu": None
                    if server_cpu_start is None or server_cpu_end is None
                    else server_cpu_end - server_cpu_start,
                    "server_rss": rss_mb(terminal.server_pid) if terminal.server_pid else None,
                    "wall_s": time.monotonic() - wall_start,
                },
                lost_reason=watch.lost,
            )
        finally:
            await watch.stop()
    return result


def log(text: str) -> None:
    print(f"  {text}", file=sys.stderr, flush=True)


async def worker(args: argparse.Namespace) -> int:
    task = asyncio.current_task()
    assert task is not None
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)  # clean up when told to stop
    kind, count = args.worker.split(":")
    result = await asyncio.wait_for(run_one(kind, int(count), args), args.timeout)
    print(json.dumps(result), flush=True)
    return 0


# --- the report -------------------------------------------------------------------------------------------


def fmt(value: Any, width: int) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return f"{'-':>{width}}"
    if isinstance(value, float):
        return f"{value:>{width}.{2 if abs(value) < 10 else 1}f}"
    return f"{value:>{width}}"


def table(title: str, notes: list[str], columns: list[tuple[str, int]], rows: list[list[Any]]) -> None:
    print(f"\n{title}")
    for note in notes:
        print(f"  {note}")
    print("  " + f"{'backend':<9}{'panes':>5}" + "".join(f"{name:>{width}}" for name, width in columns))
    for row in rows:
        label, count, *values = row
        cells = "".join(fmt(value, width) for value, (_, width) in zip(values, columns, strict=True))
        print("  " + f"{label:<9}{count:>5}" + cells)


def report(results: list[dict[str, Any]], args: argparse.Namespace) -> None:
    label = {"tmux": "tmux", "iterm2": "iterm2*"}
    print(
        f"\n{args.markers} sequences then {args.markers} lines per pane, one every {args.interval:g} s "
        f"(random phase per pane); windows {WINDOW_SIZE[0]}x{WINDOW_SIZE[1]}, at most {args.per_window} "
        "panes per window/tab."
    )
    print(
        "* iterm2 = the real `iterm2` library against the in-repo FAKE iTerm2 server (its own process, real "
        "ptys): library + protocol (+ the fake's) cost, NOT iTerm2's own. The fake coalesces screen updates "
        "for 20 ms, as iTerm2 does."
    )

    def row(result: dict[str, Any], *values: Any) -> list[Any]:
        return [label[result["backend"]], result["panes"], *values]

    table(
        "1. custom sequence → PaneOutput (printed → seen in events())",
        [],
        [("sent", 7), ("seen", 7), ("lost", 6), ("p50 ms", 9), ("p99 ms", 9), ("max ms", 9)],
        [
            row(r, s["sent"], s["n"], s["sent"] - s["n"], s["p50"], s["p99"], s["max"])
            for r in results
            for s in [r["sequence"]]
        ],
    )
    table(
        "2. screen change → PaneOutput (plain line printed → the pane's first PaneOutput after it)",
        [
            "lost: no PaneOutput for the pane before its next line (or within 1 s)",
            "tmux pushes the bytes; iTerm2 only says the screen changed (reading it is a capture, table 3)",
        ],
        [("lines", 7), ("seen", 7), ("lost", 6), ("p50 ms", 9), ("p99 ms", 9), ("max ms", 9)],
        [row(r, s["sent"], s["n"], s["lost"], s["p50"], s["p99"], s["max"]) for r in results for s in [r["line"]]],
    )
    table(
        "3. capture(pane) round trip (one at a time, round robin; all = all N panes at once) and send_text",
        [],
        [
            ("calls", 7),
            ("p50 ms", 9),
            ("p99 ms", 9),
            ("max ms", 9),
            ("all N ms", 10),
            ("send p50 ms", 13),
            ("send p99 ms", 13),
        ],
        [
            row(r, c["n"], c["p50"], c["p99"], c["max"], c["all_ms"], r["send"]["p50"], r["send"]["p99"])
            for r in results
            for c in [r["capture"]]
        ],
    )
    table(
        "4. style_pane(border, title, badge) round trip (one at a time; all = all N panes at once)",
        [],
        [("calls", 7), ("p50 ms", 9), ("p99 ms", 9), ("max ms", 9), ("all N ms", 10)],
        [row(r, s["n"], s["p50"], s["p99"], s["max"], s["all_ms"]) for r in results for s in [r["style"]]],
    )
    table(
        "5. startup (connect = attach_or_create; create = N new_window/split_pane calls)",
        [
            "identity = set_identity per pane; list = list_panes (all panes, identities read back); found = ours",
            "ready = from the first create until every printer said ready (its custom sequence arrived)",
        ],
        [
            ("connect ms", 12),
            ("create s", 10),
            ("per pane p50 ms", 17),
            ("p99 ms", 9),
            ("identity p50 ms", 17),
            ("list p50 ms", 13),
            ("found", 7),
            ("ready s", 9),
        ],
        [
            row(
                r,
                s["connect_ms"],
                s["create_s"],
                s["create"]["p50"],
                s["create"]["p99"],
                s["identity"]["p50"],
                s["list"]["p50"],
                s["agents"],
                s["ready_s"],
            )
            for r in results
            for s in [r["startup"]]
        ],
    )
    table(
        "6. memory and CPU (this = the worker process driving the backend; server = tmux server / fake iTerm2)",
        [
            "RSS start = before the backend's module (and its library) is imported; peak = VmHWM",
            "cpu s = this process from connected to the end, + its `tmux -C` client (tmux); server: the same span",
        ],
        [
            ("RSS start MB", 14),
            ("RSS end MB", 12),
            ("peak MB", 9),
            ("cpu s", 8),
            ("server cpu s", 14),
            ("server RSS MB", 15),
            ("run s", 8),
        ],
        [
            row(
                r,
                m["rss_start"],
                m["rss_end"],
                m["rss_peak"],
                m["cpu"] + m["client_cpu"],
                m["server_cpu"],
                m["server_rss"],
                m["wall_s"],
            )
            for r in results
            for m in [r["resources"]]
        ],
    )
    for r in results:
        if r.get("lost_reason"):
            print(f"  warning: {r['backend']} {r['panes']}: backend lost: {r['lost_reason']}")
        if r["capture"]["shows_line"] < r["capture"]["n"]:
            print(
                f"  note: {r['backend']} {r['panes']}: {r['capture']['n'] - r['capture']['shows_line']} captures "
                "did not show the pane's last line"
            )


# --- driving the workers ----------------------------------------------------------------------------------


def run_worker(kind: str, count: int, args: argparse.Namespace, workdir: Path) -> dict[str, Any] | None:
    """One worker process; its JSON result, or None (what went wrong is on stderr). Cleans up after it."""
    socket_name = f"ac-bench-{os.getpid()}-{uuid.uuid4().hex[:6]}"
    home = tempfile.mkdtemp(prefix="acb-", dir="/tmp")  # short: the fake's socket lives under it
    timeout = 60 + 2 * count + 2 * args.markers * args.interval
    command = [sys.executable, str(Path(__file__).resolve()), "--worker", f"{kind}:{count}"]
    command += ["--workdir", str(workdir), "--socket", socket_name, "--home", home, "--timeout", f"{timeout}"]
    command += ["--markers", str(args.markers), "--interval", f"{args.interval}", "--per-window", str(args.per_window)]
    command += ["--calls", str(args.calls)] + (["--seed", str(args.seed)] if args.seed is not None else [])
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=tmux_env())
    try:
        stdout, _ = process.communicate(timeout=timeout + 20)
    except subprocess.TimeoutExpired:
        process.terminate()  # the worker cancels its run and cleans up
        try:
            stdout, _ = process.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            stdout, _ = process.communicate()
    finally:
        if kind == "tmux":
            kill_tmux_server(socket_name)  # last resort: a no-op when the worker did it
        shutil.rmtree(home, ignore_errors=True)
    lines = [line for line in stdout.splitlines() if line.startswith("{")]
    if process.returncode != 0 or not lines:
        print(f"  {kind} {count}: the worker failed (exit {process.returncode})", file=sys.stderr)
        return None
    return json.loads(lines[-1])


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python bench/backends.py",
        description=(
            "tmux and iTerm2 (the iterm2 library against the in-repo fake iTerm2 server) side by side: "
            "custom sequence and screen change → event latency, capture, style, startup, memory and CPU."
        ),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--panes", default="10,50", help="comma-separated pane counts, one run each")
    parser.add_argument("--backends", default="tmux,iterm2", help="which backends, comma-separated")
    parser.add_argument("--markers", type=int, default=20, help="custom sequences (and plain lines) per pane")
    parser.add_argument("--interval", type=float, default=0.2, help="seconds between a pane's prints")
    parser.add_argument("--per-window", type=int, default=8, help="panes per tmux window / iTerm2 tab")
    parser.add_argument("--calls", type=int, default=100, help="capture and style_pane calls timed one at a time")
    parser.add_argument("--seed", type=int, default=None, help="seed for the per-pane phases")
    # Internal: how the script runs itself as a worker or as the fake iTerm2 server.
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--fake-server", help=argparse.SUPPRESS)
    for name in ("--workdir", "--socket", "--home"):
        parser.add_argument(name, help=argparse.SUPPRESS)
    parser.add_argument("--timeout", type=float, default=300.0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    try:
        args.pane_counts = [int(part) for part in args.panes.split(",") if part.strip()]
    except ValueError:
        parser.error("--panes takes comma-separated integers, e.g. 10,50")
    args.backend_list = [part.strip() for part in args.backends.split(",") if part.strip()]
    if not args.pane_counts or min(args.pane_counts) < 1:
        parser.error("--panes needs at least one positive count")
    if not args.backend_list or set(args.backend_list) - set(BACKENDS):
        parser.error(f"--backends takes some of {', '.join(BACKENDS)}")
    if args.markers < 1 or args.interval <= 0 or args.per_window < 1 or args.calls < 1:
        parser.error("--markers, --per-window and --calls must be ≥ 1 and --interval > 0")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    for name in ("TMUX", "TMUX_PANE"):  # never reach the user's own tmux server
        os.environ.pop(name, None)
    if args.fake_server:
        asyncio.run(serve_fake(args.fake_server))
        return 0
    if args.worker:
        try:
            return asyncio.run(worker(args))
        except (asyncio.CancelledError, TimeoutError):
            print("  worker stopped before the end", file=sys.stderr)
            return 1
    if "tmux" in args.backend_list:
        tmux_executable()
    began = time.monotonic()
    results = []
    with tempfile.TemporaryDirectory(prefix="acb-work-") as workdir:
        (Path(workdir) / "printer.py").write_text(PRINTER)
        try:
            for kind in args.backend_list:
                for count in args.pane_counts:
                    result = run_worker(kind, count, args, Path(workdir))
                    if result is not None:
                        results.append(result)
        except KeyboardInterrupt:
            print("interrupted", file=sys.stderr)
            return 130
        strays = stray_processes(workdir)
        for _ in range(40):  # killed printers take a moment to be reaped: bounded
            if not strays:
                break
            time.sleep(0.05)
            strays = stray_processes(workdir)
    if results:
        report(results, args)
    print(f"\nstray processes left: {len(strays)}{' ' + str(strays) if strays else ''}")
    print(f"total run time {time.monotonic() - began:.1f} s")
    return 0 if results else 1


if __name__ == "__main__":
    sys.exit(main())
