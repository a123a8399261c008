"""Self-healing under injected faults: how fast the console notices, how often it heals without the human, how long
that takes, and what it spends.

A supervisor on a private tmux server runs N real shell agents with short recovery timeouts; each fault is
injected into every agent (one round per fault, agents in parallel), and the journal says what happened:

- sigkill: the agent's process killed (SIGKILL): crashed → restarted in its pane;
- sigstop: the agent working on a command, its processes frozen (SIGSTOP): hung → nudge (Ctrl-C) fails → restart;
- pane-closed: its pane killed under it: crashed → started in a new pane;
- error-loop: the agent reports errors over and over: error-loop → nudge → it reports being fine;
- outage: every agent of one provider shows the same API error (Claude Code's screen, replayed): marked
  `error (provider)`, nobody restarted;
- crash-at-start: its program exits as soon as it starts: restarts until the breaker opens (at most K).

Per fault: detected (fault → condition journaled, p50/p95 s), recovered automatically (%), MTTR (fault → recovered,
p50/p95 s), human pages, restarts spent. Targets: detected ≤ 10 s; ≥ 90 % recovered and MTTR p95 ≤ 30 s for what a
restart can heal; crash-at-start ≤ K restarts per agent; an outage restarts nobody.

    python bench/recovery.py                 # 6 agents
    python bench/recovery.py --agents 10 --stuck-after 2 --settle 2

A private tmux server (-L ac-bench-…), TMUX unset, killed at the end. Prints figures; not a pass/fail test.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from benchlib import percentile, restore_environment, saved_environment, tmux_executable

ROOT = Path(__file__).resolve().parents[1]
SHELL = "bash --norc --noprofile"
# stands in for Claude Code in the outage round (the console adds `--settings FILE` to a Claude agent's command)
STAND_IN = "sh -c 'exec sleep 3600' sh"
FAULTS = ("sigkill", "sigstop", "pane-closed", "error-loop", "outage", "crash-at-start")


@dataclass
class Outcome:
    detected: list[float] = field(default_factory=list)
    repaired: list[float] = field(default_factory=list)
    agents: int = 0
    pages: int = 0
    restarts: int = 0
    breakers: int = 0
    providers: int = 0


def tmux_cmd(socket: str, *args: str) -> str:
    env = {k: v for k, v in os.environ.items() if k not in ("TMUX", "TMUX_PANE")}
    done = subprocess.run([tmux_executable(), "-L", socket, *args], capture_output=True, text=True, env=env)
    if done.returncode:
        print(f"tmux {' '.join(args)}: {done.stderr.strip()}", file=sys.stderr)
    return done.stdout


def tree(pid: int) -> list[int]:
    """`pid` and its descendants (from /proc)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
                children.setdefault(parent, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(children.get(current, []))
    return found


async def run(agents: int, stuck_after: float, settle: float, breaker: int, faults: set[str]) -> None:
    from agent_console.agents.events import (
        AgentState,
        BreakerChanged,
        ConditionDetected,
        RecoveryStep,
        StateObserved,
        StatusReported,
    )
    from agent_console.agents.journal import Record
    from agent_console.agents.model import Agent, AgentKind, Org, Team
    from agent_console.agents.recovery import RecoveryPolicy
    from agent_console.runtime.supervisor import Supervisor
    from agent_console.terminal.tmux import TmuxBackend

    work = Path(tempfile.mkdtemp(prefix="acrb"))
    saved = saved_environment()
    os.environ["XDG_RUNTIME_DIR"] = str(work)
    os.environ["XDG_STATE_HOME"] = str(work / "state")
    socket = f"ac-bench-{uuid.uuid4().hex[:8]}"
    policy = RecoveryPolicy(
        ladder=("nudge", f"wait {settle:g}", "restart", "restart", "new-pane", "page"),
        settle=settle,
        error_loop=3,
        error_window=60,
        breaker_failures=breaker,
        breaker_cooldown=3600,
        relapse=settle + 2.0,  # tmux reports an exit within a second or so
    )
    names = [f"s{index}" for index in range(agents)]
    # the outage round's agents are Claude Code agents by kind (their screens replayed, never run)
    org = Org(
        name="bench",
        teams=(Team(name="t"),),
        agents=tuple(
            Agent(name=name, team="t", command=SHELL, cwd=work, stuck_after=stuck_after, recovery=policy)
            for name in names
        )
        + tuple(
            Agent(name=f"c{index}", team="t", kind=AgentKind.CLAUDE, command=STAND_IN, cwd=work, recovery=policy)
            for index in range(max(2, agents // 2))
        ),
    )
    supervisor = Supervisor(org, TmuxBackend(socket, "bench", config_file="/dev/null"), (400, 120))
    records: list[Record] = []
    supervisor.listeners.append(records.append)
    results: dict[str, Outcome] = {}
    gap = settle + 2.5

    async def settle_all(targets: list[str], first: int, timeout: float) -> None:
        """Until every target's trouble was found and no ladder runs any more, at most `timeout`."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = {r.event.agent for r in records[first:] if isinstance(r.event, ConditionDetected)}
            if set(targets) <= found and not any(supervisor.recovery.running(name) for name in targets):
                return
            await asyncio.sleep(0.1)

    async def round_of(fault: str, inject: Callable[[str], object], targets: list[str], wait: float) -> None:
        first = len(records)
        began = time.time()
        for name in targets:
            result = inject(name)
            if asyncio.iscoroutine(result):
                await result
        await settle_all(targets, first, wait)
        await asyncio.sleep(gap)  # what relapses shows in the next round's figures, not this one's
        mine = records[first:]
        outcome = results[fault] = Outcome(agents=len(targets))
        for name in targets:
            found = [r for r in mine if isinstance(r.event, ConditionDetected) and r.event.agent == name]
            found = [r for r in found if not r.event.cleared]
            if found:
                outcome.detected.append(found[0].time - began)
            repaired = [
                r
                for r in mine
                if isinstance(r.event, RecoveryStep) and r.event.agent == name and r.event.outcome == "recovered"
            ]
            view = supervisor.state.agents[name]
            if repaired and view.alive and view.condition is None and view.breaker == "closed":  # and still well
                outcome.repaired.append(repaired[-1].time - began)
            steps = [r.event for r in mine if isinstance(r.event, RecoveryStep) and r.event.agent == name]
            outcome.pages += sum(1 for step in steps if step.outcome == "paged")
            outcome.restarts += sum(
                1 for step in steps if step.action in ("restart", "new-pane") and step.outcome == "trying"
            )
            outcome.breakers += sum(
                1
                for r in mine
                if isinstance(r.event, BreakerChanged) and r.event.agent == name and r.event.state == "open"
            )
            outcome.providers += int(bool(supervisor.state.agents[name].outage))

    def pid_of(name: str) -> int:
        return int(tmux_cmd(socket, "display-message", "-p", "-t", supervisor.pane_of(name), "#{pane_pid}").strip())

    def kill(name: str) -> None:
        os.kill(pid_of(name), signal.SIGKILL)

    async def freeze(name: str) -> None:
        pane = supervisor.pane_of(name)
        await supervisor.backend.send_text(pane, "clear; sleep 600")
        await supervisor.backend.send_keys(pane, ["Enter"])
        supervisor.submit(name, StatusReported(state=AgentState.WORKING, task="a long command"))
        await asyncio.sleep(0.3)
        for pid in tree(pid_of(name)):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGSTOP)
        supervisor.screens.schedule(name)

    def close(name: str) -> None:
        tmux_cmd(socket, "kill-pane", "-t", supervisor.pane_of(name))

    async def error_loop(name: str) -> None:
        for _ in range(3):
            supervisor.submit(name, StatusReported(state=AgentState.ERROR, task="the build"))
            supervisor.submit(name, StatusReported(state=AgentState.WORKING, task="the build"))
        supervisor.submit(name, StatusReported(state=AgentState.ERROR, task="the build"))

        async def fine_once_nudged() -> None:  # the program takes the interrupt and goes on
            while not any(
                isinstance(r.event, RecoveryStep) and r.event.agent == name and r.event.action == "nudge"
                for r in records
            ):
                await asyncio.sleep(0.05)
            supervisor.submit(name, StatusReported(state=AgentState.IDLE, task="the build"))

        asyncio.get_running_loop().create_task(fine_once_nudged())

    def outage(name: str) -> None:
        supervisor.submit(
            "supervisor",
            StateObserved(agent=name, state=AgentState.ERROR, source="screen", rule="api-error", detail="529"),
        )

    cpu_started = time.process_time()
    started = time.monotonic()
    try:
        await supervisor.start()
        await asyncio.sleep(1.0)
        wait = 20 + 6 * settle + stuck_after
        claudes = [agent.name for agent in org.agents if agent.kind is AgentKind.CLAUDE]
        rounds = (
            ("sigkill", kill, names, wait),
            ("sigstop", freeze, names, wait + 2 * settle),
            ("pane-closed", close, names, wait),
            ("error-loop", error_loop, names, wait),
            ("outage", outage, claudes, 3.0),
        )
        for fault, inject, targets, patience in rounds:
            if fault in faults:
                await round_of(fault, inject, targets, patience)
        crashing = names[: max(1, agents // 2)]
        # from now on their program dies as it starts (the org changed under the console, as a broken install)
        supervisor.org = supervisor.org.replaced(
            agents=tuple(
                a.model_copy(update={"command": f"{SHELL} -c 'exit 3'"}) if a.name in crashing else a
                for a in supervisor.org.agents
            )
        )
        if "crash-at-start" in faults:
            await round_of("crash-at-start", kill, crashing, wait * 2)
        elapsed = time.monotonic() - started
    except BaseException:
        for record in records[-30:]:  # what the console did last, to see where it went wrong
            print("journal:", round(record.time % 1000, 2), record.event, file=sys.stderr)
        raise
    finally:
        await supervisor.stop()
        await supervisor.backend.close()
        tmux_cmd(socket, "kill-server")
        restore_environment(saved)
    cpu = time.process_time() - cpu_started
    print(
        f"recovery: {agents} shell agents (+{len(claudes)} Claude Code agents for the outage), stuck_after "
        f"{stuck_after:g}s, settle {settle:g}s, breaker K={breaker}; {elapsed:.0f}s, console CPU {cpu:.1f}s"
    )
    print(
        f"{'fault':15} {'n':>3} {'detected p50/p95 s':>19} {'recovered':>9} {'MTTR p50/p95 s':>15} "
        f"{'pages':>5} {'restarts':>8} {'breakers':>8} {'provider':>8}"
    )
    for fault, outcome in results.items():
        detected = sorted(outcome.detected)
        repaired = sorted(outcome.repaired)
        share = 100 * len(repaired) / outcome.agents if outcome.agents else 0
        found = f"{percentile(detected, 50):.2f}/{percentile(detected, 95):.2f}" if detected else "—"
        mttr = f"{percentile(repaired, 50):.2f}/{percentile(repaired, 95):.2f}" if repaired else "—"
        print(
            f"{fault:15} {outcome.agents:3} {found:>19} {share:8.0f}% {mttr:>15} {outcome.pages:5} "
            f"{outcome.restarts:8} {outcome.breakers:8} {outcome.providers:8}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--agents", type=int, default=6)
    parser.add_argument("--stuck-after", type=float, default=2.0, help="seconds unchanged before working is hung")
    parser.add_argument("--settle", type=float, default=2.0, help="seconds a restart must hold (and each wait)")
    parser.add_argument("--breaker", type=int, default=3, help="K: failed recoveries that open the breaker")
    parser.add_argument("--faults", default=",".join(FAULTS), help="which faults, comma-separated (default: all)")
    args = parser.parse_args()
    faults = set(args.faults.split(","))
    if faults - set(FAULTS):
        parser.error(f"--faults: unknown {', '.join(sorted(faults - set(FAULTS)))}: known are {', '.join(FAULTS)}")
    sys.path.insert(0, str(ROOT))
    asyncio.run(run(args.agents, args.stuck_after, args.settle, args.breaker, faults))


if __name__ == "__main__":
    main()
