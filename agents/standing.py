"""When a standing task's moment comes: a pure function from state to what to do, as `coordination` is for barriers.

A task waits for the first release of its barrier after it was made (a barrier of that name released earlier does
not count), or gives up at its own deadline. A barrier that opened because its timeout passed is not the
condition the task waited for: the task times out with it, and its action is never filed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from .state import OrgState, StandingTask

# standing tasks waiting at once, per maker (an exec agent filling them cannot keep the human from making one):
# each is a line in `tasks` and a deadline
MAX_WAITING = 100


@dataclass(frozen=True)
class Firing:
    task: StandingTask
    outcome: Literal["released", "timed-out"]
    said: str  # what the chat tells the human (the approval's id is added by whoever files it)


def due(state: OrgState, now: float) -> list[Firing]:
    """The waiting tasks whose barrier has released, or whose own deadline has passed, in the order made."""
    firings = []
    for task in state.tasks.values():
        if task.status != "waiting":
            continue
        release = state.barrier_releases.get(task.barrier)
        if task.barrier not in state.barriers and release is not None and release.time >= task.created:
            if release.timed_out:
                missing = f" without {', '.join(release.missing)}" if release.missing else ""
                said = (
                    f"timed out: barrier '{task.barrier}' opened when its timeout passed{missing}; "
                    f"`{_action(task)}` was not filed"
                )
                firings.append(Firing(task, "timed-out", said))
            else:
                arrived = release.arrived
                who = {1: "1 arrived", 2: "Both arrived"}.get(len(arrived), f"All {len(arrived)} arrived")
                names = f" ({_names(arrived)})" if arrived else ""
                said = f"{who} at '{task.barrier}'{names}; `{_action(task)}` is waiting for your approval"
                firings.append(Firing(task, "released", said))
        elif task.deadline is not None and task.deadline <= now:
            barrier = state.barriers.get(task.barrier)
            if barrier is None:
                waiting = f"barrier '{task.barrier}' was never opened"
            elif barrier.missing:
                waiting = f"waiting for {', '.join(barrier.missing)} at '{task.barrier}'"
            else:
                expected = f" of {barrier.count}" if barrier.count else ""
                waiting = f"{len(barrier.arrived)}{expected} arrived at '{task.barrier}'"
            said = f"timed out after {task.timeout:g}s: {waiting}; `{_action(task)}` was not filed"
            firings.append(Firing(task, "timed-out", said))
    return firings


def next_deadline(state: OrgState) -> float | None:
    """The earliest deadline of a waiting task (None: none is timed)."""
    deadlines = [task.deadline for task in state.tasks.values() if task.status == "waiting" and task.deadline]
    return min(deadlines, default=None)


def waiting(state: OrgState) -> list[StandingTask]:
    return [task for task in state.tasks.values() if task.status == "waiting"]


def _action(task: StandingTask, most: int = 200) -> str:
    return task.action if len(task.action) <= most else task.action[: most - 1] + "…"


def _names(names: tuple[str, ...], most: int = 10) -> str:
    shown = ", ".join(names[:most])
    return shown + (f" and {len(names) - most} more" if len(names) > most else "")
