"""The journal: append and reopen, file modes, and `verify` catching every kind of tampering at its first line."""

from __future__ import annotations

import errno
import json
import os
import stat
import tempfile
import threading
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agent_console.agents.events import (
    HUMAN,
    SUPERVISOR,
    AgentExited,
    AgentLaunched,
    AgentState,
    ApprovalDecided,
    ApprovalRequested,
    BarrierArrived,
    BarrierReleased,
    Heartbeat,
    LockGranted,
    LockReleased,
    LockRequested,
    LogRecorded,
    MessageAcknowledged,
    MessageSent,
    MessageTyped,
    MetricRecorded,
    OrgEdit,
    OrgEdited,
    OrgLoaded,
    SpoofRejected,
    StatusReported,
    VoteCast,
    VoteClosed,
    VoteOpened,
)
from agent_console.agents.journal import (
    GENESIS,
    Anchor,
    Journal,
    JournalError,
    Record,
    VerifyResult,
    line_digest,
    load_or_create_key,
    read_records,
    verify,
)

KEY = bytes(range(32))


def write_journal(path: Path, count: int = 12, key: bytes = KEY) -> list[Record]:
    """A journal of `count` log records; record n has time n and says "entry n"."""
    with Journal.open(path, key, sync=False) as journal:
        return [journal.append("ann", LogRecorded(text=f"entry {n}"), now=float(n)) for n in range(1, count + 1)]


def lines_of(path: Path) -> list[bytes]:
    return path.read_bytes().splitlines(keepends=True)


def write_lines(path: Path, lines: list[bytes]) -> None:
    path.write_bytes(b"".join(lines))


# --- append and reopen ------------------------------------------------------------------------------------------


def test_append_numbers_and_chains_records(tmp_path: Path) -> None:
    records = write_journal(tmp_path / "j.jsonl", count=3)
    assert [record.seq for record in records] == [1, 2, 3]
    assert records[0].prev == GENESIS
    lines = lines_of(tmp_path / "j.jsonl")
    assert records[1].prev == line_digest(lines[0].rstrip(b"\n"))
    assert records[2].prev == line_digest(lines[1].rstrip(b"\n"))
    assert len({record.span for record in records}) == 3
    assert all(len(record.trace) == 16 for record in records)


