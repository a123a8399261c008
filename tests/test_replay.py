"""Time travel, the log stream and what agents saw, on a session recorded by a supervisor over the in-memory
terminal (tests/fake_terminal.py): `replay --at` equals the live fold at that record, the log stream holds the
journal and the agents' reports (bounded, escaped), and a failing agent's screen is kept, redacted, capped."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import tempfile
import threading
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from pathlib import Path
from types import SimpleNamespace

import pytest

from agent_console.agents.errors import InvalidInput
from agent_console.agents.events import (
    HUMAN,
    SUPERVISOR,
    AgentState,
    ApprovalDecided,
    ApprovalRequested,
    BarrierArrived,
    LogRecorded,
    ProgressStalled,
    ScreenSnapshotTaken,
    StatusReported,
)
from agent_console.agents.journal import Journal, Record
from agent_console.agents.model import Agent, AgentKind, Org, Team
from agent_console.agents.replay import Moment, Timeline, parse_moment, state_at
from agent_console.agents.state import OrgState
from agent_console.cli import logs as logs_cli
from agent_console.cli.entry import main
from agent_console.runtime import logs
from agent_console.runtime.snapshots import SnapshotStore, reason_for
from agent_console.runtime.supervisor import Supervisor

from .fake_terminal import FakeTerminal

SECRET = "sk-ant-api03-" + "x" * 40


async def cli(words: list[str]) -> int:
    """The command line, as a user runs it (its own event loop, on a thread of its own here)."""
    return await asyncio.to_thread(main, words)


async def until(condition: Callable[[], object], what: str, timeout: float = 10.0) -> None:
    async def wait() -> None:
        while not condition():
            await asyncio.sleep(0.02)

    try:
        await asyncio.wait_for(wait(), timeout)
    except TimeoutError:
        raise AssertionError(f"timed out waiting for {what}") from None


@pytest.fixture
async def supervisor(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Supervisor]:
    monkeypatch.setenv("XDG_RUNTIME_DIR", tempfile.mkdtemp(prefix="acrp", dir="/tmp"))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    org = Org(
        name="crew",
        teams=(Team(name="t"),),
        agents=tuple(Agent(name=name, team="t", kind=AgentKind.SHELL, cwd=tmp_path) for name in ("ann", "bob")),
    )
    running = Supervisor(org, FakeTerminal(), (160, 48), log_level="debug")  # type: ignore[arg-type]
    await running.start()
    yield running
    await running.stop()
    await running.backend.close()


async def record_session(supervisor: Supervisor) -> dict[int, dict]:
    """A short session: reports, an ask, a decision, a barrier; the live state after each record, by seq."""
    live: dict[int, dict] = {}
    supervisor.listeners.append(lambda record: live.__setitem__(record.seq, supervisor.state.to_json()))
    supervisor.handle("ann", StatusReported(state=AgentState.WORKING, task="build"))
    supervisor.handle("bob", StatusReported(state=AgentState.THINKING, task="plan"))
    supervisor.handle("ann", ApprovalRequested(id="ask-1", text="may I push?", command="git push"))
    await supervisor.decide("ask-1", approved=True, reason=None)
    supervisor.handle("bob", BarrierArrived(name="ready", count=2))
    supervisor.handle("ann", BarrierArrived(name="ready", count=2))
    supervisor.handle("ann", StatusReported(state=AgentState.IDLE))
    await supervisor.durable()
    return live


async def test_replay_at_a_seq_in_the_middle_equals_the_live_fold_at_that_record(
    supervisor: Supervisor, capsys: pytest.CaptureFixture[str]
) -> None:
    live = await record_session(supervisor)
    middle = sorted(live)[len(live) // 2]
    assert live[middle] != live[max(live)]  # the middle is not the end: something changed after it
    assert await cli(["replay", str(supervisor.journal_path), "--at", f"#{middle}"]) == 0
    assert json.loads(capsys.readouterr().out) == live[middle]

    records = list(Journal.read(supervisor.journal_path, supervisor._key))
    at = records[middle - 1].time
    assert state_at(records, Moment("t", time=at)).seq >= middle  # records of the same instant come along
    timeline = Timeline(records, every=3)
    for count in (len(records), 2, middle, 0, middle + 1, 1):  # forward, back, across checkpoints
        assert timeline.state_after(count).to_json() == state_at(records, Moment("#", seq=count)).to_json()


async def test_replay_refuses_a_tampered_journal_and_a_seq_past_its_end(
    supervisor: Supervisor, capsys: pytest.CaptureFixture[str]
) -> None:
    await record_session(supervisor)
    assert await cli(["replay", str(supervisor.journal_path), "--at", "#100000"]) == 1
    said = re.search(r"--at #100000: .* ends at record #(\d+)$", capsys.readouterr().err.strip())
    assert said is not None and int(said.group(1)) >= supervisor.state.seq - 5  # records may come meanwhile
    lines = supervisor.journal_path.read_text(encoding="utf-8").splitlines(keepends=True)
    lines[3] = lines[3].replace('"build"', '"BUILD"')
    supervisor.journal_path.write_text("".join(lines), encoding="utf-8")
    assert await cli(["replay", str(supervisor.journal_path), "--at", "#5"]) != 0
    said = capsys.readouterr()
    assert "does not verify" in said.err and "audit verify" in said.err and said.out == ""


def test_moments_are_a_seq_a_time_today_or_an_iso_time_and_anything_else_is_refused() -> None:
    assert parse_moment("#123") == Moment("#123", seq=123)
    noon = datetime(2026, 12, 2, 9, 0).astimezone()
    at = parse_moment("10:45", now=noon)
    assert datetime.fromtimestamp(at.time or 0).astimezone().strftime("%Y-%m-%d %H:%M:%S") == "2026-12-02 10:45:00"
    assert (
        parse_moment("2026-12-02T10:45:00+00:00").time
        == datetime.fromisoformat("2026-12-02T10:45:00+00:00").timestamp()
    )
    for wrong in ("#", "#x1", "25:00", "10:61", "yesterday", ""):
        with pytest.raises(InvalidInput, match="moment"):
            parse_moment(wrong)


async def test_the_log_stream_holds_the_console_the_journal_and_agents_reports_bounded_and_escaped(
    supervisor: Supervisor, capsys: pytest.CaptureFixture[str]
) -> None:
    hostile = "done\x1b]52;c;cm0gLXJmIH4=\x07\x1b[2J" + "y" * 5000
    with supervisor.traced("trace-chain"):
        report = supervisor.handle("ann", LogRecorded(level="warning", text=hostile[:4000]))
        supervisor.handle("ann", StatusReported(state=AgentState.WORKING, task="retry"))
    supervisor.handle("bob", LogRecorded(level="info", text="bob was here"))
    await supervisor.durable()
    supervisor.log.close()  # writes what is queued
    stream = supervisor.state_dir / logs.LOG_FILE
    assert stream.stat().st_mode & 0o777 == 0o600  # it holds the journal's records: as private as the journal
    lines = [json.loads(text) for text in stream.read_text().splitlines()]
    assert any(
        line["logger"] == "agent_console.runtime.supervisor" and "serving org crew" in line["message"] for line in lines
    )
    ann = [line for line in lines if line["logger"] == logs.AGENT_LOGGER and line["agent"] == "ann"]
    assert len(ann) == 1 and ann[0]["level"] == "warning" and ann[0]["trace"] == "trace-chain"
    assert ann[0]["seq"] == report.seq and ann[0]["span"] == report.span
    assert "\x1b" not in ann[0]["message"] and "\x07" not in ann[0]["message"] and "␛]52" in ann[0]["message"]
    assert len(ann[0]["message"]) <= logs.MESSAGE_CHARS
    assert any(line["logger"] == logs.JOURNAL_LOGGER and line.get("trace") == "trace-chain" for line in lines)

    assert await cli(["logs", "crew", "--trace", "trace-chain"]) == 0
    shown = capsys.readouterr().out.splitlines()
    assert shown and all("trace=trace-chain" in line for line in shown)
    assert any("[ann]" in line and "WARNING" in line for line in shown) and "\x1b" not in "".join(shown)
    assert await cli(["logs", "crew", "--agent", "bob", "--level", "info", "--json"]) == 0
    bob = [json.loads(text) for text in capsys.readouterr().out.splitlines()]
    assert bob and {line["agent"] for line in bob} == {"bob"} and any(line["message"] == "bob was here" for line in bob)
    assert await cli(["logs", "nobody"]) != 0
    assert "no log" in capsys.readouterr().err


def test_the_follower_prints_what_is_appended_and_goes_on_after_a_rotation(tmp_path: Path) -> None:
    path = tmp_path / logs.LOG_FILE
    path.write_text(json.dumps({"message": "old", "level": "info"}) + "\n")
    seen: list[str] = []
    done = threading.Event()
    follower = threading.Thread(
        target=logs_cli.follow, args=(path, lambda line: seen.append(line["message"]), done.is_set)
    )
    follower.start()
    pause = threading.Event()

    def wait_for(last: str) -> None:
        for _ in range(200):
            if seen[-1:] == [last]:
                return
            pause.wait(0.05)

    try:
        wait_for("old")
        with path.open("a") as handle:
            handle.write(json.dumps({"message": "new", "level": "info"}) + "\n" + '{"message": "cut')
        path.rename(tmp_path / f"{logs.LOG_FILE}.1")  # rotated: the cut line ends in the old file, unread
        path.write_text(json.dumps({"message": "after", "level": "info"}) + "\n")
        wait_for("after")
    finally:
        done.set()
        follower.join()
    assert seen == ["old", "new", "after"]


async def test_an_error_keeps_the_agents_screen_redacted_beside_the_journal_referenced_by_a_record(
    supervisor: Supervisor,
) -> None:
    fake = supervisor.backend
    assert isinstance(fake, FakeTerminal)
    pane = fake.pane_of("ann").pane
    fake.panes[pane].screen = f"$ make\nerror: token {SECRET} refused\n$ "
    failed = supervisor.handle("ann", StatusReported(state=AgentState.ERROR, task="make"))
    await until(lambda: "ann" in supervisor.state.snapshots, "the snapshot record")
    taken = supervisor.state.snapshots["ann"]
    assert (taken.reason, taken.illustrates) == ("error", failed.seq)
    stored = supervisor.snapshots.store.get(taken.digest)
    assert stored is not None and "error: token [redacted:anthropic-key] refused" in stored and SECRET not in stored
    folder = supervisor.journal_path.parent / "snapshots"
    assert [path.name for path in folder.iterdir()] == [f"{taken.digest}.txt"]
    await supervisor.durable()
    snapshots = [
        r for r in Journal.read(supervisor.journal_path, supervisor._key) if isinstance(r.event, ScreenSnapshotTaken)
    ]
    assert len(snapshots) == 1 and snapshots[0].trace == failed.trace


def test_the_snapshot_store_is_content_addressed_capped_and_rotates_the_oldest_first(tmp_path: Path) -> None:
    store = SnapshotStore(tmp_path / "snapshots", cap=2500)
    first, _ = store.put("a" * 1000)
    again, _ = store.put("a" * 1000)
    assert first == again and store.usage() == 1000  # the same screen is kept once
    second, _ = store.put("b" * 1000)
    store.put("a" * 1000)  # seen again: now the newest
    third, _ = store.put("c" * 1000)
    assert store.get(second) is None  # the oldest went
    assert store.get(first) == "a" * 1000 and store.get(third) == "c" * 1000 and store.usage() <= 2500
    with pytest.raises(ValueError, match="not a snapshot digest"):
        store.path("../../journal.key")
    assert store.get("../../journal") is None


def test_snapshots_are_taken_on_errors_stalls_denials_and_recovery_steps_and_nothing_else() -> None:
    state = OrgState()

    def record(actor: str, event: object, seq: int = 1) -> Record:
        fields = {"seq": seq, "time": 1.0, "trace": "t", "span": "s", "parent": None, "prev": "", "hmac": ""}
        return Record.model_construct(**fields, actor=actor, event=event)

    asked = record("bob", ApprovalRequested(id="a1", text="push?", command="git push"))
    state.apply(asked)
    denied = record(HUMAN, ApprovalDecided(id="a1", approved=False), seq=2)
    state.apply(denied)
    assert reason_for(denied, state) == ("bob", "denied")
    assert reason_for(record("ann", StatusReported(state=AgentState.ERROR)), state) == ("ann", "error")
    stalled = ProgressStalled(agent="ann", stalled=True, seconds=120)
    assert reason_for(record(SUPERVISOR, stalled), state) == ("ann", "stuck")
    # the recovery ladder's records, whatever their model: by type name
    step = SimpleNamespace(type="recovery.step", agent="ann", step="restart")
    assert reason_for(record(SUPERVISOR, step), state) == ("ann", "recovery")
    for quiet in (
        StatusReported(state=AgentState.WORKING),
        ProgressStalled(agent="ann", stalled=False, seconds=0),
        ApprovalDecided(id="a1", approved=True),
        LogRecorded(level="error", text="not a screen's business"),
    ):
        assert reason_for(record("ann", quiet), state) is None


def test_the_stream_keeps_what_its_level_lets_through(tmp_path: Path) -> None:
    stream = logs.StructuredLog(tmp_path, "warning")
    stream.install()
    try:
        logging.getLogger("agent_console.runtime.supervisor").info("not kept at warning")
        logging.getLogger("agent_console.runtime.supervisor").error("kept")
        idle, warning = StatusReported(state=AgentState.IDLE), LogRecorded(level="warning", text="kept too")
        stream(Record.model_construct(seq=1, time=1.0, trace="t", span="s", actor="ann", event=idle))
        stream(Record.model_construct(seq=2, time=1.0, trace="t", span="s", actor="ann", event=warning))
    finally:
        stream.close()
    kept = [json.loads(text)["message"] for text in (tmp_path / logs.LOG_FILE).read_text().splitlines()]
    assert kept == ["kept", "kept too"]
    with pytest.raises(InvalidInput, match="log level 'loud'"):
        logs.StructuredLog(tmp_path, "loud")
