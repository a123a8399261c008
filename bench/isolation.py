"""What the isolation boundary (bubblewrap) costs: agent start-up, and event latency from inside it.

* Start-up: the time from launching a program to its first output, on a pty as in a pane, run as the console
  runs an agent's command (`/bin/sh -c <command>`), with and without the boundary (the same `bwrap` arguments
  the console uses, hiding the same folders). Two programs: `echo` (the boundary's own cost) and a Python that
  prints (an interpreter starting, as most agent programs are). p50, p99 and the ratio.
* Event latency: `agent-console emit status …` run as an agent would, from inside the boundary and outside it,
  against a real `agent-console serve` (private tmux server, temporary state), timed from the command's start
  to its record in the org's journal (mostly the command's own start-up). p50 and p99 of each, and the ratio.
  Then the round trip of one request (`POST /v1/events`) from a client that stays up, inside and outside.

Run it from the repository root, in the project's venv (Linux, with bubblewrap and tmux):

    python bench/isolation.py               # 50 starts of each program each way, 30 events each way
    python bench/isolation.py --starts 200 --events 100

It never touches your own tmux server or state: a private socket, temporary XDG folders. It prints figures;
it is not a pass/fail test.
"""

from __future__ import annotations

import argparse
import json
import os
import pty
import select
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchlib import percentile, restore_environment, saved_environment, tmux_executable

from agent_console.runtime import isolation
from agent_console.terminal.base import Launch

SPEC = """
[org]
name = "bench"

[[team]]
name = "t"

[[agent]]
name = "a"
team = "t"
command = "sleep 100000"
"""


# An agent's client that stays up: each request's round trip, with the console's own client (within the rate limit).
CLIENT = """
import asyncio, json, os, sys, time
from agent_console.runtime.client import ControlClient

async def main(count, where):
    client = ControlClient(os.environ["AGENT_CONSOLE_SOCKET"], os.environ["AGENT_CONSOLE_TOKEN"])
    times = []
    for index in range(count):
        started = time.perf_counter()
        event = {"v": 1, "type": "status", "state": "working", "task": f"{where}-r{index}"}
        await client.call("POST", "/v1/events", event)
        times.append(time.perf_counter() - started)
        await asyncio.sleep(0.06)
    print(json.dumps(times))

asyncio.run(main(int(sys.argv[1]), sys.argv[2]))
"""


def first_output(command: str, env: dict[str, str]) -> float:
    """Seconds from starting `command` (through sh, on a new pty) to its first byte of output."""
    master, slave = pty.openpty()
    started = time.perf_counter()
    process = subprocess.Popen(
        ["/bin/sh", "-c", command], stdin=slave, stdout=slave, stderr=slave, env=env, start_new_session=True
    )
    os.close(slave)
    try:
        ready, _, _ = select.select([master], [], [], 30)
        if not ready:
            raise SystemExit(f"no output in 30 s from: {command}")
        elapsed = time.perf_counter() - started
        os.read(master, 4096)
    finally:
        process.wait(timeout=30)
        os.close(master)
    return elapsed


def figures(values: list[float]) -> tuple[float, float]:
    ordered = sorted(values)
    return percentile(ordered, 50) * 1000, percentile(ordered, 99) * 1000


def start_up(boundary: isolation.Boundary, starts: int) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("TMUX", "TMUX_PANE")}
    programs = {"echo": "echo ready", "python": f"{shlex.quote(sys.executable)} -c 'print(1)'"}
    print(f"start-up to first output ({starts} starts each, on a pty)")
    print(f"  {'program':<8} {'outside p50':>12} {'p99':>8} {'inside p50':>12} {'p99':>8} {'ratio p50':>10}")
    for name, command in programs.items():
        wrapped = boundary.wrap(Launch(command=command)).command or command
        outside, inside = [], []
        for _ in range(starts):  # interleaved: a busy moment costs both alike
            outside.append(first_output(command, env))
            inside.append(first_output(wrapped, env))
        (o50, o99), (i50, i99) = figures(outside), figures(inside)
        print(f"  {name:<8} {o50:>10.1f}ms {o99:>6.1f}ms {i50:>10.1f}ms {i99:>6.1f}ms {i50 / o50:>9.2f}x")


