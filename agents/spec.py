"""Org specs: TOML files that name an org's teams and agents, loaded into an `Org` with located errors."""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from .model import Agent, Org, Team, find_problem, format_location

_TOP_LEVEL_KEYS = ("org", "team", "agent")
_ORG_KEYS = ("name", "limits", "redact")


class SpecError(Exception):
    """A wrong org spec: which file, which key, what is wrong. Its str is what the user sees."""

    def __init__(self, path: Path | str, location: str, message: str, line: int | None = None) -> None:
        self.path = Path(path)
        self.location = location
        self.message = message
        self.line = line
        where = f"{self.path}:{line}" if line else str(self.path)
        super().__init__(f"{where}: {location}: {message}" if location else f"{where}: {message}")


def load_spec(path: Path | str) -> Org:
    """Read and validate an org spec; relative agent `cwd`s are taken from the spec file's folder."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SpecError(path, "", "no such file") from None
    except IsADirectoryError:
        raise SpecError(path, "", "is a directory, not an org spec (a .toml file)") from None
    except (OSError, UnicodeDecodeError) as error:
        raise SpecError(path, "", f"cannot read: {error}") from None
    return parse_spec(text, path)


def parse_spec(text: str, path: Path | str = "<spec>") -> Org:
    """Validate the TOML text of an org spec. `path` names the file in errors and anchors relative cwds."""
    path = Path(path)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        message = str(error)
        match = re.search(r"\(at line (\d+), column \d+\)", message)
        line = int(match.group(1)) if match else None
        raise SpecError(path, "", f"bad TOML: {message}", line=line) from None

    unknown = [key for key in data if key not in _TOP_LEVEL_KEYS]
    if unknown:
        raise SpecError(path, unknown[0], f"unknown key (allowed at the top level: {', '.join(_TOP_LEVEL_KEYS)})")
    org_table = data.get("org")
    if not isinstance(org_table, Mapping):
        raise SpecError(path, "org", 'missing: the spec needs an [org] table with a name, e.g. name = "api"')
    for key in org_table:
        if key not in _ORG_KEYS:
            raise SpecError(path, f"org.{key}", f"unknown key (allowed: {', '.join(_ORG_KEYS)})")
    if "name" not in org_table:
        raise SpecError(path, "org.name", "missing: every org needs a name (it names the tmux session)")

    teams = [_build(Team, table, "team", index, path) for index, table in enumerate(_tables(data, "team", path))]
    base = path.parent.absolute() if str(path) != "<spec>" else Path.cwd()
    agents = []
    for index, table in enumerate(_tables(data, "agent", path)):
        agent = _build(Agent, table, "agent", index, path)
        agents.append(agent.model_copy(update={"cwd": _resolve_cwd(agent, index, base, path)}))

    problem = find_problem(teams, agents)
    if problem is not None:
        raise SpecError(path, _describe(problem.location, data), problem.message)
    try:
        return Org(
            name=org_table["name"],
            teams=tuple(teams),
            agents=tuple(agents),
            limits=org_table.get("limits", {}),
            redact=org_table.get("redact", ()),
        )
    except ValidationError as error:
        raise _spec_error(error, ("org",), path, data) from None


def _tables(data: Mapping[str, Any], key: str, path: Path) -> Sequence[Mapping[str, Any]]:
    value = data.get(key, [])
    if isinstance(value, Mapping) or not isinstance(value, list):
        raise SpecError(path, key, f"must be an array of tables: write each one as [[{key}]]")
    for index, item in enumerate(value):
        if not isinstance(item, Mapping):
            raise SpecError(path, f"{key}[{index}]", "must be a table")
    return value


def _build(model: type[Team] | type[Agent], table: Mapping[str, Any], key: str, index: int, path: Path):
    try:
        return model.model_validate(dict(table))
    except ValidationError as error:
        raise _spec_error(error, (key, index), path, {key: [table] * (index + 1)}) from None


def _resolve_cwd(agent: Agent, index: int, base: Path, path: Path) -> Path:
    cwd = agent.cwd.expanduser()
    if not cwd.is_absolute():
        cwd = base / cwd
    cwd = Path(os.path.normpath(cwd))
    if not cwd.is_dir():
        location = _describe(("agent", index, "cwd"), {"agent": [{"name": agent.name}] * (index + 1)})
        raise SpecError(path, location, f"no such directory: {cwd}")
    return cwd


def _spec_error(error: ValidationError, prefix: tuple[str | int, ...], path: Path, data: Mapping) -> SpecError:
    first = error.errors()[0]
    location = (*prefix, *first["loc"])
    message = first["msg"].removeprefix("Value error, ")
    if first["type"] == "extra_forbidden":
        message = "unknown key"
    elif first["type"] == "missing":
        message = "missing (required)"
    more = len(error.errors()) - 1
    if more:
        message += f" (and {more} more problem{'s' if more > 1 else ''} in this table)"
    return SpecError(path, _describe(location, data), message)


def _describe(location: Sequence[str | int], data: Mapping) -> str:
    """The key path, with the agent's or team's name when it has one: ``agent[2] ("api").team``."""
    text = format_location(location)
    if len(location) >= 2 and isinstance(location[1], int):
        try:
            name = data[location[0]][location[1]].get("name")
        except (KeyError, IndexError, AttributeError, TypeError):
            name = None
        if isinstance(name, str):
            head = format_location(location[:2])
            text = f'{head} ("{name}")' + text[len(head) :]
    return text
