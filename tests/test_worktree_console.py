"""The console's side of agents' worktrees: the diff dialog (hostile text shown as data) and the health table's
worktree column."""

from __future__ import annotations

from typing import Any

from textual.pilot import Pilot

from agent_console.tui.dialogs.diff_view import DiffView
from agent_console.widgets.health_table import HealthTable

from .test_app import SIZE, Console, _utc_and_private_dirs, demo, make_console  # noqa: F401 (fixtures)

DIFF = """diff --git a/orders.py b/orders.py
index 3b18e51..a1c2f7d 100644
--- a/orders.py
+++ b/orders.py
@@ -1,5 +1,7 @@
 def total(order):
-    return sum(line.price for line in order.lines)
+    # [bold red]not markup[/] and \x1b[31mnot a colour\x1b[0m
+    subtotal = sum(line.price * line.quantity for line in order.lines)
+    return subtotal - order.discount
\x20
\x20
\tdef tax(order):
# new file, not yet added: notes.md
"""


def test_snapshot_diff_dialog(snap_compare: Any, demo: Console) -> None:  # noqa: F811 (the fixture)
    """You should see a dialog with a thick blue frame titled "api · diff against its base" over the main screen,
    holding the diff highlighted as a diff (monokai): the "diff --git a/orders.py b/orders.py" header, the index,
    "--- a/orders.py" and "+++ b/orders.py" lines, the "@@ -1,5 +1,7 @@" hunk header, the removed line
    "-    return sum(line.price for line in order.lines)" and three added lines, the first of them shown literally
    as "+    # [bold red]not markup[/] and ␛[31mnot a colour␛[0m" (the brackets as typed, not bold nor red; each
    escape as the ␛ picture), "    def tax(order):" with its tab as spaces, and "# new file, not yet added:
    notes.md"; under it, dim, "14 line(s) · ↑↓ PgUp PgDn scroll · escape closes"."""

    async def open_diff(pilot: Pilot) -> None:
        pilot.app.show_diff("api", DIFF)
        await pilot.pause()

    assert snap_compare(demo, terminal_size=SIZE, run_before=open_diff)


async def test_the_diff_dialog_closes_with_escape_and_the_table_shows_worktrees(demo: Console) -> None:  # noqa: F811
    async with demo.run_test(size=SIZE) as pilot:
        table = demo.query_one(HealthTable)
        assert "worktree" not in [str(key.value) for key in table.columns]  # nobody has one: no column
        demo.supervisor.worktree_shown = {"api": "+2 ~1 agent/demo/api"}
        demo.refresh_views()
        await pilot.pause()
        assert str(table.get_cell("api", "worktree")) == "+2 ~1 agent/demo/api"
        assert str(table.get_cell("db", "worktree")) == ""
        demo.show_diff("api", DIFF)
        await pilot.pause()
        assert isinstance(demo.screen, DiffView)
        await pilot.press("escape")
        assert not isinstance(demo.screen, DiffView)
