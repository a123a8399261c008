"""Text from agents, made safe to show: every character either prints as itself or is shown by a visible marker.

Agents write what their models read (web pages, issues, files), so their text is hostile until shown
otherwise. `pieces` turns it into runs of plain text and markers: control characters and escapes become
control pictures (`␛`, `␍`, `⌫`) or `\\xNN`, bidi controls and invisible characters their code (`\\u202e`),
long runs of spaces `␣` with their count, and a cut keeps the head and the tail and says how much is between.
Every view (widgets, pane titles, command-line output) shows agent text through this module.
"""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Iterable
from typing import Literal, NamedTuple

MarkerKind = Literal["", "control", "layout"]

WHITESPACE_RUN = 4
"""A run of this many spaces or more is shown as one marker with its count: it could push a tail out of view."""
WIDE_CUT = 40
"""A cut this wide or wider says `…(+N chars)…`; a narrower one `…+N…`, leaving room for the text."""
RUN_MARK = "␣\N{MULTIPLICATION SIGN}"

_PICTURES = {
    0x08: "⌫",  # backspace: the classic way to make a terminal show another command than the one run
    0x09: "⇥",
    0x0A: "⏎",
    0x0D: "␍",
    0x1B: "␛",
    0x7F: "␡",
}
# Letters and marks that draw nothing: they hide text the way zero-width characters do.
_INVISIBLE = frozenset({0x115F, 0x1160, 0x3164, 0xFFA0, 0x034F, 0x17B4, 0x17B5, 0x180E})
# What a paste may carry as it is: a line break is text in a bracketed paste, a tab too.
_PASTE_ALLOWED = frozenset("\n\t")


class Piece(NamedTuple):
    """A run of shown text: the agent's own characters (`kind` ""), or a marker standing for some of them."""

    text: str
    kind: MarkerKind = ""
    chars: int = 0
    """How many of the agent's characters a marker stands for (plain text: its own length)."""


def marker_for(char: str, multiline: bool = False) -> str | None:
    """How a character that must not reach a terminal as itself is shown; None if it may print as itself."""
    code = ord(char)
    if multiline and char == "\n":
        return None
    if code in _PICTURES:
        return _PICTURES[code]
    if code < 0x20:
        return chr(0x2400 + code)  # the Unicode control pictures: ␀ … ␟
    if 0x80 <= code < 0xA0:
        return f"\\x{code:02x}"  # C1 controls (0x9b is a one-byte CSI to some terminals)
    category = unicodedata.category(char)
    if category in ("Cf", "Cs", "Co", "Cn", "Zl", "Zp") or code in _INVISIBLE:
        # bidi overrides and isolates, zero-width characters, lone surrogates (undecodable bytes), unassigned
        return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"
    if category == "Zs" and char != " ":
        return f"\\u{code:04x}"  # a space that is not one: the shell would not split on it
    if category == "Mn" and code in range(0xFE00, 0xFE10):
        return None  # variation selectors pick an emoji's look: harmless and common
    return None


def shows_as_is(text: str) -> bool:
    """Whether every character of `text` prints as itself (`marker_for` marks none): the fast answer for the
    common line of plain text, checked in C rather than character by character in Python."""
    return text.isprintable() and _INVISIBLE.isdisjoint(map(ord, text))


def pieces(text: str, multiline: bool = False) -> list[Piece]:
    """`text` as plain runs and markers; `multiline` keeps line breaks as they are (else `⏎`)."""
    out: list[Piece] = []
    plain: list[str] = []

    def flush() -> None:
        if plain:
            run = "".join(plain)
            out.append(Piece(run, "", len(run)))
            plain.clear()

    index = 0
    length = len(text)
    while index < length:
        char = text[index]
        if char == " ":
            end = index
            while end < length and text[end] == " ":
                end += 1
            if end - index >= WHITESPACE_RUN:
                flush()
                out.append(Piece(f"{RUN_MARK}{end - index}", "layout", end - index))
            else:
                plain.append(text[index:end])
            index = end
            continue
        if char == "\r" and text.startswith("\r\n", index):
            char = "\n"  # a Windows line end is one line break
            index += 1
        marker = marker_for(char, multiline)
        if marker is None:
            plain.append(char)
        else:
            flush()
            out.append(Piece(marker, "layout" if char in "\n\t" else "control", 1))
        index += 1
    flush()
    return out


