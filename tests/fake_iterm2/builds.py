"""The iTerm2 builds the fake stands in for, and what each does differently through the API."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ITerm2Build:
    name: str
    # The X-iTerm2-Protocol-Version header of the websocket upgrade (iTermWebSocketConnection.m,
    # `upgradeKey:version:completion:`): the library gates its features on it.
    protocol_version: str
    # CreateTabRequest.select_tab is read only by newer builds; 3.6.x always selects a new tab and orders its
    # window front (iTermAPIHelper.m, `apiServerCreateTab:` at HEAD against v3.6.11).
    honours_select_tab: bool
    # Built-in functions beyond those every build has (sources/Language/BuiltInFunctions/ at HEAD; v3.6.11
    # has only MoveSessionBuiltInFunction.swift).
    functions: frozenset[str]


STABLE = ITerm2Build("3.6.11", "1.11", honours_select_tab=False, functions=frozenset({"move_session"}))
CURRENT = ITerm2Build(
    "current",
    "1.17",
    honours_select_tab=True,
    functions=frozenset({"move_session", "move_session_to_new_tab", "move_session_to_new_window", "apply_layout"}),
)
BUILDS = {build.name: build for build in (STABLE, CURRENT)}
