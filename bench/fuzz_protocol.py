"""Fuzz the escape-sequence transport: `SequenceParser.feed` and `decode_payload` on random and mutated input.

Each input is one of:

* random bytes: uniform, or drawn from an alphabet rich in ESC, ``]``, BEL, ``\\``, ``:`` and prefix pieces;
* mutated sequences: valid encoded events inside text, ANSI codes and other OSCs, then bit flips, truncations,
  duplicated, removed or inserted bytes, stray ESC/BEL, occasionally an oversize body;
* embedded sequences: valid sequences between random garbage, which must all be found and decode unchanged;
* JSON payloads: base64 of random JSON, or of valid events with mutated fields (wrong types, out of range,
  unknown keys, other event types, other versions, NaN), sometimes with damaged base64, framed with a token.

Every input is fed twice, whole and in random chunks (down to single bytes): the results must be identical
and the parser's buffer must stay within `MAX_SEQUENCE`. Every frame found goes through `decode_payload`,
whose only allowed failure is `ProtocolError`. Outcomes are counted; any other exception or broken invariant
is printed with the input that caused it (and the seed and index to replay it), and the exit status is 1.

Run it from the repository root, in the project's venv:

    python bench/fuzz_protocol.py                        # 100,000 inputs, seed 0
    python bench/fuzz_protocol.py --count 1000000 --seed 7
"""

from __future__ import annotations

import argparse
import base64
import itertools
import json
import random
import sys
import time
import traceback
from collections import Counter
from collections.abc import Callable

from agent_console.agents.events import (
    AGENT_EVENT_ADAPTER,
    AGENT_EVENT_TYPES,
    SCHEMA_VERSION,
    AgentState,
)
from agent_console.agents.protocol import (
    MAX_SEQUENCE,
    ProtocolError,
    Rejected,
    Sequence,
    SequenceParser,
    decode_payload,
    encode,
)

PREFIX = b"\x1b]1337;Custom=id="
ALL_TYPES = [*sorted(AGENT_EVENT_TYPES), "agent.exit", "lock.grant", "org.load", "spoof", "nope", ""]
NOISE = [
    b"\x1b[31m",
    b"\x1b[0m",
    b"\x1b[1;38;5;208m",
    b"\x1b]0;title\x07",
    b"\x1b]1337;SetUserVar=x=eQ==\x07",
    b"\x1b]8;;https://example.com\x1b\\link\x1b]8;;\x1b\\",
    b"\r\n",
    b"plain output ",
    "héllo wörld ✓ ".encode(),
]
ALPHABET = b"\x1b\x1b\x1b]]\x07\x07\\\\::;=1337CustomidAZaz09+/-_= \n\x00\xff\x9c\x9d"
PIECES = [PREFIX, PREFIX[:5], PREFIX[:-3], b"\x1b]1337;", b"\x1b\\", b"\x07", b"tokentoken:", b"QUJD", b":"]
SPOTS = "abcdefghijklmnopqrstuvwxyz0123456789"


