"""The escape-sequence transport: encoding, streaming extraction from pane output, payload decoding."""

from __future__ import annotations

import base64
import contextlib
import itertools
import json
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agent_console.agents.events import (
    AGENT_EVENT_TYPES,
    AgentExited,
    AgentState,
    ApprovalRequested,
    BarrierArrived,
    Heartbeat,
    LockReleased,
    LockRequested,
    LogRecorded,
    MessageAcknowledged,
    MessageSent,
    MetricRecorded,
    StatusReported,
    VoteCast,
)
from agent_console.agents.protocol import (
    MAX_SEQUENCE,
    TOKEN_PATTERN,
    Frame,
    ProtocolError,
    Rejected,
    Sequence,
    SequenceParser,
    decode_object,
    decode_payload,
    encode,
    new_token,
)

PREFIX = b"\x1b]1337;Custom=id="
TOKEN = "tok-EN_0123456789"
OVERSIZE = f"oversize (no terminator within {MAX_SEQUENCE} bytes)"

# --- strategies --------------------------------------------------------------------------------------------


def pattern_of(model: type, field: str) -> str:
    """The regex pattern events.py puts on a field, so the strategies follow the schema."""
    for item in model.model_fields[field].metadata:
        if getattr(item, "pattern", None):
            return item.pattern
    raise AssertionError(f"{model.__name__}.{field} has no pattern")


def matching(model: type, field: str) -> st.SearchStrategy[str]:
    return st.from_regex(pattern_of(model, field), fullmatch=True)


def optional(strategy: st.SearchStrategy) -> st.SearchStrategy:
    return st.none() | strategy


texts = st.text(max_size=40)  # any code point, ESC and BEL included: base64 must carry them
finite = st.floats(allow_nan=False, allow_infinity=False)
positive = st.floats(min_value=0, exclude_min=True, allow_nan=False, allow_infinity=False)

EVENT_STRATEGIES: dict[str, st.SearchStrategy] = {
    "status": st.builds(
        StatusReported,
        state=st.sampled_from(AgentState),
        task=optional(st.text(max_size=60)),
        progress=optional(matching(StatusReported, "progress")),
    ),
    "heartbeat": st.builds(Heartbeat),
    "message": st.builds(
        MessageSent,
        id=matching(MessageSent, "id"),
        to=matching(MessageSent, "to"),
        text=texts,
        reply_to=optional(matching(MessageSent, "reply_to")),
    ),
    "message.ack": st.builds(MessageAcknowledged, id=matching(MessageAcknowledged, "id")),
    "approval.request": st.builds(
        ApprovalRequested, id=matching(ApprovalRequested, "id"), text=texts, command=optional(texts)
    ),
    "barrier.arrive": st.builds(
        BarrierArrived,
        name=matching(BarrierArrived, "name"),
        count=optional(st.integers(1, 10_000)),
        members=optional(
            st.lists(st.from_regex(r"^[a-z0-9][a-z0-9-]{0,11}$", fullmatch=True), min_size=1, max_size=5).map(tuple)
        ),
        timeout=optional(st.floats(0, 86_400, exclude_min=True)),
    ),
    "vote.cast": st.builds(VoteCast, name=matching(VoteCast, "name"), choice=st.sampled_from(["yes", "no"])),
    "lock.acquire": st.builds(
        LockRequested, name=matching(LockRequested, "name"), lease=st.floats(0, 86_400, exclude_min=True)
    ),
    "lock.release": st.builds(
        LockReleased,
        name=matching(LockReleased, "name"),
        token=optional(st.integers()),
        reason=st.sampled_from(["released", "expired", "holder-exited"]),
    ),
    "log": st.builds(LogRecorded, level=st.sampled_from(["debug", "info", "warning", "error"]), text=texts),
    "metric": st.builds(
        MetricRecorded, name=matching(MetricRecorded, "name"), value=finite, unit=optional(st.text(max_size=20))
    ),
}
agent_events = st.one_of(*EVENT_STRATEGIES.values())
tokens = st.from_regex(TOKEN_PATTERN, fullmatch=True)

ansi = st.sampled_from([b"\x1b[31m", b"\x1b[0m", b"\x1b[1;32m", b"\x1b[2K", b"\x1b[?25l", b"\x1b7", b"\x1b(B"])
other_osc = st.sampled_from(
    [
        b"\x1b]0;my title\x07",
        b"\x1b]2;build: 3/5\x1b\\",
        b"\x1b]1337;SetUserVar=foo=YmFy\x07",
        b"\x1b]1337;CurrentDir=/tmp\x1b\\",
        b"\x1b]8;;https://example.com\x1b\\link\x1b]8;;\x1b\\",
        b"\x1b]1337;Custom=ID=notours\x07",
        b"\x1b]133;A\x07",
    ]
)
plain = st.text(max_size=30).map(lambda text: text.replace("\x1b", "").encode())


