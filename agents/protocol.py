"""The escape-sequence transport of the agent protocol.

An agent reports to the console by printing on its own terminal
``ESC ] 1337 ; Custom=id=<agent token> : <base64 of a JSON event> BEL`` (or ST, ``ESC \\``, as terminator).
`encode` builds such a sequence; `SequenceParser` finds them in a pane's raw output, however it is chunked;
`decode_payload` (and `decode_object`, for JSON that came another way) turns what was found into a validated
`AgentEvent`, or raises a `ProtocolError` that says exactly what is wrong.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import secrets
from dataclasses import dataclass
from typing import Any, TypeAlias, get_args

from pydantic import BaseModel, ValidationError

from agent_console.agents.errors import InvalidInput, describe_validation
from agent_console.agents.events import AGENT_EVENT_ADAPTER, AGENT_EVENT_TYPES, SCHEMA_VERSION, AgentEvent, Event

__all__ = [
    "MAX_SEQUENCE",
    "TOKEN_PATTERN",
    "Frame",
    "ProtocolError",
    "Rejected",
    "Sequence",
    "SequenceParser",
    "decode_object",
    "decode_payload",
    "encode",
    "new_token",
]

MAX_SEQUENCE = 64 * 1024
"""The longest sequence accepted, in bytes, from its ESC to its terminator included."""

TOKEN_PATTERN = r"^[A-Za-z0-9_-]{8,128}$"
"""What an agent token looks like (anchored, so it also serves as a pydantic `pattern`)."""

_PREFIX = b"\x1b]1337;Custom=id="
_TERMINATOR = re.compile(rb"[\x07\x1b]")
_TOKEN_RE = re.compile(TOKEN_PATTERN)
_TOKEN_BYTES_RE = re.compile(TOKEN_PATTERN.encode())
_BEL = 0x07
_ESC = 0x1B
_BACKSLASH = 0x5C
_BASE64_SPACE = b" \t\r\n"

_ALL_EVENT_TYPES = frozenset(model.model_fields["type"].default for model in get_args(get_args(Event)[0]))
_KNOWN = ", ".join(sorted(AGENT_EVENT_TYPES))

_OVERSIZE = f"oversize (no terminator within {MAX_SEQUENCE} bytes)"
_INTERRUPTED = "interrupted (ESC inside the sequence before its terminator)"
_NO_COLON = "missing ':' (between the token and the payload)"


class ProtocolError(InvalidInput, ValueError):
    """An agent's message that cannot become an event; the message says why."""


@dataclass(frozen=True, slots=True)
class Frame:
    """A complete `Custom=id=` sequence: the token it claims and its (still undecoded) payload."""

    token: str
    payload: bytes


@dataclass(frozen=True, slots=True)
class Rejected:
    """Something that started as our sequence but was oversize or malformed; `size` is the bytes dropped."""

    reason: str
    size: int


Sequence: TypeAlias = Frame | Rejected


def new_token() -> str:
    """A fresh agent token (32 URL-safe characters, so it matches `TOKEN_PATTERN`)."""
    return secrets.token_urlsafe(24)


