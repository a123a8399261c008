"""The headless command layer: typed commands over the running org, one registry for every front door.

A command has pydantic arguments (hence a JSON schema), runs on a `CommandHost` (the supervisor) for an `Actor`,
and answers with one line. The registry checks who may run it before it runs, and journals every run with its actor.
Words typed at the `:` line, after `/` in the chat or on the command line become arguments through a parser
built from the arguments' model (`argument_parser`), so the model is the one description of a command.
"""

from __future__ import annotations

import argparse
import functools
import secrets
import shlex
import types
import typing
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, NamedTuple, NoReturn

from pydantic import BaseModel, ConfigDict, ValidationError

from agent_console.agents import roles
from agent_console.agents.errors import (
    Conflict,
    ConsoleError,
    Forbidden,
    InvalidInput,
    NotFound,
    Unavailable,
    first_problem,
)
from agent_console.agents.events import EXECUTIVE, HUMAN, CommandRan
from agent_console.agents.journal import JournalUnavailable
from agent_console.agents.tracing import Cause
from agent_console.runtime import crash
from agent_console.terminal.base import BackendError

if TYPE_CHECKING:
    from agent_console.runtime.host import CommandHost

ActorKind = roles.PrincipalKind
Via = Literal["key", "palette", "line", "chat", "cli", "api"]
ERROR_CHARS = 500  # what a journaled failure keeps of its message


class Actor(BaseModel):
    """Who runs a command, and through which front door."""

    model_config = ConfigDict(frozen=True)

    kind: ActorKind
    name: str
    via: Via

    @classmethod
    def human(cls, via: Via) -> Actor:
        return cls(kind="human", name=HUMAN, via=via)

    @classmethod
    def executive(cls, via: Via) -> Actor:
        return cls(kind="executive", name=EXECUTIVE, via=via)

    @classmethod
    def agent(cls, name: str, via: Via) -> Actor:
        return cls(kind="agent", name=name, via=via)

    def __str__(self) -> str:
        return self.name if self.kind == "agent" else f"the {self.kind}"

    @property
    def principal(self) -> roles.Principal:
        return roles.Principal(kind=self.kind, name=self.name)


# --- one error type, of the domain's kinds -----------------------------------------------------------------


class CommandError(ConsoleError):
    """A command was used wrongly, or failed; the message says how to use it, or what failed."""


class InvalidArguments(CommandError, InvalidInput):
    pass


class CommandNotFound(CommandError, NotFound):
    pass


class CommandForbidden(CommandError, Forbidden):
    pass


class CommandConflict(CommandError, Conflict):
    pass


class CommandUnavailable(CommandError, Unavailable):
    pass


# --- arguments -----------------------------------------------------------------------------------------------


class Args(BaseModel):
    """A command's arguments; fields marked `POSITIONAL` (or `REST`) are typed as words, the others as --options."""

    model_config = ConfigDict(extra="forbid")


class _Positional:
    def __init__(self, rest: bool = False) -> None:
        self.rest = rest  # takes every word left, joined by spaces (a message's text)


POSITIONAL = _Positional()
REST = _Positional(rest=True)
NO_ARGS = Args


@dataclass(frozen=True)
class Command:
    """A typed command: `run(supervisor, args, actor)` answers with its result line. Who may run it is its row of
    the permission matrix (`agents/roles.py`); `target` says what a run reaches (the agents or teams it names),
    for the rows that let an agent run it within its team. `asks` marks what cannot be undone (kill, restart, a
    message to everyone): the model executive files such a run in the approval queue instead of running it (True,
    or a test of the arguments)."""

    name: str
    description: str
    run: Callable[[CommandHost, Any, Actor], Awaitable[str]]
    args: type[Args] = Args
    target: Callable[[Any], roles.Target] | None = None
    asks: bool | Callable[[Any], bool] = False

    def asks_human(self, args: Args) -> bool:
        """Whether the model executive must ask the human before running it with `args`."""
        return self.asks(args) if callable(self.asks) else self.asks

    @property
    def usage(self) -> str:
        """How it is typed, e.g. `spawn NAME --team TEAM [--kind KIND] [--command COMMAND]`."""
        return " ".join([self.name, *_usage_words(self.args)])

    def schema(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "usage": self.usage,
            "allowed": roles.allowed_to(self.name),
            "args": self.args.model_json_schema(),
        }


