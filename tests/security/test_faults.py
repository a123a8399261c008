"""Faults are loud and survivable: a full disk pauses intake and loses nothing acknowledged, hostile request
bodies and half-open connections are refused, and a dead tmux server stops `serve` with the truth."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from ..conftest import tmux, wait_for
from ..test_serve import Served, _state
from .conftest import token_of


def socket_of(served: Served) -> Path:
    return Path(served.env["XDG_RUNTIME_DIR"]) / "agent-console" / "crew.sock"


async def raw_request(socket: Path, data: bytes, read_for: float = 10) -> bytes:
    reader, writer = await asyncio.open_unix_connection(str(socket))
    writer.write(data)
    await writer.drain()
    try:
        return await asyncio.wait_for(reader.read(1_000_000), read_for)
    finally:
        writer.close()


def test_a_deeply_nested_body_is_refused_with_the_reason(served: Served) -> None:
    body = b"[" * 30_000 + b"]" * 30_000
    head = (
        f"POST /v1/events HTTP/1.1\r\nHost: console\r\nAuthorization: Bearer {token_of(served, 'ann')}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode()
    answer = asyncio.run(raw_request(socket_of(served), head + body))
    status, _, rest = answer.partition(b"\r\n")
    assert status.startswith(b"HTTP/1.1 400"), status
    assert b"nested too deeply" in rest
    assert served.cli("approvals").returncode == 0  # still serving


def test_a_connection_that_never_finishes_its_request_is_closed(served: Served) -> None:
    async def half_open() -> list[bytes]:
        connections = [await asyncio.open_unix_connection(str(socket_of(served))) for _ in range(200)]
        for _, writer in connections:
            writer.write(b"POST /v1/events HTTP/1.1\r\nHost: console\r\n")  # and never the rest

        async def closed(reader: asyncio.StreamReader) -> bytes:
            try:
                return await reader.read()
            except OSError:  # closed under the read
                return b""

        # the server closes each one (bounded wait, well past the server's 10 s)
        ends = await asyncio.gather(*(asyncio.wait_for(closed(reader), 40) for reader, _ in connections))
        for _, writer in connections:
            writer.close()
        return ends

    ends = asyncio.run(half_open())
    assert ends == [b""] * 200
    assert served.cli("approvals").returncode == 0


@pytest.fixture
def served_journal_on_tmpfs(served: Served, tmp_path: Path) -> Iterator[tuple[Served, Path]]:
    """`serve` with its journal on a 2 MB tmpfs of its own (skipped where mounting is not allowed)."""
    served.stop()
    mount = Path(tempfile.mkdtemp(prefix="acfs", dir="/tmp"))
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount)], capture_output=True)
    if result.returncode != 0:
        mount.rmdir()
        pytest.skip(f"cannot mount a small tmpfs here ({result.stderr.decode().strip()})")
    try:
        journal = mount / "journal.jsonl"
        served.start("--journal", str(journal))
        yield served, mount
    finally:
        served.stop()
        subprocess.run(["umount", "-l", str(mount)], check=False)
        shutil.rmtree(mount, ignore_errors=True)


def test_a_full_disk_pauses_intake_loses_nothing_acknowledged_and_resumes(
    served_journal_on_tmpfs: tuple[Served, Path], tmp_path: Path
) -> None:
    served, mount = served_journal_on_tmpfs
    journal = mount / "journal.jsonl"
    assert served.cli_as("ann", "emit", "status", "working", "--task", "before the disk filled").returncode == 0
    filler = mount / "filler"
    subprocess.run(["dd", "if=/dev/zero", f"of={filler}", "bs=64k", "count=64"], capture_output=True, check=False)

    # the page the journal ends in may still have room: report until the disk refuses one
    acknowledged = []
    for number in range(200):
        result = served.cli_as("ann", "emit", "status", "working", "--task", f"report {number}")
        if result.returncode != 0:
            refused_task = f"report {number}"
            break
        acknowledged.append(f"report {number}")
    else:
        raise AssertionError("the full disk never refused a record")
    assert "journal" in result.stderr and str(journal) in result.stderr, result.stderr
    # watching goes on meanwhile: bob's program ends while nothing can be written
    served.type_in("bob", "exit 3")
    wait_for(lambda: tmux(served.socket, "display", "-p", "-t", served.pane("bob"), "#{pane_dead}").strip() == "1")

    filler.unlink()

    # (journaled once resumed; the console may then restart bob at once: its recovery ladder, so not `alive`)
    def bob_exited() -> bool:
        events = [json.loads(line)["event"] for line in journal.read_text().splitlines()]
        return any(event["type"] == "agent.exit" and event["agent"] == "bob" for event in events)

    wait_for(bob_exited, 15, what="bob's exit, once resumed")
    state = _state(served)
    # (its status is tmux's to record, sometimes only after it reports the pane dead: not asserted here)
    assert state["agents"]["ann"]["task"] == (acknowledged or ["before the disk filled"])[-1]
    records = [json.loads(line) for line in journal.read_text().splitlines()]
    resumed = [r["event"] for r in records if r["event"]["type"] == "journal.resume"]
    assert len(resumed) == 1 and resumed[0]["refused"] >= 1
    kinds = [(r["event"]["type"], r["event"].get("agent")) for r in records]
    # bob's exit happened while nothing could be written: held, then journaled after the journal resumed
    assert kinds.index(("agent.exit", "bob")) > kinds.index(("journal.resume", None))
    tasks = [r["event"].get("task") for r in records if r["event"]["type"] == "status"]
    assert tasks == ["before the disk filled", *acknowledged]  # every acknowledged record, and nothing refused
    assert refused_task not in tasks
    assert served.cli("audit", "verify", str(journal), "--org", "crew").returncode == 0
    assert served.cli_as("ann", "emit", "status", "idle", "--task", "after").returncode == 0


def test_serve_says_so_and_fails_when_tmux_dies(served: Served) -> None:
    tmux(served.socket, "kill-server")
    assert served.process is not None
    served.process.wait(timeout=30)
    _, err = served.process.communicate()
    assert served.process.returncode == 1
    assert "went away" in err and "agents" in err