def encode(token: str, event: AgentEvent) -> bytes:
    """The BEL-terminated escape sequence that carries `event` from the agent holding `token`."""
    if not isinstance(token, str) or not _TOKEN_RE.fullmatch(token):
        raise ValueError("invalid agent token: 8 to 128 characters of A-Z a-z 0-9 _ -")
    if not isinstance(event, BaseModel) or getattr(event, "type", None) not in AGENT_EVENT_TYPES:
        raise ValueError(f"{type(event).__name__} is not an event an agent can send")
    data = event.model_dump(mode="json", exclude_none=True)
    try:
        text = json.dumps({"v": SCHEMA_VERSION, **data}, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except ValueError as error:  # NaN or infinity: the console's JSON parser refuses them
        raise ValueError(f"event is not representable in JSON: {error}") from None
    sequence = b"".join((_PREFIX, token.encode("ascii"), b":", base64.b64encode(text.encode("utf-8")), b"\x07"))
    if len(sequence) > MAX_SEQUENCE:
        raise ValueError(f"encoded event is {len(sequence)} bytes, over the {MAX_SEQUENCE}-byte limit")
    return sequence


def decode_payload(payload: bytes) -> AgentEvent:
    """The event in a `Frame`'s payload: base64 of a JSON object with `"v"`, checked against the schema."""
    if len(payload) > MAX_SEQUENCE:
        raise ProtocolError(f"payload too large ({len(payload)} bytes)")
    try:
        # A shell `base64` wraps its output; whitespace in the payload carries no meaning.
        raw = base64.b64decode(payload.translate(None, _BASE64_SPACE), validate=True)
    except (binascii.Error, ValueError, TypeError):
        raise ProtocolError("not base64") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ProtocolError(f"not JSON: not UTF-8 ({error.reason} at byte {error.start})") from None
    try:
        data = json.loads(text, parse_constant=_refuse_constant)
    except RecursionError:
        raise ProtocolError("not JSON: nested too deeply") from None
    except ValueError as error:  # JSONDecodeError, NaN/Infinity, integers beyond Python's digit limit
        raise ProtocolError(f"not JSON: {error}") from None
    return decode_object(data)


def decode_object(data: Any) -> AgentEvent:
    """The event in an already parsed JSON value: an object with `"v"` and an agent event's fields."""
    if not isinstance(data, dict):
        raise ProtocolError("not a JSON object")
    if "v" not in data:
        raise ProtocolError("missing version 'v'")
    version = data["v"]
    if type(version) is not int or version != SCHEMA_VERSION:
        raise ProtocolError(f"unsupported version {_short(version)} (this console speaks {SCHEMA_VERSION})")
    kind = data.get("type")
    if kind is None:
        raise ProtocolError("missing event type 'type'")
    if not isinstance(kind, str) or kind not in AGENT_EVENT_TYPES:
        if isinstance(kind, str) and kind in _ALL_EVENT_TYPES:
            raise ProtocolError(f"event type {_short(kind)} cannot be sent by an agent")
        raise ProtocolError(f"unknown event type {_short(kind)} (known: {_KNOWN})")
    fields = {key: value for key, value in data.items() if key != "v"}
    try:
        return AGENT_EVENT_ADAPTER.validate_python(fields)
    except ValidationError as error:
        raise ProtocolError(_describe(error)) from None


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not allowed")


def _short(value: object, limit: int = 40) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _describe(error: ValidationError) -> str:
    return describe_validation(error, limit=300)


def _frame(body: bytes, size: int) -> Sequence:
    colon = body.find(b":")
    if colon < 0:
        return Rejected(_NO_COLON, size)
    token = body[:colon]
    if not _TOKEN_BYTES_RE.fullmatch(token):
        return Rejected(f"bad token ({len(token)} bytes; must be 8 to 128 of A-Z a-z 0-9 _ -)", size)
    return Frame(token.decode("ascii"), body[colon + 1 :])


class SequenceParser:
    """Finds our sequences in one pane's raw output, fed in chunks split anywhere.

    Everything else (text, other escape sequences, other OSCs) is ignored. A sequence is ours from its full
    prefix ``ESC ] 1337 ; Custom=id=`` on; it ends at BEL or ST. An ESC before that ends it as `Rejected` and
    scanning resumes at that ESC, so an unfinished sequence never hides the next one; one that reaches
    `MAX_SEQUENCE` bytes is `Rejected` too. Results never depend on how the stream was chunked, and at most
    `MAX_SEQUENCE` bytes are kept between calls.
    """

    __slots__ = ("_in_body", "_tail")

    def __init__(self) -> None:
        self._tail = bytearray()
        self._in_body = False  # the tail is a whole prefix plus part of a body, with no terminator in it

    @property
    def buffered(self) -> int:
        """How many bytes are held back until the next `feed` (never more than `MAX_SEQUENCE`)."""
        return len(self._tail)

    def feed(self, data: bytes) -> list[Sequence]:
        """The sequences that `data` completes (or rejects), in stream order."""
        if not self._tail:
            if b"\x1b" not in data:
                return []
            return self._scan(data)
        if not data:
            return []
        # A long body arriving in small chunks: append rather than copy the tail again on every call.
        if (
            self._in_body
            and self._tail[-1] != _ESC
            and len(data) < MAX_SEQUENCE - len(self._tail)
            and _TERMINATOR.search(data) is None
        ):
            self._tail += data
            return []
        buffer = b"".join((self._tail, data))
        self._tail.clear()
        self._in_body = False
        return self._scan(buffer)

    def _scan(self, buffer: bytes) -> list[Sequence]:
        found: list[Sequence] = []
        end = len(buffer)
        pos = 0
        while True:
            start = buffer.find(_PREFIX, pos)
            if start < 0:
                # Keep a prefix cut by the chunk boundary; only the last ESC can start one (the prefix has one).
                esc = buffer.rfind(b"\x1b", max(pos, end - len(_PREFIX) + 1))
                if esc >= 0 and _PREFIX.startswith(buffer[esc:]):
                    self._tail += buffer[esc:]
                return found
            body = start + len(_PREFIX)
            match = _TERMINATOR.search(buffer, body, min(end, start + MAX_SEQUENCE))
            if match is None:
                if end - start >= MAX_SEQUENCE:
                    found.append(Rejected(_OVERSIZE, MAX_SEQUENCE))
                    pos = start + MAX_SEQUENCE  # the rest of that body holds no ESC, hence no sequence
                    continue
                self._keep(buffer, start)
                return found
            stop = match.start()
            if buffer[stop] == _BEL:
                found.append(_frame(buffer[body:stop], stop + 1 - start))
                pos = stop + 1
            elif stop + 1 == end:
                self._keep(buffer, start)  # is this ESC the start of ST? The next chunk says.
                return found
            elif buffer[stop + 1] != _BACKSLASH:
                found.append(Rejected(_INTERRUPTED, stop - start))
                pos = stop  # that ESC may open the next sequence
            elif stop + 2 - start > MAX_SEQUENCE:
                found.append(Rejected(_OVERSIZE, stop + 2 - start))
                pos = stop + 2
            else:
                found.append(_frame(buffer[body:stop], stop + 2 - start))
                pos = stop + 2

    def _keep(self, buffer: bytes, start: int) -> None:
        self._tail += memoryview(buffer)[start:]
        self._in_body = True