def cell_width(text: str) -> int:
    """Terminal cells `text` takes: wide (East Asian) characters two, combining marks none."""
    width = 0
    for char in text:
        if unicodedata.combining(char):
            continue
        width += 2 if unicodedata.east_asian_width(char) in ("W", "F") else 1
    return width


def cut(shown: list[Piece], width: int) -> list[Piece]:
    """At most `width` cells (if that holds a note): the head and the tail, with `…(+N chars)…` between (`…+N…`
    when narrower than `WIDE_CUT`) saying how many characters of the agent's text are not shown. Markers are
    never split."""
    if sum(cell_width(piece.text) for piece in shown) <= width:
        return shown
    units = _units(shown)
    total = sum(unit.chars for unit in units)
    # the note's own width depends on the count: size the room with the largest count it could say
    room = max(2, width - cell_width(_cut_note(total, width)))
    tail_room = room // 2
    head_room = room - tail_room
    head: list[Piece] = []
    used = 0
    for unit in units:
        if used + cell_width(unit.text) > head_room:
            break
        head.append(unit)
        used += cell_width(unit.text)
    tail: list[Piece] = []
    used = 0
    for unit in reversed(units[len(head) :]):
        if used + cell_width(unit.text) > tail_room:
            break
        tail.append(unit)
        used += cell_width(unit.text)
    tail.reverse()
    hidden = total - sum(unit.chars for unit in head) - sum(unit.chars for unit in tail)
    return _merge([*head, Piece(_cut_note(hidden, width), "layout", hidden), *tail])


def _cut_note(hidden: int, width: int) -> str:
    return f"…(+{hidden} chars)…" if width >= WIDE_CUT else f"…+{hidden}…"


def _units(shown: list[Piece]) -> list[Piece]:
    """Plain runs split into characters, markers whole: what a cut may take or leave."""
    units: list[Piece] = []
    for piece in shown:
        if piece.kind:
            units.append(piece)
        else:
            units.extend(Piece(char, "", 1) for char in piece.text)
    return units


def _merge(units: Iterable[Piece]) -> list[Piece]:
    merged: list[Piece] = []
    for unit in units:
        if merged and not unit.kind and not merged[-1].kind:
            last = merged[-1]
            merged[-1] = Piece(last.text + unit.text, "", last.chars + unit.chars)
        else:
            merged.append(unit)
    return merged


def shown_pieces(text: str, width: int | None = None, multiline: bool = False) -> list[Piece]:
    """`pieces`, cut to `width` cells when given (a cut text is always one line)."""
    if width is None:
        return pieces(text, multiline)
    return cut(pieces(text, False), width)


def visible(text: str, width: int | None = None, multiline: bool = False) -> str:
    """Agent text as plain, safe text: see `pieces` and `cut`."""
    return "".join(piece.text for piece in shown_pieces(text, width, multiline))


def control_characters(text: str) -> list[str]:
    """The characters of `text` that a paste must not carry (as their markers), in order, each once."""
    found: list[str] = []
    for char in text:
        if char in _PASTE_ALLOWED:
            continue
        marker = marker_for(char)
        if marker is not None and marker not in found and unicodedata.category(char) in ("Cc", "Cs"):
            found.append(marker)
    return found


def pasteable(text: str) -> str:
    """`text` as it may be pasted into a pane: line breaks (CR LF and CR too, as LF) and tabs stay; any other
    control character is replaced by its marker, so that it is typed as text and never acts as a key."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return "".join(
        char if char in _PASTE_ALLOWED or unicodedata.category(char) not in ("Cc", "Cs") else (marker_for(char) or "")
        for char in text
    )


def terminal_json(value: object, indent: int | None = None, sort_keys: bool = False) -> str:
    """`value` as JSON that a terminal shows as text: non-ASCII stays readable, but every character that
    `visible` would mark is written as its JSON escape (the same JSON, nothing a terminal acts on)."""
    text = json.dumps(value, ensure_ascii=False, indent=indent, sort_keys=sort_keys)
    return "".join(json.dumps(char)[1:-1] if char not in "\n " and marker_for(char) else char for char in text)
