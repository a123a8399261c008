"""Arrangements on tmux, which keeps none itself: each window's layout string and the agents of its panes, saved in
the org's state directory (`arrangement.py`), and brought back by moving the agents' panes and re-applying layouts."""

from __future__ import annotations

import itertools
import re
from pathlib import Path
from typing import TYPE_CHECKING

from .arrangement import SavedArrangement, SavedWindow, arrangement_path, read_arrangement, write_arrangement
from .base import BackendError, PaneInfo
from .tmux_control import TmuxCommandError, quote

if TYPE_CHECKING:
    from .tmux import TmuxBackend

_LEAF_ID = re.compile(r"(\d+x\d+,\d+,\d+,)(\d+)")


async def save(backend: TmuxBackend, name: str, folder: Path) -> str:
    arrangement_path(folder, name)  # a name, not a path, before anything is read
    panes = await backend.list_panes(all_sessions=False)
    tags = await backend.window_tags()
    windows: dict[str, list[PaneInfo]] = {}
    for info in sorted(panes, key=lambda info: info.index):
        if not info.buried:  # off screen: not part of any window's layout
            windows.setdefault(info.window, []).append(info)
    orgs = {info.org for info in panes if info.org}
    kept = [
        SavedWindow(
            name=members[0].window_name,
            tag=tags.get(window),
            layout=await backend.window_layout(window),
            agents=tuple(info.agent for info in members),
        )
        for window, members in windows.items()
    ]
    saved = SavedArrangement(org=orgs.pop() if len(orgs) == 1 else None, windows=tuple(kept))
    write_arrangement(folder, name, saved)
    count = sum(len(window.agents) for window in saved.windows)
    return f"{len(saved.windows)} window(s), {count} pane(s)"


async def restore(backend: TmuxBackend, name: str, folder: Path) -> list[str]:
    """Move each saved window's agents into one window (its first agent's, or a new one when another saved window
    took that), put strangers out in windows of their own, order the panes and apply the saved layout."""
    saved = read_arrangement(folder, name)
    current = {info.agent: info for info in await backend.list_panes(all_sessions=False) if info.agent}
    problems: list[str] = []
    claimed: list[tuple[str, SavedWindow, list[str]]] = []
    for window in saved.windows:
        present: list[str] = []
        for agent in window.agents:
            info = current.get(agent) if agent is not None else None
            if agent is None:
                problems.append(f"a pane that ran no agent in window {window.name!r} cannot be brought back")
            elif info is None:
                problems.append(f"{agent} has no pane any more (no longer in the org, or not running)")
            elif info.buried:
                problems.append(f"{agent} is buried now: unbury it and load the arrangement again")
            else:
                present.append(info.pane)
        if not present:
            problems.append(f"window {window.name!r}: none of its agents is here")
            continue
        target = (await backend.pane(present[0])).window
        if target in {window_id for window_id, _, _ in claimed}:
            target = (await backend.break_pane(present[0], window.name)).window
        claimed.append((target, window, present))
        for before, pane in itertools.pairwise(present):
            if (await backend.pane(pane)).window != target:
                await backend.spread_evenly(target)  # room for one more pane
                await backend.join_pane(pane, before)
    for target, window, present in claimed:
        for info in await backend.list_panes(all_sessions=False):
            if info.window == target and info.pane not in present and info.agent:
                await backend.break_pane(info.pane, info.agent)
                problems.append(f"{info.agent} was not in the arrangement: it has a window of its own")
        await _order(backend, target, present)
        if (await backend.pane(present[0])).window_name != window.name:  # renaming ends tmux's automatic names
            await backend.client.command(f"rename-window -t {quote(target)} {quote(window.name)}")
        if window.tag:
            org, _, index = window.tag.rpartition(":")
            if index.isdigit():
                await backend.tag_window(target, org, int(index))
        problems += await _apply(backend, target, window, present)
    return problems


async def _order(backend: TmuxBackend, window: str, panes: list[str]) -> None:
    """Put the window's panes in the saved order (tmux gives a layout's cells to panes in pane order)."""
    lines = await backend.client.command(f"list-panes -t {quote(window)} -F '#{{pane_id}}'")
    current = [pane for pane in lines if pane]
    for position, pane in enumerate(panes):
        if position < len(current) and current[position] != pane and pane in current:
            other = current.index(pane)
            await backend.swap_panes(current[position], pane)
            current[position], current[other] = current[other], current[position]


async def _apply(backend: TmuxBackend, window: str, saved: SavedWindow, panes: list[str]) -> list[str]:
    from .tmux import layout_checksum, layout_panes

    current = layout_panes(await backend.window_layout(window))
    if len(current) != len(layout_panes(saved.layout)):
        await backend.spread_evenly(window)
        return [f"window {saved.name!r} has {len(current)} pane(s) now, not {len(saved.agents)}: laid out evenly"]
    ids = iter(pane.removeprefix("%") for pane in current)
    body = _LEAF_ID.sub(lambda match: match.group(1) + next(ids), saved.layout.partition(",")[2])
    try:
        await backend.client.command(f"select-layout -t {quote(window)} {quote(layout_checksum(body) + ',' + body)}")
    except TmuxCommandError as error:
        raise BackendError(f"tmux refused the layout of window {saved.name!r}: {error.tmux_message}") from None
    return []
