"""An agent kind as data: how to launch it, the keys that answer its prompts, and the rules that read its screen.

Each kind is one TOML file beside this module (`claude.toml`, `codex.toml` …); `load_kind` reads and checks it.
"""

from __future__ import annotations

import re
import tomllib
from functools import cache
from pathlib import Path
from typing import Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from agent_console.agents.errors import InvalidInput, first_problem
from agent_console.agents.events import AgentState
from agent_console.agents.recovery import RecoveryPolicy

KINDS_DIR = Path(__file__).parent
Region = Literal["all", "top", "bottom"]
Answer = Literal["approve", "approve_always", "deny"]


class KindError(InvalidInput):
    """A kind definition is missing or wrong; the message names the file and the field."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _compiled(value: str | None, field: str) -> str | None:
    if value is not None:
        try:
            re.compile(value, re.MULTILINE)
        except re.error as error:
            raise ValueError(f"{field} is not a valid regular expression: {error}") from None
    return value


class Keys(_Strict):
    """Key names (tmux style: a literal character, `Enter`, `Escape`, `C-c` …) pressed in order."""

    approve: tuple[str, ...] = ()
    approve_always: tuple[str, ...] = ()
    deny: tuple[str, ...] = ()

    def for_answer(self, answer: Answer) -> tuple[str, ...]:
        return getattr(self, answer)


class Rule(_Strict):
    """When `match` is found in the screen's `region` (and `unless` is not), the agent is in `state`."""

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,63}$")
    state: AgentState
    priority: int = 0
    confidence: float = Field(default=0.8, ge=0, le=1)
    region: Region = "all"
    lines: int = Field(default=0, ge=0)
    match: str
    unless: str | None = None
    request: str | None = None
    command: str | None = None
    options: str | None = None
    keys: Keys | None = None

    @field_validator("match", "unless", "request", "command", "options")
    @classmethod
    def _check_pattern(cls, value: str | None, info: ValidationInfo) -> str | None:
        return _compiled(value, info.field_name or "pattern")  # a field validator always has its field's name

    @model_validator(mode="after")
    def _check_groups(self) -> Rule:
        for field, group in (("request", "request"), ("command", "command")):
            pattern = getattr(self, field)
            if pattern is not None and group not in re.compile(pattern).groupindex:
                raise ValueError(f"{field} needs a named group (?P<{group}>…)")
        if self.region != "all" and self.lines == 0:
            raise ValueError(f"region {self.region!r} needs `lines` (how many lines of the screen)")
        return self


class Screen(_Strict):
    volatile: tuple[str, ...] = ()  # deleted before two screens are compared (spinners, timers, counters)

    @field_validator("volatile")
    @classmethod
    def _check_volatile(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for pattern in value:
            _compiled(pattern, "volatile")
        return value


SESSION_PLACEHOLDER = "{session}"
# A session id as any program could report it: never empty, never an option (no leading "-"), no blanks or quotes.
SESSION_ID = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$"


class Resume(_Strict):
    """How the kind's program takes up its conversation again when it is started anew.

    `session`: the arguments that resume a known session (`{session}` stands for its id, always one whole argument);
    `last`: the arguments that resume the last conversation in the agent's folder, used when no session id is known;
    `pattern`: what a session id of this program looks like (a reported id that does not match is never used);
    `screen`: where its screen names its session, the id in a group (?P<session>…)."""

    session: tuple[str, ...] = ()
    last: tuple[str, ...] = ()
    pattern: str = SESSION_ID
    screen: str | None = None

    @field_validator("pattern", "screen")
    @classmethod
    def _check_pattern(cls, value: str | None, info: ValidationInfo) -> str | None:
        _compiled(value, info.field_name or "pattern")
        if info.field_name == "screen" and value is not None and "session" not in re.compile(value).groupindex:
            raise ValueError("screen needs a named group (?P<session>…)")
        return value

    @model_validator(mode="after")
    def _check_placeholder(self) -> Resume:
        if self.session and self.session.count(SESSION_PLACEHOLDER) != 1:
            raise ValueError(f"session needs {SESSION_PLACEHOLDER} as exactly one whole argument")
        if any(SESSION_PLACEHOLDER in arg for arg in self.last):
            raise ValueError(f"last cannot name a session ({SESSION_PLACEHOLDER})")
        return self

    def accepts(self, session: str) -> bool:
        """Whether `session` is an id this program could have given (and safe as one argument)."""
        return bool(re.fullmatch(SESSION_ID, session) and re.fullmatch(self.pattern, session))

    def session_on(self, screen: str) -> str | None:
        """The session id the screen names (the last one on it), unchecked; None when it names none."""
        if self.screen is None:
            return None
        found = list(re.finditer(self.screen, screen, re.MULTILINE))
        return found[-1].group("session") if found else None

    def arguments(self, session: str | None) -> tuple[tuple[str, ...], str] | None:
        """The arguments that resume the conversation, and how in words; None when this kind cannot."""
        if session is not None and self.session and self.accepts(session):
            return tuple(session if arg == SESSION_PLACEHOLDER else arg for arg in self.session), f"session {session}"
        if self.last:
            return self.last, "its last conversation in its folder"
        return None


class KindDefinition(_Strict):
    kind: str
    program: str | None = None  # None: the user's shell
    args: tuple[str, ...] = ()
    env: dict[str, str] = Field(default_factory=dict)
    keys: Keys = Keys()
    screen: Screen = Screen()
    rules: tuple[Rule, ...] = Field(default=(), alias="rule")
    recovery: RecoveryPolicy = RecoveryPolicy()  # how it is healed: its ladder, interrupt keys, timeouts
    resume: Resume = Resume()

    @model_validator(mode="after")
    def _check_unique(self) -> KindDefinition:
        names = [rule.name for rule in self.rules]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"rule names must be unique: {', '.join(duplicates)} repeated")
        return self

    def ordered_rules(self) -> list[Rule]:
        """Highest priority first; ties keep the file's order."""
        return sorted(self.rules, key=lambda rule: -rule.priority)

    def keys_for(self, rule_name: str | None, answer: Answer) -> tuple[str, ...]:
        """The keys that give `answer` to the prompt the rule `rule_name` found (its own keys, else the kind's)."""
        for rule in self.rules:
            if rule.name == rule_name and rule.keys is not None and rule.keys.for_answer(answer):
                return rule.keys.for_answer(answer)
        return self.keys.for_answer(answer)


def known_kinds() -> list[str]:
    return sorted(path.stem for path in KINDS_DIR.glob("*.toml"))


@cache
def load_kind(kind: str) -> KindDefinition:
    """The bundled definition of `kind`; `KindError` names what is wrong with it."""
    path = KINDS_DIR / f"{kind}.toml"
    if not re.fullmatch(r"[a-z0-9-]+", kind) or not path.exists():
        raise KindError(f"unknown agent kind {kind!r}: known kinds are {', '.join(known_kinds())}")
    return load_kind_file(path)


def load_kind_file(path: Path) -> KindDefinition:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as error:
        raise KindError(f"{path}: cannot read it: {error}") from None
    except tomllib.TOMLDecodeError as error:
        raise KindError(f"{path}: not valid TOML: {error}") from None
    try:
        definition = KindDefinition.model_validate(data)
    except ValidationError as error:
        problem = first_problem(error)
        raise KindError(f"{path}: {problem.where or '(top level)'}: {problem.message}") from None
    if definition.kind != path.stem:
        raise KindError(f"{path}: kind = {definition.kind!r} but the file is named {path.stem!r}")
    return definition
