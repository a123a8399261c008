"""One command registry for every front door: key bindings, the command palette, the `:` line, chat
slash-commands (and, later, the control API and an LLM executive's tools)."""

from __future__ import annotations

import shlex
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from agent_console.runtime import crash
from agent_console.terminal.base import BackendError

if TYPE_CHECKING:
    from agent_console.tui.app import ConsoleApp

Runner = Callable[["ConsoleApp", list[str]], Awaitable[str | None]]


class CommandError(Exception):
    """A command was used wrongly, or failed; the message says how to use it, or what failed."""


@dataclass(frozen=True)
class Command:
    name: str
    description: str
    run: Runner
    usage: str = ""
    key: str | None = None  # a key binding, when the command has one
    key_label: str | None = None  # what the footer shows for it


class CommandRegistry:
    """Commands by name, in the order registered."""

    def __init__(self) -> None:
        self._commands: dict[str, Command] = {}

    def register(self, command: Command) -> Command:
        if command.name in self._commands:
            raise ValueError(f"command {command.name!r} is registered twice")
        self._commands[command.name] = command
        return command

    def __iter__(self):
        return iter(self._commands.values())

    def get(self, name: str) -> Command | None:
        return self._commands.get(name)

    async def run_line(self, app: ConsoleApp, line: str) -> str | None:
        """Run `name args…` as typed at the `:` line or after `/` in the chat."""
        try:
            words = shlex.split(line)
        except ValueError as error:
            raise CommandError(f"cannot read that line: {error}") from None
        if not words:
            return None
        command = self.get(words[0])
        if command is None:
            names = ", ".join(sorted(self._commands))
            raise CommandError(f"no command {words[0]!r}; commands: {names}")
        return await self.run(app, command, words[1:])

    async def run(self, app: ConsoleApp, command: Command, args: list[str]) -> str | None:
        """Run `command`; whatever goes wrong comes back as one CommandError naming the command (the
        console stays up), an unexpected error with its traceback kept in a log file."""
        try:
            return await command.run(app, args)
        except CommandError:
            raise
        except BackendError as error:
            raise CommandError(f"{command.name} failed: {error}") from None
        except Exception as error:
            log = crash.write_log(app.supervisor.org.name, error)
            raise CommandError(f"{command.name} failed: {crash.summary(error)} (traceback in {log})") from None
