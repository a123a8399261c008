"""Windows, tabs and each tab's split-pane tree, with an even split of the space and iTerm2's protobufs."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Protocol

from iterm2 import api_pb2

# Pixels per cell, for the frames iTerm2 reports alongside grid sizes.
CELL_WIDTH = 8
CELL_HEIGHT = 16


class Pane(Protocol):
    """What the layout needs of a session."""

    session_id: str

    @property
    def name(self) -> str: ...

    def resize(self, columns: int, rows: int) -> None: ...


@dataclass(slots=True)
class Geometry:
    x: int
    y: int
    columns: int
    rows: int


class SplitNode:
    """Children side by side (`vertical` dividers) or stacked; `weights` share the space, None = evenly."""

    def __init__(self, vertical: bool = False, children: list[SplitNode | Pane] | None = None) -> None:
        self.vertical = vertical
        self.children: list[SplitNode | Pane] = children or []
        self.weights: list[int] | None = None

    def panes(self) -> Iterator[Pane]:
        for child in self.children:
            if isinstance(child, SplitNode):
                yield from child.panes()
            else:
                yield child

    def find_parent(self, session_id: str) -> tuple[SplitNode, int] | None:
        for index, child in enumerate(self.children):
            if isinstance(child, SplitNode):
                found = child.find_parent(session_id)
                if found:
                    return found
            elif child.session_id == session_id:
                return self, index
        return None

    def remove(self, session_id: str) -> bool:
        """Remove a pane; a splitter left with one child is replaced by that child."""
        for index, child in enumerate(self.children):
            if isinstance(child, SplitNode):
                if not child.remove(session_id):
                    continue
                if not child.children:
                    del self.children[index]
                elif len(child.children) == 1:
                    only = child.children[0]
                    if isinstance(only, SplitNode) and only.vertical == self.vertical:
                        self.children[index : index + 1] = only.children
                    else:
                        self.children[index] = only
                self.weights = None
                return True
            if child.session_id == session_id:
                del self.children[index]
                self.weights = None
                return True
        return False


def _share(total: int, weights: list[int]) -> list[int]:
    """Split `total` cells in proportion to `weights`, each part at least one cell."""
    weight_sum = sum(weights) or len(weights)
    parts = [max(1, total * w // weight_sum) for w in weights]
    for i in range(total - sum(parts)):
        parts[i % len(parts)] += 1
    return parts


@dataclass
class Tab:
    tab_id: str
    root: SplitNode
    active_session_id: str | None = None
    title: str = ""
    user_vars: dict[str, object] = field(default_factory=dict)
    geometry: dict[str, Geometry] = field(default_factory=dict)

    def panes(self) -> list[Pane]:
        return list(self.root.panes())

    def contains(self, session_id: str) -> bool:
        return self.root.find_parent(session_id) is not None

    def split(self, target_id: str, pane: Pane, vertical: bool, before: bool) -> None:
        found = self.root.find_parent(target_id)
        if found is None:
            raise KeyError(target_id)
        parent, index = found
        if len(parent.children) == 1 or parent.vertical == vertical:
            parent.vertical = vertical
            parent.children.insert(index if before else index + 1, pane)
            parent.weights = None
        else:
            target = parent.children[index]
            parent.children[index] = SplitNode(vertical, [pane, target] if before else [target, pane])

    def remove(self, session_id: str) -> bool:
        """Remove a pane; True when the tab is left empty."""
        self.root.remove(session_id)
        if len(self.root.children) == 1 and isinstance(self.root.children[0], SplitNode):
            self.root = self.root.children[0]
        if self.active_session_id == session_id:
            panes = self.panes()
            self.active_session_id = panes[0].session_id if panes else None
        self.geometry.pop(session_id, None)
        return not self.root.children

    def layout(self, columns: int, rows: int) -> None:
        """Give every pane its share of the tab (one cell between panes for the divider) and resize it."""
        self.geometry = {}
        self._layout(self.root, Geometry(0, 0, columns, rows))

    def _layout(self, node: SplitNode, area: Geometry) -> None:
        count = len(node.children)
        if not count:
            return
        along = area.columns if node.vertical else area.rows
        sizes = _share(max(count, along - (count - 1)), node.weights or [1] * count)
        offset = 0
        for child, size in zip(node.children, sizes, strict=True):
            if node.vertical:
                part = Geometry(area.x + offset, area.y, size, area.rows)
            else:
                part = Geometry(area.x, area.y + offset, area.columns, size)
            offset += size + 1
            if isinstance(child, SplitNode):
                self._layout(child, part)
            else:
                self.geometry[child.session_id] = part
                child.resize(part.columns, part.rows)

    def set_preferred_sizes(self, proto: api_pb2.SplitTreeNode) -> bool:
        """Take the grid sizes a client asked for as the weights of the splits; False if the tree differs."""
        if not _same_shape(self.root, proto):
            return False
        _apply_weights(self.root, proto)
        return True

    def to_proto(self, out: api_pb2.ListSessionsResponse.Tab) -> None:
        out.tab_id = self.tab_id
        self._node_proto(self.root, out.root)
        if self.active_session_id:
            out.active_session_id = self.active_session_id

    def _node_proto(self, node: SplitNode, out: api_pb2.SplitTreeNode) -> None:
        out.vertical = node.vertical
        for child in node.children:
            link = out.links.add()
            if isinstance(child, SplitNode):
                self._node_proto(child, link.node)
            else:
                summarize(child, self.geometry.get(child.session_id), link.session)


def summarize(pane: Pane, geometry: Geometry | None, out: api_pb2.SessionSummary) -> None:
    out.unique_identifier = pane.session_id
    out.title = pane.name
    if geometry is not None:
        out.grid_size.width = geometry.columns
        out.grid_size.height = geometry.rows
        out.frame.origin.x = geometry.x * CELL_WIDTH
        out.frame.origin.y = geometry.y * CELL_HEIGHT
        out.frame.size.width = geometry.columns * CELL_WIDTH
        out.frame.size.height = geometry.rows * CELL_HEIGHT


def _same_shape(node: SplitNode, proto: api_pb2.SplitTreeNode) -> bool:
    if len(node.children) != len(proto.links):
        return False
    for child, link in zip(node.children, proto.links, strict=True):
        if isinstance(child, SplitNode):
            if not link.HasField("node") or not _same_shape(child, link.node):
                return False
        elif not link.HasField("session") or link.session.unique_identifier != child.session_id:
            return False
    return True


def _requested(link: api_pb2.SplitTreeNode.SplitTreeLink, vertical: bool) -> int:
    """How many cells a link asked for along a splitter's axis."""
    if link.HasField("session"):
        size = link.session.grid_size
        return size.width if vertical else size.height
    sizes = [_requested(child, vertical) for child in link.node.links]
    if link.node.vertical == vertical:
        return sum(sizes) + len(sizes) - 1
    return max(sizes, default=0)


