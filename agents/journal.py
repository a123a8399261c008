"""The journal: an append-only, hash-chained, HMAC-signed file of records, one canonical JSON line each.

Each record carries the SHA-256 of the previous line (`prev`) and an HMAC over all its other fields, so
an edit, a deletion, a swap or a cut-off line is found by `verify`. The chain alone cannot tell that the
*last* records were removed cleanly (the shorter file is a valid journal); an `Anchor` (seq and hash of a
line, kept elsewhere) taken earlier lets `verify` catch that too. A journal opened with an anchor file keeps
one there, signed with the key and replaced after every batch it writes (see docs/journal.md).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import hmac
import json
import os
import secrets
import stat
import threading
import time
from collections.abc import Iterator
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

from pydantic import BaseModel, ConfigDict, ValidationError

from .errors import Unavailable, first_problem
from .events import Event

GENESIS = "0" * 64
"""The `prev` of the first record."""

KEY_BYTES = 32
_MIN_KEY_BYTES = 16
_TAIL_BLOCK = 64 * 1024


class JournalError(Unavailable):
    """The journal or its key cannot be used: which file, and what is wrong with it."""


class JournalUnavailable(Unavailable):
    """The journal cannot be written (disk full, read-only): nothing is accepted until it can again."""


class Record(BaseModel):
    """One journaled event: who did it, when, in which trace, and its place in the chain."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    seq: int
    time: float
    trace: str
    span: str
    parent: str | None
    actor: str
    event: Event
    prev: str
    hmac: str


class AnchorError(JournalError):
    """An anchor file that cannot be trusted or read: which file, and what is wrong with it."""


class Anchor(NamedTuple):
    """A record's seq and the SHA-256 of its line: kept outside the journal, it pins the journal's length.
    `first` (the SHA-256 of record 1's line) names the journal it belongs to; `time` is when it was taken."""

    seq: int
    digest: str
    first: str | None = None
    time: float | None = None


@dataclass(frozen=True)
class VerifyResult:
    """What `verify` found: `ok`, how many good records precede the first bad line, and what is wrong there."""

    ok: bool
    count: int
    first_bad: int | None = None
    problem: str | None = None


ANCHOR_VERSION = 1
_ANCHOR_CONTEXT = b"agent-console journal anchor\n"  # an anchor's signature can never pass for a record's


def anchor_path_for(journal: Path, key: Path) -> Path:
    """Where a journal's anchor is kept: beside its key (the state directory), not beside the journal. A journal
    kept elsewhere (`serve --journal`) gets an anchor of its own, named after its real path."""
    journal, folder = Path(journal), Path(key).parent
    if os.path.realpath(journal.parent) == os.path.realpath(folder):
        return folder / f"{journal.stem}.anchor"
    where = hashlib.sha256(os.path.realpath(journal).encode()).hexdigest()[:12]
    return folder / f"{journal.stem}-{where}.anchor"


def _sign_anchor(key: bytes, fields: dict[str, Any]) -> str:
    body = {name: value for name, value in fields.items() if name != "hmac"}
    return hmac.new(key, _ANCHOR_CONTEXT + canonical(body).encode("utf-8"), hashlib.sha256).hexdigest()


ANCHOR_SLOT = 512
"""An anchor file holds two slots of this many bytes, overwritten in place in turn: a write cut off by a crash
spoils one slot at most, and no write replaces the file (on ext4 a rename over a file costs about 0.5 ms: it
flushes the new file's data; an overwrite in place costs microseconds)."""
_ANCHOR_FIELDS = {"v", "seq", "digest", "first", "time", "hmac"}


def anchor_slot(key: bytes, anchor: Anchor) -> bytes:
    """The signed JSON of `anchor`, padded to one slot of an anchor file."""
    fields: dict[str, Any] = {
        "v": ANCHOR_VERSION,
        "seq": anchor.seq,
        "digest": anchor.digest,
        "first": anchor.first,
        "time": anchor.time if anchor.time is not None else time.time(),
    }
    fields["hmac"] = _sign_anchor(key, fields)
    return canonical(fields).encode("utf-8").ljust(ANCHOR_SLOT - 1) + b"\n"


