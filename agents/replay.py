"""Time travel: the org as it was at a moment of its journal, by the same fold as live (`OrgState.apply`).

A moment is a record's seq (`#123`), an ISO-8601 time, or `HH:MM[:SS]` today (local time). The state at a
time is the fold of every record up to the first one after it; at a seq, up to that record, included.
"""

from __future__ import annotations

import copy
import re
from bisect import bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from .errors import InvalidInput
from .journal import Record
from .state import OrgState

CHECKPOINT_EVERY = 5000  # the timeline keeps a copy of the state this many records apart at least: a step back is cheap
CHECKPOINTS = 10  # and at most about this many: a copy costs as much as the state is big, and it grows with the journal


@dataclass(frozen=True)
class Moment:
    """A point of a journal: a record's seq, or a time (seconds since the epoch); `text` as the user wrote it."""

    text: str
    seq: int | None = None
    time: float | None = None

    def includes(self, record: Record) -> bool:
        """Whether `record` happened at or before this moment."""
        if self.seq is not None:
            return record.seq <= self.seq
        assert self.time is not None
        return record.time <= self.time


_CLOCK = re.compile(r"(\d{1,2}):(\d{2})(?::(\d{2})(?:\.(\d{1,6}))?)?")


def parse_moment(text: str, now: datetime | None = None) -> Moment:
    """`#123` (a seq), an ISO-8601 time (local time when it names no zone) or `HH:MM[:SS]` today."""
    written = text.strip()
    if written.startswith("#"):
        if not written[1:].isdigit():
            raise InvalidInput(f"moment {text!r}: a record is written #SEQ, e.g. #123")
        return Moment(written, seq=int(written[1:]))
    clock = _CLOCK.fullmatch(written)
    if clock:
        hour, minute, second = int(clock.group(1)), int(clock.group(2)), int(clock.group(3) or 0)
        fraction = int((clock.group(4) or "0").ljust(6, "0"))
        if hour > 23 or minute > 59 or second > 59:
            raise InvalidInput(f"moment {text!r}: not a time of day (HH:MM or HH:MM:SS, 24-hour clock)")
        today = (now or datetime.now()).astimezone()
        at = today.replace(hour=hour, minute=minute, second=second, microsecond=fraction)
        return Moment(written, time=at.timestamp())
    try:
        at = datetime.fromisoformat(written)
    except ValueError:
        raise InvalidInput(
            f"moment {text!r}: write a record as #SEQ, a time today as HH:MM[:SS], or a date and time as "
            "ISO-8601 (2026-12-02T10:45:00)"
        ) from None
    return Moment(written, time=at.astimezone().timestamp())  # naive: local time, as a clock shows it


def state_at(records: Iterable[Record], moment: Moment) -> OrgState:
    """The state the records fold to up to `moment` (the first record after it, and those after, left out)."""
    state = OrgState()
    for record in records:
        if not moment.includes(record):
            break
        state.apply(record)
    return state


class Timeline:
    """A journal held in memory for stepping through: the state after any number of its records, by folding
    forward from the nearest checkpoint (a copy of the state kept every `every` records)."""

    def __init__(self, records: Sequence[Record], every: int | None = None) -> None:
        self.records = records
        self.every = every or max(CHECKPOINT_EVERY, len(records) // CHECKPOINTS)
        self._times = [record.time for record in records]
        self._checkpoints: dict[int, OrgState] = {0: OrgState()}
        self._last: tuple[int, OrgState] = (0, OrgState())

    def __len__(self) -> int:
        return len(self.records)

    def index_of(self, moment: Moment) -> int:
        """How many records happened at or before `moment` (its records are the first that many)."""
        if moment.seq is not None:
            first = self.records[0].seq if self.records else 1
            return max(0, min(len(self.records), moment.seq - first + 1))
        assert moment.time is not None
        return bisect_right(self._times, moment.time)  # journal times only grow (one clock, one writer)

    def state_after(self, count: int) -> OrgState:
        """The state once the first `count` records are folded in (0: the empty org). It is the
        timeline's own: read it, do not change it, and ask again after the next step."""
        count = max(0, min(count, len(self.records)))
        start, state = self._last
        if not start <= count or count - start > self.every:
            start = max(mark for mark in self._checkpoints if mark <= count)
            state = copy.deepcopy(self._checkpoints[start])
        for index in range(start, count):
            state.apply(self.records[index])
            done = index + 1
            if done % self.every == 0 and done not in self._checkpoints:
                self._checkpoints[done] = copy.deepcopy(state)
        self._last = (count, state)
        return state