@st.composite
def sequences(draw: st.DrawFn) -> tuple[bytes, Frame]:
    """A valid sequence (BEL or ST) and the frame it must yield."""
    token, event = draw(tokens), draw(agent_events)
    sequence = encode(token, event)
    if draw(st.booleans()):
        sequence = sequence[:-1] + b"\x1b\\"
    return sequence, Frame(token, sequence[len(PREFIX) + len(token) + 1 :].rstrip(b"\x07\x1b\\"))


def chunked(data: bytes, cuts: list[int]) -> list[bytes]:
    bounds = [0, *sorted(cut % (len(data) + 1) for cut in cuts), len(data)]
    return [data[a:b] for a, b in itertools.pairwise(bounds)]


def feed_all(chunks: list[bytes], parser: SequenceParser | None = None) -> list[Sequence]:
    parser = parser or SequenceParser()
    found: list[Sequence] = []
    for chunk in chunks:
        found += parser.feed(chunk)
        assert parser.buffered <= MAX_SEQUENCE
    return found


def frames(found: list[Sequence]) -> list[Frame]:
    return [item for item in found if isinstance(item, Frame)]


def is_subsequence(expected: list, actual: list) -> bool:
    remaining = iter(actual)
    return all(any(item == candidate for candidate in remaining) for item in expected)


def payload_of(data: object) -> bytes:
    return base64.b64encode(json.dumps(data).encode())


# --- encode and round trip ---------------------------------------------------------------------------------


def test_every_agent_event_type_has_a_strategy() -> None:
    assert set(EVENT_STRATEGIES) == AGENT_EVENT_TYPES


@pytest.mark.parametrize("kind", sorted(EVENT_STRATEGIES))
@settings(max_examples=25)
@given(data=st.data())
def test_round_trip_of_every_agent_event_type(kind: str, data: st.DataObject) -> None:
    token, event = data.draw(tokens), data.draw(EVENT_STRATEGIES[kind])
    assert event.type == kind
    found = SequenceParser().feed(encode(token, event))
    assert len(found) == 1 and isinstance(found[0], Frame)
    assert found[0].token == token
    assert decode_payload(found[0].payload) == event


def test_encode_is_the_documented_wire_format() -> None:
    json_text = b'{"v":1,"type":"status","state":"working","progress":"3/5"}'
    assert encode("abcdefgh", StatusReported(state=AgentState.WORKING, progress="3/5")) == (
        b"\x1b]1337;Custom=id=abcdefgh:" + base64.b64encode(json_text) + b"\x07"
    )


@pytest.mark.parametrize("token", ["", "short", "a" * 129, "abc defgh", "abcdefgh\n", "abc/defgh", "abcdéfgh"])
def test_encode_refuses_a_bad_token(token: str) -> None:
    with pytest.raises(ValueError, match="invalid agent token"):
        encode(token, Heartbeat())


def test_encode_refuses_what_the_console_would_refuse() -> None:
    with pytest.raises(ValueError, match="not an event an agent can send"):
        encode(TOKEN, AgentExited(agent="a"))
    with pytest.raises(ValueError, match="finite number"):  # the schema refuses it before encode could
        encode(TOKEN, MetricRecorded(name="m", value=float("nan")))
    with pytest.raises(ValueError, match="at most 200 items"):  # so no agent event can outgrow a sequence
        encode(TOKEN, BarrierArrived(name="b", members=tuple(f"x{n}" for n in range(1000))))


def test_the_largest_bounded_event_fits_in_one_sequence() -> None:
    # Every field at its max_length, of the character that JSON makes longest (\u0000, 6 bytes).
    event = ApprovalRequested(id="i" * 80, text="\x00" * 4000, command="\x00" * 4000)
    sequence = encode("t" * 128, event)
    assert len(sequence) <= MAX_SEQUENCE
    (frame,) = SequenceParser().feed(sequence)
    assert decode_payload(frame.payload) == event


def test_new_tokens_are_valid_and_distinct() -> None:
    made = {new_token() for _ in range(50)}
    assert len(made) == 50
    assert all(re.fullmatch(TOKEN_PATTERN, token) for token in made)


