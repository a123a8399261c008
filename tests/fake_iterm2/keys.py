"""What iTerm2 reports for keys a human presses: KeystrokeNotifications for the bytes they produce."""

from __future__ import annotations

import re

from iterm2 import api_pb2
from iterm2.keyboard import Keycode

_NAMED = {
    "\r": Keycode.RETURN,
    "\n": Keycode.RETURN,
    "\t": Keycode.TAB,
    " ": Keycode.SPACE,
    "\x7f": Keycode.DELETE,
    "\x1b": Keycode.ESCAPE,
    "-": Keycode.ANSI_MINUS,
    "=": Keycode.ANSI_EQUAL,
    "[": Keycode.ANSI_LEFT_BRACKET,
    "]": Keycode.ANSI_RIGHT_BRACKET,
    "'": Keycode.ANSI_QUOTE,
    ";": Keycode.ANSI_SEMICOLON,
    "\\": Keycode.ANSI_BACKSLASH,
    ",": Keycode.ANSI_COMMA,
    "/": Keycode.ANSI_SLASH,
    ".": Keycode.ANSI_PERIOD,
    "`": Keycode.ANSI_GRAVE,
}
_ARROWS = {"A": Keycode.UP_ARROW, "B": Keycode.DOWN_ARROW, "C": Keycode.RIGHT_ARROW, "D": Keycode.LEFT_ARROW}
_TOKEN = re.compile(r"\x1b\[[ABCD]|\x1bO[ABCD]|\x1b[^\[O]|.", re.DOTALL)


def _keycode(char: str) -> Keycode:
    if char in _NAMED:
        return _NAMED[char]
    lower = char.lower()
    if lower.isascii() and lower.isalnum():
        return Keycode[f"ANSI_{lower.upper()}"]
    return Keycode.ANSI_A  # iTerm2 always sends a code; anything else has no single key


def keystrokes(session_id: str, data: bytes) -> list[tuple[bytes, api_pb2.KeystrokeNotification]]:
    """Split typed bytes into keys: each key's bytes and its KEY_DOWN notification.

    Arrows are one key each; ESC + a character is that character with Option (Meta), as tmux's `M-x`.
    """
    keys = []
    for token in _TOKEN.findall(data.decode("utf-8", "replace")):
        note = api_pb2.KeystrokeNotification(session=session_id, action=api_pb2.KeystrokeNotification.KEY_DOWN)
        note.characters = token
        if len(token) > 1 and token[-1] in _ARROWS and token[1] in "[O":
            note.keyCode = _ARROWS[token[-1]].value
            note.modifiers.append(api_pb2.FUNCTION)
            note.charactersIgnoringModifiers = token
        elif len(token) > 1:
            key = token[1]
            note.characters = key
            note.keyCode = _keycode(key).value
            note.modifiers.append(api_pb2.OPTION)
            if key != key.lower():
                note.modifiers.append(api_pb2.SHIFT)
            note.charactersIgnoringModifiers = key.lower()
        elif "\x01" <= token <= "\x1a" and token not in "\r\n\t":
            letter = chr(ord(token) + 96)
            note.keyCode = _keycode(letter).value
            note.modifiers.append(api_pb2.CONTROL)
            note.charactersIgnoringModifiers = letter
        else:
            note.keyCode = _keycode(token).value
            if token != token.lower():
                note.modifiers.append(api_pb2.SHIFT)
            note.charactersIgnoringModifiers = token.lower()
        keys.append((token.encode(), note))
    return keys


def matches(pattern: api_pb2.KeystrokePattern, note: api_pb2.KeystrokeNotification) -> bool:
    """Whether a key matches a KeystrokePattern (as a KeystrokeFilter uses it)."""
    modifiers = set(note.modifiers)
    if not set(pattern.required_modifiers) <= modifiers or set(pattern.forbidden_modifiers) & modifiers:
        return False
    if not (pattern.keycodes or pattern.characters or pattern.characters_ignoring_modifiers):
        return True
    return (
        note.keyCode in pattern.keycodes
        or note.characters in pattern.characters
        or note.charactersIgnoringModifiers in pattern.characters_ignoring_modifiers
    )
