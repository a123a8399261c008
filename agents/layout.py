"""The layout plan: a pure function from an org to a tree of panes per window, and that tree's geometry.

Window 0 holds the executive column on the left, at least `exec_min_width` columns wide (the whole window
when it is narrower), then one column (or several, when it is tall) per top-level team. The executive
column's width is taken from the agents' side: when no team column of MIN_PANE_COLS fits beside it,
window 0 holds the executive column alone.

Teams that do not fit spill whole into further windows. A team too big for any window at the
MIN_PANE_COLS x MIN_PANE_ROWS minimum still goes whole into a window of its own when its panes fit there
at DENSE_PANE_COLS x DENSE_PANE_ROWS (columns balanced, panes smaller than usual); only a team too big even
for that is cut across windows, the last resort. Given the previous plan, teams keep their windows, so that
adding or removing an agent moves as few panes between windows (tmux `join-pane`) as possible.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from math import gcd
from typing import Literal

from .model import EXEC_SLOT, Org

MIN_PANE_COLS = 40  # a pane narrower than this is useless to a human
MIN_PANE_ROWS = 8
DENSE_PANE_COLS = 30  # a team in a window of its own may shrink this far before it is cut across windows
DENSE_PANE_ROWS = 6
EXEC_SHARE_PERCENT = 30
WINDOW_NAME_LIMIT = 30
EXEC_LABEL = "exec"
TEAM_LABEL_PREFIX = "team:"


@dataclass(frozen=True)
class Pane:
    """A leaf: one agent's pane, or the console's own pane (`EXEC_SLOT`)."""

    slot: str


@dataclass(frozen=True)
class Split:
    """Children side by side ("h", left to right) or stacked ("v", top to bottom), sized by weights."""

    direction: Literal["h", "v"]
    children: tuple[Node, ...]
    weights: tuple[int, ...]
    label: str | None = None

    def __post_init__(self) -> None:
        if self.direction not in ("h", "v"):
            raise ValueError(f"split direction must be 'h' or 'v', not {self.direction!r}")
        if not self.children:
            raise ValueError("a split needs at least one child")
        if len(self.weights) != len(self.children):
            raise ValueError(f"{len(self.children)} children but {len(self.weights)} weights")
        if any(weight < 1 for weight in self.weights):
            raise ValueError(f"weights must be at least 1, got {self.weights}")


Node = Pane | Split


def _leaves(node: Node) -> Iterator[str]:
    if isinstance(node, Pane):
        yield node.slot
    else:
        for child in node.children:
            yield from _leaves(child)


@dataclass(frozen=True)
class WindowPlan:
    """One window: its pane tree and the top-level teams it shows, left to right."""

    index: int
    name: str
    root: Node
    teams: tuple[str, ...]

    def slots(self) -> list[str]:
        """Leaf slots depth first: left to right, top to bottom."""
        return list(_leaves(self.root))


@dataclass(frozen=True)
class LayoutPlan:
    """The whole plan for windows of `size` (columns, rows)."""

    size: tuple[int, int]
    windows: tuple[WindowPlan, ...]

    def slots(self) -> list[str]:
        """Every slot, window by window."""
        return [slot for window in self.windows for slot in window.slots()]

    def window_of(self, slot: str) -> int:
        """The index of the window holding `slot`; KeyError if no window does."""
        for window in self.windows:
            if slot in window.slots():
                return window.index
        raise KeyError(slot)


def plan_to_data(plan: LayoutPlan) -> dict:
    """The plan as plain JSON-able data, to keep beside the panes it made."""

    def node(item: Node) -> dict:
        if isinstance(item, Pane):
            return {"slot": item.slot}
        return {
            "direction": item.direction,
            "children": [node(child) for child in item.children],
            "weights": list(item.weights),
            "label": item.label,
        }

    return {
        "size": list(plan.size),
        "windows": [
            {"index": w.index, "name": w.name, "root": node(w.root), "teams": list(w.teams)} for w in plan.windows
        ],
    }


def plan_from_data(data: dict) -> LayoutPlan:
    """The inverse of `plan_to_data`; ValueError when the data is not a plan."""

    def node(item: dict) -> Node:
        if "slot" in item:
            return Pane(str(item["slot"]))
        return Split(
            item["direction"],
            tuple(node(child) for child in item["children"]),
            tuple(int(weight) for weight in item["weights"]),
            item.get("label"),
        )

    try:
        width, height = data["size"]
        windows = tuple(
            WindowPlan(int(w["index"]), str(w["name"]), node(w["root"]), tuple(w["teams"])) for w in data["windows"]
        )
    except (KeyError, TypeError, ValueError) as error:
        raise ValueError(f"not a layout plan: {error}") from None
    return LayoutPlan(size=(int(width), int(height)), windows=windows)


def moves(old: LayoutPlan, new: LayoutPlan) -> set[str]:
    """Slots present in both plans whose window index differs: each is a real pane move between windows."""
    before = {slot: window.index for window in old.windows for slot in window.slots()}
    after = {slot: window.index for window in new.windows for slot in window.slots()}
    return {slot for slot, index in after.items() if slot in before and before[slot] != index}


# ---------------------------------------------------------------------------------------------- planning


@dataclass(frozen=True)
class _TeamInfo:
    name: str
    leaves: tuple[str, ...]
    tree: Split  # the nested shape, used when the whole team is one column


@dataclass(frozen=True)
class _Grid:
    per_col: int  # panes stacked in one column
    first_cap: int  # team columns in window 0, beside the exec column (0: the exec column alone)
    cap: int  # team columns in any later window
    exec_width: int
    dense_per_col: int  # the same two for a team alone in its window, at the dense minimum
    dense_cap: int

    def columns(self, leaves: int) -> int:
        return -(-leaves // self.per_col)

    def capacity(self, window: int) -> int:
        return self.first_cap if window == 0 else self.cap

    def alone(self, leaves: int) -> bool:
        """Whether a team of `leaves` panes is too big for a window at the minimum but fits one, alone, densely."""
        return self.columns(leaves) > self.cap and -(-leaves // self.dense_per_col) <= self.dense_cap

    def whole(self, leaves: int) -> bool:
        """Whether a team of `leaves` panes goes whole into one window (shared, or alone)."""
        return self.columns(leaves) <= self.cap or self.alone(leaves)


Chunks = list[tuple[int, tuple[str, ...]]]  # (window position, consecutive leaves of one team)


def plan_layout(
    org: Org,
    size: tuple[int, int] = (200, 50),
    previous: LayoutPlan | None = None,
    exec_share: int = EXEC_SHARE_PERCENT,
    exec_min_width: int = MIN_PANE_COLS,
) -> LayoutPlan:
    """Give every agent of `org` but the buried a pane in windows of `size`; with `previous`, teams keep their windows.

    The executive column takes `exec_share` percent of the width, at least `exec_min_width` columns.
    """
    width, height = size
    if width < 1 or height < 1:
        raise ValueError(f"window size must be at least 1x1, got {width}x{height}")
    if not 1 <= exec_share <= 90:
        raise ValueError(f"the executive pane's share of the width must be 1 to 90 %, not {exec_share}")
    exec_width = min(width, max(exec_min_width, (width * exec_share + 50) // 100))
    grid = _Grid(
        per_col=max(1, (height + 1) // (MIN_PANE_ROWS + 1)),
        first_cap=max(0, (width - exec_width) // (MIN_PANE_COLS + 1)),
        cap=max(1, (width + 1) // (MIN_PANE_COLS + 1)),
        exec_width=exec_width,
        dense_per_col=max(1, (height + 1) // (DENSE_PANE_ROWS + 1)),
        dense_cap=max(1, (width + 1) // (DENSE_PANE_COLS + 1)),
    )
    org = org.on_screen()  # buried agents have no pane in any window of the plan
    teams = _top_teams(org)
    placed = _place(teams, grid, previous)

    windows_used = sorted({window for chunks in placed.values() for window, _ in chunks} | {0})
    renumber = {window: index for index, window in enumerate(windows_used)}
    content: list[list[tuple[_TeamInfo, tuple[str, ...], bool]]] = [[] for _ in windows_used]
    for team in teams:
        chunks = placed[team.name]
        for window, leaves in chunks:
            content[renumber[window]].append((team, leaves, len(chunks) == 1))

    windows = []
    for index, entries in enumerate(content):
        nodes: list[Node] = []
        columns: list[int] = []
        for team, leaves, whole in entries:
            per_col = grid.per_col
            if whole and grid.alone(len(leaves)):
                # balanced columns: every pane as big as the window allows
                count = -(-len(leaves) // grid.dense_per_col)
                per_col = -(-len(leaves) // count)
            count = -(-len(leaves) // per_col)
            nodes.append(team.tree if whole and count == 1 else _wrapped(team.name, leaves, per_col))
            columns.append(count)
        names = tuple(team.name for team, _, _ in entries)
        if index == 0:
            root = _first_window_root(org, nodes, columns, width, grid.exec_width)
        else:
            root = Split("h", tuple(nodes), tuple(columns))
        title = "+".join(names)[:WINDOW_NAME_LIMIT] if names else EXEC_LABEL
        windows.append(WindowPlan(index=index, name=title, root=root, teams=names))
    return LayoutPlan(size=(width, height), windows=tuple(windows))


def _top_teams(org: Org) -> list[_TeamInfo]:
    teams = []
    for team in org.subteams(None):
        tree = _team_tree(org, team.name)
        if tree is not None:
            teams.append(_TeamInfo(team.name, tuple(_leaves(tree)), tree))
    return teams


def _team_tree(org: Org, name: str) -> Split | None:
    children: list[Node] = [Pane(agent.name) for agent in org.members(name)]
    weights = [1] * len(children)
    for sub in org.subteams(name):
        node = _team_tree(org, sub.name)
        if node is not None:
            children.append(node)
            weights.append(sum(1 for _ in _leaves(node)))
    if not children:
        return None
    return Split("v", tuple(children), tuple(weights), label=TEAM_LABEL_PREFIX + name)


def _wrapped(name: str, leaves: Sequence[str], per_col: int) -> Split:
    columns = tuple(
        Split("v", tuple(Pane(slot) for slot in leaves[i : i + per_col]), (1,) * len(leaves[i : i + per_col]))
        for i in range(0, len(leaves), per_col)
    )
    return Split("h", columns, (1,) * len(columns), label=TEAM_LABEL_PREFIX + name)


def _first_window_root(org: Org, nodes: list[Node], columns: list[int], width: int, exec_width: int) -> Split:
    executive = org.executive
    panes = (Pane(EXEC_SLOT),) if executive is None else (Pane(EXEC_SLOT), Pane(executive.name))
    exec_column = Split("v", panes, (1,) * len(panes), label=EXEC_LABEL)
    if not nodes:
        return Split("h", (exec_column,), (1,))
    # Team children weigh `columns * per_column` and the exec column `exec_width * total`: the exec column's
    # share of the space left after borders is then exactly exec_width.
    available = width - len(nodes)
    per_column = max(1, available - exec_width)
    weights = [max(1, exec_width * sum(columns)), *(count * per_column for count in columns)]
    common = gcd(*weights)
    return Split("h", (exec_column, *nodes), tuple(weight // common for weight in weights))


def _place(teams: list[_TeamInfo], grid: _Grid, previous: LayoutPlan | None) -> dict[str, Chunks]:
    """Each team's chunks over window positions (not yet renumbered: positions may end up empty)."""
    used = [0] * (len(previous.windows) if previous is not None and previous.windows else 1)
    placed: dict[str, Chunks] = {}

    def room(window: int) -> int:
        return grid.capacity(window) - (used[window] if window < len(used) else 0)

    def empty(window: int) -> bool:
        return window >= len(used) or used[window] == 0

    def commit(team: _TeamInfo, chunks: Chunks) -> None:
        for window, leaves in chunks:
            used.extend([0] * (window + 1 - len(used)))
            used[window] += grid.columns(len(leaves))
        placed[team.name] = chunks

    def run(leaves: tuple[str, ...], start: int, wanted: list[int] | None) -> Chunks | None:
        """Fill consecutive windows from `start`; a leaf goes no earlier than its wanted window if it can."""
        chunks: Chunks = []
        done, window = 0, start
        while done < len(leaves):
            space = room(window) * grid.per_col
            if space <= 0:
                return None
            due = len(leaves) - done
            if wanted is not None:
                due = next((i for i in range(done, len(leaves)) if wanted[i] > window), len(leaves)) - done
            take = min(max(due, 1), space)
            chunks.append((window, leaves[done : done + take]))
            done += take
            window += 1
        return chunks

    starts: dict[str, int] = {}
    if previous is not None:
        wishes = _wishes(teams, grid, previous)
        # Teams that need no more room than before go first: they all fit again, so only a team that grew
        # can be displaced.
        for grew in (False, True):
            for team in teams:
                if team.name not in wishes or wishes[team.name][0] != grew:
                    continue
                wanted = wishes[team.name][1]
                starts[team.name] = min(wanted)
                if grid.alone(len(team.leaves)):
                    if wanted[0] > 0 and empty(wanted[0]):
                        commit(team, [(wanted[0], team.leaves)])
                elif grid.columns(len(team.leaves)) <= grid.cap:
                    window = wanted[0]
                    if room(window) >= grid.columns(len(team.leaves)):
                        commit(team, [(window, team.leaves)])
                else:
                    chunks = run(team.leaves, min(wanted), wanted)
                    if chunks is not None:
                        commit(team, chunks)

    for team in teams:
        if team.name in placed:
            continue
        needed = grid.columns(len(team.leaves))
        if needed <= grid.cap:
            window = starts.get(team.name, 0)
            while room(window) < needed:
                window += 1
            commit(team, [(window, team.leaves)])
        elif grid.alone(len(team.leaves)):
            window = max(1, starts.get(team.name, 0))
            while not empty(window):
                window += 1
            commit(team, [(window, team.leaves)])
        else:
            last = len(used) - 1
            chunks = run(team.leaves, last if room(last) > 0 else last + 1, None)
            assert chunks is not None  # from the last window on, every window has room: it cannot fail
            commit(team, chunks)
    return placed