class CommandRegistry:
    """Commands by name, in the order registered; `run` checks permissions, runs and journals."""

    def __init__(self) -> None:
        self._commands: dict[str, Command] = {}

    def register(self, command: Command) -> Command:
        if command.name in self._commands:
            raise ValueError(f"command {command.name!r} is registered twice")
        self._commands[command.name] = command
        return command

    def __iter__(self) -> Iterator[Command]:
        return iter(self._commands.values())

    def __contains__(self, name: str) -> bool:
        return name in self._commands

    def get(self, name: str) -> Command | None:
        return self._commands.get(name)

    def find(self, name: str) -> Command:
        command = self._commands.get(name)
        if command is None:
            names = ", ".join(sorted(self._commands))
            raise CommandNotFound(f"no command {name!r}; commands: {names}")
        return command

    def arguments(self, command: Command, data: Any) -> Args:
        """`data` (a JSON object: an API body) as `command`'s arguments, or InvalidArguments naming the field."""
        if not isinstance(data, dict):
            raise InvalidArguments(f"{command.name}: the arguments must be a JSON object")
        try:
            return command.args.model_validate(data)
        except ValidationError as error:
            raise InvalidArguments(f"{command.name}: {one_line(error)}") from None

    def parse(self, command: Command, words: list[str]) -> Args:
        """Typed words as `command`'s arguments (usage errors name the command and show its usage)."""
        options = argument_parser(command).parse_args(words)
        return self.arguments(command, arguments_from(options, command.args))

    async def run_line(self, supervisor: CommandHost, line: str, actor: Actor) -> str:
        """Run `name args…` as typed at the `:` line or after `/` in the chat."""
        words = split_line(line)
        if not words:
            return ""
        command = self.find(words[0])
        return await self.run(supervisor, command, self.parse(command, words[1:]), actor)

    async def run(
        self, supervisor: CommandHost, command: Command, args: Args, actor: Actor, trace: str | None = None
    ) -> str:
        """Check that `actor` may run `command`, run it, journal the run (in one trace with what the command
        journaled, and in `trace` when given: a conversation's); whatever goes wrong comes back as a ConsoleError
        naming the command (an unexpected error with its traceback kept in a log file)."""
        if trace is not None:  # a conversation's commands nest in its one trace
            with supervisor.traced(trace):
                return await self.run(supervisor, command, args, actor)
        cause = _cause(supervisor, args, actor)
        span = secrets.token_hex(8)  # the command's span: what it journals is its children, its record comes last
        with supervisor.traced(cause.trace, parent=span):
            return await self._run(supervisor, command, args, actor, _Span(cause.trace, span, cause.parent))

    async def _run(self, supervisor: CommandHost, command: Command, args: Args, actor: Actor, span: _Span) -> str:
        target = command.target(args) if command.target is not None else None
        refused = roles.denial(supervisor.org, actor.principal, "command", command.name, target)
        if refused is not None:
            error = CommandForbidden(refused)
            self._journal(supervisor, command, args, actor, error, span)
            raise error
        try:
            said = await command.run(supervisor, args, actor)
        except (BackendError, JournalUnavailable) as error:  # the terminal's or the disk's words: say whose
            failed: CommandError = CommandUnavailable(
                f"{command.name} failed: {getattr(error, 'message', None) or error}"
            )
            self._journal(supervisor, command, args, actor, failed, span)
            raise failed from None
        except ConsoleError as error:
            self._journal(supervisor, command, args, actor, error, span)
            raise
        except Exception as error:
            log = crash.write_log(supervisor.org.name, error)
            failed = CommandError(f"{command.name} failed: {crash.summary(error)} (traceback in {log})")
            self._journal(supervisor, command, args, actor, failed, span)
            raise failed from None
        self._journal(supervisor, command, args, actor, None, span)
        return said

    def _journal(
        self,
        supervisor: CommandHost,
        command: Command,
        args: Args,
        actor: Actor,
        error: ConsoleError | None,
        span: _Span,
    ) -> None:
        data = supervisor.redactor.data(args.model_dump(mode="json", exclude_defaults=True))
        ran = CommandRan(
            name=command.name,
            args=data,
            via=actor.via,
            ok=error is None,
            error=None if error is None else str(error)[:ERROR_CHARS],
        )
        try:
            supervisor.submit(actor.name, ran, trace=span.trace, parent=span.parent, span=span.span)
        except JournalUnavailable:
            if error is None:  # done, but the journal cannot say so: its pause is reported on its own
                raise CommandUnavailable(f"{command.name}: {supervisor.paused}") from None


class _Span(NamedTuple):
    trace: str
    span: str
    parent: str | None


def _cause(supervisor: CommandHost, args: Args, actor: Actor) -> Cause:
    """The trace a command run joins: the ask it decides, the command or chat turn running it, the message the
    agent running it works on; else a trace of its own."""
    asked = getattr(args, "id", None)
    decided = supervisor.causes.decision(asked) if isinstance(asked, str) else None
    joined = decided or supervisor.current_trace() or supervisor.causes.work(actor.name)
    return joined or Cause(secrets.token_hex(8), None)