class Fuzzer:
    """One seeded run: generates inputs, feeds them, counts outcomes and failures."""

    def __init__(self, seed: int) -> None:
        self.seed = seed
        self.rng = random.Random(seed)
        self.outcomes: Counter[str] = Counter()
        self.categories: Counter[str] = Counter()
        self.failures = 0
        self.bytes_fed = 0
        self.chunks_fed = 0

    # --- random values --------------------------------------------------------------------------------------

    def text(self, limit: int = 40) -> str:
        rng = self.rng
        pools = ("ascii", "ascii", "unicode", "control")
        out = []
        for _ in range(rng.randint(0, limit)):
            pool = rng.choice(pools)
            if pool == "ascii":
                out.append(chr(rng.randint(32, 126)))
            elif pool == "control":
                out.append(chr(rng.choice([0, 7, 9, 10, 13, 27, 127, 0x9C, 0x9D])))
            else:
                code = rng.choice([rng.randint(0xA0, 0xD7FF), rng.randint(0xE000, 0x10FFFF)])
                out.append(chr(code))
        return "".join(out)

    def name(self) -> str:
        rng = self.rng
        return rng.choice(SPOTS) + "".join(rng.choice(SPOTS + "._-") for _ in range(rng.randint(0, 12)))

    def ident(self) -> str:
        chars = "ABCXYZabcxyz0189._:-"
        return "".join(self.rng.choice(chars) for _ in range(self.rng.randint(1, 24)))

    def token(self) -> str:
        chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-"
        return "".join(self.rng.choice(chars) for _ in range(self.rng.randint(8, 40)))

    def maybe(self, make: Callable[[], object]) -> object:
        return make() if self.rng.random() < 0.5 else None

    def json_value(self, depth: int = 0) -> object:
        rng = self.rng
        kind = rng.randrange(9 if depth < 4 else 6)
        if kind == 0:
            return None
        if kind == 1:
            return rng.random() < 0.5
        if kind == 2:
            return rng.choice([0, 1, -1, 10_001, 2**63, -(2**70), rng.randint(-1000, 1000)])
        if kind == 3:
            return rng.choice([0.0, -0.5, 1e308, 1e-320, rng.uniform(-1e6, 1e6)])
        if kind in (4, 5):
            return self.text(rng.choice([5, 20, 600, 5000]) if rng.random() < 0.1 else 10)
        if kind == 6:
            return [self.json_value(depth + 1) for _ in range(rng.randint(0, 4))]
        if kind == 7:
            return {self.text(8): self.json_value(depth + 1) for _ in range(rng.randint(0, 4))}
        return rng.choice(list(AgentState)).value

    def event_fields(self) -> dict[str, object]:
        """A valid agent event as JSON fields, of a random type."""
        rng = self.rng
        kind = rng.choice(sorted(AGENT_EVENT_TYPES))
        fields: dict[str, object] = {"type": kind}
        if kind == "status":
            fields |= {"state": rng.choice(list(AgentState)).value, "task": self.maybe(lambda: self.text(60))}
            fields["progress"] = self.maybe(lambda: f"{rng.randint(0, 99)}/{rng.randint(1, 99)}")
        elif kind == "message":
            to = rng.choice(["all", "@" + rng.choice(SPOTS) + "dev-1", "#" + rng.choice(SPOTS) + "team"])
            fields |= {"id": self.ident(), "to": to, "text": self.text(), "reply_to": self.maybe(self.ident)}
        elif kind == "message.ack":
            fields["id"] = self.ident()
        elif kind == "approval.request":
            fields |= {"id": self.ident(), "text": self.text(), "command": self.maybe(self.text)}
        elif kind == "barrier.arrive":
            fields |= {"name": self.name(), "count": self.maybe(lambda: rng.randint(1, 10_000))}
            fields["members"] = self.maybe(lambda: [self.name() for _ in range(rng.randint(0, 4))])
            fields["timeout"] = self.maybe(lambda: rng.uniform(0.001, 1e4))
        elif kind == "vote.cast":
            fields |= {"name": self.name(), "choice": rng.choice(["yes", "no"])}
        elif kind == "lock.acquire":
            fields |= {"name": self.name(), "lease": rng.uniform(0.001, 86_400)}
        elif kind == "lock.release":
            fields |= {"name": self.name(), "token": self.maybe(lambda: rng.randint(0, 2**40))}
            fields["reason"] = rng.choice(["released", "expired", "holder-exited"])
        elif kind == "log":
            fields |= {"level": rng.choice(["debug", "info", "warning", "error"]), "text": self.text()}
        elif kind == "metric":
            fields |= {"name": self.name(), "value": rng.uniform(-1e9, 1e9), "unit": self.maybe(lambda: "ms")}
        return {key: value for key, value in fields.items() if value is not None}

    def sequence(self) -> tuple[bytes, object]:
        """A valid encoded sequence (BEL or ST) and the event it carries."""
        event = AGENT_EVENT_ADAPTER.validate_python(self.event_fields())
        data = encode(self.token(), event)
        if self.rng.random() < 0.3:
            data = data[:-1] + b"\x1b\\"
        return data, event

    def garbage(self, limit: int = 200) -> bytes:
        rng = self.rng
        size = rng.randint(0, limit)
        roll = rng.random()
        if roll < 0.3:
            return rng.randbytes(size)
        if roll < 0.6:
            return bytes(rng.choice(ALPHABET) for _ in range(size))
        return b"".join(rng.choice(NOISE + PIECES) for _ in range(rng.randint(0, 8)))

    # --- mutations --------------------------------------------------------------------------------------------

    def mutate_bytes(self, data: bytes) -> bytes:
        rng = self.rng
        buf = bytearray(data)
        for _ in range(rng.randint(1, 4)):
            if not buf:
                buf += rng.randbytes(4)
            op = rng.randrange(7)
            i = rng.randrange(len(buf))
            if op == 0:
                buf[i] ^= 1 << rng.randrange(8)
            elif op == 1:
                del buf[rng.randrange(len(buf) + 1) :]
            elif op == 2:
                j = min(len(buf), i + rng.randint(1, 20))
                buf[i:i] = buf[i:j] * rng.randint(1, 3)
            elif op == 3:
                del buf[i : i + rng.randint(1, 20)]
            elif op == 4:
                buf[i:i] = rng.randbytes(rng.randint(1, 10))
            elif op == 5:
                buf[i:i] = rng.choice([b"\x1b", b"\x07", b"\x1b\\", b":", b"\x1b]"])
            else:
                buf[i:i] = rng.choice(PIECES)
        return bytes(buf)

    def mutate_fields(self, fields: dict[str, object]) -> dict[str, object]:
        rng = self.rng
        fields = dict(fields)
        for _ in range(rng.randint(1, 3)):
            op = rng.randrange(7)
            keys = sorted(fields)
            if op == 0 and keys:
                fields[rng.choice(keys)] = self.json_value()
            elif op == 1 and keys:
                del fields[rng.choice(keys)]
            elif op == 2:
                fields[rng.choice(["x", "extra", "state", "count", "lease", "members", "to"])] = self.json_value()
            elif op == 3:
                fields["type"] = rng.choice([*ALL_TYPES, self.json_value()])
            elif op == 4:
                fields["v"] = rng.choice([0, 2, 3, "1", 1.0, True, None, -1, 2**64])
            elif op == 5:
                fields[rng.choice(keys or ["text"])] = rng.choice([float("nan"), float("inf"), -float("inf")])
            else:
                fields[rng.choice(keys or ["text"])] = "x" * rng.choice([501, 4001, 30_000])
        return fields

    # --- inputs -------------------------------------------------------------------------------------------

    def random_bytes(self) -> tuple[bytes, list[object]]:
        data = self.garbage(400)
        self.check_decode(data)  # raw bytes straight into the payload decoder too
        return data, []

    def mutated_sequence(self) -> tuple[bytes, list[object]]:
        rng = self.rng
        parts = [self.sequence()[0] for _ in range(rng.randint(1, 3))]
        if rng.random() < 0.02:
            parts.append(PREFIX + self.token().encode() + b":" + b"QUJD" * rng.randint(MAX_SEQUENCE // 4, 40_000))
        stream = b"".join(rng.choice(NOISE) + part for part in parts) + rng.choice(NOISE)
        return self.mutate_bytes(stream), []

    def embedded_sequences(self) -> tuple[bytes, list[object]]:
        rng = self.rng
        pairs = [self.sequence() for _ in range(rng.randint(1, 3))]
        stream = b"".join(self.garbage() + data for data, _ in pairs) + self.garbage()
        return stream, [event for _, event in pairs]

    def json_payload(self) -> tuple[bytes, list[object]]:
        rng = self.rng
        roll = rng.random()
        if roll < 0.01:
            text = "[" * 5000 + "]" * 5000
        elif roll < 0.3:
            value = self.json_value()
            text = json.dumps({"v": 1, "type": value} if rng.random() < 0.2 else value, ensure_ascii=roll < 0.15)
        else:
            value = self.mutate_fields({"v": SCHEMA_VERSION, **self.event_fields()})
            text = json.dumps(value, ensure_ascii=roll < 0.6)
        payload = base64.b64encode(text.encode())
        if rng.random() < 0.15:
            payload = self.mutate_bytes(payload)
        self.check_decode(payload)
        return PREFIX + self.token().encode() + b":" + payload + rng.choice([b"\x07", b"\x1b\\"]), []

    # --- running ------------------------------------------------------------------------------------------

    def chunks(self, data: bytes) -> list[bytes]:
        rng = self.rng
        if len(data) < 200 and rng.random() < 0.1:
            return [data[i : i + 1] for i in range(len(data))]
        cuts = sorted(rng.randrange(len(data) + 1) for _ in range(rng.randint(0, 8)))
        bounds = [0, *cuts, len(data)]
        return [data[a:b] for a, b in itertools.pairwise(bounds)]

    def check_decode(self, payload: bytes) -> None:
        try:
            event = decode_payload(payload)
        except ProtocolError as error:
            self.outcomes["payload → " + error_kind(str(error))] += 1
        else:
            self.outcomes["payload → event"] += 1
            if event.type not in AGENT_EVENT_TYPES:
                raise AssertionError(f"decoded a non-agent event {event!r}")

    def run_one(self, category: str, make: Callable[[], tuple[bytes, list[object]]], index: int) -> None:
        data = b""
        chunks: list[bytes] = []
        try:
            data, expected = make()
            chunks = self.chunks(data)
            whole = SequenceParser().feed(data)
            parser = SequenceParser()
            pieces: list[Sequence] = []
            for chunk in chunks:
                pieces += parser.feed(chunk)
                if parser.buffered > MAX_SEQUENCE:
                    raise AssertionError(f"parser buffers {parser.buffered} bytes")
            self.bytes_fed += 2 * len(data)
            self.chunks_fed += 1 + len(chunks)
            if pieces != whole:
                raise AssertionError(f"chunked results differ:\n  whole:   {whole!r}\n  chunked: {pieces!r}")
            decoded = []
            for item in whole:
                if isinstance(item, Rejected):
                    self.outcomes["rejected: " + item.reason.split(" (")[0]] += 1
                    continue
                try:
                    decoded.append(decode_payload(item.payload))
                except ProtocolError as error:
                    self.outcomes["frame → " + error_kind(str(error))] += 1
                else:
                    self.outcomes["frame → event"] += 1
            if not is_subsequence(expected, decoded):
                raise AssertionError(f"sequences lost: expected {expected!r}, decoded {decoded!r}")
        except Exception:
            self.failures += 1
            if self.failures <= 5:
                shown = data if len(data) <= 4000 else data[:4000] + b"..."
                print(f"\nFAILURE in {category} input #{index} (seed {self.seed}), {len(data)} bytes:", file=sys.stderr)
                print(f"  input: {shown!r}", file=sys.stderr)
                print(f"  chunk sizes: {[len(chunk) for chunk in chunks]}", file=sys.stderr)
                traceback.print_exc()

    def run(self, count: int) -> float:
        kinds = [
            ("random bytes", self.random_bytes),
            ("mutated sequences", self.mutated_sequence),
            ("embedded sequences", self.embedded_sequences),
            ("JSON payloads", self.json_payload),
        ]
        started = time.perf_counter()
        for index in range(count):
            category, make = kinds[index % len(kinds)]
            self.categories[category] += 1
            self.run_one(category, make, index)
        return time.perf_counter() - started


def error_kind(message: str) -> str:
    """A `ProtocolError` message reduced to its kind, for counting."""
    for prefix in (
        "not base64",
        "not JSON",
        "not a JSON object",
        "missing version",
        "unsupported version",
        "missing event type",
        "unknown event type",
        "payload too large",
    ):
        if message.startswith(prefix):
            return prefix
    if "cannot be sent by an agent" in message:
        return "not an agent's event type"
    return "schema violation"


def is_subsequence(expected: list[object], actual: list[object]) -> bool:
    remaining = iter(actual)
    return all(any(item == candidate for candidate in remaining) for item in expected)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=100_000, help="number of inputs (default 100,000)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    args = parser.parse_args(argv)

    fuzzer = Fuzzer(args.seed)
    elapsed = fuzzer.run(args.count)

    print(f"fuzz_protocol: {args.count:,} inputs, seed {args.seed}, {elapsed:.1f} s ({args.count / elapsed:,.0f}/s)")
    print(f"  {fuzzer.bytes_fed / 1e6:.1f} MB fed in {fuzzer.chunks_fed:,} chunks")
    print("  " + " · ".join(f"{name} {n:,}" for name, n in fuzzer.categories.items()))
    failed = "unexpected exceptions or broken invariants"
    width = max(len(name) for name in [*fuzzer.outcomes, failed])
    print(f"\n  {'outcome':<{width}}  {'count':>9}")
    for name, n in sorted(fuzzer.outcomes.items()):
        print(f"  {name:<{width}}  {n:>9,}")
    print(f"  {failed:<{width}}  {fuzzer.failures:>9,}")
    return 1 if fuzzer.failures else 0


if __name__ == "__main__":
    sys.exit(main())