# --- the parser ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("terminator", [b"\x07", b"\x1b\\"])
def test_bel_and_st_terminators(terminator: bytes) -> None:
    sequence = PREFIX + TOKEN.encode() + b":cGF5bG9hZA==" + terminator
    assert SequenceParser().feed(b"before" + sequence + b"after") == [Frame(TOKEN, b"cGF5bG9hZA==")]


def test_a_sequence_split_at_every_pair_of_boundaries() -> None:
    sequence = encode(TOKEN, Heartbeat())[:-1] + b"\x1b\\"
    expected = [Frame(TOKEN, base64.b64encode(b'{"v":1,"type":"heartbeat"}'))]
    for i in range(len(sequence) + 1):
        for j in range(i, len(sequence) + 1):
            parser = SequenceParser()
            assert feed_all([sequence[:i], sequence[i:j], sequence[j:]], parser) == expected, (i, j)
            assert parser.buffered == 0


def test_text_costs_nothing_and_only_a_cut_prefix_is_kept() -> None:
    parser = SequenceParser()
    assert parser.feed(b"plain output\r\n" * 1000) == []
    assert parser.buffered == 0
    assert parser.feed(b"\x1b[31mred\x1b[0m and more text\x1b]13") == []
    assert parser.buffered == 4  # only the cut prefix "ESC ] 1 3"
    assert parser.feed(b"37;SetUserVar=x=eQ==\x07 text") == []
    assert parser.buffered == 0


@pytest.mark.parametrize(
    "other",
    [
        b"\x1b]0;title\x07",
        b"\x1b]1337;SetUserVar=name=dmFsdWU=\x07",
        b"\x1b]0;title never terminated ",
        b"\x1b]1337;SetUserVar=x=",
        b"\x1b]1337;Custom=i",
        b"\x1b]",
        b"\x1b",
        b"\x1b[38;5;196m",
    ],
)
def test_other_sequences_are_ignored_and_never_swallow_ours(other: bytes) -> None:
    sequence = encode(TOKEN, Heartbeat())
    found = SequenceParser().feed(other + b"text" + other + sequence + other)
    assert [type(item) for item in found] == [Frame]


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (TOKEN.encode() + b"cGF5bG9hZA==", "missing ':'"),
        (b":cGF5bG9hZA==", "bad token"),
        (b"short:cGF5bG9hZA==", "bad token"),
        (b"bad!token_here:cGF5bG9hZA==", "bad token"),
        (b"a" * 129 + b":cGF5bG9hZA==", "bad token"),
    ],
)
def test_malformed_body_is_rejected_with_its_reason(body: bytes, reason: str) -> None:
    sequence = PREFIX + body + b"\x07"
    found = SequenceParser().feed(sequence + encode(TOKEN, Heartbeat()))
    assert len(found) == 2
    assert isinstance(found[0], Rejected) and found[0].reason.startswith(reason)
    assert found[0].size == len(sequence)
    assert isinstance(found[1], Frame)


def test_an_esc_inside_a_body_rejects_it_and_scanning_resumes_at_that_esc() -> None:
    opened = PREFIX + TOKEN.encode() + b":cGF5"
    sequence = encode(TOKEN, Heartbeat())
    payload = base64.b64encode(b'{"v":1,"type":"heartbeat"}')
    for between in (b"\x1b[31m", b""):  # an ANSI code, or straight into the next sequence
        found = SequenceParser().feed(opened + between + sequence)
        assert isinstance(found[0], Rejected) and found[0].reason.startswith("interrupted")
        assert found[0].size == len(opened)
        assert found[1:] == [Frame(TOKEN, payload)]


def test_only_the_unfinished_tail_is_kept() -> None:
    parser = SequenceParser()
    sequence = encode(TOKEN, Heartbeat())
    assert len(parser.feed(sequence + b"some text" + sequence[:30])) == 1
    assert parser.buffered == 30
    assert len(parser.feed(sequence[30:] + b"more text")) == 1
    assert parser.buffered == 0


def test_sizes_up_to_the_limit_are_accepted_one_byte_more_is_not() -> None:
    head = PREFIX + TOKEN.encode() + b":"
    for terminator in (b"\x07", b"\x1b\\"):
        exact = head + b"A" * (MAX_SEQUENCE - len(head) - len(terminator)) + terminator
        over = head + b"A" * (MAX_SEQUENCE - len(head) - len(terminator) + 1) + terminator
        assert len(exact) == MAX_SEQUENCE
        for chunk in (1, 1000, MAX_SEQUENCE * 2):
            found = feed_all([exact[i : i + chunk] for i in range(0, len(exact), chunk)])
            assert [type(item) for item in found] == [Frame], (terminator, chunk)
            found = feed_all([over[i : i + chunk] for i in range(0, len(over), chunk)])
            assert [type(item) for item in found] == [Rejected], (terminator, chunk)
            assert found[0].reason.startswith("oversize")


