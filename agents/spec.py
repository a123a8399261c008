"""Org specs: TOML files that name an org's teams and agents, loaded into an `Org` with located errors; the
changes made to an org from the console, replayed over its spec; an org written back as a spec."""

from __future__ import annotations

import json
import math
import os
import re
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

from pydantic import ValidationError

from .errors import InvalidInput, first_problem
from .events import OrgEdit
from .model import Agent, Observability, Org, Role, Team, find_problem, format_location

TeamOrAgent = TypeVar("TeamOrAgent", Team, Agent)
_TOP_LEVEL_KEYS = ("org", "team", "agent", "executive", "observability")  # [executive]: the model executive's
_ORG_KEYS = ("name", "limits", "redact", "isolation", "paging")


class SpecError(InvalidInput):
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
            isolation=org_table.get("isolation", "auto"),
            paging=org_table.get("paging", {}),
            observability=_observability(data, path),
        )
    except ValidationError as error:
        raise _spec_error(error, ("org",), path, data) from None


def _observability(data: Mapping[str, Any], path: Path) -> Observability:
    table = data.get("observability", {})
    if not isinstance(table, Mapping):
        raise SpecError(path, "observability", "must be a table: [observability]")
    try:
        return Observability.model_validate(dict(table))
    except ValidationError as error:
        raise _spec_error(error, ("observability",), path, data) from None


def _tables(data: Mapping[str, Any], key: str, path: Path) -> Sequence[Mapping[str, Any]]:
    value = data.get(key, [])
    if isinstance(value, Mapping) or not isinstance(value, list):
        raise SpecError(path, key, f"must be an array of tables: write each one as [[{key}]]")
    for index, item in enumerate(value):
        if not isinstance(item, Mapping):
            raise SpecError(path, f"{key}[{index}]", "must be a table")
    return value


def _build(model: type[TeamOrAgent], table: Mapping[str, Any], key: str, index: int, path: Path) -> TeamOrAgent:
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
    problem = first_problem(error)
    location = (*prefix, *problem.location)
    message = {"extra_forbidden": "unknown key", "missing": "missing (required)"}.get(problem.type, problem.message)
    more = problem.more
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


# --- changes made from the console ----------------------------------------------------------------------------


def spec_table(item: Team | Agent, base: Path | None = None) -> dict[str, Any]:
    """A team or an agent as its spec table: the keys that differ from their defaults. An agent's cwd is
    written relative to `base` when it lies inside it, else in full."""
    table = item.model_dump(mode="json", exclude_defaults=True)
    if isinstance(item, Agent):
        cwd = item.cwd.absolute()
        inside = base is not None and (cwd == base.absolute() or base.absolute() in cwd.parents)
        table["cwd"] = os.path.relpath(cwd, base.absolute()) if base is not None and inside else str(cwd)
    return table


IN_PLACE = ("buried", "role")
"""What the console changes of an agent in its place (bury, unbury, promote, demote): the rest of it is the spec's."""


def _in_place(agent: Agent) -> tuple[object, ...]:
    return tuple(getattr(agent, key) for key in IN_PLACE)


def edits_between(old: Org, new: Org) -> list[OrgEdit]:
    """What turned `old` into `new`: teams added, agents removed, agents changed in their place (only buried or
    not, and their role: any other change is a removal and an addition), agents added."""
    teams = {team.name for team in old.teams}
    edits = [OrgEdit(action="add-team", name=t.name, table=spec_table(t)) for t in new.teams if t.name not in teams]
    before = {agent.name: agent for agent in old.agents}
    after = {agent.name: agent for agent in new.agents}

    def changed_in_place(agent: Agent) -> bool:
        earlier = before.get(agent.name)
        if earlier is None or earlier == agent:
            return False
        return earlier == agent.model_copy(update=dict(zip(IN_PLACE, _in_place(earlier), strict=True)))

    changed = {agent.name for agent in new.agents if changed_in_place(agent)}
    edits += [
        OrgEdit(action="remove-agent", name=agent.name)
        for agent in old.agents
        if after.get(agent.name) != agent and agent.name not in changed
    ]
    edits += [OrgEdit(action="change-agent", name=name, table=spec_table(after[name])) for name in changed]
    edits += [
        OrgEdit(action="add-agent", name=agent.name, table=spec_table(agent))
        for agent in new.agents
        if before.get(agent.name) != agent and agent.name not in changed
    ]
    return edits


def merge_edits(earlier: Iterable[OrgEdit], later: Iterable[OrgEdit], spec: Org | None = None) -> tuple[OrgEdit, ...]:
    """`earlier` then `later`, where an agent added and then removed again leaves no trace, and an agent changed
    keeps only its last change (folded into its addition when the console added it). A change that brings a
    spec agent back to what `spec` (the org as its file says) has leaves no edit."""
    merged = list(earlier)
    for edit in later:
        if edit.action in ("remove-agent", "change-agent"):
            changed = [e for e in merged if e.action == "change-agent" and e.name == edit.name]
            merged = [e for e in merged if e not in changed]
            added = [i for i, e in enumerate(merged) if e.action == "add-agent" and e.name == edit.name]
            if added and edit.action == "remove-agent":
                del merged[added[-1]]
                continue
            if added:
                merged[added[-1]] = OrgEdit(action="add-agent", name=edit.name, table=edit.table)
                continue
            if edit.action == "change-agent" and spec is not None and _as_in_spec(spec, edit):
                continue
        merged.append(edit)
    return tuple(merged)


