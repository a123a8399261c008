"""The org chart as a tree: teams in their colours, nested sub-teams, and each agent's state at a glance."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from rich.text import Text
from textual import on
from textual.message import Message
from textual.widgets import Tree
from textual.widgets.tree import TreeNode

from agent_console.agents.recovery import recovery_label
from agent_console.agents.state import AgentView, OrgState
from agent_console.themes.palette import team_color
from agent_console.themes.states import state_color, state_style

from .formatting import BURIED_MARKER, agent_text, is_dark

NodeKind = Literal["team", "agent"]

NO_TEAM = ""
"""The key of agents without a team: they hang from the root, above the teams."""


@dataclass(frozen=True, slots=True)
class OrgNode:
    """What a node of the org tree stands for."""

    kind: NodeKind
    name: str


class OrgTree(Tree[OrgNode]):
    """Teams (nested) and their agents; each agent line shows state, name, pending approvals, human marker, task.

    `update_org` diff-updates, keyed by name: labels are set only where they changed, and nodes are added or
    removed only for the agents and teams a reloaded org added, removed or moved.
    """

    BORDER_TITLE = "Org"
    TASK_WIDTH = 28
    MIN_TASK_WIDTH = 10
    """Narrower than this, a cut task says little: the line is cropped instead."""
    HUMAN_MARKER = "⌨"

    DEFAULT_CSS = """
    OrgTree {
        overflow-x: hidden;
        scrollbar-size-vertical: 1;
    }
    """

    class AgentSelected(Message):
        """An agent's line was chosen (enter or click)."""

        def __init__(self, agent: str) -> None:
            super().__init__()
            self.agent = agent

    def __init__(self, *, name: str | None = None, id: str | None = None, classes: str | None = None) -> None:
        super().__init__("org", name=name, id=id, classes=classes)
        self.show_root = False
        self.guide_depth = 3
        self._teams: dict[str, TreeNode[OrgNode]] = {}
        self._agents: dict[str, TreeNode[OrgNode]] = {}
        # what each node's label was made from, to skip labels that did not change
        self._label_keys: dict[tuple[str, str], tuple[object, ...]] = {}
        self._shown: dict[str, tuple[AgentView, int, bool, bool]] = {}  # agent → view, pending, human, dark

    @property
    def agent_names(self) -> list[str]:
        """The agents shown, in tree order (expanded or not)."""
        return [name for name, _ in self._walk() if name is not None]

    def node_for(self, agent: str) -> TreeNode[OrgNode] | None:
        return self._agents.get(agent)

    def select_agent(self, agent: str) -> None:
        """Move the cursor to `agent`'s line (expanding its teams), without posting `AgentSelected`."""
        node = self._agents.get(agent)
        if node is None:
            return
        parent = node.parent
        while parent is not None:
            parent.expand()
            parent = parent.parent
        self._move_to(node)

    def update_org(self, state: OrgState, team_colors: dict[str, str], human_at: frozenset[str] = frozenset()) -> None:
        """Show `state`: team colours by team name (else the palette's, by spec order), `human_at` agents marked."""
        parents = dict(state.teams)
        layout = self._layout(state, parents)
        if not self._same_layout(layout):
            cursor = self.cursor_node.data if self.cursor_node is not None else None
            if not self._sync(layout):
                self._rebuild(layout)
            if cursor is not None:
                target = (self._agents if cursor.kind == "agent" else self._teams).get(cursor.name)
                if target is not None:
                    self._move_to(target)
        colors = {team: team_colors.get(team) or team_color(index) for index, team in enumerate(parents)}
        pending: dict[str, int] = {}
        for approval in state.approvals.values():
            pending[approval.agent] = pending.get(approval.agent, 0) + 1
        for team, node in self._teams.items():
            if self._changed(("team", team), (colors.get(team),)):
                node.set_label(self._team_label(team, colors))
        dark = is_dark(self)
        width = self.scrollable_content_region.width  # once: the region is computed on every read
        for agent, node in self._agents.items():
            self._shown[agent] = (state.agents[agent], pending.get(agent, 0), agent in human_at, dark)
            self._label_agent(agent, node, width)

    def on_resize(self) -> None:
        width = self.scrollable_content_region.width
        for agent, node in self._agents.items():
            self._label_agent(agent, node, width)  # a task is cut to the room its line has: cut it again

    # --- structure -------------------------------------------------------------------------------------------

    @staticmethod
    def _layout(state: OrgState, parents: dict[str, str | None]) -> dict[str, list[OrgNode]]:
        """Each container's children in display order: its own agents, then its sub-teams (spec order)."""
        layout: dict[str, list[OrgNode]] = {NO_TEAM: []}
        for team in parents:
            layout[team] = []
        for agent, view in state.agents.items():
            team = view.team if view.team in parents else NO_TEAM
            layout[team].append(OrgNode("agent", agent))
        for team, parent in parents.items():
            # a team whose parent is unknown is shown at the top level rather than lost
            layout[parent if parent in parents and parent != team else NO_TEAM].append(OrgNode("team", team))
        return layout

    def _same_layout(self, layout: dict[str, list[OrgNode]]) -> bool:
        if set(layout) - {NO_TEAM} != set(self._teams):
            return False
        for container, children in layout.items():
            node = self.root if container == NO_TEAM else self._teams[container]
            if [child.data for child in node.children] != children:
                return False
        return True

    def _sync(self, layout: dict[str, list[OrgNode]]) -> bool:
        """Remove and add nodes so the tree matches `layout`, keeping the others; False if some would have to move."""
        place = {(child.kind, child.name): container for container, children in layout.items() for child in children}
        registries: tuple[tuple[dict[str, TreeNode[OrgNode]], NodeKind], ...] = (
            (self._agents, "agent"),
            (self._teams, "team"),
        )
        for registry, kind in registries:
            for name, node in list(registry.items()):
                if registry.get(name) is node and place.get((kind, name)) != self._container_of(node):
                    self._forget(node)
                    node.remove()
        containers = [NO_TEAM]
        while containers:
            container = containers.pop(0)
            parent = self.root if container == NO_TEAM else self._teams[container]
            for index, child in enumerate(layout[container]):
                if child.kind == "agent":
                    if child.name not in self._agents:
                        self._agents[child.name] = parent.add_leaf(child.name, child, before=index)
                else:
                    if child.name not in self._teams:
                        self._teams[child.name] = parent.add(child.name, child, before=index, expand=True)
                    containers.append(child.name)
            if [child.data for child in parent.children] != layout[container]:
                return False
        return True

    def _container_of(self, node: TreeNode[OrgNode]) -> str | None:
        parent = node.parent
        if parent is None:
            return None
        return NO_TEAM if parent is self.root or parent.data is None else parent.data.name

    def _forget(self, node: TreeNode[OrgNode]) -> None:
        """Drop a node about to be removed, and everything under it, from the registries."""
        stack = [node]
        while stack:
            each = stack.pop()
            stack.extend(each.children)
            if each.data is not None:
                registry = self._agents if each.data.kind == "agent" else self._teams
                registry.pop(each.data.name, None)
                self._label_keys.pop((each.data.kind, each.data.name), None)

    def _rebuild(self, layout: dict[str, list[OrgNode]]) -> None:
        """Rebuild every node (the spec reordered what was shown), keeping collapsed teams collapsed."""
        collapsed = {team for team, node in self._teams.items() if not node.is_expanded}
        self.clear()
        self._teams.clear()
        self._agents.clear()
        self._label_keys.clear()

        def add(container: str, node: TreeNode[OrgNode]) -> None:
            for child in layout[container]:
                if child.kind == "agent":
                    self._agents[child.name] = node.add_leaf(child.name, child)
                else:
                    team_node = node.add(child.name, child, expand=child.name not in collapsed)
                    self._teams[child.name] = team_node
                    add(child.name, team_node)

        add(NO_TEAM, self.root)
        self.root.expand()

    def _move_to(self, node: TreeNode[OrgNode]) -> None:
        _ = self.last_line  # builds the lines, so a node added or expanded just now has its line number
        self.move_cursor(node)

    def _walk(self) -> list[tuple[str | None, TreeNode[OrgNode]]]:
        found: list[tuple[str | None, TreeNode[OrgNode]]] = []
        stack = list(reversed(self.root.children))
        while stack:
            node = stack.pop()
            data = node.data
            found.append((data.name if data is not None and data.kind == "agent" else None, node))
            stack.extend(reversed(node.children))
        return found

    # --- labels ----------------------------------------------------------------------------------------------

    def _changed(self, which: tuple[str, str], key: tuple[object, ...]) -> bool:
        """Whether a node's label inputs differ from last time (and remember them)."""
        if self._label_keys.get(which) == key:
            return False
        self._label_keys[which] = key
        return True

    @staticmethod
    def _team_label(team: str, colors: dict[str, str]) -> Text:
        color = colors.get(team, team_color(0))
        return Text.assemble(("■ ", color), (team, f"bold {color}"))

    def _label_agent(self, agent: str, node: TreeNode[OrgNode], width: int) -> None:
        shown = self._shown.get(agent)
        if shown is None:
            return
        view, pending, human, dark = shown
        room = self._line_room(node, width)
        healing = recovery_label(view)
        key = (view.state, view.task, view.progress, view.alive, view.buried, pending, human, dark, room, healing)
        if self._changed(("agent", agent), key):
            node.set_label(self._agent_label(view, pending, human, dark, room))

    def _line_room(self, node: TreeNode[OrgNode], width: int) -> int | None:
        """Cells left for a node's label after its guides in a tree `width` cells wide (None before it has a size)."""
        if width <= 0:
            return None
        depth = 0
        parent = node.parent
        while parent is not None and parent is not self.root:
            depth += 1
            parent = parent.parent
        return width - depth * self.guide_depth

    def _agent_label(self, view: AgentView, pending: int, human: bool, dark: bool, room: int | None = None) -> Text:
        """State, name, pending count, human marker, task and progress; the task is cut to the `room` the line
        has left (so that the cut, which keeps the task's end, is not cropped away), else to `TASK_WIDTH`."""
        # what must not be cropped by a narrow tree comes before the task
        style = state_style(view.state)
        label = Text.assemble(
            (style.glyph, style.rich_style(dark)), " ", (view.name, "dim" if not view.alive else "bold")
        )
        if pending:
            label.append(f" [{pending}]", style=f"bold {state_color('waiting', dark)}")
        if human:
            label.append(f" {self.HUMAN_MARKER}", style="bold")
        if view.buried:
            label.append(f" {BURIED_MARKER}", style="italic")
        healing = recovery_label(view)
        if healing:  # what the console does about it (recovering step i/n, breaker open, provider error)
            label.append(f" {healing}", style=f"bold {state_color('recovering', dark)}")
        if view.task:
            label.append("  ")
            after = len(f" {view.progress}") if view.progress else 0
            width = self.TASK_WIDTH if room is None else max(self.MIN_TASK_WIDTH, room - label.cell_len - after)
            label.append(agent_text(view.task, width, "dim" if not view.alive else ""))
        if view.progress:
            label.append(f" {view.progress}", style="dim")
        return label

    # --- messages --------------------------------------------------------------------------------------------

    @on(Tree.NodeSelected)
    def _agent_chosen(self, event: Tree.NodeSelected[OrgNode]) -> None:
        data = event.node.data
        if data is not None and data.kind == "agent":
            event.stop()
            self.post_message(self.AgentSelected(data.name))
