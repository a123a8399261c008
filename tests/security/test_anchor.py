"""The journal's end, anchored: whoever cuts records off the end of the journal (or swaps, forges or rolls back
its anchor) is caught by `audit verify --anchor` and by the next start, not only whoever edits a record.

The journal here is written as the supervisor writes it (appends queued, group commit on the journal's own thread,
the anchor replaced after each batch); the attacks are made on the files, then checked through the command line.
"""

from __future__ import annotations

import errno
import json
from pathlib import Path

import pytest

from agent_console.agents.events import Heartbeat, OrgLoaded
from agent_console.agents.journal import (
    ANCHOR_SLOT,
    Anchor,
    AnchorFile,
    Journal,
    JournalError,
    anchor_path_for,
    load_or_create_key,
    read_anchor,
    write_anchor,
)
from agent_console.cli.entry import main

from ..test_serve import Served


@pytest.fixture
def state(tmp_path: Path) -> Path:
    folder = tmp_path / "state"
    folder.mkdir(mode=0o700)
    return folder


def journal_in(state: Path, batches: list[int]) -> tuple[Path, Path, bytes]:
    """A journal of `org.load` and then heartbeats, committed in batches of the given sizes (as the supervisor
    does): (journal, anchor, key)."""
    key_path = state / "journal.key"
    key = load_or_create_key(key_path)
    path = state / "journal.jsonl"
    anchor = anchor_path_for(path, key_path)
    with Journal.open(path, key, sync=False, anchor=anchor) as journal:
        journal.append("supervisor", OrgLoaded(name="crew", teams={"t": None}, agents={"a": "t"}))
        for size in batches:
            for _ in range(size):
                journal.append("a", Heartbeat())
            journal.commit().result()
            # once a batch is acknowledged, the anchor already covers it
            assert read_anchor(anchor, key).seq == journal.seq
    return path, anchor, key


def audit(capsys: pytest.CaptureFixture[str], *words: str) -> tuple[int, str]:
    status = main(["audit", "verify", *words])
    captured = capsys.readouterr()
    return status, captured.out + captured.err


def slots(anchor: Path) -> list[dict]:
    """The anchors an anchor file holds, parsed (unchecked), newest first."""
    data = anchor.read_bytes()
    found = [json.loads(data[i : i + ANCHOR_SLOT]) for i in range(0, len(data), ANCHOR_SLOT)]
    return sorted(found, key=lambda fields: -fields["seq"])  # a slot never written fails here: none should be


def lines(path: Path) -> list[bytes]:
    return path.read_bytes().splitlines(keepends=True)


def test_the_anchor_is_kept_apart_private_signed_and_names_the_journal_end(state: Path) -> None:
    path, anchor_path, key = journal_in(state, [5, 5])
    assert anchor_path == state / "journal.anchor" and anchor_path.stat().st_mode & 0o777 == 0o600
    anchor = read_anchor(anchor_path, key)
    assert (anchor.seq, len(lines(path))) == (11, 11)
    assert [fields["seq"] for fields in slots(anchor_path)] == [11, 6]  # two slots, written in turn
    assert set(slots(anchor_path)[0]) == {"v", "seq", "digest", "first", "time", "hmac"}


def test_a_deleted_tail_is_caught_with_the_anchor_and_not_without(
    state: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path, anchor_path, _ = journal_in(state, [10, 10])
    path.write_bytes(b"".join(lines(path)[:-4]))  # the last 4 records, removed whole: a valid shorter chain

    status, said = audit(capsys, str(path))
    assert status == 0
    assert "ok, 17 records" in said and "the tail is not checked" in said and "--anchor" in said

    status, said = audit(capsys, str(path), "--anchor")
    assert status == 1
    assert "TAMPERED: line 18: records 18 to 21 are missing (the journal ends at 17; the anchor says it reached" in said

    # and the next start does not go on from the shorter journal (that would re-anchor it and hide the loss)
    key = load_or_create_key(state / "journal.key")
    with pytest.raises(JournalError, match=r"ends at record 17, but its anchor .* says it reached record 21"):
        Journal.open(path, key, sync=False, anchor=anchor_path)


def test_a_deleted_journal_is_caught_at_start(state: Path) -> None:
    path, anchor_path, key = journal_in(state, [3])
    path.unlink()
    with pytest.raises(JournalError, match=r"records 1 to 4 were removed; .* move both"):
        Journal.open(path, key, sync=False, anchor=anchor_path)


def test_a_file_cut_mid_record_is_named(state: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path, _, _ = journal_in(state, [10])
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 200])  # the last record cut in its middle
    status, said = audit(capsys, str(path), "--anchor")
    assert status == 1
    assert "line 11: truncated record; the anchor says the journal reached record 11" in said
    assert "records were cut off" in said


