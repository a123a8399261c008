"""How long saving and loading an arrangement takes on a private tmux server (120x40), for windows of N agents each:
loading after every pane was put out in a window of its own (the most moving a load can do) and after nothing moved.

Run from the repository root: `python bench/arrangements.py` (a few seconds; the server is killed at the end).
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from backends import kill_tmux_server

from agent_console.terminal.base import Launch
from agent_console.terminal.tmux import TmuxBackend

SIZE = (120, 40)
SHAPES = ((4,), (6, 6), (4, 4, 4))  # agents per window
ROUNDS = 5


async def one_shape(shape: tuple[int, ...], folder: Path) -> dict[str, list[float]]:
    socket = f"ac-bench-arr-{os.getpid()}"
    backend = TmuxBackend(socket, "bench", config_file="/dev/null")
    figures: dict[str, list[float]] = {"save": [], "load (all moved)": [], "load (nothing moved)": []}
    try:
        await backend.attach_or_create(SIZE, "w0", Launch("sleep 600"))
        first = (await backend.list_panes(all_sessions=False))[0]
        await backend.set_identity(first.pane, "bench", "a0-0")
        for window, count in enumerate(shape):
            anchor = first if window == 0 else await backend.new_window(f"w{window}", Launch("sleep 600"))
            await backend.set_identity(anchor.pane, "bench", f"a{window}-0")
            for index in range(1, count):
                pane = await backend.split_pane(anchor.pane, Launch("sleep 600"), direction="h" if index % 2 else "v")
                await backend.set_identity(pane.pane, "bench", f"a{window}-{index}")
                await backend.spread_evenly(anchor.window)
        for _ in range(ROUNDS):
            started = time.perf_counter()
            await backend.save_arrangement("bench", folder)
            figures["save"].append((time.perf_counter() - started) * 1e3)
            for info in await backend.list_panes(all_sessions=False):
                await backend.break_pane(info.pane, info.agent or "x")
            started = time.perf_counter()
            problems = await backend.restore_arrangement("bench", folder)
            figures["load (all moved)"].append((time.perf_counter() - started) * 1e3)
            assert not problems, problems
            started = time.perf_counter()
            await backend.restore_arrangement("bench", folder)
            figures["load (nothing moved)"].append((time.perf_counter() - started) * 1e3)
    finally:
        await backend.close()
        kill_tmux_server(socket)
    return figures


async def main() -> None:
    print(f"arrangements on tmux, a {SIZE[0]}x{SIZE[1]} window, median of {ROUNDS} rounds (ms)")
    with tempfile.TemporaryDirectory() as folder:
        for shape in SHAPES:
            figures = await one_shape(shape, Path(folder))
            said = ", ".join(f"{name} {statistics.median(values):.1f}" for name, values in figures.items())
            print(f"  {len(shape)} window(s) of {'+'.join(map(str, shape))} agents: {said}")


if __name__ == "__main__":
    os.environ.pop("TMUX", None)
    os.environ.pop("TMUX_PANE", None)
    asyncio.run(main())
