"""Finds iTerm2's own escape sequences (OSC 1337) in a pty's raw output, which `pyte` ignores."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass

_OSC = b"\x1b]"
_ST_FINAL = ord("\\")
# An unterminated sequence longer than this is noise, not a sequence still arriving.
_MAX_PENDING = 1 << 20


@dataclass(frozen=True, slots=True)
class CustomSequence:
    """`OSC 1337 ; Custom=id=<identity>:<payload> ST`."""

    identity: str
    payload: str


@dataclass(frozen=True, slots=True)
class UserVariable:
    """`OSC 1337 ; SetUserVar=<name>=<base64 value> ST`: sets `user.<name>`."""

    name: str
    value: str


@dataclass(frozen=True, slots=True)
class CurrentDirectory:
    """`OSC 1337 ; CurrentDir=<path> ST`: sets the session's `path`."""

    path: str


Osc1337 = CustomSequence | UserVariable | CurrentDirectory


def parse_osc_1337(body: str) -> Osc1337 | None:
    """The meaning of one OSC 1337 body (the text after `1337;`), or None for ones the fake ignores."""
    key, sep, value = body.partition("=")
    if not sep:
        return None
    if key == "Custom":
        if not value.startswith("id="):
            return None
        identity, colon, payload = value[3:].partition(":")
        return CustomSequence(identity, payload) if colon else None
    if key == "SetUserVar":
        name, eq, encoded = value.partition("=")
        if not eq or not name:
            return None
        try:
            decoded = base64.b64decode(encoded, validate=True).decode("utf-8", "replace")
        except (binascii.Error, ValueError):
            return None
        return UserVariable(name, decoded)
    if key == "CurrentDir":
        return CurrentDirectory(value)
    return None


class OscScanner:
    """Incremental scanner: feed raw reads, get the complete OSC 1337 sequences (split reads are joined)."""

    def __init__(self) -> None:
        self._pending = b""

    def feed(self, data: bytes) -> list[Osc1337]:
        buf = self._pending + data
        self._pending = b""
        found: list[Osc1337] = []
        pos = 0
        while True:
            start = buf.find(_OSC, pos)
            if start < 0:
                # A lone ESC at the very end may be the start of the next sequence.
                if buf.endswith(b"\x1b"):
                    self._pending = b"\x1b"
                return found
            end, after = self._terminator(buf, start + 2)
            if end is None:
                if len(buf) - start <= _MAX_PENDING:
                    self._pending = buf[start:]
                return found
            if after is None:
                # Aborted by another escape sequence: rescan from that ESC.
                pos = end
                continue
            body = buf[start + 2 : end]
            if body.startswith(b"1337;"):
                parsed = parse_osc_1337(body[5:].decode("utf-8", "replace"))
                if parsed is not None:
                    found.append(parsed)
            pos = after

    @staticmethod
    def _terminator(buf: bytes, pos: int) -> tuple[int | None, int | None]:
        """(end of body, index after the terminator); (None, None) if incomplete; (esc, None) if aborted."""
        bel = buf.find(b"\x07", pos)
        esc = buf.find(b"\x1b", pos)
        if esc < 0 or (0 <= bel < esc):
            return (bel, bel + 1) if bel >= 0 else (None, None)
        if esc + 1 >= len(buf):
            return None, None
        if buf[esc + 1] == _ST_FINAL:
            return esc, esc + 2
        return esc, None
