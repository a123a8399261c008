"""Spans at scale: a signed journal of 1,000,000 records (traces of a realistic shape), read back, folded into the
span index the trace viewer filters (agents/spans.py), and the viewer's filters timed (target: ≤ 100 ms).

    python bench/trace.py [--records N] [--keep PATH] [--verify]

Prints: generating (records/s), reading and verifying, building the span index (s, MB), each filter's p50/p99
(ms) and how many traces it lets through. The replay and screen-snapshot figures of the issue are measured in
`replay_figures` below (left for the replay work to fill in: see REPLAY).
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import hmac
import json
import os
import random
import secrets
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from benchlib import percentile

from agent_console.agents.journal import GENESIS, Journal, verify
from agent_console.agents.spans import TraceFilter, TraceIndex

AGENTS = [f"agent-{number:02d}" for number in range(20)]
TEAMS = {agent: f"team-{index % 4}" for index, agent in enumerate(AGENTS)}
WORDS = [
    "migrate",
    "the",
    "schema",
    "update",
    "the",
    "client",
    "run",
    "the",
    "tests",
    "fix",
    "the",
    "flaky",
    "build",
    "review",
    "the",
    "change",
]
FILTER_RUNS = 30
VIEWER_RECORDS = 1000  # widgets/trace_view.py TraceView.MAX_RECORDS (the bench does not import the widget)


def _signed(key: bytes, fields: dict, prev: str) -> tuple[bytes, str]:
    """One journal line as `Journal.append` writes it (canonical JSON, HMAC over the fields, chained by `prev`)."""
    fields["prev"] = prev
    body = json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    fields["hmac"] = hmac.new(key, body.encode(), hashlib.sha256).hexdigest()
    line = json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    return line, hashlib.sha256(line).hexdigest()


def chain_events(rng: random.Random) -> list[tuple[str, dict, int | None]]:
    """One trace: (actor, event, index of its parent in the trace) — a chat command, a message typed into an
    agent's pane, its work, an ask and the human's decision, a barrier arrival, idle again."""
    agent = rng.choice(AGENTS)
    other = rng.choice(AGENTS)
    text = " ".join(rng.choices(WORDS, k=5))
    ask = secrets.token_hex(8)
    message = secrets.token_hex(8)
    return [
        ("human", {"type": "message", "id": message, "to": f"@{agent}", "text": text}, 1),
        ("human", {"type": "command", "name": "send", "args": {"to": f"@{agent}"}, "via": "chat", "ok": True}, None),
        ("supervisor", {"type": "message.typed", "id": message, "agent": agent}, 0),
        (agent, {"type": "status", "state": "working", "task": text[:40]}, 2),
        (agent, {"type": "message", "id": secrets.token_hex(8), "to": f"@{other}", "text": "your part: " + text}, 2),
        (agent, {"type": "approval.request", "id": ask, "text": "may I?", "command": f"make {rng.choice(WORDS)}"}, 2),
        ("human", {"type": "approval.decision", "id": ask, "approved": rng.random() < 0.9, "always": False}, 5),
        (agent, {"type": "barrier.arrive", "name": "sync"}, 2),
        (agent, {"type": "log", "level": rng.choice(["info", "info", "warning", "error"]), "text": text}, 2),
        (agent, {"type": "status", "state": "idle"}, 2),
    ]


def generate(path: Path, key: bytes, count: int, seed: int = 17) -> float:
    """Write a journal of `count` records; seconds taken."""
    rng = random.Random(seed)
    started = time.perf_counter()
    prev, seq, now = GENESIS, 0, 1_700_000_000.0
    with path.open("wb") as out:
        while seq < count:
            trace = secrets.token_hex(8)
            events = chain_events(rng)
            spans = [secrets.token_hex(8) for _ in events]
            for index, (actor, event, parent) in enumerate(events):
                if seq >= count:
                    break
                seq += 1
                now += rng.random() * 0.5
                fields = {
                    "seq": seq,
                    "time": round(now, 6),
                    "trace": trace,
                    "span": spans[index],
                    "parent": spans[parent] if parent is not None else None,
                    "actor": actor,
                    "event": event,
                }
                line, prev = _signed(key, fields, prev)
                out.write(line + b"\n")
    return time.perf_counter() - started


def resident() -> int:
    """This process's resident memory (bytes)."""
    return int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def timed(run: Callable[[], object], runs: int = FILTER_RUNS) -> tuple[float, float, object]:
    """p50 and p99 (ms) of `run`, and its last result."""
    samples: list[float] = []
    result: object = None
    for _ in range(runs):
        started = time.perf_counter()
        result = run()
        samples.append((time.perf_counter() - started) * 1000)
    samples.sort()
    return percentile(samples, 50), percentile(samples, 99), result


