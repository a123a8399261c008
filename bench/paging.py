"""Paging the human: how soon a page reaches a real tmux client, and how many pages a flood of errors costs.

The real `Supervisor` runs in this process on a private tmux server (`-L ac-page-…`) with N agents (`sleep`);
the human's client is `tmux attach` running in a second private tmux server, whose screen the bench reads.

* latency: K times, one more agent (`probe`) turns `error` (a `StatusReported` submitted as the agent); timed
  from the submit to `TerminalBackend.page` returning (the gathering time, `GATHER_SECONDS`, included) and to
  the page's text on the client's status line (`capture-pane` of the outer server, polled every 10 ms);
  `min_gap` is 0 here;
* flood: every agent turns `error` within one second, then W more errors a second for S seconds (agents
  going back to `working` and into `error` again), with the org's default `min_gap` and `repeat_after`
  (or `--min-gap`): the pages sent and the conditions each stood for (`HumanPaged.count`).

Run from the repository root, in the project's venv:

    python bench/paging.py              # 20 agents, 20 latency trials, a 10 s flood
    python bench/paging.py --quick      # 5 agents, 5 trials, a 3 s flood

It never touches your tmux server or home (private sockets, TMUX unset, HOME and XDG dirs under /tmp, removed
at the end; both servers killed, also on error). It prints figures; it is not a pass/fail test.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from benchlib import percentile, restore_environment, saved_environment, tmux_executable

from agent_console.agents.events import AgentState, HumanPaged, StatusReported
from agent_console.agents.journal import Record
from agent_console.agents.model import Agent, Org, Team
from agent_console.agents.paging import Paging
from agent_console.runtime import paging
from agent_console.runtime.supervisor import Supervisor
from agent_console.terminal.tmux import TmuxBackend


def tmux(socket: str, *args: str) -> str:
    env = {key: value for key, value in os.environ.items() if key not in ("TMUX", "TMUX_PANE")}
    return subprocess.run([tmux_executable(), "-L", socket, *args], capture_output=True, text=True, env=env).stdout


async def on_screen(outer: str, text: str, timeout: float = 10.0) -> float | None:
    """When `text` showed on the human's client (perf counter), None if it never did within `timeout`."""
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        if text in tmux(outer, "capture-pane", "-p"):
            return time.perf_counter()
        await asyncio.sleep(0.01)
    return None


