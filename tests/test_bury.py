"""Buried agents on a real private tmux: off screen in a hidden window of the org's session, still watched (their
output drives their state, their prompts reach the approval queue), counted, and back in their team's column
when unburied; `up` and a restart keep them buried."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent_console.agents.layout import layout_cells, plan_layout
from agent_console.agents.spec import load_spec

from .conftest import tmux, wait_for, when
from .test_serve import Served, serving

SHELL = "bash --norc --noprofile"
SPEC = f"""
[org]
name = "crew"

[[team]]
name = "core"

[[team]]
name = "ops"

[[agent]]
name = "ann"
team = "core"
command = "{SHELL}"

[[agent]]
name = "bob"
team = "core"
command = "{SHELL}"

[[agent]]
name = "cat"
team = "ops"
command = "{SHELL}"
buried = true
"""
FIELDS = (
    "#{pane_id}|#{window_id}|#{@agent_console_agent}|#{@agent_console_buried}|#{@agent_console_window}|#{pane_dead}"
)
RECT = "#{@agent_console_agent}|#{pane_left}|#{pane_top}|#{pane_width}|#{pane_height}"


@pytest.fixture
def crew(tmux_socket: str, tmp_path: Path) -> Iterator[Served]:
    with serving(tmux_socket, tmp_path, SPEC) as service:
        yield service


def panes(socket: str) -> dict[str, dict[str, str | bool]]:
    """Agent → its pane, window, whether that window is buried, the window's plan tag, whether it is dead."""
    rows: dict[str, dict[str, str | bool]] = {}
    for line in tmux(socket, "list-panes", "-s", "-t", "=crew", "-F", FIELDS).splitlines():
        pane, window, agent, buried, tag, dead = line.split("|")
        rows[agent] = {"pane": pane, "window": window, "buried": buried == "1", "tag": tag, "dead": dead == "1"}
    return rows


def visible(socket: str) -> set[str]:
    """Agents whose pane is in one of the org's plan windows (the windows the layout shows)."""
    return {agent for agent, row in panes(socket).items() if row["tag"] and not row["buried"]}


def state(served: Served) -> dict:
    result = served.cli("ls", "--json", "--socket-name", served.socket)
    assert result.returncode == 0, result.stderr
    return {row["name"]: row for row in json.loads(result.stdout)}


