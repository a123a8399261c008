"""What a worktree per agent costs: making one, reading its status for the health table, and a diff, with the
console's git inside the agents' boundary (bubblewrap) and, for comparison, plain git. Run from the repository
root: python bench/worktrees.py"""

from __future__ import annotations

import os
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from unittest import mock

from agent_console.runtime import worktrees

ROUNDS = 20


def timed(call, rounds: int = ROUNDS) -> float:
    """Median milliseconds of `call`."""
    samples = []
    for _ in range(rounds):
        start = time.perf_counter()
        call()
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples)


def main() -> None:
    with tempfile.TemporaryDirectory() as root:
        os.environ["XDG_STATE_HOME"] = f"{root}/state"
        repo = Path(root) / "api"
        repo.mkdir()
        for args in (["init", "-q", "-b", "main"], ["config", "user.email", "b@e"], ["config", "user.name", "b"]):
            subprocess.run(["git", "-C", str(repo), *args], check=True)
        for index in range(200):  # a small project: 200 files
            (repo / f"module_{index}.py").write_text("x = 1\n" * 50)
        subprocess.run(["git", "-C", str(repo), "add", "."], check=True)
        subprocess.run(["git", "-C", str(repo), "commit", "-qm", "first"], check=True)
        if worktrees._sandbox():
            measure("bwrap", repo)
        with mock.patch.object(worktrees, "_sandbox", lambda: []):
            measure("plain", repo)


def measure(label: str, repo: Path) -> None:
    names = iter(range(10_000))
    made = timed(lambda: worktrees.ensure("bench", f"{label}-{next(names)}", repo), rounds=5)
    tree = worktrees.ensure("bench", f"{label}-a", repo)
    (tree.path / "module_1.py").write_text("x = 2\n" * 50)
    status = timed(lambda: worktrees.status(tree))
    diff = timed(lambda: worktrees.diff(tree))
    print(f"{label:5}  make a worktree {made:6.1f} ms   status (health column) {status:5.1f} ms   diff {diff:5.1f} ms")


if __name__ == "__main__":
    main()
