"""Screen reading: what the rules cost, and how fast a prompt on a screen reaches the approval queue.

1. Rules alone: every screen captured from the real programs (tests/fixtures/screens/) read R times by its
   kind's rules; microseconds per reading, p50/p99, per kind.
2. Live: a supervisor on a private tmux server with N shell agents, each printing noise and then asking a
   yes/no question (`read -p "… [y/N]"`), K rounds. For each question: printed → approval in the queue
   (PromptSeen journaled), and approved in the console → the program got its keys and moved on (the prompt
   closed). Also the screens read per second and the CPU the console spent.

    python bench/screen_reading.py                  # 20 agents, 5 rounds
    python bench/screen_reading.py --agents 50 --rounds 3

A private tmux server (-L ac-bench-…), TMUX unset, killed at the end. Prints figures; not a pass/fail test.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import subprocess
import sys
import tempfile
import time
import tomllib
import uuid
from pathlib import Path

from benchlib import percentile, tmux_executable

ROOT = Path(__file__).resolve().parents[1]
SCREENS = ROOT / "tests" / "fixtures" / "screens"


def rules_alone(repeat: int) -> None:
    from agent_console.agents.kinds import detect, load_kind

    print(f"rules alone ({repeat} readings of each captured screen)")
    print(f"{'kind':8} {'screens':>7} {'p50 µs':>8} {'p99 µs':>8} {'max µs':>8}")
    for folder in sorted(path for path in SCREENS.iterdir() if path.is_dir()):
        kind = load_kind(folder.name)
        screens = [path.read_text(encoding="utf-8") for path in sorted(folder.glob("*.txt"))]
        expected = tomllib.loads((folder / "expected.toml").read_text(encoding="utf-8"))
        assert len(expected) == len(screens)
        times = []
        for _ in range(repeat):
            for screen in screens:
                started = time.perf_counter()
                detect(kind, screen)
                times.append((time.perf_counter() - started) * 1e6)
        times.sort()
        print(
            f"{folder.name:8} {len(screens):7} {percentile(times, 50):8.1f} {percentile(times, 99):8.1f}"
            f" {times[-1]:8.1f}"
        )


SCRIPT = r"""
for round in $(seq 1 {rounds}); do
  for i in $(seq 1 $((RANDOM % 20 + 5))); do echo "noise $round $i $RANDOM$RANDOM"; sleep 0.0$((RANDOM % 9 + 1)); done
  echo "asked at $(date +%s.%N)"
  read -r -p "Round $round: go on? [y/N] " answer
  echo "answered $answer at $(date +%s.%N)"
done
exec sleep 600
"""


async def live(agents: int, rounds: int) -> None:
    from agent_console.agents.events import HUMAN, ApprovalDecided, PromptSeen
    from agent_console.agents.model import Agent, Org, Team
    from agent_console.runtime.supervisor import Supervisor
    from agent_console.terminal.tmux import TmuxBackend

    work = Path(tempfile.mkdtemp(prefix="acsr"))
    script = work / "ask.sh"
    script.write_text(SCRIPT.format(rounds=rounds))
    os.environ["XDG_RUNTIME_DIR"] = str(work)
    os.environ["XDG_STATE_HOME"] = str(work / "state")
    socket = f"ac-bench-{uuid.uuid4().hex[:8]}"
    names = [f"a{index}" for index in range(agents)]
    org = Org(
        name="bench",
        teams=(Team(name="t"),),
        agents=tuple(Agent(name=name, team="t", command=f"bash --norc {script}", cwd=work) for name in names),
    )
    supervisor = Supervisor(org, TmuxBackend(socket, "bench", config_file="/dev/null"), (400, 120))
    queued: list[float] = []
    answered: list[float] = []
    opened: dict[str, float] = {}
    decided_at: dict[str, float] = {}
    done = asyncio.Event()
    count = 0

    def on_record(record) -> None:
        if isinstance(record.event, PromptSeen):
            opened[record.event.id] = time.time()
            asyncio.get_running_loop().create_task(approve(record.event))

    async def approve(seen: PromptSeen) -> None:
        nonlocal count
        pane = supervisor.pane_of(seen.agent)
        screen = await supervisor.backend.capture(pane)
        asked = [line for line in screen.splitlines() if line.startswith("asked at ")]
        if asked:
            queued.append(opened[seen.id] - float(asked[-1].split()[-1]))
        decided_at[seen.id] = time.time()
        supervisor.submit(HUMAN, ApprovalDecided(id=seen.id, approved=True))
        for _ in range(400):  # bounded: 20 s
            await asyncio.sleep(0.05)
            lines = (await supervisor.backend.capture(pane)).splitlines()
            mark = [line for line in lines if line.startswith("answered y at ")]
            if len(mark) >= 1 and float(mark[-1].split()[-1]) >= decided_at[seen.id]:
                answered.append(float(mark[-1].split()[-1]) - decided_at[seen.id])
                break
        count += 1
        if count >= agents * rounds:
            done.set()

    cpu_before = resource.getrusage(resource.RUSAGE_SELF)
    started = time.monotonic()
    try:
        await supervisor.start()
        supervisor.listeners.append(on_record)
        reads_before = supervisor.screens.reads
        with_timeout = max(60.0, rounds * 10.0)
        try:
            await asyncio.wait_for(done.wait(), with_timeout)
        except TimeoutError:
            print(f"(timed out after {with_timeout:.0f} s with {count} of {agents * rounds} questions answered)")
        elapsed = time.monotonic() - started
        reads = supervisor.screens.reads - reads_before
    finally:
        await supervisor.stop()
        await supervisor.backend.close()
        env = {k: v for k, v in os.environ.items() if k not in ("TMUX", "TMUX_PANE")}
        subprocess.run([tmux_executable(), "-L", socket, "kill-server"], capture_output=True, env=env, check=False)
    cpu_after = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (cpu_after.ru_utime - cpu_before.ru_utime) + (cpu_after.ru_stime - cpu_before.ru_stime)
    queued.sort()
    answered.sort()
    print(f"\nlive: {agents} agents, {rounds} questions each, {elapsed:.1f} s")
    print(f"{'':34} {'n':>5} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8}")
    for label, values in (("question printed → in the queue", queued), ("approved → program answered", answered)):
        if values:
            print(
                f"{label:34} {len(values):5} {percentile(values, 50) * 1000:8.1f}"
                f" {percentile(values, 99) * 1000:8.1f} {values[-1] * 1000:8.1f}"
            )
    share = 100 * cpu / elapsed
    print(f"screens read: {reads} ({reads / elapsed:.0f}/s); console CPU {cpu:.2f} s ({share:.0f}% of one core)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--agents", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--repeat", type=int, default=200, help="readings of each captured screen")
    args = parser.parse_args()
    os.environ.pop("TMUX", None)
    os.environ.pop("TMUX_PANE", None)
    sys.path.insert(0, str(ROOT))
    if SCREENS.exists():
        rules_alone(args.repeat)
    asyncio.run(live(args.agents, args.rounds))


if __name__ == "__main__":
    main()
