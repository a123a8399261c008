"""The layout plan: every agent gets one pane, panes stay usable, teams spill whole, and plans stay stable."""

from __future__ import annotations

from functools import lru_cache
from itertools import pairwise

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agent_console.agents.layout import (
    DENSE_PANE_COLS,
    DENSE_PANE_ROWS,
    MIN_PANE_COLS,
    MIN_PANE_ROWS,
    Cell,
    LayoutPlan,
    Pane,
    Split,
    layout_cells,
    moves,
    plan_layout,
)
from agent_console.agents.model import EXEC_SLOT, Agent, Org, Role, Team
from agent_console.runtime.supervisor import CONSOLE_MIN_COLS, CONSOLE_SHARE_PERCENT

SIZES = [(200, 50), (120, 40), (80, 24)]
COMFORTABLE = {(200, 50), (120, 40), (160, 30), (90, 60)}


# ------------------------------------------------------------------------------------- spec-derived helpers


def per_col(size: tuple[int, int]) -> int:
    return max(1, (size[1] + 1) // (MIN_PANE_ROWS + 1))


def window_capacity(size: tuple[int, int], index: int, console: bool = False) -> int:
    """Team columns in a window; window 0 beside the executive column (the console's own, if `console`)."""
    width = size[0]
    if index == 0:
        share, least = (CONSOLE_SHARE_PERCENT / 100, CONSOLE_MIN_COLS) if console else (0.3, MIN_PANE_COLS)
        width -= min(width, max(least, round(share * width)))
        return max(0, width // (MIN_PANE_COLS + 1))
    return max(1, (width + 1) // (MIN_PANE_COLS + 1))


def columns(leaves: int, size: tuple[int, int]) -> int:
    return -(-leaves // per_col(size))


def fits_alone(leaves: int, size: tuple[int, int]) -> bool:
    """Too big for a window at the minimum, but whole in a window of its own at the dense minimum."""
    dense_columns = -(-leaves // max(1, (size[1] + 1) // (DENSE_PANE_ROWS + 1)))
    dense = dense_columns <= max(1, (size[0] + 1) // (DENSE_PANE_COLS + 1))
    return columns(leaves, size) > window_capacity(size, 1) and dense


def fits_whole(leaves: int, size: tuple[int, int]) -> bool:
    return columns(leaves, size) <= window_capacity(size, 1) or fits_alone(leaves, size)


def top_team(org: Org, team: str) -> str:
    while (parent := org.team(team).parent) is not None:
        team = parent
    return team


def team_agents(org: Org, top: str) -> set[str]:
    """The agents shown in the top-level team's panes (the exec-role agent sits in the exec column)."""
    return {a.name for a in org.agents if a.role is not Role.EXEC and top_team(org, a.team) == top}


def windows_of(plan: LayoutPlan) -> dict[str, list[int]]:
    found: dict[str, list[int]] = {}
    for window in plan.windows:
        for team in window.teams:
            found.setdefault(team, []).append(window.index)
    return found


def team_nodes(window_root: Split) -> list[Split]:
    return [child for child in window_root.children if isinstance(child, Split) and child.label != "exec"]


def columns_used(window_root: Split) -> int:
    return sum(len(node.children) if node.direction == "h" else 1 for node in team_nodes(window_root))


def find_label(node: Pane | Split, label: str) -> Split | None:
    if isinstance(node, Pane):
        return None
    if node.label == label:
        return node
    for child in node.children:
        found = find_label(child, label)
        if found is not None:
            return found
    return None


def leaves(node: Pane | Split) -> list[str]:
    if isinstance(node, Pane):
        return [node.slot]
    return [slot for child in node.children for slot in leaves(child)]


def check_partition(cell: Cell, node: Pane | Split) -> None:
    """Each split's children tile it exactly, separated by 1-cell borders (tmux's rule), recursively."""
    assert cell.width >= 1 and cell.height >= 1
    if isinstance(node, Pane):
        assert cell.slot == node.slot and cell.direction is None and cell.children == ()
        return
    assert cell.slot is None and cell.direction == node.direction
    assert len(cell.children) == len(node.children)
    position = cell.x if node.direction == "h" else cell.y
    for child_cell, child in zip(cell.children, node.children, strict=True):
        if node.direction == "h":
            assert (child_cell.x, child_cell.y, child_cell.height) == (position, cell.y, cell.height)
            position += child_cell.width + 1
        else:
            assert (child_cell.x, child_cell.y, child_cell.width) == (cell.x, position, cell.width)
            position += child_cell.height + 1
        check_partition(child_cell, child)
    assert position - 1 == (cell.x + cell.width if node.direction == "h" else cell.y + cell.height)


def check_plan(org: Org, plan: LayoutPlan, console: bool = False) -> None:
    """The invariants every plan has, whatever the org, size or previous plan (`console`: planned with the
    console's own share and minimum width)."""
    size = plan.size
    expected = sorted([EXEC_SLOT, *(a.name for a in org.agents)])
    assert sorted(plan.slots()) == expected, "every agent exactly once, and the exec pane"
    assert plan.window_of(EXEC_SLOT) == 0
    assert [w.index for w in plan.windows] == list(range(len(plan.windows)))
    spec_order = [t.name for t in org.subteams(None)]
    for window in plan.windows:
        root = window.root
        assert isinstance(root, Split) and root.direction == "h"
        if window.index == 0:
            assert isinstance(root.children[0], Split) and root.children[0].label == "exec"
        else:
            assert find_label(root, "exec") is None
            assert window.teams, "only window 0 may be without teams"
        assert [node.label for node in team_nodes(root)] == [f"team:{t}" for t in window.teams]
        assert list(window.teams) == sorted(window.teams, key=spec_order.index)
        assert window.name == ("+".join(window.teams)[:30] if window.teams else "exec")
        dense = len(window.teams) == 1 and fits_alone(len(team_agents(org, window.teams[0])), size)
        if dense:
            assert window.index > 0 and windows_of(plan)[window.teams[0]] == [window.index], "alone, whole"
        else:
            assert columns_used(root) <= window_capacity(size, window.index, console)
        cell = layout_cells(root, *size)
        assert (cell.x, cell.y, cell.width, cell.height) == (0, 0, *size)
        check_partition(cell, root)
        rects = cell.rects()
        assert list(rects) == window.slots()
        least = (DENSE_PANE_COLS, DENSE_PANE_ROWS) if dense else (MIN_PANE_COLS, MIN_PANE_ROWS)
        if size in COMFORTABLE:
            for slot, (_, _, width, height) in rects.items():
                assert width >= least[0] and height >= least[1], (slot, width, height)
    for team, indexes in windows_of(plan).items():
        assert indexes == list(range(indexes[0], indexes[0] + len(indexes))), "consecutive windows"
        if len(indexes) > 1:
            assert not fits_whole(len(team_agents(org, team)), size), f"{team} cut but fits one window"


# ------------------------------------------------------------------------------------------------- orgs


def org_of(teams: list[Team], agents: list[Agent]) -> Org:
    return Org(name="test", teams=tuple(teams), agents=tuple(agents))


SPREAD_TEAMS = [
    Team(name="alpha"),
    Team(name="beta", parent="alpha"),
    Team(name="gamma"),
    Team(name="delta", parent="gamma"),
    Team(name="epsilon", parent="delta"),
    Team(name="zeta"),
    Team(name="eta"),
    Team(name="theta", parent="eta"),
]
# Uneven on purpose: alpha grows past a whole window, small teams share windows.
SPREAD_PATTERN = [0, 0, 2, 0, 1, 3, 5, 0, 4, 6, 7, 2, 0, 3]


@lru_cache
def spread_org(n: int) -> Org:
    agents = []
    for i in range(n):
        role = Role.EXEC if i == 1 else Role.COORDINATOR if i % 9 == 5 else Role.WORKER
        agents.append(Agent(name=f"ag{i}", team=SPREAD_TEAMS[SPREAD_PATTERN[i % 14]].name, role=role))
    return org_of(SPREAD_TEAMS, agents)


def small_org() -> Org:
    return org_of(
        [Team(name="backend"), Team(name="db", parent="backend"), Team(name="frontend"), Team(name="empty")],
        [
            Agent(name="api", team="backend"),
            Agent(name="lead", team="backend", role=Role.COORDINATOR),
            Agent(name="schema", team="db"),
            Agent(name="migrations", team="db"),
            Agent(name="boss", team="frontend", role=Role.EXEC),
            Agent(name="ui", team="frontend"),
        ],
    )


def teams_with(counts: dict[str, int]) -> Org:
    teams = [Team(name=name) for name in counts]
    agents = [Agent(name=f"{name}{i}", team=name) for name, n in counts.items() for i in range(n)]
    return org_of(teams, agents)


def without(org: Org, name: str) -> Org:
    return org_of(list(org.teams), [a for a in org.agents if a.name != name])


def with_agent(org: Org, agent: Agent, position: int | None = None) -> Org:
    agents = list(org.agents)
    agents.insert(len(agents) if position is None else position, agent)
    return org_of(list(org.teams), agents)


# ------------------------------------------------------------------------------------------ the small org


def test_small_org_shape() -> None:
    org = small_org()
    plan = plan_layout(org, (200, 50))
    assert len(plan.windows) == 1
    window = plan.windows[0]
    assert window.teams == ("backend", "frontend") and window.name == "backend+frontend"
    root = window.root
    assert isinstance(root, Split) and root.direction == "h"
    exec_column, backend, frontend = root.children
    assert exec_column == Split("v", (Pane(EXEC_SLOT), Pane("boss")), (1, 1), label="exec")
    assert isinstance(backend, Split) and backend.label == "team:backend" and backend.direction == "v"
    assert backend.children[:2] == (Pane("lead"), Pane("api")), "coordinator first"
    db = backend.children[2]
    assert db == Split("v", (Pane("schema"), Pane("migrations")), (1, 1), label="team:db")
    assert backend.weights == (1, 1, 2)
    assert frontend == Split("v", (Pane("ui"),), (1,), label="team:frontend")
    assert find_label(root, "team:empty") is None, "a team without agents gets no node"
    assert plan.slots() == [EXEC_SLOT, "boss", "lead", "api", "schema", "migrations", "ui"]

    rects = layout_cells(root, 200, 50).rects()
    assert rects[EXEC_SLOT][:2] == (0, 0) and rects["boss"][0] == 0
    assert rects["boss"][1] > rects[EXEC_SLOT][1], "the exec-role agent sits under the exec pane"
    assert rects[EXEC_SLOT][2] == 60, "the exec column is 30% of the window"
    assert rects["lead"][0] < rects["ui"][0], "team columns in spec order"
    assert rects["lead"][1] < rects["api"][1] < rects["schema"][1] < rects["migrations"][1]
    check_plan(org, plan)


@pytest.mark.parametrize("size", SIZES[:2])
def test_exec_column_is_prominent(size: tuple[int, int]) -> None:
    plan = plan_layout(small_org(), size)
    exec_cell = layout_cells(plan.windows[0].root, *size).children[0]
    assert exec_cell.width == max(MIN_PANE_COLS, round(0.3 * size[0]))
    assert exec_cell.rects().keys() == {EXEC_SLOT, "boss"}


def test_a_narrow_window_0_holds_the_exec_column_alone() -> None:
    # 80 columns: 40 for the exec column would leave 39, too few for a team column of 40 and its border.
    plan = plan_layout(small_org(), (80, 24))
    assert plan.windows[0].teams == () and plan.windows[0].name == "exec"
    assert layout_cells(plan.windows[0].root, 80, 24).rects() == {EXEC_SLOT: (0, 0, 80, 12), "boss": (0, 13, 80, 11)}
    assert [w.teams for w in plan.windows[1:]] == [("backend",), ("frontend",)]
    check_plan(small_org(), plan)


@pytest.mark.parametrize(
    ("size", "exec_width", "teams_beside"),
    [((80, 24), 80, 0), ((120, 40), 120, 0), ((121, 40), 80, 1), ((200, 50), 100, 2), ((300, 80), 150, 3)],
)
def test_the_console_gets_its_minimum_width_from_the_agents_side(
    size: tuple[int, int], exec_width: int, teams_beside: int
) -> None:
    """The console asks for 50% and at least 80 columns: the agents give way, then spill to later windows."""
    assert (CONSOLE_SHARE_PERCENT, CONSOLE_MIN_COLS) == (50, 80)
    org = teams_with({"a": 1, "b": 1, "c": 1, "d": 1})
    plan = plan_layout(org, size, exec_share=50, exec_min_width=80)
    assert layout_cells(plan.windows[0].root, *size).rects()[EXEC_SLOT][2] == exec_width
    assert len(plan.windows[0].teams) == teams_beside
    assert sorted(plan.slots()) == sorted([EXEC_SLOT, "a0", "b0", "c0", "d0"])
    narrow = plan_layout(org, (60, 20), exec_share=50, exec_min_width=80)
    assert layout_cells(narrow.windows[0].root, 60, 20).rects() == {EXEC_SLOT: (0, 0, 60, 20)}, "the whole window"


def test_org_without_agents_is_the_exec_pane_alone() -> None:
    plan = plan_layout(org_of([Team(name="solo")], []), (120, 40))
    assert len(plan.windows) == 1 and plan.windows[0].name == "exec" and plan.windows[0].teams == ()
    assert plan.windows[0].root == Split("h", (Split("v", (Pane(EXEC_SLOT),), (1,), label="exec"),), (1,))
    assert layout_cells(plan.windows[0].root, 120, 40).rects() == {EXEC_SLOT: (0, 0, 120, 40)}


def test_only_the_exec_agent_fills_the_window() -> None:
    org = org_of([Team(name="top")], [Agent(name="boss", team="top", role=Role.EXEC)])
    plan = plan_layout(org, (200, 50))
    assert plan.slots() == [EXEC_SLOT, "boss"] and plan.windows[0].teams == ()
    assert layout_cells(plan.windows[0].root, 200, 50).rects() == {
        EXEC_SLOT: (0, 0, 200, 25),
        "boss": (0, 26, 200, 24),
    }


# ---------------------------------------------------------------------------------------- spill and wrap


def test_tall_team_wraps_into_columns_and_keeps_its_label() -> None:
    org = org_of(
        [Team(name="big"), Team(name="sub", parent="big")],
        [Agent(name=f"b{i}", team="big") for i in range(4)] + [Agent(name=f"s{i}", team="sub") for i in range(3)],
    )
    plan = plan_layout(org, (200, 50))  # 5 panes a column
    big = plan.windows[0].root.children[1]
    assert isinstance(big, Split) and big.direction == "h" and big.label == "team:big"
    assert [leaves(column) for column in big.children] == [["b0", "b1", "b2", "b3", "s0"], ["s1", "s2"]]
    assert all(isinstance(c, Split) and c.direction == "v" for c in big.children)
    assert big.weights == (1, 1)
    rects = layout_cells(plan.windows[0].root, 200, 50).rects()
    assert rects["b0"][0] == rects["s0"][0] < rects["s1"][0], "columns side by side"
    assert all(w >= MIN_PANE_COLS and h >= MIN_PANE_ROWS for _, _, w, h in rects.values())


def test_teams_spill_whole_into_later_windows() -> None:
    # (200, 50): 5 panes a column, 3 team columns beside the exec column, 4 in later windows.
    org = teams_with({"a": 10, "b": 5, "c": 10, "d": 20, "e": 5})
    plan = plan_layout(org, (200, 50))
    # c (2 columns) does not fit beside a+b, d (4) fills window 2, e takes the room left in window 1.
    assert [w.teams for w in plan.windows] == [("a", "b"), ("c", "e"), ("d",)]
    assert [w.name for w in plan.windows] == ["a+b", "c+e", "d"]
    plan = plan_layout(teams_with({"a": 10, "b": 5, "c": 10, "d": 20, "e": 15}), (200, 50))
    assert [w.teams for w in plan.windows] == [("a", "b"), ("c",), ("d",), ("e",)]


def test_a_team_too_big_at_the_minimum_goes_whole_and_dense_into_a_window_of_its_own() -> None:
    # 80x24: a window holds one column of 2 panes at 40x8; "team" has 4 agents (the demo's backend).
    org = teams_with({"team": 4, "other": 1})
    plan = plan_layout(org, (80, 24))
    assert windows_of(plan) == {"team": [1], "other": [2]}
    dense = layout_cells(plan.windows[1].root, 80, 24).rects()
    assert sorted(dense.values()) == [(0, 0, 40, 12), (0, 13, 40, 11), (41, 0, 39, 12), (41, 13, 39, 11)]
    # Stays whole and alone as it grows while it fits at 30x6 (2 columns of 3 here), and keeps its window.
    grown = with_agent(org, Agent(name="team4", team="team"))
    assert windows_of(plan_layout(grown, (80, 24), previous=plan)) == {"team": [1], "other": [2]}
    check_plan(grown, plan_layout(grown, (80, 24), previous=plan))
    # Too big even so: cut across windows, the last resort.
    huge = teams_with({"team": 7})
    assert windows_of(plan_layout(huge, (80, 24))) == {"team": [1, 2, 3, 4]}
    check_plan(org, plan)


def test_only_a_team_wider_than_a_window_is_cut() -> None:
    org = teams_with({"small": 3, "huge": 60})  # huge: 12 columns; a window holds 4 (alone, 6 of 7 panes)
    plan = plan_layout(org, (200, 50))
    assert windows_of(plan) == {"small": [0], "huge": [0, 1, 2, 3]}
    for window in plan.windows:
        chunk = find_label(window.root, "team:huge")
        assert chunk is not None and chunk.direction == "h", "the team label is never lost"
    assert [columns_used(w.root) for w in plan.windows] == [3, 4, 4, 2]
    assert [s for s in plan.slots() if s.startswith("huge")] == [f"huge{i}" for i in range(60)]
    check_plan(org, plan)


def test_long_window_names_are_cut_to_30_characters() -> None:
    org = teams_with({"frontend-platform": 1, "backend-services": 1, "ops": 1})
    plan = plan_layout(org, (200, 50))
    assert plan.windows[0].name == "frontend-platform+backend-serv"
    assert len(plan.windows[0].name) == 30


@pytest.mark.parametrize("size", [(80, 23), (120, 39), (200, 49), (300, 79)])
def test_every_org_size_keeps_every_rule_with_the_console_in_the_exec_pane(size: tuple[int, int]) -> None:
    for n in range(1, 81):
        org = spread_org(n)
        plan = plan_layout(org, size, exec_share=CONSOLE_SHARE_PERCENT, exec_min_width=CONSOLE_MIN_COLS)
        check_plan(org, plan, console=True)
        exec_width = layout_cells(plan.windows[0].root, *size).rects()[EXEC_SLOT][2]
        assert exec_width >= min(size[0], CONSOLE_MIN_COLS)


def test_tiny_window_still_places_everyone() -> None:
    org = spread_org(30)
    plan = plan_layout(org, (30, 6))
    assert all(columns_used(w.root) >= 1 for w in plan.windows[1:])
    assert sorted(plan.slots()) == sorted([EXEC_SLOT, *(a.name for a in org.agents)])
    check_plan(org, plan)


@pytest.mark.parametrize("size", SIZES)
def test_every_org_size_from_1_to_200(size: tuple[int, int]) -> None:
    split_seen = False
    for n in range(1, 201):
        org = spread_org(n)
        plan = plan_layout(org, size)
        check_plan(org, plan)
        assert plan == plan_layout(org, size), "deterministic"
        split_seen |= any(len(indexes) > 1 for indexes in windows_of(plan).values())
    assert split_seen, "the sweep should reach a team too wide for one window"


# ------------------------------------------------------------------------------------------------ geometry


def test_geometry_follows_weights_borders_and_minimums() -> None:
    two = Split("h", (Pane("a"), Pane("b")), (1, 1))
    assert layout_cells(two, 81, 10).rects() == {"a": (0, 0, 40, 10), "b": (41, 0, 40, 10)}
    assert layout_cells(two, 80, 10).rects() == {"a": (0, 0, 40, 10), "b": (41, 0, 39, 10)}
    skewed = Split("h", (Pane("a"), Pane("b")), (1, 3))
    assert layout_cells(skewed, 201, 10).rects()["a"][2] == 50
    assert layout_cells(skewed, 101, 10).rects()["a"][2] == MIN_PANE_COLS, "raised to the minimum"
    assert layout_cells(skewed, 41, 10).rects()["a"][2] == 10, "no room for minimums: by weight"
    stacked = Split("v", (Pane("a"), Split("v", (Pane("b"), Pane("c")), (1, 1))), (1, 2))
    assert layout_cells(stacked, 50, 26).rects() == {
        "a": (0, 0, 50, 8),
        "b": (0, 9, 50, 8),
        "c": (0, 18, 50, 8),
    }


def test_too_small_window_raises_a_helpful_error() -> None:
    plan = plan_layout(small_org(), (200, 50))
    with pytest.raises(ValueError, match=r"a 3x2 window is too small .* 7 panes .* at least 5x7"):
        layout_cells(plan.windows[0].root, 3, 2)
    with pytest.raises(ValueError, match="too small"):
        layout_cells(plan.windows[0].root, 5, 6)
    assert layout_cells(plan.windows[0].root, 5, 7).rects()["ui"][2:] == (1, 7)
    with pytest.raises(ValueError, match="at least 1x1"):
        plan_layout(small_org(), (0, 50))


def test_split_rejects_malformed_nodes() -> None:
    with pytest.raises(ValueError, match="at least one child"):
        Split("h", (), ())
    with pytest.raises(ValueError, match="weights"):
        Split("v", (Pane("a"),), (1, 1))
    with pytest.raises(ValueError, match="at least 1"):
        Split("v", (Pane("a"),), (0,))


def test_window_of_and_moves() -> None:
    plan = plan_layout(teams_with({"a": 10, "b": 5, "c": 10}), (200, 50))
    assert plan.window_of("c0") == 1 and plan.window_of("a3") == 0
    with pytest.raises(KeyError):
        plan.window_of("nobody")
    other = plan_layout(teams_with({"a": 5, "b": 5, "c": 5}), (200, 50))
    assert moves(plan, other) == {f"c{i}" for i in range(5)}
    assert moves(plan, plan) == set()


# ----------------------------------------------------------------------------------------------- stability


def test_growing_team_that_still_fits_moves_nothing() -> None:
    org = teams_with({"a": 3, "b": 5, "c": 5, "d": 5})
    old = plan_layout(org, (200, 50))
    new = plan_layout(with_agent(org, Agent(name="a-new", team="a")), (200, 50), previous=old)
    assert moves(old, new) == set()
    assert new.window_of("a-new") == old.window_of("a0")


def test_team_that_outgrows_its_window_moves_alone() -> None:
    org = teams_with({"a": 5, "b": 1, "c": 1, "d": 1})  # window 0: a b c, window 1: d
    old = plan_layout(org, (200, 50))
    assert [w.teams for w in old.windows] == [("a", "b", "c"), ("d",)]
    new = plan_layout(with_agent(org, Agent(name="a-new", team="a")), (200, 50), previous=old)
    assert [w.teams for w in new.windows] == [("b", "c"), ("a", "d")]
    assert moves(old, new) == {f"a{i}" for i in range(5)}
    assert [w.name for w in new.windows] == ["b+c", "a+d"]


def test_without_previous_a_removal_can_move_another_team() -> None:
    org = teams_with({"a": 6, "b": 1, "c": 1})  # a needs 2 columns: window 0 holds a b, c spills
    old = plan_layout(org, (200, 50))
    assert [w.teams for w in old.windows] == [("a", "b"), ("c",)]
    shrunk = without(org, "a5")
    assert moves(old, plan_layout(shrunk, (200, 50))) == {"c0"}, "repacking pulls c back"
    stable = plan_layout(shrunk, (200, 50), previous=old)
    assert moves(old, stable) == set()
    assert [w.teams for w in stable.windows] == [("a", "b"), ("c",)]
    check_plan(shrunk, stable)


def test_removing_a_window_s_last_agent_only_renumbers_later_windows() -> None:
    org = teams_with({"a": 15, "b": 1, "c": 20})  # one window each: b cannot share with a or c
    old = plan_layout(org, (200, 50))
    assert [w.teams for w in old.windows] == [("a",), ("b",), ("c",)]
    new = plan_layout(without(org, "b0"), (200, 50), previous=old)
    assert [w.teams for w in new.windows] == [("a",), ("c",)]
    assert moves(old, new) == {f"c{i}" for i in range(20)}, "window 2 became window 1: nothing else"


def test_a_displaced_team_looks_for_room_from_its_own_window_onward() -> None:
    org = teams_with({"a": 10, "b": 5, "c": 15, "x": 5})
    first = plan_layout(org, (200, 50))
    assert [w.teams for w in first.windows] == [("a", "b"), ("c", "x")]
    gone = {f"a{i}" for i in range(5, 10)}
    shrunk = org_of(list(org.teams), [a for a in org.agents if a.team != "b" and a.name not in gone])
    second = plan_layout(shrunk, (200, 50), previous=first)
    assert [w.teams for w in second.windows] == [("a",), ("c", "x")] and moves(first, second) == set()
    third = plan_layout(with_agent(shrunk, Agent(name="x5", team="x")), (200, 50), previous=second)
    assert [w.teams for w in third.windows] == [("a",), ("c",), ("x",)], "forward, not back to window 0"
    assert moves(second, third) == {f"x{i}" for i in range(5)}


def test_moves_with_previous_are_deterministic() -> None:
    org = spread_org(120)
    old = plan_layout(org, (120, 40))
    grown = with_agent(org, Agent(name="late", team="theta"), 3)
    assert plan_layout(grown, (120, 40), previous=old) == plan_layout(grown, (120, 40), previous=old)


def assert_only_renumbered(old: LayoutPlan, new: LayoutPlan, exempt: set[str]) -> None:
    """Slots outside `exempt` keep their window, except that windows after a closed one shift left."""
    before = {slot: w.index for w in old.windows for slot in w.slots()}
    after = {slot: w.index for w in new.windows for slot in w.slots()}
    mapping: dict[int, set[int]] = {}
    for slot in sorted(before.keys() & after.keys() - exempt):
        mapping.setdefault(before[slot], set()).add(after[slot])
    assert all(len(targets) == 1 for targets in mapping.values()), "a window's panes were torn apart"
    pairs = sorted((index, targets.pop()) for index, targets in mapping.items())
    assert all(target <= index for index, target in pairs), "windows only ever close, never open in between"
    assert all(a[1] < b[1] for a, b in pairwise(pairs)), "window order is kept"
    if len(pairs) == len(old.windows):
        assert moves(old, new) <= exempt, "no window closed, so nothing else may move"


@st.composite
def orgs(draw: st.DrawFn) -> Org:
    teams = []
    for i in range(draw(st.integers(1, 5))):
        family = [f"t{i}"]
        teams.append(Team(name=family[0]))
        for j in range(draw(st.integers(0, 3))):
            parent = draw(st.sampled_from(family))
            family.append(f"t{i}s{j}")
            teams.append(Team(name=family[-1], parent=parent))
    agents = []
    for team in teams:
        for _ in range(draw(st.integers(0, 9))):
            role = draw(st.sampled_from([Role.WORKER, Role.WORKER, Role.COORDINATOR]))
            agents.append(Agent(name=f"a{len(agents)}", team=team.name, role=role))
    agents = draw(st.permutations(agents))
    if agents and draw(st.booleans()):
        agents[0] = agents[0].model_copy(update={"role": Role.EXEC})
    return org_of(teams, agents)


sizes = st.sampled_from([*SIZES, (160, 30), (90, 60)])
fast = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@fast
@given(org=orgs(), size=sizes, data=st.data())
def test_adding_an_agent_moves_at_most_its_own_team(org: Org, size: tuple[int, int], data: st.DataObject) -> None:
    team = data.draw(st.sampled_from([t.name for t in org.teams]))
    role = data.draw(st.sampled_from([Role.WORKER, Role.COORDINATOR]))
    position = data.draw(st.integers(0, len(org.agents)))
    grown = with_agent(org, Agent(name="newcomer", team=team, role=role), position)
    old = plan_layout(org, size)
    new = plan_layout(grown, size, previous=old)
    check_plan(grown, new)

    top = top_team(grown, team)
    mine = team_agents(grown, top)
    assert_only_renumbered(old, new, exempt=mine)
    old_windows = windows_of(old).get(top, [])
    if len(old_windows) != 1:
        return  # new team (moves nothing of its own), or already cut across windows
    (index,) = old_windows
    others = columns_used(old.windows[index].root) - columns_used_by(old, index, top)
    if fits_alone(len(mine), size):
        must_move = others > 0 or index == 0  # it needs a window of its own, and window 0 holds the console
    else:
        must_move = others + columns(len(mine), size) > window_capacity(size, index)
    moved_mine = moves(old, new) & mine
    if not must_move:
        assert not moved_mine, "a team that still fits its window stays there"
    elif len(windows_of(new)[top]) == 1:
        assert moved_mine == mine - {"newcomer"}, "a team that no longer fits moves whole"
    else:
        assert not fits_whole(len(mine), size), "cut only when too big for any window"


def columns_used_by(plan: LayoutPlan, index: int, team: str) -> int:
    root = plan.windows[index].root
    mine = [node for node in team_nodes(root) if node.label == f"team:{team}"]
    return sum(len(node.children) if node.direction == "h" else 1 for node in mine)


@fast
@given(org=orgs(), size=sizes, data=st.data())
def test_removing_an_agent_moves_nothing(org: Org, size: tuple[int, int], data: st.DataObject) -> None:
    if not org.agents:
        return
    victim = data.draw(st.sampled_from(org.agents))
    shrunk = without(org, victim.name)
    old = plan_layout(org, size)
    new = plan_layout(shrunk, size, previous=old)
    check_plan(shrunk, new)
    exempt: set[str] = set()
    if victim.role is not Role.EXEC:
        top = top_team(org, victim.team)
        if len(windows_of(old)[top]) > 1 and len(windows_of(new).get(top, [])) <= 1:
            exempt = team_agents(shrunk, top)  # no longer too wide: its parts come together in one window
    assert_only_renumbered(old, new, exempt)


@fast
@given(org=orgs(), size=sizes)
def test_replanning_with_itself_as_previous_changes_nothing(org: Org, size: tuple[int, int]) -> None:
    plan = plan_layout(org, size)
    assert plan_layout(org, size, previous=plan) == plan


@fast
@given(org=orgs(), size=sizes, data=st.data())
def test_a_history_of_changes_keeps_every_rule(org: Org, size: tuple[int, int], data: st.DataObject) -> None:
    """Plans made from plans made from plans: no drift, whatever the changes (and one resize)."""
    plan = plan_layout(org, size)
    for step in range(data.draw(st.integers(1, 12))):
        if org.agents and data.draw(st.booleans()):
            changed = data.draw(st.sampled_from(org.agents))
            after = without(org, changed.name)
        else:
            changed = Agent(name=f"new{step}", team=data.draw(st.sampled_from([t.name for t in org.teams])))
            after = with_agent(org, changed, data.draw(st.integers(0, len(org.agents))))
        new = plan_layout(after, size, previous=plan)
        check_plan(after, new)
        top = top_team(after, changed.team)
        assert_only_renumbered(plan, new, exempt=team_agents(org, top) | team_agents(after, top))
        org, plan = after, new
    resized = plan_layout(org, data.draw(sizes), previous=plan)
    check_plan(org, resized)


def test_plan_survives_a_round_trip_through_data() -> None:
    import json

    from agent_console.agents.layout import plan_from_data, plan_to_data

    org = _roundtrip_org()
    plan = plan_layout(org, (120, 40))
    assert plan_from_data(json.loads(json.dumps(plan_to_data(plan)))) == plan
    with pytest.raises(ValueError, match="not a layout plan"):
        plan_from_data({"size": [1, 2]})


def _roundtrip_org() -> Org:
    teams = (Team(name="a"), Team(name="b", parent="a"), Team(name="c"))
    agents = tuple(Agent(name=f"x{i}", team="abc"[i % 3]) for i in range(14))
    return Org(name="rt", teams=teams, agents=agents)


def test_buried_agents_get_no_pane_and_unburied_they_take_their_place_again() -> None:
    agents = [Agent(name=f"w{i}", team="core") for i in range(3)] + [Agent(name="lead", team="ops", role=Role.EXEC)]
    org = Org(name="o", teams=(Team(name="core"), Team(name="ops")), agents=tuple(agents))
    buried = org.replaced(agents=tuple(a.model_copy(update={"buried": a.name in ("w1", "lead")}) for a in org.agents))
    slots = [slot for window in plan_layout(buried).windows for slot in window.slots()]
    assert slots == [EXEC_SLOT, "w0", "w2"]  # no pane for w1 nor the buried executive agent
    assert plan_layout(buried.replaced(agents=org.agents)) == plan_layout(org)
