"""How a layout plan becomes iTerm2 split panes.

iTerm2 builds a tab's split tree one split at a time: splitting a pane puts the new one beside it, inside
the pane's own splitter when that runs the same way, else in a new splitter around the two. So a plan's
tree is built top-down: first the children of the root split (each split off the previous child's first
pane), then each child's own children, and so on (`split_steps`). A tree that already exists is reshaped
with `App.async_apply_layout` (`layout_spec`) and sized with preferred sizes (`leaf_sizes`).

Pure functions: the iTerm2 backend and the deployment both use them, and neither needs iTerm2 to test them.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any, Literal, TypeAlias

from agent_console.agents.layout import Cell, Node, Pane, Split, canonical

Direction = Literal["h", "v"]
Shape: TypeAlias = "str | tuple[Direction, tuple[Shape, ...]]"  # a pane id, or a split and its children


def _first(node: Node) -> str:
    while isinstance(node, Split):
        node = node.children[0]
    return node.slot


def split_steps(root: Node) -> list[tuple[str, str | None, Direction | None]]:
    """Every slot of `root` in the order that builds its tree by splitting panes.

    Each step is (slot, the slot whose pane to split, direction): the new pane goes right of ("h") or below
    ("v") that pane. The first step is the first slot, which splits nothing (the pane that is already there).
    """
    steps: list[tuple[str, str | None, Direction | None]] = [(_first(root), None, None)]

    def build(node: Node) -> None:
        if isinstance(node, Pane):
            return
        for previous, child in zip(node.children, node.children[1:], strict=False):
            steps.append((_first(child), _first(previous), node.direction))
        for child in node.children:
            build(child)

    build(root)
    return steps


def _leaves(cell: Cell) -> Iterator[Cell]:
    if cell.slot is not None or not cell.children:
        yield cell
    else:
        for child in cell.children:
            yield from _leaves(child)


def cell_shape(cells: Cell, panes: Iterable[str]) -> Shape:
    """The canonical shape of `cells` with its leaves, in order, taken by `panes`."""
    ids = iter(panes)

    def shape(cell: Cell) -> Shape:
        if cell.slot is not None or not cell.children:
            return next(ids)
        assert cell.direction is not None
        return (cell.direction, tuple(shape(child) for child in cell.children))

    return shape(canonical(cells))


def leaf_sizes(cells: Cell, panes: Iterable[str]) -> dict[str, tuple[int, int]]:
    """Pane → (columns, rows) the plan gives it; leaves take `panes` in order."""
    return {pane: (leaf.width, leaf.height) for pane, leaf in zip(panes, _leaves(cells), strict=False)}


def layout_spec(shape: Shape) -> dict[str, Any]:
    """A node of `App.async_apply_layout`'s spec (iTerm2's "vertical" splitter lays panes side by side)."""
    if isinstance(shape, str):
        return {"session_id": shape}
    direction, children = shape
    return {"vertical": direction == "h", "children": [layout_spec(child) for child in children]}


def tree_shape(node: Any) -> Shape:
    """The canonical shape of a live `iterm2` split tree (a `Splitter` of `Session`s and `Splitter`s)."""
    if hasattr(node, "session_id"):
        return str(node.session_id)
    direction: Direction = "h" if node.vertical else "v"
    children: list[Shape] = []
    for child in node.children:
        shape = tree_shape(child)
        if isinstance(shape, tuple) and shape[0] == direction:
            children.extend(shape[1])
        else:
            children.append(shape)
    if len(children) == 1:
        return children[0]
    return (direction, tuple(children))


def tree_size(node: Any, sizes: Mapping[str, tuple[int, int]]) -> tuple[int, int]:
    """(columns, rows) of a live split tree, counting one cell for each divider (as the plan does)."""
    if hasattr(node, "session_id"):
        return sizes.get(node.session_id, (0, 0))
    parts = [tree_size(child, sizes) for child in node.children]
    if not parts:
        return 0, 0
    dividers = len(parts) - 1
    if node.vertical:  # side by side
        return sum(width for width, _ in parts) + dividers, max(height for _, height in parts)
    return max(width for width, _ in parts), sum(height for _, height in parts) + dividers


def shape_panes(shape: Shape) -> list[str]:
    """The panes of a shape, in order."""
    if isinstance(shape, str):
        return [shape]
    return [pane for child in shape[1] for pane in shape_panes(child)]


def shape_text(shape: Shape) -> str:
    """A shape as text, e.g. `h(s1,v(s2,s3))`: the iTerm2 counterpart of a tmux layout string."""
    if isinstance(shape, str):
        return shape
    direction, children = shape
    return f"{direction}({','.join(shape_text(child) for child in children)})"
