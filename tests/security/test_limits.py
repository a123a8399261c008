"""Limits per agent: floods of approvals, events and forged sequences from agents' panes are refused or counted,
and the supervisor, its journal and the human's queue stay bounded."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from agent_console.agents.limits import AgentLimiter, Limits, TokenBucket
from agent_console.agents.spec import SpecError, parse_spec

from ..conftest import tmux, wait_for, when
from ..test_serve import SPEC, Served, _state
from .conftest import token_of

LIMITED_SPEC = SPEC.replace('name = "crew"\n', 'name = "crew"\n\n[org.limits]\nwindow = 2\n', 1)


def test_a_bucket_gives_its_burst_then_its_rate() -> None:
    bucket = TokenBucket(rate=2, burst=3, tokens=3, stamp=0)
    assert [bucket.take(0) for _ in range(4)] == [True, True, True, False]
    assert bucket.take(0.5) and not bucket.take(0.5)  # half a second at 2/s: one more


def test_refusals_are_reported_once_then_counted() -> None:
    limiter = AgentLimiter(Limits(event_burst=1, events_per_second=1))
    assert limiter.admit_event("ann", 0) and not limiter.admit_event("ann", 0)
    assert limiter.refusals.add("ann", "events") is True  # opens the window: reported at once
    assert [limiter.refusals.add("ann", "events") for _ in range(5)] == [False] * 5
    assert limiter.refusals.take("ann", "events") == 5 and limiter.refusals.take("ann", "events") == 0
    assert limiter.admit_approval(19) and not limiter.admit_approval(20)


def test_limits_are_read_from_the_spec_with_located_errors() -> None:
    org = parse_spec(LIMITED_SPEC.replace("window = 2", "window = 2\npending_approvals = 5"))
    assert (org.limits.window, org.limits.pending_approvals) == (2, 5)
    with pytest.raises(SpecError, match=r"org\.limits\.pending_approvals"):
        parse_spec(LIMITED_SPEC.replace("window = 2", "pending_approvals = 0"))


@pytest.fixture
def limited(tmux_socket: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Served]:
    runtime = Path(tempfile.mkdtemp(prefix="acrt", dir="/tmp"))
    service = Served(tmux_socket, tmp_path, runtime)
    service.spec.write_text(LIMITED_SPEC)
    service.start()
    monkeypatch.setenv("XDG_STATE_HOME", service.env["XDG_STATE_HOME"])
    yield service
    service.stop()
    shutil.rmtree(runtime, ignore_errors=True)


def journal_of(served: Served) -> Path:
    return served.root / "state" / "agent-console" / "crew" / "journal.jsonl"


def rss_mb(served: Served) -> float:
    assert served.process is not None
    for line in Path(f"/proc/{served.process.pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


async def flood(served: Served, agent: str, path: str, body: dict, count: int) -> dict[int, int]:
    """`count` requests as `agent`, 50 at a time, straight at the socket: status code → how many."""
    socket = Path(served.env["XDG_RUNTIME_DIR"]) / "agent-console" / "crew.sock"
    headers = {"Authorization": f"Bearer {token_of(served, agent)}"}
    statuses: dict[int, int] = {}
    connector = aiohttp.UnixConnector(path=str(socket), limit=50)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def one() -> None:
            async with session.post(f"http://console{path}", json=body, headers=headers) as response:
                await response.read()
                statuses[response.status] = statuses.get(response.status, 0) + 1

        for start in range(0, count, 500):
            await asyncio.gather(*(one() for _ in range(min(500, count - start))))
    return statuses


def test_twenty_thousand_approvals_leave_at_most_the_cap_pending(limited: Served) -> None:
    before_rss, before_size = rss_mb(limited), journal_of(limited).stat().st_size
    statuses = asyncio.run(flood(limited, "ann", "/v1/approvals", {"text": "rm -rf ~?", "command": "rm -rf ~"}, 20_000))
    assert statuses.get(201) == Limits().pending_approvals  # the cap; the rest refused
    assert statuses.get(429) == 20_000 - Limits().pending_approvals
    pending = json.loads(limited.cli("approvals", "--json").stdout)
    assert len(pending) == Limits().pending_approvals
    state = wait_for(lambda: when(_state(limited), lambda s: s["agents"]["ann"]["throttled"]), what="ann throttled")
    assert state["agents"]["ann"]["throttled"] in ("approvals", "events")  # past the cap, then past the rate
    limits = [json.loads(line)["event"].get("limit") for line in journal_of(limited).read_text().splitlines()]
    assert "approvals" in limits
    assert journal_of(limited).stat().st_size - before_size < 100_000  # not 167 MB
    assert rss_mb(limited) - before_rss < 60


def test_a_heartbeat_flood_is_refused_past_the_burst_and_journaled_as_counts(limited: Served) -> None:
    before = len(journal_of(limited).read_text().splitlines())
    statuses = asyncio.run(flood(limited, "bob", "/v1/events", {"v": 1, "type": "heartbeat"}, 5_000))
    assert statuses.get(429, 0) >= 5_000 - Limits().event_burst - 500  # a few refill while the flood runs

    def new_records() -> list[dict]:
        return [json.loads(line) for line in journal_of(limited).read_text().splitlines()[before:]]

    def refused(records: list[dict]) -> int:
        return sum(r["event"]["refused"] for r in records if r["event"]["type"] == "throttle")

    # every refusal is counted, in a few records: one at once, then one a window
    records = wait_for(lambda: when(new_records(), lambda new: refused(new) == statuses[429]), what="the counts")
    assert sum(1 for r in records if r["event"]["type"] == "throttle") <= 20
    assert len(records) < Limits().event_burst + 600


def test_a_file_of_forged_sequences_adds_a_bounded_number_of_records(limited: Served, tmp_path: Path) -> None:
    payload = base64.b64encode(json.dumps({"v": 1, "type": "status", "state": "error"}).encode()).decode()
    forged = f"\x1b]1337;Custom=id=forgedtoken0123456789:{payload}\x07".encode()
    hostile = tmp_path / "forged.bin"
    hostile.write_bytes(forged * (14 * 1024 * 1024 // len(forged)))  # 14 MB
    count = 14 * 1024 * 1024 // len(forged)
    before = len(journal_of(limited).read_text().splitlines())
    limited.type_in("cat", f"cat {hostile} > /dev/tty; echo done")
    # A pane flooding faster than the console reads is let go for a while (its writer never waits on the
    # console), and the sequences it printed meanwhile are not read: the count is what was read, at most all.
    last: list[tuple[int, float]] = []  # (count, since when)

    def settled() -> dict | None:
        if "done" not in tmux(limited.socket, "capture-pane", "-p", "-t", limited.pane("cat")):
            return None
        state, now = _state(limited), time.monotonic()
        if not last or last[0][0] != state["spoofs"]["total"]:
            last[:] = [(state["spoofs"]["total"], now)]
        return state if now - last[0][1] > 3 * 2 else None  # the count of each 2 s window is journaled at its end

    state = wait_for(settled, 180, what="the forgeries counted")
    assert 0 < state["spoofs"]["by_agent"]["cat"] == state["spoofs"]["total"] <= count
    print(f"forgeries counted: {state['spoofs']['total']} of {count}")
    added = len(journal_of(limited).read_text().splitlines()) - before
    assert added < 200, f"{added} records for {count} forged sequences"
    assert state["agents"]["cat"]["state"] != "error"
    assert os.path.getsize(journal_of(limited)) < 5_000_000