def write_anchor(path: Path, key: bytes, anchor: Anchor) -> None:
    """A new anchor file at `path` holding `anchor` alone, put in place in one step (mode 0600)."""
    path = Path(path)
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        try:
            os.write(descriptor, anchor_slot(key, anchor))
        finally:
            os.close(descriptor)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


class AnchorFile:
    """The anchor file a journal keeps, open for as long as the journal: each `write` overwrites the slot that
    does not hold the newest anchor, so the newest one survives a write torn by a crash."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
        data = os.pread(self._fd, 2 * ANCHOR_SLOT, 0)
        seqs = [_slot_seq(data[index * ANCHOR_SLOT : (index + 1) * ANCHOR_SLOT]) for index in (0, 1)]
        self._slot = 0 if seqs[0] <= seqs[1] else 1  # the older (or empty) one goes first

    def write(self, key: bytes, anchor: Anchor) -> None:
        os.pwrite(self._fd, anchor_slot(key, anchor), self._slot * ANCHOR_SLOT)
        self._slot ^= 1

    def sync(self) -> None:
        os.fsync(self._fd)

    def close(self) -> None:
        os.close(self._fd)


def _slot_seq(slot: bytes) -> int:
    """The seq a slot says it holds (unchecked: only to pick the slot to overwrite), -1 when none."""
    try:
        seq = json.loads(slot).get("seq")
    except (ValueError, AttributeError):
        return -1
    return seq if isinstance(seq, int) else -1


def read_anchor(path: Path, key: bytes) -> Anchor:
    """The newest anchor kept at `path`, its signature checked with `key`; `AnchorError` says what is wrong.
    A slot that is not an anchor at all (never written, or torn by a crash) is passed over; a slot that is one
    but is not signed with `key` is a forgery, and refused."""
    path = Path(path)
    for _ in range(3):  # a slot being overwritten right now reads as damaged: read again
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise AnchorError(f"there is no anchor at {path}") from None
        except OSError as error:
            raise AnchorError(f"cannot read the anchor {path}: {error.strerror or error}") from None
        found, forged = _read_slots(data, key)
        if not forged:
            break
    if len(data) > 2 * ANCHOR_SLOT:
        raise AnchorError(f"the anchor {path} is not an anchor of this version (it is {len(data)} bytes)")
    if forged:
        raise AnchorError(
            f"the anchor {path} is not signed with this journal's key: it was forged or edited, "
            "or it is another org's anchor"
        )
    if not found:
        empty = " (it is empty: it may have been lost in a crash, or emptied)" if not data.strip() else ""
        raise AnchorError(f"the anchor {path} holds no anchor of this version{empty}")
    return max(found)


def _read_slots(data: bytes, key: bytes) -> tuple[list[Anchor], bool]:
    """The anchors signed with `key` in an anchor file's slots, and whether a slot holds one that is not."""
    found, forged = [], False
    for index in range(0, min(len(data), 2 * ANCHOR_SLOT), ANCHOR_SLOT):
        try:
            fields = json.loads(data[index : index + ANCHOR_SLOT])
        except ValueError:
            continue  # never written, or torn by a crash
        if not isinstance(fields, dict) or set(fields) != _ANCHOR_FIELDS or fields["v"] != ANCHOR_VERSION:
            continue
        if not hmac.compare_digest(str(fields["hmac"]), _sign_anchor(key, fields)):
            forged = True
        elif isinstance(fields["seq"], int) and fields["seq"] >= 1 and isinstance(fields["time"], int | float):
            found.append(Anchor(fields["seq"], str(fields["digest"]), fields["first"], float(fields["time"])))
        else:
            forged = True  # signed, yet not what the journal writes
    return found, forged


def describe_anchor(anchor: Anchor) -> str:
    """`record 40 (anchored 2026-12-02 03:12:01 UTC)`: how messages name an anchor."""
    when = (
        time.strftime(" (anchored %Y-%m-%d %H:%M:%S UTC)", time.gmtime(anchor.time)) if anchor.time is not None else ""
    )
    return f"record {anchor.seq}{when}"


