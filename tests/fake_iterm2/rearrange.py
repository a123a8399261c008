"""Moving panes between tabs and windows: iTerm2's move_session, move_session_to_new_tab/window and
apply_layout functions (a mixin of the app model)."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from .layout import SplitNode
from .sessions import LaunchSpec

if TYPE_CHECKING:
    from .sessions import PtySession
    from .state import FakeApp


class LayoutError(ValueError):
    """A move or layout iTerm2 would refuse; the message says why."""


class PaneMoves:
    """Pane moves for `FakeApp`."""

    def move_session(self: FakeApp, session_id: str, destination: str, vertical: bool, before: bool) -> None:
        """Take a session out of its place and split `destination` with it."""
        session = self.session(session_id)
        window, tab, _ = self.find_session(destination)
        if window is None or tab is None:
            raise LayoutError(f"destination {destination} is not in a tab")
        if session_id == destination:
            raise LayoutError("a session cannot be moved next to itself")
        self._detach(session_id)
        tab.split(destination, session, vertical, before)
        tab.layout(window.columns, window.rows)
        self._report_sizes(tab)
        self.notifier.layout_changed()
        self.notifier.changed()

    def move_session_to_new_tab(
        self: FakeApp, session_id: str, window_id: str | None = None, tab_index: int | None = None
    ) -> str:
        """Move a split pane into a tab of its own; returns the new tab's id."""
        window, tab, session = self.find_session(session_id)
        if window is None or tab is None or len(tab.panes()) < 2:
            raise LayoutError(f"session {session_id} is not one of several panes in a tab")
        target = self.find_window(window_id) if window_id else window
        if target is None:
            raise LayoutError(f"no window {window_id}")
        position = target.tabs.index(tab) + 1 if target is window else len(target.tabs)
        self._detach(session_id)
        new = self._new_tab(SplitNode(False, [session]))
        new.active_session_id = session_id
        target.tabs.insert(position if tab_index is None else tab_index, new)
        target.layout()
        self._report_sizes(new)
        self.notifier.layout_changed()
        self.notifier.changed()
        return new.tab_id

    def move_session_to_new_window(self: FakeApp, session_id: str) -> str:
        """Move a pane into a window of its own; returns the window's id."""
        window, tab, session = self.find_session(session_id)
        if window is None or tab is None or (len(tab.panes()) < 2 and len(window.tabs) < 2):
            raise LayoutError(f"session {session_id} is alone in its window")
        self._detach(session_id)
        target = self._add_window()
        new = self._new_tab(SplitNode(False, [session]))
        new.active_session_id = session_id
        target.tabs.append(new)
        target.layout()
        self._report_sizes(new)
        self.notifier.layout_changed()
        self._focus(target, new, session_id)
        self.notifier.changed()
        return target.window_id

    def apply_layout(self: FakeApp, spec: dict[str, Any]) -> None:
        """Reshape tabs (moving sessions between them, creating new ones) and close what the spec names."""
        entries = spec.get("tabs", [])
        close_sessions = set(spec.get("close_sessions", []))
        close_tabs = set(spec.get("close_tabs", []))
        close_windows = set(spec.get("close_windows", []))
        if not isinstance(entries, list):
            raise LayoutError("tabs: expected a list")
        guids = {profile["Guid"]: profile for profile in self.profiles.values()}
        targets = []
        placed: list[str] = []
        for index, entry in enumerate(entries):
            found = self.find_tab(str(entry.get("tab_id")))
            if found is None:
                raise LayoutError(f"tabs[{index}]: no tab {entry.get('tab_id')}")
            _check_node(self, entry.get("root"), f"tabs[{index}].root", None, placed, guids)
            targets.append((found, entry["root"]))
        listed = {tab.tab_id for (_, tab), _ in targets}
        for (_, tab), _ in targets:
            for pane in tab.panes():
                if pane.session_id not in placed and pane.session_id not in close_sessions:
                    raise LayoutError(f"tab {tab.tab_id}: session {pane.session_id} is neither placed nor closed")
        for session_id in placed:
            _, source, _ = self.find_session(session_id)
            if source is None or source.tab_id in listed or source.tab_id in close_tabs:
                continue
            if any(pane.session_id not in placed for pane in source.panes()):
                raise LayoutError(f"tab {source.tab_id} would lose session {session_id} but is not in the spec")

        for session_id in placed:
            _, source, _ = self.find_session(session_id)
            if source is None or source.tab_id not in listed:
                self._detach(session_id)
        created: list[PtySession] = []
        for (_, tab), root in targets:
            tab.root = _build(self, root, created, guids)
            if tab.active_session_id not in {pane.session_id for pane in tab.panes()}:
                tab.active_session_id = tab.panes()[0].session_id
        for (window, tab), _ in targets:
            tab.layout(window.columns, window.rows)
        for session in created:
            self._start(session)
            self.notifier.new_session(session.session_id)
        for (_, tab), _ in targets:
            self._report_sizes(tab)
        self.notifier.layout_changed()
        for session_id in close_sessions:
            if session_id in self.sessions:
                self.close_session(session_id)
        for tab_id in close_tabs:
            if self.find_tab(tab_id):
                self.close_tab(tab_id)
        for window_id in close_windows:
            if self.find_window(window_id):
                self.close_window(window_id)
        self.notifier.changed()


def _check_node(
    app: FakeApp, node: Any, where: str, parent_vertical: bool | None, placed: list[str], guids: dict[str, Any]
) -> None:
    if not isinstance(node, dict):
        raise LayoutError(f"{where}: expected an object")
    if "session_id" in node:
        session_id = node["session_id"]
        if session_id not in app.sessions:
            raise LayoutError(f"{where}: no session {session_id}")
        if session_id in placed:
            raise LayoutError(f"{where}: session {session_id} appears twice")
        placed.append(session_id)
    elif "new_session" in node:
        if node["new_session"].get("profile") not in guids:
            raise LayoutError(f"{where}: no profile {node['new_session'].get('profile')}")
    else:
        children, vertical = node.get("children"), bool(node.get("vertical"))
        if not isinstance(children, list) or len(children) < 2:
            raise LayoutError(f"{where}: a splitter needs at least 2 children")
        if parent_vertical is not None and vertical == parent_vertical:
            raise LayoutError(f"{where}: a splitter inside one of the same orientation")
        for index, child in enumerate(children):
            _check_node(app, child, f"{where}.children[{index}]", vertical, placed, guids)


def _build(app: FakeApp, node: dict[str, Any], created: list[PtySession], guids: dict[str, Any]) -> SplitNode:
    """The split tree a spec node describes (a leaf becomes a one-child node, as iTerm2's root does)."""
    if "children" not in node:
        return SplitNode(False, [_leaf(app, node, created, guids)])
    built = SplitNode(bool(node.get("vertical")))
    for child in node["children"]:
        built.children.append(
            _build(app, child, created, guids) if "children" in child else _leaf(app, child, created, guids)
        )
    return built


def _leaf(app: FakeApp, node: dict[str, Any], created: list[PtySession], guids: dict[str, Any]) -> PtySession:
    if "session_id" in node:
        return app.sessions[node["session_id"]]
    request = node["new_session"]
    profile = dict(guids[request["profile"]])
    launch = app._launch_for(profile, None)
    if request.get("command"):
        # iTerm2 runs it through the user's shell, as if typed.
        shell = os.environ.get("SHELL") or "/bin/sh"
        launch = LaunchSpec([shell, "-c", request["command"]], launch.cwd, launch.env)
    session = app._new_session(profile, launch)
    created.append(session)
    return session