def _wishes(teams: list[_TeamInfo], grid: _Grid, previous: LayoutPlan) -> dict[str, tuple[bool, list[int]]]:
    """For each team seen before: whether it needs more columns than it had, and each leaf's wanted window.

    A team that goes whole into one window wants a single window (where most of its panes were), given as
    the same window for every leaf.
    """
    window_of: dict[str, int] = {}
    had: dict[tuple[str, int], int] = {}
    for position, plan_window in enumerate(previous.windows):
        for slot in plan_window.slots():
            window_of[slot] = position
        root = plan_window.root
        children = root.children if isinstance(root, Split) and root.label is None else (root,)
        for child in children:
            if isinstance(child, Split) and child.label and child.label.startswith(TEAM_LABEL_PREFIX):
                count = len(child.children) if child.direction == "h" else 1
                had[(child.label.removeprefix(TEAM_LABEL_PREFIX), position)] = count

    wishes: dict[str, tuple[bool, list[int]]] = {}
    for team in teams:
        known = [window_of.get(slot) for slot in team.leaves]
        if all(window is None for window in known):
            continue
        # A new pane goes where its neighbour in the team's order is.
        wanted: list[int] = []
        for window in known:
            wanted.append(window if window is not None else (wanted[-1] if wanted else -1))
        first_known = next(window for window in known if window is not None)
        wanted = [first_known if window == -1 else window for window in wanted]
        if grid.whole(len(team.leaves)):
            counts: dict[int, int] = {}
            for window in wanted:
                counts[window] = counts.get(window, 0) + 1
            best = min(counts, key=lambda window: (-counts[window], window))
            wanted = [best] * len(wanted)
        per_window: dict[int, int] = {}
        for window in wanted:
            per_window[window] = per_window.get(window, 0) + 1
        if grid.alone(len(team.leaves)):
            # it needs a whole window: no more room than before if it had its window to itself
            grew = previous.windows[wanted[0]].teams != (team.name,)
        else:
            grew = any(grid.columns(n) > had.get((team.name, window), 0) for window, n in per_window.items())
        wishes[team.name] = (grew, wanted)
    return wishes


