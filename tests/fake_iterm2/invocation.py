"""iTerm2 function-call expressions, `name(arg: value, other: some.variable)`, as the library writes them."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

_NAME = re.compile(r"\s*([A-Za-z_][\w.]*)\s*\(")
_ARGUMENT = re.compile(r"\s*([A-Za-z_]\w*)\s*:\s*")
_REFERENCE = re.compile(r"[A-Za-z_][\w.]*\??")
_DECODER = json.JSONDecoder(strict=False)  # iTerm2 strings may hold raw control characters


class InvocationError(ValueError):
    """The text is not a function call the fake understands."""


@dataclass(frozen=True, slots=True)
class Reference:
    """A variable path given as an argument; `optional` (a trailing ?) yields null when undefined."""

    path: str
    optional: bool


def parse_invocation(text: str) -> tuple[str, dict[str, Any]]:
    """The function name and its arguments: JSON-like literals as values, variables as `Reference`s."""
    match = _NAME.match(text)
    if not match:
        raise InvocationError(f"not a function call: {text!r}")
    name, pos = match.group(1), match.end()
    arguments: dict[str, Any] = {}
    while True:
        while pos < len(text) and text[pos].isspace():
            pos += 1
        if text.startswith(")", pos):
            if text[pos + 1 :].strip():
                raise InvocationError(f"text after the call: {text!r}")
            return name, arguments
        argument = _ARGUMENT.match(text, pos)
        if not argument:
            raise InvocationError(f"expected `name: value` at {pos} in {text!r}")
        pos = argument.end()
        value, pos = _value(text, pos)
        arguments[argument.group(1)] = value
        while pos < len(text) and text[pos].isspace():
            pos += 1
        if text.startswith(",", pos):
            pos += 1
        elif not text.startswith(")", pos):
            raise InvocationError(f"expected , or ) at {pos} in {text!r}")


def _value(text: str, pos: int) -> tuple[Any, int]:
    reference = _REFERENCE.match(text, pos)
    if reference and reference.group(0).rstrip("?") not in ("true", "false", "null"):
        path = reference.group(0)
        return Reference(path.rstrip("?"), path.endswith("?")), reference.end()
    try:
        return _DECODER.raw_decode(text, pos)
    except ValueError:
        raise InvocationError(f"bad value at {pos} in {text!r}") from None


def evaluate(arguments: dict[str, Any], lookup: Callable[[str], Any]) -> dict[str, Any]:
    """Replace references by their values; an undefined, non-optional variable is an error."""
    values = {}
    for name, value in arguments.items():
        if isinstance(value, Reference):
            resolved = lookup(value.path)
            if resolved is None and not value.optional:
                raise InvocationError(f"undefined variable {value.path}")
            value = resolved
        values[name] = value
    return values
