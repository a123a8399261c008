"""On a real run: an org served on a private tmux server, its agents' shells reporting through the command line.
The agent's log line and the journal reach `agent-console logs`; its error keeps what its pane showed; and the
journal of the run opens in `replay --ui` and `replay --at`, showing the org as it was."""

from __future__ import annotations

import json

from textual.widgets import Static

from agent_console.agents.events import AgentState, ScreenSnapshotTaken
from agent_console.agents.journal import Journal, load_or_create_key
from agent_console.tui.replay import ReplayApp, ReplayScreen
from agent_console.widgets.health_table import HealthTable

from .conftest import wait_for, when
from .test_serve import Served, served  # noqa: F401  (the fixture)


async def test_a_served_run_logs_keeps_what_an_agent_saw_and_replays(served: Served) -> None:  # noqa: F811
    served.type_in("ann", "agent-console emit log --level warning 'disk almost full'")
    served.type_in("ann", "agent-console emit status error --task 'make failed'")
    wait_for(lambda: when(served.agents()["ann"], lambda row: row["state"] == "error"), 20, what="ann in error")
    state_dir = served.root / "state" / "agent-console" / "crew"
    journal, key = state_dir / "journal.jsonl", load_or_create_key(state_dir / "journal.key")

    def snapshot() -> ScreenSnapshotTaken | None:
        found = [r.event for r in Journal.read(journal, key) if isinstance(r.event, ScreenSnapshotTaken)]
        return found[-1] if found else None

    taken = wait_for(snapshot, 20, what="the snapshot of ann's screen")
    assert taken.agent == "ann" and taken.reason == "error"
    kept = (state_dir / "snapshots" / f"{taken.digest}.txt").read_text(encoding="utf-8")
    assert "emit status error --task 'make failed'" in kept  # what ann's pane showed

    logged = wait_for(
        lambda: when(served.cli("logs", "crew", "--agent", "ann"), lambda done: "disk almost full" in done.stdout),
        20,
        what="ann's log line in the stream",
    )
    line = next(text for text in logged.stdout.splitlines() if "disk almost full" in text)
    assert "WARNING" in line and "agent" in line and "[ann]" in line
    served.stop()

    records = list(Journal.read(journal, key))
    failed = next(r for r in records if r.actor == "ann" and getattr(r.event, "state", None) is AgentState.ERROR)
    at = served.cli("replay", str(journal), "--at", f"#{failed.seq}")
    assert at.returncode == 0, at.stderr
    assert json.loads(at.stdout)["agents"]["ann"]["state"] == "error"
    before = json.loads(served.cli("replay", str(journal), "--at", f"#{failed.seq - 1}").stdout)
    assert before["agents"]["ann"]["state"] != "error"

    app = ReplayApp(records, journal)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, ReplayScreen) and screen.position == len(records)
        assert set(screen.query_one(HealthTable).agent_names) == {"ann", "bob", "cat"}  # the spec's agents
        shot = next(r for r in records if isinstance(r.event, ScreenSnapshotTaken))
        await pilot.press("g", *f"#{shot.seq}", "enter")
        assert "make failed" in str(screen.query_one("#saw-text", Static).content)