def _apply_weights(node: SplitNode, proto: api_pb2.SplitTreeNode) -> None:
    weights = [_requested(link, node.vertical) for link in proto.links]
    node.weights = weights if all(w > 0 for w in weights) else None
    for child, link in zip(node.children, proto.links, strict=True):
        if isinstance(child, SplitNode):
            _apply_weights(child, link.node)


@dataclass
class Window:
    number: int
    columns: int
    rows: int
    window_id: str = field(default_factory=lambda: f"pty-{str(uuid.uuid4()).upper()}")
    tabs: list[Tab] = field(default_factory=list)
    selected_tab_id: str | None = None
    title: str = ""
    user_vars: dict[str, object] = field(default_factory=dict)

    @property
    def selected_tab(self) -> Tab | None:
        return next((tab for tab in self.tabs if tab.tab_id == self.selected_tab_id), None)

    def layout(self) -> None:
        for tab in self.tabs:
            tab.layout(self.columns, self.rows)

    def frame_dict(self) -> dict[str, dict[str, int]]:
        return {
            "origin": {"x": 0, "y": 0},
            "size": {"width": self.columns * CELL_WIDTH, "height": self.rows * CELL_HEIGHT},
        }

    def to_proto(self, out: api_pb2.ListSessionsResponse.Window) -> None:
        out.window_id = self.window_id
        out.number = self.number
        out.frame.size.width = self.columns * CELL_WIDTH
        out.frame.size.height = self.rows * CELL_HEIGHT
        for tab in self.tabs:
            tab.to_proto(out.tabs.add())
        if self.selected_tab_id:
            out.selected_tab_id = self.selected_tab_id
