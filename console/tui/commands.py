"""The console's commands: the org's (the runtime's one registry, run as the human) and, on top, the screen's
own (details, help, theme, view, the `:` line, jump, trace), which only keys, the palette, the `:` line and
chat `/…` offer — never the command line nor the control API."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from agent_console.agents.errors import ConsoleError
from agent_console.agents.events import AgentState
from agent_console.agents.spans import FAILED, TraceFilter
from agent_console.runtime import crash
from agent_console.runtime.commands import (
    Actor,
    CommandError,
    CommandNotFound,
    CommandRegistry,
    CommandUnavailable,
    InvalidArguments,
    Via,
    split_line,
)
from agent_console.runtime.host import CommandHost
from agent_console.runtime.org_commands import one_agent
from agent_console.terminal.base import BackendError
from agent_console.widgets.approval_queue import ApprovalQueue


class CommandScreen(Protocol):
    """What the console's commands need of the app: the supervisor they run on, and the screen they move."""

    @property
    def supervisor(self) -> CommandHost: ...

    @property
    def queue_view(self) -> ApprovalQueue: ...

    def show_details(self) -> None: ...

    def show_help(self) -> None: ...

    def toggle_theme(self) -> str: ...

    def next_view(self) -> None: ...

    def toggle_preview(self) -> str | None: ...

    def open_command_line(self) -> None: ...

    def filter_trace(self, agent: str | None) -> None: ...

    def filter_trace_by(self, wanted: TraceFilter) -> None: ...

    async def jump_to(self, agent: str) -> None: ...

    def refresh_views(self) -> None: ...

    def show_diff(self, agent: str, diff: str) -> None: ...

    def show_replay(self, moment: str | None) -> None: ...


UiRunner = Callable[[CommandScreen, list[str]], Awaitable[str | None]]

# Key bindings: command → (key, what the footer shows).
KEYS = {
    "approve": ("y", "approve"),
    "deny": ("n", "deny"),
    "approve-identical": ("A", "approve all like it"),
    "details": ("d", "details"),
    "help": ("question_mark", "help"),
    "theme": ("t", "theme"),
    "view": ("v", "view"),
    "preview": ("p", "preview"),
    "command": ("colon", "command"),
}
# Commands on a request that take the one selected in the queue when none is named.
ON_SELECTED_REQUEST = frozenset({"approve", "deny", "approve-always", "approve-identical"})
# How the palette and the help list them: the keys' commands first.
ORDER = (
    "approve",
    "deny",
    "approve-identical",
    "approve-always",
    "details",
    "help",
    "theme",
    "view",
    "preview",
    "command",
    "status",
    "spawn",
    "team",
    "kill",
    "restart",
    "save",
    "adopt",
    "barrier",
    "jump",
    "send",
    "outbox",
    "diff",
    "merge",
    "discard",
    "trace",
    "replay",
)


@dataclass(frozen=True)
class UiCommand:
    """A command of the screen itself; `run(app, words)`."""

    name: str
    description: str
    run: UiRunner
    usage: str = ""


@dataclass(frozen=True)
class Listed:
    """A command as the palette, the help and the footer show it."""

    name: str
    description: str
    usage: str
    asks: bool  # the palette asks for its arguments first
    key: str | None = None
    key_label: str | None = None


async def _details(app: CommandScreen, words: list[str]) -> str | None:
    app.show_details()
    return None


async def _help(app: CommandScreen, words: list[str]) -> str | None:
    app.show_help()
    return None


async def _theme(app: CommandScreen, words: list[str]) -> str | None:
    return app.toggle_theme()


async def _view(app: CommandScreen, words: list[str]) -> str | None:
    app.next_view()
    return None


async def _preview(app: CommandScreen, words: list[str]) -> str | None:
    return app.toggle_preview()


async def _command_line(app: CommandScreen, words: list[str]) -> str | None:
    app.open_command_line()
    return None


async def _trace(app: CommandScreen, words: list[str]) -> str | None:
    if not words or words == ["all"]:
        app.filter_trace(None)
        return "trace: every agent"
    if len(words) == 1 and "=" not in words[0] and not words[0].startswith("/"):
        name = one_agent(app.supervisor, "trace", words[0])
        app.filter_trace(name)
        return f"trace: what concerns {name}"
    wanted, said = trace_filter(app.supervisor, words)
    app.filter_trace_by(wanted)
    return f"trace: {said}"


TRACE_USAGE = "trace [NAME|all|follow], or any of: agent=NAME team=TEAM state=STATE since=HH:MM until=HH:MM /TEXT"
TRACE_STATES = (*(state.value for state in AgentState), FAILED)


def trace_filter(supervisor: CommandHost, words: list[str], now: datetime | None = None) -> tuple[TraceFilter, str]:
    """The filter `trace key=value… /text` asks for, and how to say it; `InvalidArguments` names a wrong word."""
    agents: set[str] | None = None
    given: dict[str, str] = {}
    for index, word in enumerate(words):
        if word.startswith("/"):
            given["text"] = " ".join([word[1:], *words[index + 1 :]]).strip()
            break
        key, equals, value = word.partition("=")
        if not equals or not value or key not in ("agent", "team", "state", "since", "until", "find"):
            raise InvalidArguments(f"trace: {word!r} is not agent=, team=, state=, since=, until= or /TEXT")
        if key == "agent":
            agents = (agents or set()) | {one_agent(supervisor, "trace", value)}
        elif key == "team":
            members = supervisor.state.team_agents(value)
            if value not in supervisor.state.teams:
                raise CommandNotFound(f"trace: no team {value!r}")
            agents = (agents or set()) | set(members)
        elif key == "state" and value not in TRACE_STATES:
            raise InvalidArguments(f"trace: state {value!r} is not one of {', '.join(TRACE_STATES)}")
        given["text" if key == "find" else key] = value
    moment = now or datetime.now().astimezone()
    wanted = TraceFilter(
        agents=frozenset(agents) if agents is not None else None,
        state=given.get("state"),
        since=_clock("since", given["since"], moment) if "since" in given else None,
        until=_clock("until", given["until"], moment) if "until" in given else None,
        text=given.get("text") or None,
    )
    return wanted, " ".join(words)