def test_line_is_the_canonical_json_of_the_record(tmp_path: Path) -> None:
    [record] = write_journal(tmp_path / "j.jsonl", count=1)
    line = (tmp_path / "j.jsonl").read_text(encoding="utf-8")
    expected = json.dumps(record.model_dump(mode="json"), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert line == expected + "\n"


def test_reopen_continues_seq_and_chain(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    first = write_journal(path, count=4)
    with Journal.open(path, KEY, sync=False) as journal:
        assert journal.seq == 4
        record = journal.append(SUPERVISOR, Heartbeat(), trace="t1", parent="p1", now=5.0)
    assert record.seq == 5
    assert record.prev == line_digest(lines_of(path)[3].rstrip(b"\n"))
    assert (record.trace, record.parent) == ("t1", "p1")
    assert list(read_records(path)) == [*first, record]
    assert verify(path, KEY).ok


def test_records_iterates_everything_written(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    with Journal.open(path, KEY) as journal:
        written = [journal.append(HUMAN, ApprovalDecided(id=f"a{n}", approved=n % 2 == 0)) for n in range(5)]
        assert list(journal.records()) == written
        assert list(Journal.read(path, KEY)) == written


def test_open_reads_only_the_tail_to_continue(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "j.jsonl"
    write_journal(path, count=3000)

    def no_full_read(*args: object, **kwargs: object) -> None:
        raise AssertionError("open must not read the whole journal")

    monkeypatch.setattr("agent_console.agents.journal._scan", no_full_read)
    monkeypatch.setattr("agent_console.agents.journal._lines", no_full_read)
    with Journal.open(path, KEY, sync=False) as journal:
        assert journal.seq == 3000


def test_journal_file_is_private(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    write_journal(path, count=1)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_a_second_writer_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    with Journal.open(path, KEY), pytest.raises(JournalError, match="open in another process"):
        Journal.open(path, KEY)
    Journal.open(path, KEY).close()  # closing gives the lock back


def test_closed_journal_refuses_appends(tmp_path: Path) -> None:
    journal = Journal.open(tmp_path / "j.jsonl", KEY)
    journal.close()
    journal.close()
    with pytest.raises(JournalError, match="closed"):
        journal.append("ann", Heartbeat())


def test_open_with_the_wrong_key_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    write_journal(path, count=2)
    with pytest.raises(JournalError, match="not its key"):
        Journal.open(path, bytes(32))


def test_open_drops_a_line_cut_off_mid_write(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    write_journal(path, count=3)
    lines = lines_of(path)
    torn = lines[2][: len(lines[2]) // 2]
    write_lines(path, [*lines[:2], torn])
    assert verify(path, KEY).problem == "line 3: truncated record"
    assert [record.seq for record in Journal.read(path, KEY)] == [1, 2]  # replay before reopening
    with Journal.open(path, KEY, sync=False) as journal:
        assert journal.dropped == torn
        assert journal.seq == 2
        journal.append("ann", Heartbeat(), now=9.0)
    assert verify(path, KEY).ok
    assert [record.seq for record in read_records(path)] == [1, 2, 3]


def test_open_completes_a_record_that_lost_only_its_newline(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    write_journal(path, count=2)
    path.write_bytes(path.read_bytes().rstrip(b"\n"))
    assert verify(path, KEY).ok
    with Journal.open(path, KEY, sync=False) as journal:
        assert journal.dropped is None
        journal.append("ann", Heartbeat())
    assert verify(path, KEY).count == 3


# --- keys --------------------------------------------------------------------------------------------------------


def test_commit_makes_every_record_appended_before_it_durable_on_its_own_thread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    synced_sizes: list[tuple[str, int]] = []
    real_fsync = os.fsync

    def fsync(descriptor: int) -> None:
        synced_sizes.append((threading.current_thread().name, os.fstat(descriptor).st_size))
        real_fsync(descriptor)

    monkeypatch.setattr("agent_console.agents.journal.os.fsync", fsync)
    path = tmp_path / "j.jsonl"
    with Journal.open(path, KEY, sync=False) as journal:
        for n in range(5):
            journal.append(SUPERVISOR, LogRecorded(text=f"entry {n}"))
        assert synced_sizes == []  # appending never syncs
        journal.commit().result(timeout=10)
        assert synced_sizes == [("journal commit", path.stat().st_size)]
        journal.commit().result(timeout=10)  # nothing new: nothing to sync
        assert len(synced_sizes) == 1
        journal.append(SUPERVISOR, LogRecorded(text="entry 5"))
    assert synced_sizes[-1][1] == path.stat().st_size  # closing makes the rest durable
    assert verify(path, KEY) == VerifyResult(ok=True, count=6)


def test_a_failed_commit_says_why_and_the_next_one_tries_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real_fsync = os.fsync
    refusals = [OSError(errno.ENOSPC, "No space left on device")]

    def fsync(descriptor: int) -> None:
        if refusals:
            raise refusals.pop()
        real_fsync(descriptor)

    monkeypatch.setattr("agent_console.agents.journal.os.fsync", fsync)
    with Journal.open(tmp_path / "j.jsonl", KEY, sync=False) as journal:
        journal.append(SUPERVISOR, LogRecorded(text="entry"))
        with pytest.raises(OSError, match="No space left"):
            journal.commit().result(timeout=10)
        assert journal.commit().result(timeout=10) is None


def test_a_batch_the_disk_refuses_is_taken_back_whole_and_the_chain_goes_on_after_rewind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_write = os.write
    full = [False]

    def write(descriptor: int, data: bytes) -> int:
        if full[0] and threading.current_thread().name == "journal commit":
            real_write(descriptor, bytes(data)[:10])  # part of it, then the disk is full
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(descriptor, data)

    monkeypatch.setattr("agent_console.agents.journal.os.write", write)
    path = tmp_path / "j.jsonl"
    with Journal.open(path, KEY, sync=False) as journal:
        journal.append(SUPERVISOR, LogRecorded(text="kept"))
        journal.commit().result(timeout=10)
        full[0] = True
        journal.append(SUPERVISOR, LogRecorded(text="refused 1"))
        journal.append(SUPERVISOR, LogRecorded(text="refused 2"))
        with pytest.raises(JournalError, match=f"cannot write to the journal {path}: No space left"):
            journal.commit().result(timeout=10)
        with pytest.raises(JournalError, match="No space left"):
            journal.append(SUPERVISOR, LogRecorded(text="while full"))
        assert verify(path, KEY) == VerifyResult(ok=True, count=1)  # nothing half-written
        assert journal.rewind() == 2 and journal.seq == 1
        full[0] = False
        journal.append(SUPERVISOR, LogRecorded(text="after"))
        journal.commit().result(timeout=10)
    assert verify(path, KEY) == VerifyResult(ok=True, count=2)
    assert [record.event.text for record in read_records(path)] == ["kept", "after"]


def test_key_is_created_private_and_reused(tmp_path: Path) -> None:
    path = tmp_path / "state" / "org" / "journal.key"
    key = load_or_create_key(path)
    assert len(key) == 32
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert load_or_create_key(path) == key
    assert load_or_create_key(tmp_path / "other.key") != key
    assert [p.name for p in path.parent.iterdir()] == ["journal.key"]  # no temporary left behind


def test_key_readable_by_others_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "journal.key"
    load_or_create_key(path)
    os.chmod(path, 0o644)
    with pytest.raises(JournalError, match=r"open to group or others.*chmod 600"):
        load_or_create_key(path)


def test_damaged_key_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "journal.key"
    path.write_bytes(b"short")
    os.chmod(path, 0o600)
    with pytest.raises(JournalError, match="5 bytes, not 32"):
        load_or_create_key(path)


def test_short_keys_are_refused(tmp_path: Path) -> None:
    with pytest.raises(JournalError, match="at least 16 bytes"):
        Journal.open(tmp_path / "j.jsonl", b"k")


# --- verify -------------------------------------------------------------------------------------------------------


def test_verify_accepts_a_good_journal(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    write_journal(path)
    assert verify(path, KEY).ok
    assert verify(path, KEY).count == 12
    empty = tmp_path / "empty.jsonl"
    Journal.open(empty, KEY).close()
    assert verify(empty, KEY).ok and verify(empty, KEY).count == 0


def test_verify_catches_an_edited_field(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    write_journal(path)
    lines = lines_of(path)
    lines[6] = lines[6].replace(b'"text":"entry 7"', b'"text":"entry 8"')
    write_lines(path, lines)
    result = verify(path, KEY)
    assert (result.ok, result.first_bad, result.count) == (False, 7, 6)
    assert result.problem == "line 7: record 7 was altered (its HMAC does not match)"


def test_verify_catches_an_edit_that_keeps_the_json_canonical(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    write_journal(path)
    lines = lines_of(path)
    fields = json.loads(lines[6])
    fields["actor"] = "bob"
    lines[6] = (json.dumps(fields, sort_keys=True, separators=(",", ":")) + "\n").encode()
    write_lines(path, lines)
    assert verify(path, KEY).problem == "line 7: record 7 was altered (its HMAC does not match)"


def test_verify_catches_a_reformatted_line(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    write_journal(path)
    lines = lines_of(path)
    lines[3] = (json.dumps(json.loads(lines[3]), sort_keys=True) + "\n").encode()  # same content, spaces added
    write_lines(path, lines)
    result = verify(path, KEY)
    assert result.first_bad == 4
    assert "not in canonical form" in (result.problem or "")


def test_verify_catches_a_deleted_record(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    write_journal(path)
    lines = lines_of(path)
    del lines[6]
    write_lines(path, lines)
    result = verify(path, KEY)
    assert (result.ok, result.first_bad, result.count) == (False, 7, 6)
    assert result.problem == "line 7: record 7 is missing or out of order (found 8 after 6)"


def test_verify_catches_several_deleted_records(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    write_journal(path)
    lines = lines_of(path)
    del lines[0:3]
    write_lines(path, lines)
    assert verify(path, KEY).problem == "line 1: records 1 to 3 are missing (found 4 at the start)"


def test_verify_catches_swapped_records(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    write_journal(path)
    lines = lines_of(path)
    lines[4], lines[5] = lines[5], lines[4]
    write_lines(path, lines)
    result = verify(path, KEY)
    assert (result.ok, result.first_bad) == (False, 5)
    assert result.problem == "line 5: record 5 is missing or out of order (found 6 after 4)"


def test_verify_catches_a_repeated_record(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    write_journal(path)
    lines = lines_of(path)
    lines.insert(5, lines[4])
    write_lines(path, lines)
    assert verify(path, KEY).problem == "line 6: record 5 is out of order or repeated (found 5 after 5)"


def test_verify_catches_a_truncated_journal(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    write_journal(path)
    data = path.read_bytes()
    last_start = data.rstrip(b"\n").rfind(b"\n") + 1
    path.write_bytes(data[: last_start + (len(data) - last_start) // 2])
    result = verify(path, KEY)
    assert (result.ok, result.first_bad, result.count) == (False, 12, 11)
    assert result.problem == "line 12: truncated record"


def test_records_from_another_journal_break_the_chain(tmp_path: Path) -> None:
    path, other = tmp_path / "j.jsonl", tmp_path / "other.jsonl"
    write_journal(path)
    with Journal.open(other, KEY, sync=False) as journal:
        for n in range(1, 8):
            journal.append("bob", LogRecorded(text=f"other {n}"), now=float(n))
    lines = lines_of(path)
    lines[6] = lines_of(other)[6]  # a genuine, signed record 7, but not this journal's
    write_lines(path, lines)
    result = verify(path, KEY)
    assert result.first_bad == 7
    assert result.problem == "line 7: record 7 does not follow line 6 (prev hash differs)"


def test_verify_with_the_wrong_key_fails_at_the_first_line(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    write_journal(path)
    result = verify(path, bytes(reversed(KEY)))
    assert (result.ok, result.first_bad) == (False, 1)
    assert "HMAC does not match" in (result.problem or "")


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        (b"not json at all\n", "line 3: not a JSON record"),
        (b"[1, 2]\n", "line 3: not a JSON record"),
        (b"\xff\xfe\n", "line 3: not a JSON record"),
        (b"\n", "line 3: not a JSON record"),
        (b'{"seq": 3}\n', "line 3: not a valid record (time: Field required)"),
    ],
)
def test_verify_names_a_line_that_is_not_a_record(tmp_path: Path, line: bytes, problem: str) -> None:
    path = tmp_path / "j.jsonl"
    write_journal(path, count=5)
    lines = lines_of(path)
    lines[2] = line
    write_lines(path, lines)
    result = verify(path, KEY)
    assert (result.ok, result.first_bad, result.problem) == (False, 3, problem)


def test_read_with_a_key_raises_at_the_first_bad_record(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    write_journal(path)
    lines = lines_of(path)
    del lines[6]
    write_lines(path, lines)
    with pytest.raises(JournalError, match="line 7: record 7 is missing"):
        list(Journal.read(path, KEY))


def test_clean_removal_of_the_last_records_needs_an_anchor(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    write_journal(path, count=10)
    with Journal.open(path, KEY, sync=False) as journal:
        anchor = journal.anchor
    lines = lines_of(path)
    assert anchor == Anchor(10, line_digest(lines[9].rstrip(b"\n")), line_digest(lines[0].rstrip(b"\n")))
    assert verify(path, KEY, anchor=anchor).ok
    write_lines(path, lines_of(path)[:8])
    assert verify(path, KEY).ok  # the chain alone cannot tell
    result = verify(path, KEY, anchor=anchor)
    assert (result.ok, result.first_bad) == (False, 9)
    assert result.problem == "line 9: records 9 to 10 are missing (the journal ends at 8)"


def test_an_anchor_catches_a_rewritten_history(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    write_journal(path, count=5)
    with Journal.open(path, KEY, sync=False) as journal:
        anchor = journal.anchor
    path.unlink()
    write_journal(path, count=6)  # rewritten from scratch by someone holding the key
    result = verify(path, KEY, anchor=anchor)
    assert (result.ok, result.first_bad) == (False, 1)
    assert "the anchor belongs to another journal, or this one was rewritten from its start" in str(result.problem)
    result = verify(path, KEY, anchor=anchor._replace(first=None))  # an anchor that does not name its journal
    assert (result.ok, result.first_bad) == (False, 5)
    assert "record 5 is not the one anchored (its line hash differs)" in str(result.problem)


def test_verify_of_a_missing_journal_is_an_io_error(tmp_path: Path) -> None:
    with pytest.raises(JournalError, match="cannot read"):
        verify(tmp_path / "nope.jsonl", KEY)


# --- round trip of any valid event --------------------------------------------------------------------------------

AGENT_NAMES = ["ann", "bob", "cy", "dee"]
TEAM_NAMES = ["core", "ui", "ops"]


def event_strategy(
    names: st.SearchStrategy[str],
    ids: st.SearchStrategy[str],
    agents: st.SearchStrategy[str],
    teams: st.SearchStrategy[str],
) -> st.SearchStrategy:
    """Every event type, valid by its schema, drawing names, ids, agents and teams from the given pools."""
    text = st.text(max_size=40)
    times = st.floats(min_value=0, max_value=2e9, allow_nan=False)
    maybe = st.none().__or__
    return st.one_of(
        st.builds(
            StatusReported,
            state=st.sampled_from(list(AgentState)),
            task=maybe(text),
            progress=maybe(st.from_regex(r"[0-9]{1,3}/[0-9]{1,3}", fullmatch=True)),
        ),
        st.just(Heartbeat()),
        st.builds(
            MessageSent,
            id=ids,
            to=st.one_of(agents.map("@{}".format), teams.map("#{}".format), st.just("all")),
            text=text,
            reply_to=maybe(ids),
        ),
        st.builds(MessageAcknowledged, id=ids),
        st.builds(MessageTyped, id=ids, agent=agents),
        st.builds(ApprovalRequested, id=ids, text=text, command=maybe(text)),
        st.builds(
            BarrierArrived,
            name=names,
            count=maybe(st.integers(1, 4)),
            members=maybe(st.lists(agents, min_size=1, max_size=3, unique=True).map(tuple)),
            timeout=maybe(st.floats(min_value=0.5, max_value=100)),
        ),
        st.builds(VoteCast, name=names, choice=st.sampled_from(["yes", "no"])),
        st.builds(LockRequested, name=names, lease=st.floats(min_value=0.5, max_value=1000)),
        st.builds(
            LockReleased,
            name=names,
            token=maybe(st.integers(0, 5)),
            reason=st.sampled_from(["released", "expired", "holder-exited"]),
        ),
        st.builds(LogRecorded, level=st.sampled_from(["debug", "info", "warning", "error"]), text=text),
        st.builds(
            MetricRecorded,
            name=names,
            value=st.floats(allow_nan=False, allow_infinity=False),
            unit=maybe(st.text(max_size=20)),
        ),
        st.builds(
            OrgLoaded,
            name=st.sampled_from(["org", "acme"]),
            teams=st.dictionaries(teams, maybe(teams), max_size=3),
            agents=st.dictionaries(agents, teams, max_size=4),
        ),
        st.builds(
            OrgEdited,
            spec=maybe(st.sampled_from(["/srv/org.toml", "org.toml"])),
            edits=st.lists(
                st.builds(
                    OrgEdit,
                    action=st.sampled_from(["add-team", "add-agent", "remove-agent"]),
                    name=agents,
                    table=st.dictionaries(st.sampled_from(["name", "team", "command", "cwd"]), text, max_size=3),
                ),
                max_size=3,
            ).map(tuple),
        ),
        st.builds(AgentLaunched, agent=agents, pane=st.from_regex(r"%[0-9]{1,3}", fullmatch=True)),
        st.builds(AgentExited, agent=agents, status=maybe(st.integers(0, 255)), signal=maybe(st.integers(1, 31))),
        st.builds(ApprovalDecided, id=ids, approved=st.booleans(), reason=maybe(text)),
        st.builds(
            BarrierReleased,
            name=names,
            arrived=st.lists(agents, max_size=3).map(tuple),
            missing=st.lists(agents, max_size=3).map(tuple),
            timed_out=st.booleans(),
        ),
        st.builds(
            VoteOpened,
            name=names,
            question=maybe(text),
            voters=st.lists(agents, max_size=4, unique=True).map(tuple),
            rule=st.sampled_from(["majority", "quorum"]),
            quorum=maybe(st.integers(1, 4)),
            deadline=maybe(times),
        ),
        st.builds(
            VoteClosed,
            name=names,
            outcome=st.sampled_from(["passed", "failed", "no-quorum"]),
            yes=st.integers(0, 4),
            no=st.integers(0, 4),
        ),
        st.builds(LockGranted, name=names, holder=agents, token=st.integers(0, 6), expires=times),
        st.builds(SpoofRejected, pane=st.from_regex(r"%[0-9]{1,3}", fullmatch=True), agent=maybe(agents)),
    )


ANY_EVENT = event_strategy(
    names=st.from_regex(r"[a-z0-9][a-z0-9._-]{0,20}", fullmatch=True),
    ids=st.from_regex(r"[A-Za-z0-9._:-]{1,20}", fullmatch=True),
    agents=st.from_regex(r"[a-z0-9][a-z0-9-]{0,20}", fullmatch=True),
    teams=st.from_regex(r"[a-z0-9][a-z0-9-]{0,20}", fullmatch=True),
)
ACTORS = st.one_of(st.sampled_from([HUMAN, SUPERVISOR, *AGENT_NAMES]), st.text(min_size=1, max_size=10))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(ACTORS, ANY_EVENT), min_size=1, max_size=15))
def test_any_events_round_trip_through_the_journal(entries: list) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "j.jsonl"
        with Journal.open(path, KEY, sync=False) as journal:
            written = [journal.append(actor, event, now=float(n)) for n, (actor, event) in enumerate(entries)]
        assert [(record.actor, record.event) for record in written] == entries
        assert list(read_records(path)) == written
        assert list(Journal.read(path, KEY)) == written
        assert verify(path, KEY) == VerifyResult(ok=True, count=len(entries))
        with Journal.open(path, KEY, sync=False) as journal:
            assert journal.seq == len(entries)
