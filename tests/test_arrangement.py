"""Named arrangements on a real private tmux: saved in the org's state directory (the windows' layouts and which
agent is in which), loaded back after the panes were moved and re-laid out, naming what cannot be restored."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from .conftest import tmux
from .test_promote import SPEC
from .test_serve import Served, serving

FIELDS = "#{@agent_console_agent}|#{window_id}"


@pytest.fixture
def crew(tmux_socket: str, tmp_path: Path) -> Iterator[Served]:
    with serving(tmux_socket, tmp_path, SPEC) as service:
        yield service


def windows(served: Served) -> dict[str, list[str]]:
    """Window id → the agents of its panes, in pane order."""
    found: dict[str, list[str]] = {}
    for line in tmux(served.socket, "list-panes", "-s", "-t", "=crew", "-F", FIELDS).splitlines():
        agent, window = line.split("|")
        found.setdefault(window, []).append(agent)
    return found


def pane_of(served: Served, agent: str) -> str:
    listed = tmux(served.socket, "list-panes", "-s", "-t", "=crew", "-F", "#{pane_id} #{@agent_console_agent}")
    return next(line.split()[0] for line in listed.splitlines() if line.endswith(f" {agent}"))


def layouts(served: Served) -> dict[str, str]:
    """The first agent of each window → that window's layout."""
    found = {}
    for window, agents in windows(served).items():
        found[agents[0]] = tmux(served.socket, "display", "-p", "-t", window, "#{window_layout}").strip()
    return found


def test_an_arrangement_saved_then_loaded_brings_back_the_layouts_and_the_windows(crew: Served) -> None:
    saved_windows = sorted(windows(crew).values())
    saved_layouts = layouts(crew)
    result = crew.cli("arrangement", "save", "daily")
    assert result.returncode == 0, result.stderr
    assert "saved arrangement daily: 1 window(s), 5 pane(s)" in result.stdout
    kept = crew.root / "state" / "agent-console" / "crew" / "arrangements" / "daily.json"
    assert kept.stat().st_mode & 0o777 == 0o600
    assert json.loads(kept.read_text())["windows"][0]["agents"] == saved_windows[0]

    # Moved and re-laid out by hand: two agents in windows of their own, the rest stacked.
    first = next(iter(windows(crew)))
    for agent in ("ann", "cat"):
        tmux(crew.socket, "break-pane", "-d", "-s", pane_of(crew, agent))
    tmux(crew.socket, "select-layout", "-t", first, "even-vertical")
    assert len(windows(crew)) == 3 and layouts(crew) != saved_layouts

    result = crew.cli("arrangement", "load", "daily")
    assert result.returncode == 0, result.stderr
    assert "loaded arrangement daily" in result.stdout and "not restored" not in result.stdout, result.stdout
    assert sorted(windows(crew).values()) == saved_windows
    assert layouts(crew) == saved_layouts

    listed = crew.cli("arrangement", "list")
    assert listed.returncode == 0 and "arrangements: daily" in listed.stdout

    # An arrangement of two windows (ann alone in the second, by hand), brought back after ann was put back.
    ann = pane_of(crew, "ann")
    tmux(crew.socket, "break-pane", "-d", "-s", ann, "-n", "solo")
    two_windows, two_layouts = sorted(windows(crew).values()), layouts(crew)
    assert len(two_windows) == 2 and ["ann"] in two_windows
    assert crew.cli("arrangement", "save", "solo-ann").returncode == 0
    tmux(crew.socket, "join-pane", "-d", "-s", ann, "-t", pane_of(crew, "bob"))
    assert len(windows(crew)) == 1
    result = crew.cli("arrangement", "load", "solo-ann")
    assert result.returncode == 0 and "not restored" not in result.stdout, result.stdout + result.stderr
    assert sorted(windows(crew).values()) == two_windows and layouts(crew) == two_layouts
    assert tmux(crew.socket, "display", "-p", "-t", ann, "#{window_name}").strip() == "solo"


def test_loading_names_what_it_cannot_restore_and_a_name_is_never_a_path(crew: Served) -> None:
    assert crew.cli("arrangement", "save", "before-kill").returncode == 0
    assert crew.cli("kill", "cat").returncode == 0
    result = crew.cli("arrangement", "load", "before-kill")
    assert result.returncode == 0, result.stderr
    assert "not restored: cat has no pane any more (no longer in the org, or not running)" in result.stdout
    assert "laid out evenly" in result.stdout  # four panes left where five were: the saved layout cannot fit
    assert sorted(agent for agents in windows(crew).values() for agent in agents) == ["ann", "bob", "exec", "lead"]

    state = crew.root / "state" / "agent-console" / "crew"
    for name in ("../../escape", "a/b", ".hidden", "x.json"):
        result = crew.cli("arrangement", "save", name)
        assert result.returncode != 0 and f"{name!r} is not an arrangement name: use 1 to 64 letters" in result.stderr
    result = crew.cli("arrangement", "save", "x" * 65)
    assert result.returncode != 0 and "name: String should have at most 64 characters" in result.stderr
    assert not (state.parent / "escape.json").exists() and not list(state.rglob("*escape*"))
    missing = crew.cli("arrangement", "load", "nope")
    assert missing.returncode != 0
    assert "arrangement load: there is no arrangement 'nope' (arrangements: before-kill)" in missing.stderr
    bare = crew.cli("arrangement", "load")
    assert bare.returncode != 0 and "which one? write: arrangement load NAME" in bare.stderr, bare.stderr