def replay_figures(path: Path, key: bytes) -> list[str]:
    """REPLAY: the replay-to-a-time (≤ 5 s) and snapshot-storage figures belong to the replay work; it adds its
    measurements here, on the same journal."""
    return []


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--keep", type=Path, help="write the journal here (kept) instead of a temporary file")
    parser.add_argument("--verify", action="store_true", help="also time `audit verify` of the whole journal")
    args = parser.parse_args()

    folder = Path(tempfile.mkdtemp(prefix="trace-bench-"))
    path = args.keep or folder / "journal.jsonl"
    key = secrets.token_bytes(32)
    print(f"journal: {args.records:,} records, {len(AGENTS)} agents in {len(set(TEAMS.values()))} teams")
    seconds = generate(path, key, args.records)
    size = path.stat().st_size
    print(f"generate: {seconds:.1f} s ({args.records / seconds:,.0f} records/s), {size / 1e6:.0f} MB on disk")

    if args.verify:
        started = time.perf_counter()
        checked = verify(path, key)
        print(f"verify: {time.perf_counter() - started:.1f} s ({'ok' if checked.ok else checked.problem})")

    started = time.perf_counter()
    before = resident()
    records = list(Journal.read(path, key))
    read = time.perf_counter() - started
    print(f"read: {read:.1f} s ({len(records) / read:,.0f} records/s), {(resident() - before) / 1e6:.0f} MB of records")

    gc.collect()
    before = resident()
    started = time.perf_counter()
    index = TraceIndex()
    index.add(records)
    built = time.perf_counter() - started
    gc.collect()
    memory = resident() - before
    print(
        f"span index: {built:.1f} s ({len(records) / built:,.0f} records/s), {len(index.traces):,} traces, "
        f"{memory / 1e6:.0f} MB beyond the records themselves"
    )
    last = records[len(records) // 2].time
    team = [agent for agent, name in TEAMS.items() if name == "team-1"]
    filters = {
        "agent=agent-07": TraceFilter(agents=frozenset({"agent-07"})),
        "team=team-1": TraceFilter(agents=frozenset(team)),
        "state=failed": TraceFilter(state="failed"),
        "since/until (10 min)": TraceFilter(since=last, until=last + 600),
        "/text (a word)": TraceFilter(text="flaky"),
        "/text (absent)": TraceFilter(text="no such words"),
        "agent + state + text": TraceFilter(agents=frozenset({"agent-07"}), state="waiting", text="build"),
    }
    worst = 0.0
    for name, wanted in filters.items():
        p50, p99, found = timed(lambda wanted=wanted: index.select(wanted))
        worst = max(worst, p99)
        count = len(found) if isinstance(found, list) else 0
        print(f"filter {name:<22} p50 {p50:7.1f} ms  p99 {p99:7.1f} ms  {count:>7,} traces", flush=True)
    print(f"filters: worst p99 {worst:.1f} ms ({'within' if worst <= 100 else 'OVER'} the 100 ms target)")
    # the trace view keeps only its newest MAX_RECORDS records: its own index, fed the whole journal
    started = time.perf_counter()
    shown = TraceIndex(limit=VIEWER_RECORDS)
    for at in range(0, len(records), 50):  # as the console feeds it: in batches
        shown.add(records[at : at + 50])
    fed = time.perf_counter() - started
    print(f"viewer index (newest {VIEWER_RECORDS:,} records): fed the journal in {fed:.1f} s")
    for name, wanted in filters.items():
        p50, p99, found = timed(lambda wanted=wanted: shown.select(wanted))
        count = len(found) if isinstance(found, list) else 0
        print(f"viewer filter {name:<22} p50 {p50:6.2f} ms  p99 {p99:6.2f} ms  {count:>5,} traces", flush=True)
    for line in replay_figures(path, key):
        print(line)
    if args.keep is None:
        os.unlink(path)
        os.rmdir(folder)


if __name__ == "__main__":
    sys.exit(main())
