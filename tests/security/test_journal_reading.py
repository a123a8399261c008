"""Reading a journal checks each line's HMAC over the line's own text (no re-encoding): whoever edits, reorders or
smuggles a look-alike `hmac` member into a record without the key is caught, and `replay` shows nothing of it;
records that legitimately hold such look-alikes still read."""

from __future__ import annotations

import json
import secrets
from pathlib import Path

import pytest

from agent_console.agents.events import HUMAN, CommandRan, LogRecorded, OrgLoaded
from agent_console.agents.journal import Journal, JournalError, canonical, read_records, verify

KEY = secrets.token_bytes(32)
LOOK_ALIKE = ',"hmac":"' + "0" * 64 + '","parent":'


@pytest.fixture
def journal(tmp_path: Path) -> Path:
    path = tmp_path / "journal.jsonl"
    with Journal.open(path, KEY) as writing:
        writing.append("supervisor", OrgLoaded(name="crew", teams={"t": None}, agents={"ann": "t"}))
        # an argument named like the record's own members, its value shaped like an HMAC
        writing.append(HUMAN, CommandRan(name="send", args={"hmac": "0" * 64, "parent": None}, via="line"))
        writing.append("ann", LogRecorded(text=LOOK_ALIKE))
        writing.append("ann", LogRecorded(text="the last record"))
    return path


def lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines()


def rewrite(path: Path, index: int, line: str) -> None:
    text = lines(path)
    text[index] = line
    path.write_text("\n".join(text) + "\n", encoding="utf-8")


def test_records_holding_look_alike_members_read_whole(journal: Path) -> None:
    records = list(read_records(journal, KEY))
    assert [record.seq for record in records] == [1, 2, 3, 4]
    assert records[1].event == CommandRan(name="send", args={"hmac": "0" * 64, "parent": None}, via="line")
    assert records[2].event == LogRecorded(text=LOOK_ALIKE)


def test_an_edit_a_reordered_line_and_a_smuggled_member_are_refused(journal: Path) -> None:
    last = json.loads(lines(journal)[3])
    # the same fields, the hmac moved to the end: not the signed text (the last line: no chain after it)
    moved = {name: value for name, value in last.items() if name != "hmac"} | {"hmac": last["hmac"]}
    rewrite(journal, 3, json.dumps(moved, separators=(",", ":"), ensure_ascii=False))
    result = verify(journal, KEY)
    assert not result.ok and result.first_bad == 4 and "canonical form" in (result.problem or "")

    rewrite(journal, 3, canonical(last).replace("the last record", "the LAST record"))  # an edit
    assert "altered" in (verify(journal, KEY).problem or "")
    with pytest.raises(JournalError, match="record 4 was altered"):
        list(read_records(journal, KEY))

    # a look-alike member and a real-looking HMAC spliced into the text of the event: still not signed
    forged = dict(last, event={"type": "log", "level": "info", "text": "x"})
    text = canonical(forged).replace('"text":"x"', '"text":"x"' + LOOK_ALIKE.replace('"', '\\"'))
    rewrite(journal, 3, text)
    assert not verify(journal, KEY).ok
    rewrite(journal, 3, canonical(last))
    assert verify(journal, KEY).ok  # the untouched line reads again