# ---------------------------------------------------------------------------------------------- geometry


@dataclass(frozen=True)
class Cell:
    """A node with its absolute geometry (cells, tmux convention: 1-cell borders between siblings)."""

    x: int
    y: int
    width: int
    height: int
    slot: str | None = None
    direction: Literal["h", "v"] | None = None
    children: tuple[Cell, ...] = ()

    def rects(self) -> dict[str, tuple[int, int, int, int]]:
        """Every leaf's slot -> (x, y, width, height)."""
        if self.slot is not None:
            return {self.slot: (self.x, self.y, self.width, self.height)}
        found: dict[str, tuple[int, int, int, int]] = {}
        for child in self.children:
            found.update(child.rects())
        return found


def _min_size(node: Node, leaf: tuple[int, int]) -> tuple[int, int]:
    """The smallest (width, height) holding `node` with every leaf at least `leaf`, borders included."""
    if isinstance(node, Pane):
        return leaf
    sizes = [_min_size(child, leaf) for child in node.children]
    widths, heights = [w for w, _ in sizes], [h for _, h in sizes]
    border = len(sizes) - 1
    if node.direction == "h":
        return sum(widths) + border, max(heights)
    return max(widths), sum(heights) + border


def layout_cells(node: Node, width: int, height: int) -> Cell:
    """The geometry of `node` in a width x height window; ValueError if a pane cannot get even 1x1."""
    need_width, need_height = _min_size(node, (1, 1))
    if width < need_width or height < need_height:
        panes = sum(1 for _ in _leaves(node))
        raise ValueError(
            f"a {width}x{height} window is too small for this layout: its {panes} panes and the borders "
            f"between them need at least {need_width}x{need_height} cells (columns x rows)"
        )
    return _cell(node, 0, 0, width, height)


