"""Named arrangements of an org's windows, as the console keeps them for a terminal that has none of its own (tmux):
one JSON file an arrangement, in a folder of the org's state directory."""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

from agent_console.agents.errors import InvalidInput, NotFound

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
NAME_RULE = "1 to 64 letters, digits, '-' or '_', starting with a letter or digit"
FORMAT = 1


def check_name(name: str) -> str:
    """`name` when it is an arrangement's name (never a path: no '/', no '.', no '..')."""
    if not NAME.match(name):
        raise InvalidInput(f"{name!r} is not an arrangement name: use {NAME_RULE}")
    return name


@dataclass(frozen=True)
class SavedWindow:
    """One window: its name, the org's tag on it, its layout, and the agents of its panes in pane order."""

    name: str
    tag: str | None
    layout: str
    agents: tuple[str | None, ...]  # None: a pane that runs no agent (it cannot be brought back)


@dataclass(frozen=True)
class SavedArrangement:
    org: str | None
    windows: tuple[SavedWindow, ...]

    def to_json(self) -> str:
        windows = [{"name": w.name, "tag": w.tag, "layout": w.layout, "agents": list(w.agents)} for w in self.windows]
        return json.dumps({"format": FORMAT, "org": self.org, "windows": windows}, indent=1) + "\n"

    @classmethod
    def from_json(cls, text: str, where: Path) -> SavedArrangement:
        try:
            data = json.loads(text)
            if data.get("format") != FORMAT:
                raise ValueError(f"format {data.get('format')!r}, this console reads format {FORMAT}")
            windows = tuple(
                SavedWindow(
                    name=str(w["name"]),
                    tag=None if w.get("tag") is None else str(w["tag"]),
                    layout=str(w["layout"]),
                    agents=tuple(None if a is None else str(a) for a in w["agents"]),
                )
                for w in data["windows"]
            )
        except (ValueError, KeyError, TypeError, AttributeError) as error:
            raise InvalidInput(f"arrangement {where} cannot be read: {error}") from None
        return cls(org=data.get("org"), windows=windows)


def arrangement_path(folder: Path, name: str) -> Path:
    return folder / f"{check_name(name)}.json"


def saved_names(folder: Path) -> list[str]:
    """The arrangements kept in `folder`, by name."""
    if not folder.is_dir():
        return []
    return sorted(path.stem for path in folder.glob("*.json") if NAME.match(path.stem))


def read_arrangement(folder: Path, name: str) -> SavedArrangement:
    path = arrangement_path(folder, name)
    try:
        text = path.read_text()
    except FileNotFoundError:
        known = ", ".join(saved_names(folder)) or "none saved yet"
        raise NotFound(f"there is no arrangement {name!r} (arrangements: {known})") from None
    return SavedArrangement.from_json(text, path)


def write_arrangement(folder: Path, name: str, saved: SavedArrangement) -> None:
    """Replace arrangement `name` at once (a reader never sees half a file); the folder is private."""
    path = arrangement_path(folder, name)
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as file:
        file.write(saved.to_json())
    os.replace(partial, path)
