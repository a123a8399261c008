"""What an agent saw: its screen and the tail of its scrollback, kept when something went wrong.

On an error, a stall, a denied approval or a recovery step (`reason_for`), the agent's pane is captured,
redacted, and stored beside the journal under its SHA-256 (`SnapshotStore`: identical screens are stored once);
a `ScreenSnapshotTaken` record names the agent, the digest, the reason and the record it illustrates. The store
is capped per org: past the cap the oldest files go first, and a record whose file went says so when shown.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import re
from pathlib import Path
from typing import Protocol

from agent_console.agents.errors import ConsoleError
from agent_console.agents.events import (
    SUPERVISOR,
    AgentState,
    ApprovalDecided,
    Event,
    ProgressStalled,
    ScreenSnapshotTaken,
    StateObserved,
    StatusReported,
)
from agent_console.agents.journal import Record
from agent_console.agents.redaction import Redactor
from agent_console.agents.state import OrgState
from agent_console.terminal.base import BackendError, TerminalBackend

SNAPSHOT_CAP_BYTES = 32 * 1024 * 1024  # per org; the oldest snapshots are deleted past it
SCROLLBACK_LINES = 200  # of scrollback kept above the screen
SNAPSHOT_MAX_BYTES = 256 * 1024  # one snapshot (a screen of very long lines) is cut to this
RECOVERY_STEP = "recovery.step"  # the recovery ladder's records: matched by type name, whatever their model
_DIGEST = re.compile(r"[0-9a-f]{64}")


class SnapshotStore:
    """Files named by the SHA-256 of their text, in one folder (mode 0700), `cap` bytes in all at most."""

    def __init__(self, folder: Path, cap: int = SNAPSHOT_CAP_BYTES) -> None:
        self.folder = Path(folder)
        self.cap = cap

    def path(self, digest: str) -> Path:
        if not _DIGEST.fullmatch(digest):
            raise ValueError(f"not a snapshot digest: {digest!r}")  # never a path of someone's choosing
        return self.folder / f"{digest}.txt"

    def put(self, text: str) -> tuple[str, int]:
        """Store `text` (once per content); returns its digest and size. Older snapshots go past the cap."""
        data = text.encode("utf-8")[:SNAPSHOT_MAX_BYTES]
        digest = hashlib.sha256(data).hexdigest()
        self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        path = self.path(digest)
        if path.exists():
            os.utime(path)  # seen again: it is recent, the last to rotate out
        else:
            temporary = path.with_suffix(".tmp")
            descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
            with os.fdopen(descriptor, "wb") as handle:
                handle.write(data)
            os.replace(temporary, path)
        self.rotate(keep=digest)
        return digest, len(data)

    def get(self, digest: str) -> str | None:
        """The snapshot's text, or None when it was rotated out (or never kept here)."""
        try:
            return self.path(digest).read_bytes().decode("utf-8", errors="replace")
        except (OSError, ValueError):
            return None

    def usage(self) -> int:
        return sum(size for _, size, _ in self._files())

    def rotate(self, keep: str | None = None) -> list[str]:
        """Delete the oldest snapshots until the store fits its cap; the digests deleted."""
        files = sorted(self._files(), key=lambda item: item[2])
        total = sum(size for _, size, _ in files)
        gone: list[str] = []
        for path, size, _ in files:
            if total <= self.cap:
                break
            if path.stem == keep:
                continue
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
            total -= size
            gone.append(path.stem)
        return gone

    def _files(self) -> list[tuple[Path, int, float]]:
        found = []
        with contextlib.suppress(FileNotFoundError):
            for entry in os.scandir(self.folder):
                if entry.name.endswith(".txt") and _DIGEST.fullmatch(entry.name[:-4]):
                    info = entry.stat(follow_symlinks=False)
                    found.append((Path(entry.path), info.st_size, info.st_mtime))
        return found


def reason_for(record: Record, state: OrgState) -> tuple[str, str] | None:
    """(agent, reason) when `record` is a moment worth a snapshot of an agent's screen, else None."""
    event: Event = record.event
    if isinstance(event, StatusReported) and event.state is AgentState.ERROR:
        return record.actor, "error"
    if isinstance(event, StateObserved) and event.state is AgentState.ERROR:
        return event.agent, "error"
    if isinstance(event, ProgressStalled) and event.stalled:
        return event.agent, "stuck"
    if isinstance(event, ApprovalDecided) and not event.approved:
        decision = state.decided.get(event.id)
        return (decision.agent, "denied") if decision is not None else None
    if event.type == RECOVERY_STEP:
        agent = getattr(event, "agent", None)
        return (agent, "recovery") if isinstance(agent, str) else None
    return None


class SnapshotHost(Protocol):
    """What the snapshotter needs of the supervisor."""

    @property
    def state(self) -> OrgState: ...

    @property
    def backend(self) -> TerminalBackend: ...

    @property
    def redactor(self) -> Redactor: ...

    def submit(self, actor: str, event: Event, trace: str | None = None) -> Record: ...


class ScreenSnapshots:
    """A listener of the journal: takes the snapshots `reason_for` asks for, one capture at a time per agent."""

    def __init__(self, host: SnapshotHost, store: SnapshotStore) -> None:
        self.host = host
        self.store = store
        self._tasks: set[asyncio.Task[None]] = set()

    def __call__(self, record: Record) -> None:
        found = reason_for(record, self.host.state)
        if found is None:
            return
        agent, reason = found
        view = self.host.state.agents.get(agent)
        if view is None or view.pane is None:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # folded outside the event loop (a test's journal): no pane to capture
        task = loop.create_task(self._take(agent, view.pane, reason, record))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _take(self, agent: str, pane: str, reason: str, record: Record) -> None:
        try:
            screen = await self.host.backend.capture(pane, history=SCROLLBACK_LINES)
        except BackendError:
            return  # the pane is gone: nothing to show
        redact = self.host.redactor.text  # secrets are never stored; tens of ms for a long capture: off the loop
        digest, size = await asyncio.to_thread(lambda: self.store.put(redact(screen)))
        event = ScreenSnapshotTaken(agent=agent, digest=digest, reason=reason, illustrates=record.seq, size=size)
        with contextlib.suppress(ConsoleError):  # the journal paused: the snapshot is not referenced, and rotates
            self.host.submit(SUPERVISOR, event, trace=record.trace)

    async def settled(self) -> None:
        """Wait for the captures under way (tests, and a clean stop)."""
        while self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    def close(self) -> None:
        for task in self._tasks:
            task.cancel()
