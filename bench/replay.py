"""Time travel and what agents saw: what `replay --at` costs on a big journal, and what snapshots take on disk.

1. A journal of N records (an org of 20 agents at work: reports, messages, asks and decisions, logs, heartbeats)
   is written with the journal itself; then `replay --at` is timed as the command does it: every record up to the
   moment read and verified (HMAC, chain), folded by `OrgState.apply`, for a moment in the middle and at the end.
   Also the replay UI's steps once the journal is loaded (`Timeline.state_after`: a step, a jump back).
2. 1,000 errors, each keeping a snapshot of a 160x48 pane with 200 lines of scrollback (distinct screens, as
   `ScreenSnapshots` stores them: redacted, content-addressed), and what is on disk; then the cap's rotation.

    python bench/replay.py                      # 1,000,000 records (target: replay to a time <= 5 s)
    python bench/replay.py --records 100000     # a smaller journal, and the figure per million by proportion
"""

from __future__ import annotations

import argparse
import random
import shutil
import tempfile
import time
from pathlib import Path

from agent_console.agents.events import (
    AgentLaunched,
    AgentState,
    ApprovalDecided,
    ApprovalRequested,
    Heartbeat,
    LogRecorded,
    MessageSent,
    OrgLoaded,
    StatusReported,
)
from agent_console.agents.journal import Journal, read_records
from agent_console.agents.redaction import Redactor
from agent_console.agents.replay import Moment, Timeline
from agent_console.agents.state import OrgState
from agent_console.runtime.snapshots import SCROLLBACK_LINES, SnapshotStore

KEY = bytes(range(32))
AGENTS = [f"agent-{number:02d}" for number in range(20)]
T0 = 1_800_000_000.0


def write_journal(path: Path, count: int) -> None:
    rng = random.Random(17)
    with Journal.open(path, KEY, sync=False) as journal:
        journal.append(
            "supervisor", OrgLoaded(name="bench", teams={"t": None}, agents=dict.fromkeys(AGENTS, "t")), now=T0
        )
        for number, agent in enumerate(AGENTS):
            journal.append("supervisor", AgentLaunched(agent=agent, pane=f"%{number}"), now=T0)
        asks: list[str] = []
        for seq in range(len(AGENTS) + 1, count):
            agent = AGENTS[seq % len(AGENTS)]
            roll = rng.random()
            at = T0 + seq * 0.1
            if roll < 0.4:
                event = StatusReported(state=rng.choice(list(AgentState)[:4]), task=f"step {seq} of the refactor")
                journal.append(agent, event, now=at)
            elif roll < 0.6:
                journal.append(agent, Heartbeat(), now=at)
            elif roll < 0.75:
                journal.append(agent, LogRecorded(text=f"ran the tests: {seq % 97} passed"), now=at)
            elif roll < 0.9:
                to = f"@{AGENTS[(seq + 1) % len(AGENTS)]}"
                journal.append(agent, MessageSent(id=f"m{seq}", to=to, text="please review my branch"), now=at)
            elif roll < 0.95 or not asks:
                asks.append(f"a{seq}")
                journal.append(agent, ApprovalRequested(id=f"a{seq}", text="may I?", command="git push"), now=at)
            else:
                journal.append("human", ApprovalDecided(id=asks.pop(0), approved=rng.random() < 0.8), now=at)


def replay_at(path: Path, moment: Moment) -> tuple[float, float, int]:
    """What `replay --at` does: verified records up to the moment, folded. Wall and CPU seconds, the seq reached
    (on a shared machine the CPU time is the figure that does not depend on the neighbours)."""
    start, cpu = time.perf_counter(), time.process_time()
    state = OrgState()
    for record in read_records(path, KEY):
        if not moment.includes(record):
            break
        state.apply(record)
    return time.perf_counter() - start, time.process_time() - cpu, state.seq


def screen(number: int, rng: random.Random) -> str:
    """A pane's capture: 200 lines of scrollback and a 48-line screen, lines of 20 to 160 characters."""
    words = ["pytest", "FAILED", "passed", "tests/test_orders.py", "AssertionError", "::", "assert", "==", "x" * 12]
    lines = [f"[{number}:{index}] " + " ".join(rng.choices(words, k=rng.randint(2, 18))) for index in range(248)]
    return "\n".join(line[:160] for line in lines)


def snapshots(folder: Path, errors: int) -> None:
    rng = random.Random(5)
    redactor = Redactor()
    store = SnapshotStore(folder, cap=10**12)  # no cap: what 1,000 errors take
    start = time.perf_counter()
    for number in range(errors):
        store.put(redactor.text(screen(number, rng)))
    took = time.perf_counter() - start
    used = store.usage()
    files = len(list(folder.iterdir()))
    print(f"snapshots: {errors} errors, {files} files, {used / 1e6:.1f} MB on disk ({used / errors / 1e3:.1f} kB each,")
    print(
        f"  {SCROLLBACK_LINES} lines of scrollback + the screen); {took / errors * 1e3:.2f} ms each to redact and store"
    )
    capped = SnapshotStore(folder)
    gone = capped.rotate()
    print(
        f"  under the default cap ({capped.cap / 1e6:.0f} MB): {files - len(gone)} kept, "
        f"the {len(gone)} oldest rotated out"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--errors", type=int, default=1000)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="bench-replay-"))
    try:
        path = folder / "journal.jsonl"
        start = time.perf_counter()
        write_journal(path, args.records)
        print(
            f"journal: {args.records:,} records, {path.stat().st_size / 1e6:.0f} MB, written in "
            f"{time.perf_counter() - start:.1f} s"
        )
        middle = Moment("middle", time=T0 + args.records * 0.05)
        for label, moment in (("a time in the middle", middle), ("the end", Moment("end", seq=args.records))):
            took, cpu, seq = replay_at(path, moment)
            print(
                f"replay --at {label}: {took:.2f} s ({cpu:.2f} s CPU) to #{seq:,} ({seq / cpu:,.0f} records/s of CPU; "
                f"{cpu / seq * 1e6:.1f} s CPU per million records folded)"
            )
        records = list(read_records(path))
        timeline = Timeline(records)
        for label, target in (
            ("load to the middle", len(records) // 2),
            ("a step", len(records) // 2 + 1),
            ("a jump back 1,000", len(records) // 2 - 999),
        ):
            start = time.perf_counter()
            timeline.state_after(target)
            print(f"replay UI, {label}: {(time.perf_counter() - start) * 1e3:.1f} ms")
        snapshots(folder / "snapshots", args.errors)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