def event_latency(boundary: isolation.Boundary, events: int, root: Path) -> None:
    socket_name = f"ac-bench-{os.getpid()}"
    spec = root / "bench.toml"
    spec.write_text(SPEC)
    env = {k: v for k, v in os.environ.items() if k not in ("TMUX", "TMUX_PANE")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    serve = subprocess.Popen(
        [sys.executable, "-m", "agent_console.cli", "serve", str(spec), "--socket-name", socket_name],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
        cwd=root,
    )
    try:
        assert serve.stdout is not None
        line = serve.stdout.readline()
        if not line.startswith("serving org"):
            raise SystemExit(f"serve did not start: {line}")
        state = Path(os.environ["XDG_STATE_HOME"]) / "agent-console" / "bench"
        token = json.loads((state / "tokens.json").read_text())["a"]
        journal = state / "journal.jsonl"
        agent_env = {
            **env,
            "AGENT_CONSOLE_AGENT": "a",
            "AGENT_CONSOLE_TOKEN": token,
            "AGENT_CONSOLE_SOCKET": str(Path(os.environ["XDG_RUNTIME_DIR"]) / "agent-console" / "bench.sock"),
        }
        print(f"event latency: `agent-console emit` to its journal record ({events} events each way)")
        results: dict[str, list[float]] = {"outside": [], "inside": []}
        for index in range(events):
            for where in results:
                task = f"{where}-{index}"
                command = shlex.join([sys.executable, "-m", "agent_console.cli", "emit", "status", "working"])
                command += f" --task {task}"
                if where == "inside":
                    command = boundary.wrap(Launch(command=command)).command or command
                results[where].append(_until_journaled(command, agent_env, journal, task))
                time.sleep(0.3)  # within the agent's rate limit
        (o50, o99), (i50, i99) = figures(results["outside"]), figures(results["inside"])
        print(f"  outside p50 {o50:.1f} ms  p99 {o99:.1f} ms")
        print(f"  inside  p50 {i50:.1f} ms  p99 {i99:.1f} ms  (ratio p50 {i50 / o50:.2f}x)")
        print(f"request latency: POST /v1/events from a running client ({events * 5} requests each way)")
        for where in ("outside", "inside"):
            command = shlex.join([sys.executable, "-c", CLIENT, str(events * 5), where])
            if where == "inside":
                command = boundary.wrap(Launch(command=command)).command or command
            done = subprocess.run(["/bin/sh", "-c", command], env=agent_env, capture_output=True, text=True)
            if done.returncode != 0:
                raise SystemExit(f"the client failed {where}: {done.stderr}")
            p50, p99 = figures(json.loads(done.stdout))
            print(f"  {where:<7} p50 {p50:.2f} ms  p99 {p99:.2f} ms")
    finally:
        serve.send_signal(signal.SIGTERM)
        serve.wait(timeout=30)
        subprocess.run([tmux_executable(), "-L", socket_name, "kill-server"], capture_output=True, check=False)


def _until_journaled(command: str, env: dict[str, str], journal: Path, task: str) -> float:
    size = journal.stat().st_size
    started = time.perf_counter()
    process = subprocess.Popen(["/bin/sh", "-c", command], env=env, stdout=subprocess.DEVNULL)
    marker = f'"{task}"'.encode()
    deadline = started + 30
    while time.perf_counter() < deadline:
        with journal.open("rb") as handle:
            handle.seek(size)
            if marker in handle.read():
                elapsed = time.perf_counter() - started
                process.wait(timeout=30)
                return elapsed
        time.sleep(0.001)
    raise SystemExit(f"the event {task} never reached the journal (exit status {process.wait()})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--starts", type=int, default=50)
    parser.add_argument("--events", type=int, default=30)
    args = parser.parse_args()
    if shutil.which("bwrap") is None:
        raise SystemExit("bubblewrap is not installed (apt-get install bubblewrap)")
    saved = saved_environment()
    with tempfile.TemporaryDirectory(prefix="acbi") as folder:
        root = Path(folder)
        os.environ["XDG_STATE_HOME"] = str(root / "state")
        os.environ["XDG_RUNTIME_DIR"] = str(root / "run")
        (root / "run").mkdir(mode=0o700)
        try:
            boundary = isolation.boundary("bwrap")
            print(f"bubblewrap: {boundary.bwrap}; hidden: {', '.join(map(str, isolation.hidden_paths()))}")
            start_up(boundary, args.starts)
            event_latency(boundary, args.events, root)
        finally:
            restore_environment(saved)


if __name__ == "__main__":
    main()