def canonical(data: Any) -> str:
    """The one JSON text of `data` that is signed and chained: sorted keys, no spaces."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def sign(key: bytes, fields: dict[str, Any]) -> str:
    """The HMAC-SHA256 (hex) of a record's fields other than `hmac`."""
    body = {name: value for name, value in fields.items() if name != "hmac"}
    return hmac.new(key, canonical(body).encode("utf-8"), hashlib.sha256).hexdigest()


def line_digest(line: bytes) -> str:
    """The SHA-256 (hex) of a journal line, without its newline: what the next record's `prev` holds."""
    return hashlib.sha256(line).hexdigest()


# --- keys -----------------------------------------------------------------------------------------------------


def load_or_create_key(path: Path) -> bytes:
    """The journal key at `path`: 32 random bytes, created (mode 0600, folder 0700) when missing."""
    path = Path(path)
    try:
        return _read_key(path)
    except FileNotFoundError:
        pass
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}")
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(descriptor, secrets.token_bytes(KEY_BYTES))
            os.fsync(descriptor)
        finally:
            os.close(descriptor)
        try:
            # link, unlike rename, never replaces a key another process created meanwhile
            os.link(temporary, path)
        except FileExistsError:
            pass
        finally:
            os.unlink(temporary)
    except OSError as error:
        raise JournalError(f"cannot create the journal key {path}: {error.strerror or error}") from None
    return _read_key(path)


def _read_key(path: Path) -> bytes:
    """The key at `path`; `FileNotFoundError` when there is none yet."""
    try:
        info = path.stat()
    except FileNotFoundError:
        raise
    except OSError as error:
        raise JournalError(f"cannot read the journal key {path}: {error.strerror or error}") from None
    if not stat.S_ISREG(info.st_mode):
        raise JournalError(f"the journal key {path} is not a regular file")
    if info.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise JournalError(
            f"the journal key {path} is open to group or others (mode {stat.filemode(info.st_mode)}): "
            f"run `chmod 600 {path}`"
        )
    try:
        key = path.read_bytes()
    except OSError as error:
        raise JournalError(f"cannot read the journal key {path}: {error.strerror or error}") from None
    if len(key) != KEY_BYTES:
        raise JournalError(f"the journal key {path} has {len(key)} bytes, not {KEY_BYTES}: it is damaged")
    return key


def _check_key(key: bytes) -> None:
    if not isinstance(key, bytes) or len(key) < _MIN_KEY_BYTES:
        raise JournalError(f"a journal key must be at least {_MIN_KEY_BYTES} bytes")


# --- reading and checking -------------------------------------------------------------------------------------


class _Bad(Exception):
    """A bad line: its number, what kind of wrong (for callers that treat some kinds apart) and the message."""

    def __init__(self, line: int, kind: str, detail: str) -> None:
        super().__init__(f"line {line}: {detail}")
        self.line = line
        self.kind = kind
        self.detail = detail
        self.problem = f"line {line}: {detail}"


def _lines(path: Path) -> Iterator[tuple[int, bytes]]:
    """(1-based number, content without its newline) for each line; only the last may lack a newline."""
    try:
        handle = path.open("rb")
    except OSError as error:
        raise JournalError(f"cannot read the journal {path}: {error.strerror or error}") from None
    with handle:
        for number, raw in enumerate(handle, start=1):
            yield number, raw.removesuffix(b"\n")


_HMAC_MEMBER = ',"hmac":"'
_HMAC_HEX = 64