def _cell(node: Node, x: int, y: int, width: int, height: int) -> Cell:
    if isinstance(node, Pane):
        return Cell(x, y, width, height, slot=node.slot)
    across = node.direction == "h"
    available = (width if across else height) - (len(node.children) - 1)
    axis = 0 if across else 1
    mins = [_min_size(child, (MIN_PANE_COLS, MIN_PANE_ROWS))[axis] for child in node.children]
    if sum(mins) > available:
        mins = [_min_size(child, (1, 1))[axis] for child in node.children]
    children = []
    offset = x if across else y
    for child, size in zip(node.children, _distribute(available, node.weights, mins), strict=True):
        if across:
            children.append(_cell(child, offset, y, size, height))
        else:
            children.append(_cell(child, x, offset, width, size))
        offset += size + 1
    return Cell(x, y, width, height, direction=node.direction, children=tuple(children))


def _distribute(total: int, weights: Sequence[int], mins: Sequence[int]) -> list[int]:
    """Split `total` by weights (largest remainder, ties to the first), never below a child's min.

    The caller guarantees sum(mins) <= total.
    """
    fixed: dict[int, int] = {}
    while True:
        free = [i for i in range(len(weights)) if i not in fixed]
        remaining = total - sum(fixed.values())
        weight = sum(weights[i] for i in free)
        low = [i for i in free if remaining * weights[i] < mins[i] * weight]
        if not low:
            break
        for i in low:
            fixed[i] = mins[i]
    sizes = [fixed.get(i, 0) for i in range(len(weights))]
    for i in free:
        sizes[i] = remaining * weights[i] // weight
    leftover = remaining - sum(sizes[i] for i in free)
    by_remainder = sorted(free, key=lambda i: (-(remaining * weights[i] % weight), i))
    for i in by_remainder[:leftover]:
        sizes[i] += 1
    return sizes


def canonical(cell: Cell) -> Cell:
    """The cell tree as terminals hold it: no split with one child, no split nested in one running the same way.
    (tmux accepts other shapes in a layout string but can crash on them later, closing a pane.)"""
    if cell.slot is not None or not cell.children:
        return cell
    children = [canonical(child) for child in cell.children]
    if len(children) == 1:
        return replace(children[0], x=cell.x, y=cell.y, width=cell.width, height=cell.height)
    flat: list[Cell] = []
    for child in children:
        if child.slot is None and child.children and child.direction == cell.direction:
            flat.extend(child.children)
        else:
            flat.append(child)
    return replace(cell, children=tuple(flat))