def test_an_edited_record_is_named(state: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path, _, _ = journal_in(state, [10])
    text = lines(path)
    text[4] = text[4].replace(b'"actor":"a"', b'"actor":"human"')
    path.write_bytes(b"".join(text))
    status, said = audit(capsys, str(path), "--anchor")
    assert status == 1 and "TAMPERED: line 5: record 5 was altered (its HMAC does not match)" in said


def test_a_forged_anchor_is_refused(state: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path, anchor_path, key = journal_in(state, [10])
    path.write_bytes(b"".join(lines(path)[:-3]))
    # the attacker cut the tail and lowers the anchor to match, without the key
    (newest,) = slots(anchor_path)  # one batch: one slot
    newest["seq"] = 8
    anchor_path.write_bytes(json.dumps(newest).encode().ljust(ANCHOR_SLOT))
    status, said = audit(capsys, str(path), "--anchor")
    assert status == 1
    assert f"NOT VERIFIED: the anchor {anchor_path} is not signed with this journal's key: it was forged" in said
    # nor does a start go on from it
    with pytest.raises(JournalError, match="not signed with this journal's key"):
        Journal.open(path, key, sync=False, anchor=anchor_path)
    # an anchor signed with another org's key is refused the same way
    write_anchor(anchor_path, bytes(32), Anchor(8, "0" * 64, None, 0.0))
    status, said = audit(capsys, str(path), "--anchor")
    assert status == 1 and "is not signed with this journal's key" in said


def test_a_swapped_anchor_from_another_journal_is_named(
    state: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path, _, _ = journal_in(state, [10])
    other = tmp_path / "other"
    other.mkdir()
    (other / "journal.key").write_bytes((state / "journal.key").read_bytes())
    (other / "journal.key").chmod(0o600)
    _, other_anchor, _ = journal_in(other, [6])  # same key, another journal (say, `serve --journal` elsewhere)
    status, said = audit(capsys, str(path), "--anchor", str(other_anchor))
    assert status == 1
    assert "line 1: record 1 is not the first record of the anchored journal: the anchor belongs to another" in said


def test_an_anchor_one_batch_behind_is_consistent(state: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A crash after a batch is on disk and before its anchor is replaced leaves the anchor one batch behind.
    That is accepted: an anchor is a lower bound (the journal reached at least this far), and the output says
    how many records lie beyond it. The next start checks the lagging anchor and goes on."""
    path, anchor_path, key = journal_in(state, [5])
    behind = anchor_path.read_bytes()
    journal_in(state, [7])  # the next batch, written and anchored...
    anchor_path.write_bytes(behind)  # ...whose anchor the crash lost
    status, said = audit(capsys, str(path), "--anchor")
    assert status == 0, said
    assert "ok, 14 records" in said and "reaches its anchor" in said and "record 6 (anchored " in said
    assert "8 record(s) after it" in said
    with Journal.open(path, key, sync=False, anchor=anchor_path) as journal:
        assert journal.seq == 14
    assert read_anchor(anchor_path, key).seq == 14  # closing caught the anchor up


def test_a_rewritten_journal_is_caught_at_start_even_when_the_anchor_lags(state: Path) -> None:
    path, anchor_path, key = journal_in(state, [5])
    behind = anchor_path.read_bytes()
    path.unlink()
    anchor_path.unlink()
    journal_in(state, [8])  # a new history (by someone holding the key), longer than the old one
    anchor_path.write_bytes(behind)
    with pytest.raises(JournalError, match="its record 6 differs from the anchored one"):
        Journal.open(path, key, sync=False, anchor=anchor_path)


def test_a_missing_anchor_is_not_a_pass(state: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path, anchor_path, _ = journal_in(state, [3])
    anchor_path.unlink()
    status, said = audit(capsys, str(path), "--anchor")
    assert status == 1 and f"NOT VERIFIED: there is no anchor at {anchor_path}" in said


def test_an_anchor_write_torn_by_a_crash_leaves_the_other_slot(state: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path, anchor_path, key = journal_in(state, [5, 5])
    data = bytearray(anchor_path.read_bytes())
    newest = 0 if slots(anchor_path)[0] == json.loads(data[:ANCHOR_SLOT]) else 1
    data[newest * ANCHOR_SLOT + 40 : (newest + 1) * ANCHOR_SLOT] = b"\0" * (ANCHOR_SLOT - 40)  # cut mid-write
    anchor_path.write_bytes(bytes(data))
    assert read_anchor(anchor_path, key).seq == 6
    status, said = audit(capsys, str(path), "--anchor")
    assert status == 0 and "reaches its anchor" in said and "5 record(s) after it" in said


def test_a_journal_kept_elsewhere_has_an_anchor_of_its_own(state: Path, tmp_path: Path) -> None:
    key = state / "journal.key"
    default = anchor_path_for(state / "journal.jsonl", key)
    elsewhere = anchor_path_for(tmp_path / "disk" / "journal.jsonl", key)
    assert default == state / "journal.anchor"
    assert elsewhere.parent == state and elsewhere.name.startswith("journal-") and elsewhere != default
    assert anchor_path_for(tmp_path / "other" / "journal.jsonl", key) != elsewhere


def test_a_tail_cut_from_a_served_journal_is_caught_by_audit_and_by_the_next_serve(served: Served) -> None:
    """End to end: a real `serve` journals what an agent reports, then, once it stopped, someone cuts the end
    of its journal (say, the approvals that embarrass them). `audit verify --anchor` names the cut, and serving
    again refuses to go on from the shorter journal; put back, it serves again."""
    for task in ("first", "second"):
        reported = served.cli_as("ann", "emit", "status", "working", "--task", task)
        assert reported.returncode == 0, reported.stderr
    served.stop()
    state = served.root / "state" / "agent-console" / "crew"
    journal = state / "journal.jsonl"
    whole = journal.read_bytes()
    kept = whole.splitlines(keepends=True)[:-2]
    journal.write_bytes(b"".join(kept))

    plain = served.cli("audit", "verify", str(journal))
    assert plain.returncode == 0 and "the tail is not checked" in plain.stdout
    anchored = served.cli("audit", "verify", str(journal), "--anchor")
    assert anchored.returncode == 1, anchored.stdout
    cut = f"records {len(kept) + 1} to {len(kept) + 2} are missing (the journal ends at {len(kept)}"
    assert cut in anchored.stderr and "Traceback" not in anchored.stderr

    with pytest.raises(AssertionError, match=f"ends at record {len(kept)}, but its anchor"):
        served.start()
    journal.write_bytes(whole)
    served.start()
    assert served.cli("audit", "verify", str(journal), "--anchor").returncode == 0


def test_an_anchor_that_cannot_be_written_says_why_and_the_journal_goes_on(
    state: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path, anchor_path, key = journal_in(state, [3])

    def full(*args: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(AnchorFile, "write", full)
    with Journal.open(path, key, sync=False, anchor=anchor_path) as journal:
        journal.append("a", Heartbeat())
        journal.commit().result()  # the records are durable all the same
        assert journal.seq == 5
        assert journal.anchor_problem == f"cannot write the anchor {anchor_path}: No space left on device"
        monkeypatch.undo()
        journal.append("a", Heartbeat())
        journal.commit().result()
        assert journal.anchor_problem is None and read_anchor(anchor_path, key).seq == 6
