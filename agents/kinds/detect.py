"""Reading an agent's screen: the first rule of its kind that matches says its state, with the evidence."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cache

from agent_console.agents.events import AgentState

from .definition import KindDefinition, Rule

_BORDER = re.compile(r"^[\s│┃║|╭╮╰╯╔╗╚╝┌┐└┘─━]+|[\s│┃║|╭╮╰╯╔╗╚╝┌┐└┘─━]+$")


@dataclass(frozen=True, slots=True)
class Option:
    key: str | None
    label: str


@dataclass(frozen=True, slots=True)
class Detection:
    """What a screen says about its agent, and which rule said it."""

    state: AgentState
    confidence: float
    rule: str | None
    request: str | None = None
    command: str | None = None
    options: tuple[Option, ...] = field(default=())

    def to_json(self) -> dict:
        return {
            "state": self.state.value,
            "confidence": self.confidence,
            "rule": self.rule,
            "request": self.request,
            "command": self.command,
            "options": [{"key": option.key, "label": option.label} for option in self.options],
        }


UNKNOWN = Detection(AgentState.UNKNOWN, 0.0, None)


def screen_lines(screen: str) -> list[str]:
    """The screen's lines without trailing spaces, and without the blank lines below the last text."""
    lines = [line.rstrip() for line in screen.replace("\r\n", "\n").split("\n")]
    while lines and not lines[-1]:
        lines.pop()
    return lines


def detect(kind: KindDefinition, screen: str) -> Detection:
    """The state `screen` shows, by the first of `kind`'s rules (highest priority first) that matches."""
    lines = screen_lines(screen)
    for rule in kind.ordered_rules():
        region = _region(rule, lines)
        if not _pattern(rule.match).search(region):
            continue
        if rule.unless is not None and _pattern(rule.unless).search(region):
            continue
        return Detection(
            state=rule.state,
            confidence=rule.confidence,
            rule=rule.name,
            request=_group(rule.request, region, "request"),
            command=_group(rule.command, region, "command"),
            options=_options(rule, region),
        )
    return UNKNOWN


def normalized(kind: KindDefinition, screen: str) -> str:
    """The screen without what changes while nothing happens (spinners, timers): equal means no progress."""
    text = "\n".join(screen_lines(screen))
    for pattern in kind.screen.volatile:
        text = _pattern(pattern).sub("", text)
    return text


def _region(rule: Rule, lines: list[str]) -> str:
    if rule.region == "top":
        return "\n".join(lines[: rule.lines])
    if rule.region == "bottom":
        return "\n".join(lines[-rule.lines :])
    return "\n".join(lines)


@cache
def _pattern(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.MULTILINE)


def _group(pattern: str | None, region: str, group: str) -> str | None:
    if pattern is None:
        return None
    found = _pattern(pattern).search(region)
    if found is None or found.group(group) is None:
        return None
    cleaned = [_BORDER.sub("", line) for line in found.group(group).split("\n")]
    text = "\n".join(line for line in cleaned if line)
    return text or None


def _options(rule: Rule, region: str) -> tuple[Option, ...]:
    if rule.options is None:
        return ()
    pattern = _pattern(rule.options)
    found = []
    for match in pattern.finditer(region):
        groups = match.groupdict()
        label = groups.get("label") or match.group(0)
        found.append(Option(key=groups.get("key"), label=_BORDER.sub("", label)))
    return tuple(found)