def _as_in_spec(spec: Org, edit: OrgEdit) -> bool:
    try:
        agent = spec.agent(edit.name)
    except KeyError:
        return False
    return _in_place(agent) == _in_place(_changed(agent, edit))


def _changed(agent: Agent, edit: OrgEdit) -> Agent:
    """`agent` with what a change-agent edit carries (its table lists only what differs from the defaults)."""
    return agent.model_copy(
        update={"buried": bool(edit.table.get("buried", False)), "role": Role(edit.table.get("role", Role.WORKER))}
    )


def apply_edits(org: Org, edits: Iterable[OrgEdit]) -> tuple[Org, list[OrgEdit], list[tuple[OrgEdit, str]]]:
    """`org` with each edit applied in turn: the org, the edits that applied, and those that no longer do
    (with why: the spec already has that agent, no longer has the team it goes in, ...)."""
    applied: list[OrgEdit] = []
    skipped: list[tuple[OrgEdit, str]] = []
    for edit in edits:
        try:
            org = _apply(org, edit)
        except ValueError as error:
            skipped.append((edit, _one_line(error)))
            continue
        applied.append(edit)
    return org, applied, skipped


def describe_edit(edit: OrgEdit) -> str:
    """An edit as the command that made it: `team new ops`, `spawn a --team ops`, `kill b`."""
    if edit.action == "add-team":
        parent = edit.table.get("parent")
        return f"team new {edit.name}" + (f" --parent {parent}" if parent else "")
    if edit.action == "add-agent":
        return f"spawn {edit.name} --team {edit.table.get('team')}"
    if edit.action == "change-agent":
        # The edit holds the agent as it became, not what changed: say that.
        where = "buried" if edit.table.get("buried") else "on screen"
        return f"{edit.name} {where}, {edit.table.get('role', Role.WORKER.value)}"
    return f"kill {edit.name}"


def _apply(org: Org, edit: OrgEdit) -> Org:
    names = {agent.name for agent in org.agents}
    if edit.action == "add-team":
        if any(team.name == edit.name for team in org.teams):
            raise ValueError(f"the spec has a team {edit.name!r} already")
        return org.replaced(teams=(*org.teams, Team.model_validate(edit.table)))
    if edit.action == "add-agent":
        if edit.name in names:
            raise ValueError(f"the spec has an agent {edit.name!r} already")
        return org.replaced(agents=(*org.agents, Agent.model_validate(edit.table)))
    if edit.name not in names:
        raise ValueError(f"the spec has no agent {edit.name!r} any more")
    if edit.action == "change-agent":
        # Only what the console changes in place carries over: the spec's own table stays as the file says.
        return org.replaced(agents=tuple(_changed(a, edit) if a.name == edit.name else a for a in org.agents))
    return org.replaced(agents=tuple(a for a in org.agents if a.name != edit.name))


def _one_line(error: ValueError) -> str:
    if isinstance(error, ValidationError):
        return first_problem(error).message
    return str(error)


# --- writing a spec ---------------------------------------------------------------------------------------------


def dump_spec(org: Org, path: Path | str) -> str:
    """The org as the text of a spec at `path` that `load_spec` reads back as the same org."""
    base = Path(path).absolute().parent
    lines = ["[org]", f"name = {_toml_value(org.name)}"]
    if org.redact:
        lines.append(f"redact = {_toml_value(org.redact)}")
    if org.isolation != "auto":
        lines.append(f"isolation = {_toml_value(org.isolation.value)}")
    limits = org.limits.model_dump(exclude_defaults=True)
    if limits:
        lines.append(f"limits = {_toml_value(limits)}")
    paging = org.paging.model_dump(exclude_defaults=True)
    if paging:
        lines.append(f"paging = {_toml_value(paging)}")
    observability = org.observability.model_dump(exclude_defaults=True)
    if observability:
        lines += ["", "[observability]", *_toml_pairs(observability)]
    for team in org.teams:
        lines += ["", "[[team]]", *_toml_pairs(spec_table(team))]
    for agent in org.agents:
        lines += ["", "[[agent]]", *_toml_pairs(spec_table(agent, base))]
    executive = _executive_table(Path(path))
    if executive:  # the model executive's settings in the spec written over are not the org's to drop
        lines += ["", "[executive]", *_toml_pairs(executive)]
    return "\n".join(lines) + "\n"


def _executive_table(path: Path) -> Mapping[str, Any]:
    try:
        table = tomllib.loads(path.read_text(encoding="utf-8")).get("executive", {})
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return {}
    return table if isinstance(table, Mapping) else {}


def _toml_pairs(table: Mapping[str, Any]) -> list[str]:
    return [f"{_toml_key(key)} = {_toml_value(value)}" for key, value in table.items()]


def _toml_key(key: str) -> str:
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else _toml_value(key)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float) and math.isfinite(value):
        return repr(value)
    if isinstance(value, str):
        # JSON's string escapes are TOML's, but for DEL, which TOML wants escaped too
        return json.dumps(value, ensure_ascii=False).replace("\x7f", "\\u007f")
    if isinstance(value, Mapping):
        return "{ " + ", ".join(_toml_pairs(value)) + " }" if value else "{}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(item) for item in value) + "]"
    raise TypeError(f"cannot write {value!r} in a spec")