def test_an_unterminated_sequence_is_rejected_as_soon_as_it_reaches_the_limit() -> None:
    head = PREFIX + TOKEN.encode() + b":"
    stream = head + b"A" * (MAX_SEQUENCE - len(head))
    *chunks, last = [stream[i : i + 1000] for i in range(0, len(stream), 1000)]
    parser = SequenceParser()
    assert feed_all(chunks, parser) == []
    assert parser.feed(last) == [Rejected(OVERSIZE, MAX_SEQUENCE)]
    assert parser.buffered == 0


@pytest.mark.parametrize("chunk", [4096, 1 << 20, 10_000_001])
def test_ten_megabytes_without_terminator_stay_bounded_and_are_rejected_once(chunk: int) -> None:
    stream = PREFIX + TOKEN.encode() + b":" + b"A" * 10_000_000
    parser = SequenceParser()
    found: list[Sequence] = []
    for i in range(0, len(stream), chunk):
        found += parser.feed(stream[i : i + chunk])
        assert parser.buffered <= MAX_SEQUENCE
    assert found == [Rejected(OVERSIZE, MAX_SEQUENCE)]
    # Resynchronised: the abandoned sequence's late terminator is ignored, the next sequence is found.
    sequence = encode(TOKEN, Heartbeat())
    assert [type(item) for item in parser.feed(b"AAAA\x07 text " + sequence)] == [Frame]
    assert parser.buffered == 0


def test_a_huge_other_osc_is_not_buffered() -> None:
    parser = SequenceParser()
    parser.feed(b"\x1b]0;" + b"t" * 1_000_000)
    assert parser.buffered == 0


# --- properties: chunking and garbage ----------------------------------------------------------------------


@settings(max_examples=60)
@given(
    pieces=st.lists(st.one_of(plain, ansi, other_osc, sequences()), max_size=12),
    cuts=st.lists(st.integers(min_value=0), max_size=20),
)
def test_any_chunking_yields_exactly_the_sequences_in_order(pieces: list, cuts: list[int]) -> None:
    stream = b"".join(piece[0] if isinstance(piece, tuple) else piece for piece in pieces)
    expected = [piece[1] for piece in pieces if isinstance(piece, tuple)]
    assert SequenceParser().feed(stream) == expected
    assert feed_all(chunked(stream, cuts)) == expected


garbage_piece = st.one_of(
    st.binary(max_size=40),
    st.sampled_from(
        [
            PREFIX,
            PREFIX + TOKEN.encode() + b":",
            PREFIX + TOKEN.encode(),
            b"\x1b",
            b"\x1b]",
            b"\x1b]1337;",
            b"\x07",
            b"\x1b\\",
            b":",
            b"\x1b]0;",
        ]
    ),
    ansi,
    other_osc,
)


@settings(max_examples=150)
@given(
    pieces=st.lists(st.one_of(garbage_piece, sequences()), max_size=16),
    cuts=st.lists(st.integers(min_value=0), max_size=20),
)
def test_garbage_never_raises_never_hides_a_sequence_and_chunking_does_not_matter(
    pieces: list, cuts: list[int]
) -> None:
    stream = b"".join(piece[0] if isinstance(piece, tuple) else piece for piece in pieces)
    expected = [piece[1] for piece in pieces if isinstance(piece, tuple)]
    whole = SequenceParser().feed(stream)
    assert feed_all(chunked(stream, cuts)) == whole
    assert all(isinstance(item, Frame | Rejected) for item in whole)
    # Whatever surrounds it, every intact sequence is found, in order (garbage may add frames of its own).
    assert is_subsequence(expected, frames(whole))
    for frame in frames(whole):
        with contextlib.suppress(ProtocolError):
            decode_payload(frame.payload)


def test_an_oversize_sequence_in_garbage_does_not_hide_the_next_one() -> None:
    sequence = encode(TOKEN, Heartbeat())
    stream = b"\x00junk" + PREFIX + b"x" * (3 * MAX_SEQUENCE) + b"\x07more junk\x1b]0;t" + sequence
    for chunk in (7, 4096, len(stream)):
        found = feed_all([stream[i : i + chunk] for i in range(0, len(stream), chunk)])
        assert [type(item) for item in found] == [Rejected, Frame], chunk
        assert found[0].reason.startswith("oversize")


