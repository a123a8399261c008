"""Finds iTerm2's own escape sequences (OSC 1337, and OSC 9's notifications) in a pty's raw output, which `pyte`
ignores."""

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


@dataclass(frozen=True, slots=True)
class AttentionRequest:
    """`OSC 1337 ; RequestAttention=<value> ST`: "once" bounces the dock icon once, "fireworks" and "flash" show
    those, a true value ("yes", "1") bounces until the app is active, anything else stops the bouncing (iTerm2's
    `VT100Terminal.m`, `executeXtermSetKvp:`)."""

    value: str


@dataclass(frozen=True, slots=True)
class UserNotification:
    """`OSC 9 ; <message> ST`: a notification posted with `message`. A message whose first ';'-separated field is
    a number is a ConEmu progress report instead (`terminalPostUserNotification:`), which the fake ignores."""

    message: str


Osc1337 = CustomSequence | UserVariable | CurrentDirectory | AttentionRequest | UserNotification


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
    if key == "RequestAttention":
        return AttentionRequest(value)
    return None


def parse_osc_9(body: str) -> UserNotification | None:
    """The meaning of an OSC 9 body (the text after `9;`)."""
    if body.partition(";")[0].isdigit():
        return None
    return UserNotification(body)


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
            parsed: Osc1337 | None = None
            if body.startswith(b"1337;"):
                parsed = parse_osc_1337(body[5:].decode("utf-8", "replace"))
            elif body.startswith(b"9;"):
                parsed = parse_osc_9(body[2:].decode("utf-8", "replace"))
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