def _as_signed(key: bytes, line: bytes) -> Record | None:
    """The record when the line is exactly the text that was signed, its `hmac` member aside; else None (and
    `_parse`'s full check says what is wrong). Only canonical text is ever signed, so a line whose text without
    that member carries its HMAC is canonical: no JSON needs re-encoding to check it (most of the cost of
    reading a journal). The member is the last `,"hmac":"` of the line: in a JSON string a quote is escaped."""
    text = line.decode("utf-8", errors="strict")
    at = text.rfind(_HMAC_MEMBER)
    start = at + len(_HMAC_MEMBER)
    end = start + _HMAC_HEX
    if at < 0 or text[end : end + 2] != '",':
        return None
    body = text[:at] + text[end + 1 :]
    if not hmac.compare_digest(hmac.new(key, body.encode("utf-8"), hashlib.sha256).hexdigest(), text[start:end]):
        return None
    try:
        return Record.model_validate_json(line)
    except ValidationError:
        return None


def _parse(key: bytes, number: int, line: bytes, last: bool) -> Record:
    """A line as a signed record, or `_Bad` saying what is wrong with it."""
    with contextlib.suppress(UnicodeDecodeError):
        signed = _as_signed(key, line)
        if signed is not None:
            return signed
    try:
        text = line.decode("utf-8")
        fields = json.loads(text)
    except (UnicodeDecodeError, json.JSONDecodeError):
        # a line cut off mid-write is never valid JSON; only the last line can be one
        if last:
            raise _Bad(number, "truncated", "truncated record") from None
        raise _Bad(number, "json", "not a JSON record") from None
    if not isinstance(fields, dict):
        raise _Bad(number, "json", "not a JSON record")
    try:
        record = Record.model_validate(fields)
    except ValidationError as error:
        problem = first_problem(error)
        raise _Bad(number, "invalid", f"not a valid record ({problem.where or 'record'}: {problem.message})") from None
    if not hmac.compare_digest(str(fields["hmac"]), sign(key, fields)):
        raise _Bad(number, "altered", f"record {record.seq} was altered (its HMAC does not match)")
    if canonical(fields) != text:
        raise _Bad(number, "altered", f"record {record.seq} was rewritten (its line is not in canonical form)")
    return record


def _scan(path: Path, key: bytes, anchor: Anchor | None = None) -> Iterator[Record]:
    """Every record, checked in order; raises `_Bad` at the first line that is wrong."""
    expected = 1
    prev = GENESIS
    anchored: str | None = None
    lines = _lines(path)
    current = next(lines, None)
    while current is not None:
        number, line = current
        following = next(lines, None)  # one line of look-ahead: only the last line can be cut off
        record = _parse(key, number, line, last=following is None)
        if record.seq != expected:
            after = f"after {expected - 1}" if expected > 1 else "at the start"
            if record.seq < expected:
                detail = f"record {record.seq} is out of order or repeated (found {record.seq} {after})"
            elif record.seq == expected + 1:
                detail = f"record {expected} is missing or out of order (found {record.seq} {after})"
            else:
                detail = f"records {expected} to {record.seq - 1} are missing (found {record.seq} {after})"
            raise _Bad(number, "order", detail)
        if record.prev != prev:
            raise _Bad(number, "chain", f"record {record.seq} does not follow line {number - 1} (prev hash differs)")
        prev = line_digest(line)
        if anchor is not None and record.seq == 1 and anchor.first is not None and prev != anchor.first:
            raise _Bad(
                number,
                "anchor",
                "record 1 is not the first record of the anchored journal: the anchor belongs to another journal, "
                "or this one was rewritten from its start by someone holding the key",
            )
        if anchor is not None and record.seq == anchor.seq:
            anchored = prev
        yield record
        expected += 1
        current = following
    if anchor is not None:
        count = expected - 1
        if anchor.seq > count:
            said = f"the anchor says it reached {describe_anchor(anchor)}" if anchor.time is not None else ""
            raise _Bad(
                count + 1,
                "missing",
                f"records {count + 1} to {anchor.seq} are missing (the journal ends at {count}"
                + (f"; {said})" if said else ")"),
            )
        if anchor.seq >= 1 and anchored != anchor.digest:
            raise _Bad(
                anchor.seq,
                "anchor",
                f"record {anchor.seq} is not the one anchored (its line hash differs): the journal was rewritten "
                "up to it by someone holding the key, or the anchor belongs to another journal",
            )


