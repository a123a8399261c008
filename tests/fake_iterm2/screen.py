"""A session's screen: a `pyte` screen with scrollback, rendered the way iTerm2's GetBuffer reports it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pyte
from iterm2 import api_pb2

_NAMED_COLOURS = {
    name: index for index, name in enumerate(["black", "red", "green", "brown", "blue", "magenta", "cyan", "white"])
}
_NAMED_COLOURS.update({"yellow": 3})
_NAMED_COLOURS.update({f"bright{name}": index + 8 for name, index in list(_NAMED_COLOURS.items())})


class TerminalScreen(pyte.HistoryScreen):
    """The visible grid plus scrollback; answers terminal queries (cursor position, device attributes)."""

    def __init__(self, columns: int, lines: int, reply: Callable[[bytes], None], history: int = 2000) -> None:
        super().__init__(columns, lines, history=history, ratio=0.5)
        self._reply = reply
        self.lines_scrolled = 0  # lines that ever scrolled off the top: absolute line numbers start here

    def write_process_input(self, data: str) -> None:
        self._reply(data.encode())

    def index(self) -> None:
        top, bottom = self.margins or pyte.screens.Margins(0, self.lines - 1)
        if self.cursor.y == bottom and top == 0:
            self.lines_scrolled += 1
        super().index()

    # --- reading ----------------------------------------------------------------------------------------

    @property
    def first_line(self) -> int:
        """Absolute number of the oldest line still in scrollback."""
        return self.lines_scrolled - len(self.history.top)

    def row(self, absolute: int) -> dict[int, pyte.screens.Char] | None:
        if absolute < self.first_line or absolute >= self.lines_scrolled + self.lines:
            return None
        if absolute < self.lines_scrolled:
            return self.history.top[absolute - self.first_line]
        return self.buffer[absolute - self.lines_scrolled]

    def row_text(self, absolute: int) -> str:
        row = self.row(absolute)
        if row is None:
            return ""
        return "".join(row[x].data for x in range(self.columns)).rstrip()

    def visible_lines(self) -> list[str]:
        return [self.row_text(self.lines_scrolled + y) for y in range(self.lines)]

    def text(self) -> str:
        """The visible screen, one line per row, trailing blanks trimmed."""
        return "\n".join(self.visible_lines())

    # --- GetBuffer --------------------------------------------------------------------------------------

    def fill_buffer_response(
        self, line_range: api_pb2.LineRange, include_styles: bool, out: api_pb2.GetBufferResponse
    ) -> None:
        """Fill a GetBufferResponse: screen only, trailing lines, or an absolute window of lines."""
        end = self.lines_scrolled + self.lines
        if line_range.HasField("windowed_coord_range"):
            coords = line_range.windowed_coord_range.coord_range
            first = max(coords.start.y, self.first_line)
            last = min(coords.end.y if coords.end.x > 0 else coords.end.y - 1, end - 1)
            last = max(last, first - 1)
        elif line_range.HasField("trailing_lines"):
            first = max(end - line_range.trailing_lines, self.first_line)
            last = end - 1
        else:
            first, last = self.lines_scrolled, end - 1
        for absolute in range(first, last + 1):
            self._fill_line(absolute, include_styles, out.contents.add())
        out.range.location = first
        out.range.length = last - first + 1
        # num_lines_above_screen is never set (iTermAPIHelper.m, `apiServerGetBuffer:`; deprecated in api.proto).
        out.windowed_coord_range.coord_range.start.x = 0
        out.windowed_coord_range.coord_range.start.y = first
        out.windowed_coord_range.coord_range.end.x = self.columns
        out.windowed_coord_range.coord_range.end.y = last
        out.windowed_coord_range.columns.location = 0
        out.windowed_coord_range.columns.length = self.columns
        # iTerm2 gives the cursor in absolute line numbers, like the range.
        out.cursor.x = self.cursor.x
        out.cursor.y = self.lines_scrolled + self.cursor.y

    def _fill_line(self, absolute: int, include_styles: bool, line: api_pb2.LineContents) -> None:
        row = self.row(absolute) or {}
        cells = [row[x] for x in range(self.columns)] if row else []
        while cells and cells[-1].data in (" ", ""):
            cells.pop()
        line.text = "".join(cell.data for cell in cells)
        line.continuation = api_pb2.LineContents.CONTINUATION_HARD_EOL
        for cell in cells:
            width = len(cell.data)
            runs = line.code_points_per_cell
            if runs and runs[-1].num_code_points == width:
                runs[-1].repeats += 1
            else:
                runs.add(num_code_points=width, repeats=1)
        if include_styles:
            # A pyte Char is (data, fg, bg, bold, italics, underscore, strikethrough, reverse, blink).
            runs: list[list[Any]] = []
            for cell in cells:
                if runs and runs[-1][0] == cell[1:]:
                    runs[-1][1] += 1
                else:
                    runs.append([cell[1:], 1])
            for (fg, bg, bold, italics, underscore, strikethrough, reverse, blink), repeats in runs:
                style = line.style.add(
                    bold=bold,
                    italic=italics,
                    underline=underscore,
                    strikethrough=strikethrough,
                    inverse=reverse,
                    blink=blink,
                    repeats=repeats,
                )
                _set_colour(style, fg, "fg")
                _set_colour(style, bg, "bg")


def _set_colour(style: api_pb2.CellStyle, colour: str, which: str) -> None:
    if colour == "default":
        setattr(style, f"{which}Alternate", api_pb2.DEFAULT)
    elif colour in _NAMED_COLOURS:
        setattr(style, f"{which}Standard", _NAMED_COLOURS[colour])
    elif len(colour) == 6:
        try:
            red, green, blue = (int(colour[i : i + 2], 16) for i in (0, 2, 4))
        except ValueError:
            return
        getattr(style, f"{which}Rgb").CopyFrom(api_pb2.RGBColor(red=red, green=green, blue=blue))