# --- words → arguments -----------------------------------------------------------------------------------------


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # argparse would exit the whole console
        usage = self.format_usage().strip().removeprefix("usage: ")
        raise InvalidArguments(f"{self.prog}: {message} (usage: {usage})")


def split_line(line: str) -> list[str]:
    try:
        return shlex.split(line)
    except ValueError as error:
        raise InvalidArguments(f"cannot read that line: {error}") from None


@functools.cache
def argument_parser(command: Command) -> argparse.ArgumentParser:
    """The words parser of `command`, built once (parsing leaves it as it was)."""
    parser = _Parser(prog=command.name, usage=command.usage, add_help=False)
    add_arguments(parser, command.args)
    return parser


def add_arguments(parser: argparse.ArgumentParser, model: type[Args], dest_prefix: str = "") -> None:
    """Add `model`'s fields to `parser`: positionals as words, the rest as --options (lists comma-separated)."""
    for name, field in model.model_fields.items():
        marker = next((item for item in field.metadata if isinstance(item, _Positional)), None)
        annotation = _without_none(field.annotation)
        kwargs: dict[str, Any] = {"help": field.description}
        if typing.get_origin(annotation) is Literal:
            kwargs["choices"] = list(typing.get_args(annotation))
        elif isinstance(annotation, type) and issubclass(annotation, Enum):
            kwargs["choices"] = [item.value for item in annotation]
        elif annotation in (int, float):
            kwargs["type"] = annotation
        elif typing.get_origin(annotation) in (list, tuple):
            kwargs["type"] = _comma_list
        metavar = name.upper()
        if marker is not None:
            if marker.rest:
                kwargs["nargs"] = "+" if field.is_required() else "*"
                kwargs["type"] = str
            elif not field.is_required():
                kwargs["nargs"] = "?"
            parser.add_argument(f"{dest_prefix}{name}", metavar=metavar, **kwargs)
            continue
        flag = f"--{name.replace('_', '-')}"
        if annotation is bool:
            parser.add_argument(
                flag, dest=f"{dest_prefix}{name}", action="store_true", default=None, help=field.description
            )
            continue
        if "choices" not in kwargs:
            kwargs["metavar"] = metavar
        parser.add_argument(flag, dest=f"{dest_prefix}{name}", required=field.is_required(), **kwargs)


def arguments_from(options: argparse.Namespace, model: type[Args], dest_prefix: str = "") -> dict[str, Any]:
    """The values `add_arguments` parsed into `options`, by field name (the ones not given left out)."""
    found = {}
    for name, field in model.model_fields.items():
        value = getattr(options, f"{dest_prefix}{name}", None)
        if value is None:
            continue
        if any(isinstance(item, _Positional) and item.rest for item in field.metadata) and isinstance(value, list):
            value = " ".join(value)
        found[name] = value
    return found


def path_fields(model: type[Args]) -> list[str]:
    """Fields holding a file path: a front door in another directory makes them absolute before sending."""
    return [name for name, field in model.model_fields.items() if _without_none(field.annotation) is Path]


def _comma_list(text: str) -> list[str]:
    return [item.strip() for item in text.split(",") if item.strip()]


def _without_none(annotation: Any) -> Any:
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        kept = [item for item in typing.get_args(annotation) if item is not type(None)]
        if len(kept) == 1:
            return kept[0]
    return annotation


def _usage_words(model: type[Args]) -> Iterator[str]:
    for name, field in model.model_fields.items():
        marker = next((item for item in field.metadata if isinstance(item, _Positional)), None)
        annotation = _without_none(field.annotation)
        if marker is not None:
            word = name.upper() + ("…" if marker.rest else "")
            if typing.get_origin(annotation) is Literal and len(typing.get_args(annotation)) == 1:
                word = str(typing.get_args(annotation)[0])
        elif annotation is bool:
            word = f"--{name.replace('_', '-')}"
        else:
            word = f"--{name.replace('_', '-')} {name.upper()}"
        yield word if field.is_required() else f"[{word}]"


def one_line(error: Exception) -> str:
    """What is wrong, in one line: a validation error's first problem with where it is, else the first line."""
    if isinstance(error, ValidationError):
        problem = first_problem(error)
        message = "no such argument" if problem.type == "extra_forbidden" else problem.message
        return f"{problem.where}: {message}" if problem.where else message
    lines = [line for line in str(error).splitlines() if line.strip()]
    return lines[0].strip() if lines else str(error)