def test_a_buried_agent_is_off_screen_yet_watched_and_unburied_it_takes_its_teams_column(crew: Served) -> None:
    rows = panes(crew.socket)
    cat = rows["cat"]
    assert cat["buried"] and not cat["dead"] and not cat["tag"]  # alive, in an untagged hidden window
    assert visible(crew.socket) == {"exec", "ann", "bob"}
    assert [row["window"] for row in rows.values()].count(cat["window"]) == 1  # alone there: full size
    listed = state(crew)
    assert set(listed) == {"ann", "bob", "cat"} and listed["cat"]["buried"]  # still counted in the org
    assert not listed["ann"]["buried"]
    table = crew.cli("ls", "--socket-name", crew.socket).stdout
    assert "yes, buried" in next(line for line in table.splitlines() if line.startswith("cat "))

    # Its output is still read: the agent protocol as an escape sequence printed in its pane (no socket).
    crew.type_in("cat", "AGENT_CONSOLE_SOCKET= agent-console emit status thinking --task buried-work")
    wait_for(lambda: state(crew)["cat"]["state"] == "thinking", 20, what="cat thinking, read from its output")

    # Unburied: back in the plan's window, in the ops column the plan gives it, the others re-laid out.
    result = crew.cli("unbury", "cat")
    assert result.returncode == 0 and "unburied cat" in result.stdout, result.stdout + result.stderr
    rows = panes(crew.socket)
    assert rows["cat"]["pane"] == cat["pane"] and not rows["cat"]["buried"]  # the same pane, its program kept
    assert visible(crew.socket) == {"exec", "ann", "bob", "cat"}
    org = load_spec(crew.spec)
    org = org.replaced(agents=tuple(a.model_copy(update={"buried": False}) for a in org.agents))
    width, height = (
        int(v) for v in tmux(crew.socket, "display", "-p", "-t", "=crew:", "#{window_width} #{window_height}").split()
    )
    planned = layout_cells(plan_layout(org, (width, height)).windows[0].root, width, height).rects()
    live = {}
    for line in tmux(crew.socket, "list-panes", "-t", rows["exec"]["window"], "-F", RECT).splitlines():
        agent, *rect = line.split("|")
        live[agent] = tuple(int(v) for v in rect)
    x, _, w, _ = planned["cat"]
    assert (live["cat"][0], live["cat"][2]) == (x, w)  # its team's column
    assert live["cat"][0] > max(live["ann"][0], live["bob"][0])  # right of core: ops comes after it

    # Buried again from the command line (journaled), then the console restarted: it stays buried, same pane.
    assert crew.cli("bury", "bob").returncode == 0
    bob = panes(crew.socket)["bob"]
    assert bob["buried"] and visible(crew.socket) == {"exec", "ann", "cat"}
    crew.stop()
    crew.start()
    rows = panes(crew.socket)
    assert rows["bob"]["buried"] and rows["bob"]["pane"] == bob["pane"] and rows["bob"]["window"] == bob["window"]
    assert visible(crew.socket) == {"exec", "ann", "cat"}
    ran = crew.cli("bury", "bob")
    assert ran.returncode == 0 and "off screen already" in ran.stdout


def test_up_again_keeps_a_buried_agent_buried(crew: Served) -> None:
    before = panes(crew.socket)
    crew.stop()
    result = crew.cli("up", str(crew.spec), "--socket-name", crew.socket, "--size", "200x60")
    assert result.returncode == 0, result.stderr
    after = panes(crew.socket)
    assert after["cat"] == before["cat"]  # not moved back, not restarted
    assert visible(crew.socket) == {"exec", "ann", "bob"}
    assert "nothing to do" in result.stdout, result.stdout
    # The spec unburies it: `up` brings it back, and says so.
    crew.spec.write_text(SPEC.replace("buried = true\n", ""))
    result = crew.cli("up", str(crew.spec), "--socket-name", crew.socket, "--size", "200x60")
    assert result.returncode == 0 and "1 unburied" in result.stdout, result.stdout + result.stderr
    assert (
        visible(crew.socket) == {"exec", "ann", "bob", "cat"}
        and panes(crew.socket)["cat"]["pane"] == before["cat"]["pane"]
    )


def test_a_buried_agents_prompt_is_queued_and_answered_in_its_hidden_pane(crew: Served, tmp_path: Path) -> None:
    out = tmp_path / "answer"
    crew.type_in("cat", f"read -p 'drop the staging table? [y/n] ' a; echo \"$a\" > {out}")
    pending = wait_for(
        lambda: [a for a in json.loads(crew.cli("approvals", "--json").stdout) if a["agent"] == "cat"],
        30,
        what="cat's prompt in the approval queue",
    )
    assert "drop the staging table" in pending[0]["text"]
    assert panes(crew.socket)["cat"]["buried"]  # asked while buried
    assert crew.cli("approve", pending[0]["id"]).returncode == 0
    assert wait_for(lambda: when(out, Path.exists) and out.read_text().strip(), 15, what="the answer typed") == "y"


def test_save_writes_a_burial_made_in_the_console_into_the_spec(crew: Served, tmp_path: Path) -> None:
    assert crew.cli("bury", "ann").returncode == 0
    saved = tmp_path / "saved.toml"
    result = crew.cli("save", str(saved))
    assert result.returncode == 0, result.stderr
    org = load_spec(saved)
    assert [agent.name for agent in org.agents if agent.buried] == ["ann", "cat"]
