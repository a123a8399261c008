"""What keeping the journal's anchor costs: group commits with and without `journal.anchor` replaced after each.

For each batch size B, a journal is filled as the supervisor fills it (appends queued, `commit()` on the
journal's own thread: one write and one fsync per batch), batch after batch, and the time from `commit()` to
its future being done (what an agent's acknowledgement waits for) is measured, with the anchor kept and without.
The two runs alternate in rounds so that a busy machine slows both alike. Also: `write_anchor` alone.

    python bench/journal_anchor.py                  # batches of 1, 10, 100 records; 300 batches each
    python bench/journal_anchor.py --batches 100 --dir /path/on/the/state/disk
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from agent_console.agents.events import StatusReported
from agent_console.agents.journal import Anchor, AnchorFile, Journal

KEY = bytes(range(32))


def commits(folder: Path, batch: int, batches: int, anchored: bool) -> list[float]:
    """Seconds from `commit()` to done, for each batch."""
    path = folder / f"j-{batch}-{anchored}-{time.monotonic_ns()}.jsonl"
    anchor = path.with_suffix(".anchor") if anchored else None
    took = []
    with Journal.open(path, KEY, sync=False, anchor=anchor) as journal:
        for number in range(batches):
            for index in range(batch):
                journal.append("agent", StatusReported(state="working", task=f"m{number}:{index}:{time.time_ns()}"))
            start = time.perf_counter()
            journal.commit().result()
            took.append(time.perf_counter() - start)
    return took


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batches", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--dir", type=Path, help="where to write (default: a temporary folder)")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="acjb", dir=args.dir))

    alone = []
    target = AnchorFile(folder / "alone.anchor")
    for seq in range(1, 2001):
        start = time.perf_counter()
        target.write(KEY, Anchor(seq, "0" * 64, "1" * 64))
        alone.append(time.perf_counter() - start)
    target.close()
    print(f"folder {folder}")
    print(
        "an anchor written alone (sign + overwrite a slot in place, no fsync): "
        f"p50 {statistics.median(alone) * 1e6:.0f} µs, "
        f"p99 {quantile(alone, 0.99) * 1e6:.0f} µs"
    )
    print(f"{'records/batch':>13}  {'anchor':>6}  {'commit p50 ms':>13}  {'p99 ms':>7}  {'records/s':>9}")
    for batch in (1, 10, 100):
        runs: dict[bool, list[float]] = {False: [], True: []}
        for _ in range(args.rounds):
            for anchored in (False, True):
                runs[anchored] += commits(folder, batch, args.batches // args.rounds, anchored)
        for anchored in (False, True):
            took = runs[anchored]
            rate = batch * len(took) / sum(took)
            print(
                f"{batch:>13}  {'yes' if anchored else 'no':>6}  {statistics.median(took) * 1e3:>13.3f}  "
                f"{quantile(took, 0.99) * 1e3:>7.3f}  {rate:>9.0f}"
            )
        ratio = statistics.median(runs[True]) / statistics.median(runs[False])
        print(f"{'':>13}  p50 with / without: {ratio:.2f}")
    shutil.rmtree(folder)


if __name__ == "__main__":
    main()