# --- decode_payload ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (b"!!!not base64!!!", "not base64"),
        (b"abc", "not base64"),
        (b"*" + payload_of({"v": 1, "type": "heartbeat"}), "not base64"),
        (base64.urlsafe_b64encode(b'{"v":1,"type":"log","text":"\xff\xff"}'), "not base64"),  # "_" is not standard
        (base64.b64encode(b"{nope"), "not JSON: Expecting property name"),
        (base64.b64encode(b"\xff\xfe"), "not JSON: not UTF-8"),
        (base64.b64encode(b'{"v": 1, "type": "metric", "name": "m", "value": NaN}'), "not JSON: NaN is not allowed"),
        (base64.b64encode(b"[" * 10_000 + b"]" * 10_000), "not JSON"),
        (payload_of([1, 2]), "not a JSON object"),
        (payload_of("status"), "not a JSON object"),
        (payload_of({"type": "heartbeat"}), "missing version 'v'"),
        (payload_of({"v": 3, "type": "heartbeat"}), "unsupported version 3 (this console speaks 1)"),
        (payload_of({"v": "1", "type": "heartbeat"}), "unsupported version '1' (this console speaks 1)"),
        (payload_of({"v": True, "type": "heartbeat"}), "unsupported version True (this console speaks 1)"),
        (payload_of({"v": 1}), "missing event type 'type'"),
        (payload_of({"v": 1, "type": "x"}), "unknown event type 'x' (known: approval.request, barrier.arrive,"),
        (payload_of({"v": 1, "type": ["status"]}), "unknown event type ['status'] (known:"),
        (
            payload_of({"v": 1, "type": "agent.exit", "agent": "a"}),
            "event type 'agent.exit' cannot be sent by an agent",
        ),
        (payload_of({"v": 1, "type": "lock.grant"}), "event type 'lock.grant' cannot be sent by an agent"),
        (payload_of({"v": 1, "type": "status", "state": "bored"}), "status.state: Input should be 'idle', 'thinking',"),
        (payload_of({"v": 1, "type": "message", "id": "m1", "to": "@x"}), "message.text: Field required"),
        (payload_of({"v": 1, "type": "vote.cast", "name": "Bad Name", "choice": "maybe"}), "vote.cast.name: String"),
        (payload_of({"v": 1, "type": "heartbeat", "extra": 1}), "heartbeat.extra: Extra inputs are not permitted"),
    ],
)
def test_decode_payload_says_what_is_wrong(payload: bytes, message: str) -> None:
    with pytest.raises(ProtocolError) as raised:
        decode_payload(payload)
    assert str(raised.value).startswith(message)
    # No chained exception (a pydantic ValidationError, a JSONDecodeError) shows up in a traceback.
    assert raised.value.__cause__ is None
    assert raised.value.__context__ is None or raised.value.__suppress_context__


def test_all_validation_errors_are_counted() -> None:
    payload = payload_of({"v": 1, "type": "vote.cast", "name": "Bad Name", "choice": "maybe", "x": 1})
    with pytest.raises(ProtocolError, match=r"^vote\.cast\.name: .* \(and 2 more\)$"):
        decode_payload(payload)


def test_protocol_error_is_a_value_error() -> None:
    assert issubclass(ProtocolError, ValueError)


def test_base64_wrapped_by_a_shell_is_accepted() -> None:
    wrapped = re.sub(rb"(.{8})", rb"\1\r\n", payload_of({"v": 1, "type": "log", "text": "hello, console"}))
    assert decode_payload(wrapped) == LogRecorded(text="hello, console")


def test_decode_object_takes_parsed_json() -> None:
    assert decode_object({"v": 1, "type": "heartbeat"}) == Heartbeat()
    with pytest.raises(ProtocolError, match=r"^not a JSON object$"):
        decode_object(["heartbeat"])


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | finite | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)


@settings(max_examples=200)
@given(
    kind=st.sampled_from(sorted(AGENT_EVENT_TYPES)),
    fields=st.dictionaries(
        st.sampled_from(["state", "task", "progress", "id", "to", "text", "name", "count", "members", "lease", "x"]),
        json_values,
        max_size=5,
    ),
)
def test_random_json_objects_give_an_event_or_a_protocol_error(kind: str, fields: dict) -> None:
    try:
        event = decode_payload(payload_of({"v": 1, "type": kind, **fields}))
    except ProtocolError as error:
        assert "Traceback" not in str(error) and len(str(error)) < 500
    else:
        assert event.type == kind
