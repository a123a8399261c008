"""Small text helpers shared by the widgets: ages, agent text, state labels."""

from __future__ import annotations

from rich.cells import cell_len
from rich.style import Style
from rich.text import Text
from textual.widget import Widget
from textual.widgets import DataTable
from textual.widgets.data_table import ColumnKey

from agent_console.agents.display import shown_pieces
from agent_console.themes.states import state_style


def format_age(seconds: float | None) -> str:
    """A short age: "3s", "2m", "1h", "4d"; "—" when unknown. Negative ages (clock skew) read as "0s"."""
    if seconds is None:
        return "—"
    seconds = max(0, int(seconds))
    for unit, size in (("d", 86_400), ("h", 3_600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


BURIED_MARKER = "⚰ buried"
"""Beside a buried agent's name: its pane is off screen (it runs on, still watched); its state is shown as ever."""

MARKER_STYLES = {"control": "reverse", "layout": "dim"}
"""How markers look beside agent text: a control character stands out, layout (breaks, runs, a cut) recedes."""


def agent_text(text: str, width: int | None = None, style: str | Style = "", multiline: bool = False) -> Text:
    """Agent text as a `Text` that is never markup nor terminal control (see `agents.display`): cut to `width`
    cells when given (head and tail kept, the cut counted), line breaks kept only when `multiline`."""
    shown = Text(style=style)
    for piece in shown_pieces(text, width, multiline):
        shown.append(piece.text, style=MARKER_STYLES[piece.kind] if piece.kind else None)
    return shown


def state_text(state: str, word: bool = True, dark: bool = True) -> Text:
    """The state's glyph (and, with `word`, its name) in the state's colour for a dark or light background."""
    style = state_style(state)
    return Text(f"{style.glyph} {state}" if word else style.glyph, style=style.rich_style(dark))


def is_dark(widget: Widget) -> bool:
    """Whether the app's current theme is dark (state colours differ on light backgrounds)."""
    return widget.app.current_theme.dark


def cell_key(value: str | Text) -> object:
    """What a table cell's value looks like, for change detection (`Text.__eq__` ignores the base style)."""
    if isinstance(value, Text):
        return (value.plain, str(value.style), tuple(value.spans))
    return value


def grows(table: DataTable, column: str, value: str | Text) -> bool:
    """Whether `value` is wider than its column: only then is the column worth measuring again (measuring
    a column reads every one of its cells). A fixed-width column never is: its width does not follow its cells,
    and measuring one whose cells keep changing would read the whole column at every idle moment."""
    shown = table.columns[ColumnKey(column)]
    if not shown.auto_width:
        return False
    width = value.cell_len if isinstance(value, Text) else cell_len(str(value))
    return width > shown.content_width