def verify(path: Path, key: bytes, anchor: Anchor | None = None) -> VerifyResult:
    """Check every record's HMAC, seq and chain; name the first bad line. Raises only for I/O problems.

    Without `anchor`, a journal whose last records were removed whole still verifies: nothing inside the
    file can tell. With an anchor taken earlier (`Journal.anchor`), that record must still be there, unchanged.
    """
    _check_key(key)
    count = 0
    try:
        for _ in _scan(Path(path), key, anchor):
            count += 1
    except _Bad as bad:
        problem = bad.problem
        if bad.kind == "truncated" and anchor is not None:
            problem += (
                f"; the anchor says the journal reached {describe_anchor(anchor)}: records were cut off"
                if anchor.seq > count
                else f"; it follows the anchored {describe_anchor(anchor)}: consistent with a crash mid-write"
            )
        return VerifyResult(ok=False, count=count, first_bad=bad.line, problem=problem)
    return VerifyResult(ok=True, count=count)


def read_records(path: Path, key: bytes | None = None) -> Iterator[Record]:
    """Every record of a journal, in order; a last line cut off mid-write is skipped (`Journal.open` drops it).

    With `key`, each record is checked as `verify` does and the first bad one raises `JournalError`; without
    it, records are only parsed (a journal this process writes needs no checking).
    """
    path = Path(path)
    if key is not None:
        _check_key(key)
        try:
            yield from _scan(path, key)
        except _Bad as bad:
            if bad.kind != "truncated":
                raise JournalError(f"{path}: {bad.problem}") from None
        return
    lines = _lines(path)
    current = next(lines, None)
    while current is not None:
        number, line = current
        following = next(lines, None)
        try:
            yield Record.model_validate_json(line)
        except ValidationError as error:
            if following is None and error.errors()[0]["type"] == "json_invalid":
                return
            raise JournalError(f"{path}: line {number}: not a valid record ({first_problem(error).message})") from None
        current = following


# --- writing --------------------------------------------------------------------------------------------------


def _read_head(descriptor: int) -> bytes:
    """The first line of the file, without its newline."""
    data, offset = b"", 0
    while b"\n" not in data:
        block = os.pread(descriptor, _TAIL_BLOCK, offset)
        if not block:
            break
        data, offset = data + block, offset + len(block)
    return data.split(b"\n", 1)[0]


def _read_tail(descriptor: int, size: int) -> tuple[bytes, int]:
    """The last line of the file (with its newline, if any) and the offset it starts at."""
    end = size
    chunks: list[bytes] = []
    while end > 0:
        start = max(0, end - _TAIL_BLOCK)
        block = os.pread(descriptor, end - start, start)
        chunks.insert(0, block)
        data = b"".join(chunks)
        # the newline that ends the last line does not count as its start
        cut = data.rfind(b"\n", 0, len(data) - 1 if data.endswith(b"\n") else len(data))
        if cut >= 0:
            return data[cut + 1 :], start + cut + 1
        end = start
    return b"".join(chunks), 0