async def run(agents: int, trials: int, flood_seconds: float, per_second: int, min_gap: float | None) -> None:
    inner, outer = f"ac-page-{uuid.uuid4().hex[:8]}", f"ac-page-outer-{uuid.uuid4().hex[:8]}"
    names = [f"a{number}" for number in range(agents)]
    org = Org(
        name="paging",
        teams=(Team(name="t"),),
        agents=tuple(Agent(name=name, team="t", command="sleep 600", cwd=Path.cwd()) for name in ["probe", *names]),
        paging=Paging(channels=("terminal",), min_gap=0, repeat_after=0),
    )
    tmux(inner, "-f", "/dev/null", "new-session", "-d", "-s", "mine")
    supervisor = Supervisor(org, TmuxBackend(inner, "paging"), (200, 50))
    await supervisor.start()
    try:
        attach = f"env -u TMUX {tmux_executable()} -L {inner} attach -t =paging"
        tmux(outer, "-f", "/dev/null", "new-session", "-d", "-x", "200", "-y", "12", attach)
        if await on_screen(outer, "[paging]") is None:
            raise SystemExit("the client never showed the org's session")
        # the human's focus in the console's own pane: an error in a focused agent's pane would wait approval_after
        panes = tmux(inner, "list-panes", "-s", "-t", "=paging", "-F", "#{pane_id} #{@agent_console_agent}").split()
        console = next(pane for pane, agent in zip(panes[::2], panes[1::2], strict=True) if agent == "exec")
        tmux(inner, "select-pane", "-t", console)
        deadline = time.perf_counter() + 10
        while supervisor.focused_pane != console and time.perf_counter() < deadline:
            await asyncio.sleep(0.01)
        returned: list[float] = []
        original = supervisor.backend.page

        async def timed_page(text: str) -> bool:
            reached = await original(text)
            returned.append(time.perf_counter())
            return reached

        supervisor.backend.page = timed_page  # type: ignore[method-assign]
        to_return, to_screen = [], []
        for trial in range(trials):
            name = "probe"  # the flood's agents have never paged: `repeat_after` does not hold them back
            supervisor.submit(name, StatusReported(state=AgentState.WORKING))
            task = f"trial {trial} failed"
            start = time.perf_counter()
            supervisor.submit(name, StatusReported(state=AgentState.ERROR, task=task))
            shown = await on_screen(outer, f"{name} is in error: {task}")
            if shown is None or not returned:
                print(f"trial {trial}: the page never showed")
                continue
            to_return.append(returned[-1] - start)
            to_screen.append(shown - start)
        to_return.sort()
        to_screen.sort()
        print(f"latency over {len(to_screen)} trials (gathering {paging.GATHER_SECONDS:g} s included):")
        for label, values in (("page sent (tmux answered)", to_return), ("page on the client's screen", to_screen)):
            print(f"  {label:30} p50 {percentile(values, 50):.3f} s  p95 {percentile(values, 95):.3f} s")

        settings = Paging(channels=("terminal",), **({} if min_gap is None else {"min_gap": min_gap}))
        supervisor.org = supervisor.org.replaced(paging=settings)
        await asyncio.sleep(settings.min_gap)  # the latency trials' last page does not shorten the flood's gap
        paged: list[HumanPaged] = []

        def note(record: Record) -> None:
            if isinstance(record.event, HumanPaged):
                paged.append(record.event)

        supervisor.listeners.append(note)
        conditions = 0
        for name in names:
            supervisor.submit(name, StatusReported(state=AgentState.WORKING))
        start = time.perf_counter()
        for index, name in enumerate(names):  # everyone in error within one second
            await asyncio.sleep(max(0.0, start + index / agents - time.perf_counter()))
            supervisor.submit(name, StatusReported(state=AgentState.ERROR, task="provider down"))
            conditions += 1
        sent = 0
        while time.perf_counter() < start + 1 + flood_seconds:
            name = names[sent % agents]
            supervisor.submit(name, StatusReported(state=AgentState.WORKING))
            supervisor.submit(name, StatusReported(state=AgentState.ERROR, task=f"again {sent}"))
            conditions += 1
            sent += 1
            await asyncio.sleep(1 / per_second)
        await asyncio.sleep(settings.min_gap + 1)  # the last gathered page goes out
        await supervisor.pager.settled()
        print(
            f"flood: {agents} agents in error within 1 s, then {per_second} errors/s for {flood_seconds:g} s "
            f"({conditions} agent-turns-error in all; min_gap {settings.min_gap:g} s, "
            f"repeat_after {settings.repeat_after:g} s)"
        )
        focused = supervisor.pane_agent.get(supervisor.focused_pane or "")
        print(f"  pages: {len(paged)}, standing for {[page.count for page in paged]} conditions")
        if focused:
            print(f"  ({focused}'s pane has the focus: its errors wait approval_after, and it kept leaving error)")
        print(f"  the first: {paged[0].text!r}" if paged else "  no page")
    finally:
        await supervisor.stop()
        await supervisor.backend.close()
        tmux(outer, "kill-server")
        tmux(inner, "kill-server")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--agents", type=int, default=20)
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=10.0, help="how long the flood goes on after its start")
    parser.add_argument("--rate", type=int, default=20, help="errors a second during the flood")
    parser.add_argument("--min-gap", type=float, default=None, help="the flood's min_gap (default: the org's)")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    if args.quick:
        args.agents, args.trials, args.seconds = 5, 5, 3.0
    saved = saved_environment()
    root = tempfile.mkdtemp(prefix="ac-page-", dir="/tmp")
    os.environ.pop("TMUX", None)
    os.environ.pop("TMUX_PANE", None)
    os.environ["HOME"] = root
    os.environ["XDG_STATE_HOME"] = f"{root}/state"
    os.environ["XDG_RUNTIME_DIR"] = tempfile.mkdtemp(prefix="run", dir=root)
    try:
        asyncio.run(run(args.agents, args.trials, args.seconds, args.rate, args.min_gap))
    finally:
        restore_environment(saved)
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
