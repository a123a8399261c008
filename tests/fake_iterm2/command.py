"""How iTerm2 turns a profile's Command into argv: first as a string template, then split like a shell would,
but by its own rules (not POSIX)."""

from __future__ import annotations

import os

# it_stringByExpandingBackslashEscapedCharacters (NSStringITerm.m): these escapes become characters.
_TEMPLATE_ESCAPES = {"n": "\n", "a": "\x07", "t": "\t", "r": "\r", "\\": "\\", "e": "\x1b"}
# componentsInShellCommand (NSStringITerm.m): these escapes become characters even inside single quotes.
_SPLIT_ESCAPES = {"n": "\n", "a": "\x07", "t": "\t", "r": "\r"}


class Interpolation(ValueError):
    """The command holds `\\(…)`, an expression iTerm2 evaluates (the fake does not)."""


def expand_template(text: str) -> str:
    """The literal text of a strict interpolated string (ITAddressBookMgr.m, `computeCommandForProfile:`;
    iTermSwiftyStringParser.m, `enumerateSwiftySubstringsWithBlock:`): backslash escapes expanded; `\\(`
    starts an interpolation, which a variable the session lacks fails (then iTerm2 runs the login shell)."""
    out: list[str] = []
    i = 0
    while i < len(text):
        char = text[i]
        if char != "\\" or i + 1 >= len(text):
            out.append(char)
            i += 1
            continue
        following = text[i + 1]
        if following == "(":
            raise Interpolation(text)
        if following == "u" and i + 5 < len(text) and _is_hex(text[i + 2 : i + 6]):
            out.append(chr(int(text[i + 2 : i + 6], 16)))
            i += 6
        elif following in _TEMPLATE_ESCAPES:
            out.append(_TEMPLATE_ESCAPES[following])
            i += 2
        else:
            out.append(char)  # an unknown escape keeps its backslash; the next character is read afresh
            i += 1
    return "".join(out)


def _is_hex(text: str) -> bool:
    return len(text) == 4 and all(c in "0123456789abcdefABCDEF" for c in text)


def shell_components(text: str) -> list[str]:
    """Words as `componentsBySplittingStringWithQuotesAndBackslashEscaping:` splits them (NSStringITerm.m)."""
    words: list[str] = []
    current: list[str] = []
    single = double = escape = False
    first_of_word = True
    first_was_quoted = True
    for index in range(len(text) + 1):
        char = text[index] if index < len(text) else ""
        if char == "\0":
            char = " "
        if not char:
            escape = False
        if char == "\\" and not escape:
            escape = True
            continue
        if escape:
            first_of_word = False
            escape = False
            if char in _SPLIT_ESCAPES:
                current.append(_SPLIT_ESCAPES[char])
            elif double:
                current.append(char if char in '"\\' else "\\" + char)
            elif single:
                current.append("\\" if char == "'" else "\\" + char)  # \' neither closes nor is a quote
            else:
                current.append(char)
            continue
        if char == '"' and not single:
            double = not double
            first_of_word = False
            continue
        if char == "'" and not double:
            single = not single
            first_of_word = False
            continue
        if not char:
            single = double = False
        if not single and not double and (not char or char.isspace()):
            if not first_of_word:
                word = "".join(current)
                words.append(word if first_was_quoted else _expand_tilde(word))
                current = []
                first_was_quoted = True
                first_of_word = True
            continue
        if first_of_word:
            first_was_quoted = double or single
            first_of_word = False
        current.append(char)
    return words


def _expand_tilde(word: str) -> str:
    """`stringByExpandingTildeInPathPreservingSlash`: a leading ~ is the home directory."""
    expanded = os.path.expanduser(word)
    return expanded + "/" if word.endswith("/") and not expanded.endswith("/") else expanded


def command_argv(command: str) -> list[str] | None:
    """The argv iTerm2 runs for a custom Command, or None where it falls back to the login shell."""
    try:
        text = expand_template(command).strip()
    except Interpolation:
        return None
    return shell_components(text) or None
