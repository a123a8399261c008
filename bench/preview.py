"""The live preview's cost per screen: what the console's event loop spends when the previewed agent prints.

A headless app shows one `AgentPreview` (as the console does beside the lists, 60x30 cells of screen); the
script feeds it screens of ROWS x COLS as the supervisor's screen reader would after each read, in two
patterns: a shell flood (each screen is the last one scrolled up by three lines: the scrolled-off lines join
the bounded history) and a full-screen program (each screen a redraw sharing no lines with the last). For each
screen it times `update_screen` (the diff, the history, building the lines) and then drawing every visible
row (`render_line`, what Textual's compositor calls), and prints p50/p99 in microseconds, and the history size
at the end (it must stay at HISTORY_LINES however long the flood).

Run it from the repository root, in the project's venv:

    python bench/preview.py                 # 2000 screens of 50x200 per pattern
    python bench/preview.py --screens 5000 --rows 60 --cols 240

No tmux, no I/O: it is the widget's own cost, on top of the capture the screen reader makes anyway.
"""

from __future__ import annotations

import argparse
import asyncio
import time

from benchlib import percentile
from textual.app import App, ComposeResult

from agent_console.agents.events import AgentState
from agent_console.agents.state import AgentView
from agent_console.widgets.agent_preview import AgentPreview


class Host(App[None]):
    CSS = "AgentPreview { width: 62; height: 33; border: round white; }"

    def compose(self) -> ComposeResult:
        yield AgentPreview(id="bench")


def flood(n: int, rows: int, cols: int) -> str:
    return "\n".join(f"{3 * n + row:>8} " + "x" * (cols - 10) for row in range(rows))


def redraw(n: int, rows: int, cols: int) -> str:
    return "\n".join(f"frame {n} row {row} " + "─" * (cols - 20) for row in range(rows))


async def measure(pattern: str, screens: int, rows: int, cols: int) -> tuple[list[float], list[float], int]:
    make = flood if pattern == "flood" else redraw
    app = Host()
    updates: list[float] = []
    paints: list[float] = []
    async with app.run_test(size=(70, 36)) as pilot:
        preview = app.query_one(AgentPreview)
        preview.show_agent(AgentView(name="api", team=None, state=AgentState.WORKING, pane="%1", alive=True))
        preview.load("api", make(0, rows, cols))
        await pilot.pause()
        view = preview.screen_view
        height = view.scrollable_content_region.height
        for n in range(1, screens + 1):
            screen = make(n, rows, cols)
            started = time.perf_counter()
            preview.update_screen("api", screen)
            updated = time.perf_counter()
            for y in range(height):
                view.render_line(y)
            painted = time.perf_counter()
            updates.append((updated - started) * 1e6)
            paints.append((painted - updated) * 1e6)
        history = len(view.history)
    return sorted(updates), sorted(paints), history


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--screens", type=int, default=2000)
    parser.add_argument("--rows", type=int, default=50)
    parser.add_argument("--cols", type=int, default=200)
    args = parser.parse_args()
    print(f"{args.screens} screens of {args.rows}x{args.cols}, preview 60x30 cells")
    for pattern in ("flood", "redraw"):
        updates, paints, history = asyncio.run(measure(pattern, args.screens, args.rows, args.cols))
        print(
            f"{pattern:>7}: update p50 {percentile(updates, 50):7.0f} µs  p99 {percentile(updates, 99):7.0f} µs   "
            f"draw p50 {percentile(paints, 50):7.0f} µs  p99 {percentile(paints, 99):7.0f} µs   history {history}"
        )


if __name__ == "__main__":
    main()