class Journal:
    """An open journal, appended to by one process (an exclusive lock on the file keeps others out).

    Opened with `sync=False`, an append only queues its line, and `commit` makes the queue durable on a thread
    of the journal's own: one write and one fsync for every record appended while the previous batch was
    written (group commit), so the appender never waits on the disk. Appending stays on one thread, which keeps
    the order and the chain. A batch the disk refuses is taken back whole: appends then fail (`failed`) until
    `rewind` goes back to the last record written.

    With `anchor` (a file path), the journal keeps its signed anchor there: checked at open (the journal must
    still reach it), replaced after every batch is on disk (never before: an anchor is a lower bound), and
    synced at close.
    """

    def __init__(
        self,
        path: Path,
        key: bytes,
        descriptor: int,
        seq: int,
        head: str,
        sync: bool = True,
        anchor: Path | None = None,
    ) -> None:
        self.path = path
        self.sync = sync
        self.anchor_path = anchor
        self.anchor_problem: str | None = None
        """Why the anchor could not be written last time (the journal itself goes on), if it could not."""
        self._first: str | None = None  # the line hash of record 1: names this journal in its anchor
        self._anchored = seq  # the seq the anchor file holds (as far as this process wrote it)
        self._anchor_file: AnchorFile | None = None
        self._key = key
        self._fd: int | None = descriptor
        self._seq = seq
        self._head = head
        self._unsynced = False
        self._commits = threading.Condition()
        self._wanted: list[tuple[int, Future[None]]] = []  # (seq to make durable, told when it is)
        self._queued: list[bytes] = []  # lines appended and not yet written
        self._durable = 0  # the seq known to be on disk (0: not known yet, the first commit syncs)
        self._written = (seq, head)  # seq and line hash of the last record in the file
        self.failed: JournalError | None = None
        """Why the last batch could not be written (appends refuse until `rewind`)."""
        self._committer: threading.Thread | None = None
        self._closing = False
        self.dropped: bytes | None = None
        """The cut-off final line `open` removed (a write interrupted by a crash), if any."""

    @classmethod
    def open(cls, path: Path, key: bytes, sync: bool = True, anchor: Path | None = None) -> Journal:
        """Open (or create, mode 0600) the journal at `path`, continuing its seq and chain from its last line.

        A final line cut off mid-write is dropped (its append never returned, so nothing acted on it); a
        final line that is complete but does not verify with `key` refuses the open, and so does a journal
        that no longer reaches the anchor kept at `anchor` (its tail was removed, or it is another journal).
        """
        _check_key(key)
        path = Path(path)
        created = not path.exists()
        try:
            descriptor = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)
        except OSError as error:
            raise JournalError(f"cannot open the journal {path}: {error.strerror or error}") from None
        try:
            try:
                fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise JournalError(f"the journal {path} is open in another process (or another Journal)") from None
            if created and sync:
                _sync_folder(path.parent)
            journal = cls(path, key, descriptor, 0, GENESIS, sync=sync, anchor=anchor)
            journal._continue()
            journal._check_anchor()
        except OSError as error:
            os.close(descriptor)
            raise JournalError(f"cannot open the journal {path}: {error.strerror or error}") from None
        except BaseException:
            os.close(descriptor)
            raise
        return journal

    def _continue(self) -> None:
        descriptor = self._require_open()
        size = os.fstat(descriptor).st_size
        if size == 0:
            return
        tail, offset = _read_tail(descriptor, size)
        complete = tail.endswith(b"\n")
        line = tail[:-1] if complete else tail
        try:
            record = _parse(self._key, 0, line, last=True)
        except _Bad as bad:
            if complete or bad.kind != "truncated":
                raise JournalError(
                    f"the last record of {self.path} does not verify ({bad.detail}): the journal is damaged "
                    "or this is not its key; check it with `agent-console audit`"
                ) from None
            self.dropped = tail
            os.ftruncate(descriptor, offset)
            self._fsync()
            return self._continue()
        if not complete:
            self._write(b"\n")
        self._seq = record.seq
        self._head = line_digest(line)
        self._written = (self._seq, self._head)
        self._first = self._head if record.seq == 1 else line_digest(_read_head(descriptor))

    def _check_anchor(self) -> None:
        """Refuse to go on from a journal that no longer reaches its anchor: appending would hide the loss."""
        if self.anchor_path is None or not os.path.lexists(self.anchor_path):
            return
        fix = (
            f"check it with `agent-console audit verify {self.path} --anchor {self.anchor_path}`; to start a new "
            f"journal on purpose, move both {self.path} and {self.anchor_path} aside"
        )
        try:
            anchor = read_anchor(self.anchor_path, self._key)
        except AnchorError as error:
            raise AnchorError(f"{error}; {fix}") from None
        if anchor.seq > self._seq:
            raise JournalError(
                f"the journal {self.path} ends at record {self._seq}, but its anchor {self.anchor_path} says it "
                f"reached {describe_anchor(anchor)}: records {self._seq + 1} to {anchor.seq} were removed; {fix}"
            )
        digest = self._head if anchor.seq == self._seq else self._digest_of(anchor.seq)
        if digest != anchor.digest or (anchor.first is not None and self._first != anchor.first):
            raise JournalError(
                f"the journal {self.path} is not the one its anchor {self.anchor_path} pins: its record "
                f"{anchor.seq} differs from the anchored one (rewritten, or another journal); {fix}"
            )

    def _digest_of(self, seq: int) -> str | None:
        """The line hash of record `seq`, read backwards from the end (an anchor lags a batch at most)."""
        descriptor = self._require_open()
        end = os.fstat(descriptor).st_size
        while end > 0:
            tail, start = _read_tail(descriptor, end)
            line = tail.removesuffix(b"\n")
            try:
                found = json.loads(line).get("seq")
            except (ValueError, AttributeError):
                return None
            if found == seq:
                return line_digest(line)
            if not isinstance(found, int) or found < seq:
                return None
            end = start
        return None

    def _write_anchor(self, seq: int, head: str) -> None:
        if self.anchor_path is None or seq < 1:
            return
        try:
            if self._anchor_file is None:
                self._anchor_file = AnchorFile(self.anchor_path)
            self._anchor_file.write(self._key, Anchor(seq, head, self._first))
            self._anchored = seq
            self.anchor_problem = None
        except OSError as error:
            self.anchor_problem = f"cannot write the anchor {self.anchor_path}: {error.strerror or error}"

    @property
    def seq(self) -> int:
        """The seq of the last record (0 when empty)."""
        return self._seq

    @property
    def closed(self) -> bool:
        return self._fd is None

    @property
    def anchor(self) -> Anchor:
        """The last record's seq and line hash (and the journal's first), to keep elsewhere and give to `verify`."""
        return Anchor(self._seq, self._head, self._first if self._seq >= 1 else None)

    def append(
        self,
        actor: str,
        event: Event,
        trace: str | None = None,
        parent: str | None = None,
        now: float | None = None,
        span: str | None = None,
    ) -> Record:
        """Write `event` by `actor` as the next record (new trace and span ids unless given) and return it."""
        self._require_open()
        try:
            record = Record(
                seq=self._seq + 1,
                time=time.time() if now is None else now,
                trace=trace or secrets.token_hex(8),
                span=span or secrets.token_hex(8),
                parent=parent,
                actor=actor,
                event=event,
                prev=self._head,
                hmac="",
            )
        except ValidationError as error:
            raise JournalError(f"cannot journal this event: {first_problem(error).message}") from None
        fields = record.model_dump(mode="json")
        fields["hmac"] = sign(self._key, fields)
        line = canonical(fields).encode("utf-8")
        if self.sync:
            self._write(line + b"\n")
            self._seq, self._head = record.seq, line_digest(line)
            self._written = (self._seq, self._head)
            if record.seq == 1:
                self._first = self._head
            self._write_anchor(self._seq, self._head)
        else:
            digest = line_digest(line)
            with self._commits:  # the commit thread takes the queue and the seq it ends at together
                if self.failed is not None:
                    raise JournalError(str(self.failed))
                self._queued.append(line + b"\n")
                self._seq, self._head = record.seq, digest
                if record.seq == 1:
                    self._first = digest
        return record.model_copy(update={"hmac": fields["hmac"]})

    def _write(self, data: bytes) -> None:
        descriptor = self._require_open()
        size = os.fstat(descriptor).st_size
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(descriptor, view) :]
            self._fsync()
        except OSError as error:
            # a half-written line would break every later record: take it back, or refuse to go on
            try:
                os.ftruncate(descriptor, size)
            except OSError:
                self.close()
            raise JournalError(f"cannot write to the journal {self.path}: {error.strerror or error}") from None

    def _fsync(self) -> None:
        if self.sync and self._fd is not None:
            os.fsync(self._fd)
        else:
            self._unsynced = True

    def flush(self) -> None:
        """Make every record appended so far durable, waiting for it (`OSError` when the disk refuses)."""
        self.commit().result()

    def commit(self) -> Future[None]:
        """A future done once every record appended so far is on disk; its exception is the fsync's `OSError`
        (disk full, I/O error), and a later commit tries again."""
        future: Future[None] = Future()
        target = self._seq
        with self._commits:
            if self.sync or (target <= self._durable and not self._unsynced and not self._queued):
                future.set_result(None)
            elif self._fd is None or self._closing:
                future.set_exception(JournalError(f"the journal {self.path} is closed"))
            else:
                self._wanted.append((target, future))
                if self._committer is None:
                    self._committer = threading.Thread(target=self._commit_loop, name="journal commit", daemon=True)
                    self._committer.start()
                self._commits.notify()
        return future

    def _commit_loop(self) -> None:
        while True:
            with self._commits:
                while not self._wanted and not self._closing:
                    self._commits.wait()
                if not self._wanted:
                    return
                batch, self._wanted = self._wanted, []
                lines, self._queued = self._queued, []
                last = (self._seq, self._head) if lines else self._written  # the queue ends at the newest record
                # cleared before the fsync: a record written meanwhile sets it again, or is covered by this fsync
                self._unsynced = False
                descriptor = self._fd
            error: Exception | None = None
            try:
                if descriptor is None:
                    raise JournalError(f"the journal {self.path} is closed")
                if lines:
                    self._write_batch(descriptor, b"".join(lines))
                    self._written = last
                os.fsync(descriptor)
            except JournalError as refused:
                with self._commits:
                    self.failed = refused
                error = refused
            except OSError as refused:  # written, not known to be on disk: the next commit syncs again
                self._unsynced = True
                error = refused
            if error is None:
                with self._commits:
                    self._durable = max(self._durable, *(seq for seq, _ in batch))
            if error is None and self._written[0] != self._anchored:
                # only once the batch is on disk (never ahead of it), and before it is acknowledged: what an
                # agent was told is journaled is also anchored
                self._write_anchor(*self._written)
            for _, future in batch:
                if error is None:
                    future.set_result(None)
                else:
                    future.set_exception(error)

    def _write_batch(self, descriptor: int, data: bytes) -> None:
        size = os.fstat(descriptor).st_size
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(descriptor, view) :]
        except OSError as error:
            # a half-written line would break every later record: take the whole batch back
            with contextlib.suppress(OSError):
                os.ftruncate(descriptor, size)
            raise JournalError(f"cannot write to the journal {self.path}: {error.strerror or error}") from None

    def rewind(self) -> int:
        """After a refused batch: forget what was not written, go on from the last record in the file, and
        accept appends again. Returns how many records were forgotten."""
        with self._commits:
            forgotten = self._seq - self._written[0]
            self._queued.clear()
            self._seq, self._head = self._written
            self.failed = None
            return forgotten

    def records(self) -> Iterator[Record]:
        """Every record written so far, from the first (read from the file, not kept in memory)."""
        self._require_open()
        if not self.sync:
            self.flush()
        return read_records(self.path)

    @staticmethod
    def read(path: Path, key: bytes) -> Iterator[Record]:
        """Every record of the journal at `path`, each checked with `key` (`JournalError` at the first bad one)."""
        return read_records(path, key)

    def close(self) -> None:
        """Make what was appended durable (as far as the disk allows), close the file and give up its lock;
        closing twice is harmless."""
        if self._fd is None:
            return
        with contextlib.suppress(OSError, JournalError):
            self.flush()
        with self._commits:
            self._closing = True
            self._commits.notify()
        if self._committer is not None:
            self._committer.join()
        if self.failed is None and self._written[0] == self._seq and self._written[0] != self._anchored:
            self._write_anchor(*self._written)
        if self._anchor_file is not None:
            with contextlib.suppress(OSError):
                self._anchor_file.sync()  # the one fsync an anchor gets: batches do not wait for it
            self._anchor_file.close()
        descriptor, self._fd = self._fd, None
        os.close(descriptor)

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _require_open(self) -> int:
        if self._fd is None:
            raise JournalError(f"the journal {self.path} is closed")
        return self._fd


def _sync_folder(folder: Path) -> None:
    # a new file survives a crash only once its folder entry is on disk too
    with contextlib.suppress(OSError):
        descriptor = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)