def _clock(key: str, value: str, now: datetime) -> float:
    """HH:MM[:SS] today (yesterday when that is still to come), as epoch seconds."""
    try:
        parts = [int(part) for part in value.split(":")]
        if len(parts) not in (2, 3):
            raise ValueError
        moment = now.replace(hour=parts[0], minute=parts[1], second=parts[2] if len(parts) == 3 else 0, microsecond=0)
    except ValueError:
        raise InvalidArguments(f"trace: {key}={value!r} is not a time of day (HH:MM or HH:MM:SS)") from None
    if moment > now:
        moment -= timedelta(days=1)
    return moment.timestamp()


async def _replay(app: CommandScreen, words: list[str]) -> str | None:
    app.show_replay(" ".join(words) or None)
    return None


async def _jump(app: CommandScreen, words: list[str]) -> str | None:
    await app.jump_to(one_agent(app.supervisor, "jump", _one_word("jump", words)))
    return None


def _one_word(command: str, words: list[str]) -> str:
    if len(words) != 1:
        raise InvalidArguments(f"{command}: name one agent ({command} NAME)")
    return words[0]


UI_COMMANDS = (
    UiCommand("details", "show the selected request in full", _details),
    UiCommand("help", "list every key binding and command", _help),
    UiCommand("theme", "switch between the dark and the light theme", _theme),
    UiCommand("view", "show the next view: health, org, chat, trace", _view),
    UiCommand("preview", "show or hide the selected agent's screen, live", _preview),
    UiCommand("command", "open the : command line", _command_line),
    UiCommand("jump", "focus an agent's pane", _jump, usage="jump NAME"),
    UiCommand("trace", "show the traces of an agent, a team, a state, a time or a text", _trace, usage=TRACE_USAGE),
    UiCommand("replay", "step through the org's journal, read-only, from a moment", _replay, usage="replay [TIME]"),
)


class ConsoleCommands:
    """The org's registry plus the screen's commands, run for the human through one front door (`via`)."""

    def __init__(self, org: CommandRegistry) -> None:
        self.org = org
        self.ui = {command.name: command for command in UI_COMMANDS}

    def __iter__(self) -> Iterator[Listed]:
        names = [*ORDER, *(name for name in (*self.ui, *(c.name for c in self.org)) if name not in ORDER)]
        for name in names:
            listed = self.listed(name)
            if listed is not None:
                yield listed

    def listed(self, name: str) -> Listed | None:
        key, label = KEYS.get(name, (None, None))
        ui = self.ui.get(name)
        if ui is not None:
            return Listed(name, ui.description, ui.usage, asks=bool(ui.usage), key=key, key_label=label)
        command = self.org.get(name)
        if command is None:
            return None
        asks = bool(command.args.model_fields) and name not in ON_SELECTED_REQUEST
        return Listed(name, command.description, command.usage if asks else "", asks, key=key, key_label=label)

    def names(self) -> list[str]:
        return sorted({*self.ui, *(command.name for command in self.org)})

    async def run_line(self, app: CommandScreen, line: str, via: Via) -> str | None:
        """Run `name args…` as typed at the `:` line or after `/` in the chat."""
        words = split_line(line)
        if not words:
            return None
        return await self.run(app, words[0], words[1:], via)

    async def run(self, app: CommandScreen, name: str, words: list[str], via: Via) -> str | None:
        if name == "trace" and words == ["follow"]:
            name, words = "trace-follow", []  # the org's command: the journal streamed into a pane of its own
        ui = self.ui.get(name)
        if ui is not None:
            return await self._run_ui(app, ui, words)
        command = self.org.get(name)
        if command is None:
            raise CommandNotFound(f"no command {name!r}; commands: {', '.join(self.names())}")
        if name in ON_SELECTED_REQUEST and (not words or words[0].startswith("-")):
            selected = app.queue_view.selected_id
            if selected is None:
                return "no pending request"
            words = [selected, *words]
        args = self.org.parse(command, words)
        said = await self.org.run(app.supervisor, command, args, Actor.human(via))
        if name == "diff":  # the console shows a diff in a dialog, not as a line
            app.show_diff(str(getattr(args, "name", "")).removeprefix("@"), said)
            return None
        if name in ON_SELECTED_REQUEST:
            app.refresh_views()  # the queue moves on at once: the next key acts on the next request
        return said or None

    async def _run_ui(self, app: CommandScreen, command: UiCommand, words: list[str]) -> str | None:
        """Whatever goes wrong comes back as one error naming the command (the console stays up), an
        unexpected error with its traceback kept in a log file."""
        try:
            return await command.run(app, words)
        except BackendError as error:  # the terminal's words: say whose
            raise CommandUnavailable(f"{command.name} failed: {error}") from None
        except ConsoleError:
            raise
        except Exception as error:
            log = crash.write_log(app.supervisor.org.name, error)
            raise CommandError(f"{command.name} failed: {crash.summary(error)} (traceback in {log})") from None
