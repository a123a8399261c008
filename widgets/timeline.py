"""The timeline of a replayed journal: where in it the views stand, as a track with a marker and the record there."""

from __future__ import annotations

from datetime import datetime, tzinfo

from rich.text import Text
from textual.widgets import Static

from agent_console.agents.journal import Record

from .formatting import agent_text

TRACK_MIN = 10


class Timeline(Static):
    """One line: the track (a marker at the position), `#seq/last`, the record's time, its actor and type.
    The app owns the position; `show` draws it. Nothing an agent wrote is read as markup."""

    DEFAULT_CSS = """
    Timeline {
        height: 1;
        background: $boost;
    }
    """

    def __init__(self, *, tz: tzinfo | None = None, id: str | None = None) -> None:
        super().__init__("", id=id, markup=False)
        self._tz = tz
        self.position = 0
        self.total = 0
        self._shown: tuple[int, int, Record | None, int] | None = None

    def show(self, position: int, total: int, record: Record | None, last_seq: int) -> None:
        """Stand after `position` of `total` records; `record` is the last one folded in (None: before the first)."""
        self.position, self.total = position, total
        self._shown = (position, total, record, last_seq)
        if record is None:
            where = Text(f" #0/{last_seq}  before the first record ", style="bold")
        else:
            when = datetime.fromtimestamp(record.time, self._tz).strftime("%Y-%m-%d %H:%M:%S")
            where = Text(f" #{record.seq}/{last_seq}  {when}  ", style="bold")
            where.append_text(agent_text(record.actor, 16))
            where.append(f"  {record.event.type} ")
        width = max(TRACK_MIN, self.size.width - where.cell_len - 1) if self.size.width else 40
        marker = 0 if total == 0 else min(width - 1, round(position * (width - 1) / total))
        track = Text("─" * marker, style="dim")
        track.append("●", style="bold")
        track.append("─" * (width - marker - 1), style="dim")
        self.update(Text.assemble(track, where))

    def on_resize(self) -> None:
        if self._shown is not None:  # the track takes what the text leaves: drawn again at the new width
            self.show(*self._shown)
