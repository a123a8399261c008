"""The chat's executives: the built-in one, which answers without a model, and the model executive.

`@agent text` messages one agent, `#team text` a team, `/command args` runs a console command from the
one registry: the built-in executive does these, always, model or not. Anything else goes to the model when one
is configured (`runtime/model_settings.py`), its reply streamed into the chat; Escape stops it. Without a model,
the built-in executive says how to enable one. When the org's spec has an exec agent (`role = "exec"`), plain
words go to that agent program instead (`runtime/exec_agent.py`), model or not: the spec chose it.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

from textual.worker import Worker

from agent_console.agents.errors import ConsoleError
from agent_console.runtime import crash
from agent_console.runtime.model_executive import ModelExecutive
from agent_console.runtime.model_settings import HOW_TO, Disabled, SettingsError, resolve
from agent_console.runtime.models import provider_for
from agent_console.tui.commands import CommandScreen, ConsoleCommands

if TYPE_CHECKING:
    from textual.app import App

    from agent_console.runtime.supervisor import Supervisor
    from agent_console.widgets.chat import ChatPanel


class ChatScreen(CommandScreen, Protocol):
    """What the executive needs of the app: the console's commands, to route the chat to, and the supervisor (whose
    exec agent, when the org has one, is whom plain words are for)."""

    @property
    def commands(self) -> ConsoleCommands: ...

    @property
    def supervisor(self) -> Supervisor: ...


HELP = (
    "I understand: @agent text (message one agent), #team text (message a team), all text (everyone), "
    "and /commands: {commands}. /help lists the keys too."
)


class BuiltinExecutive:
    name = "executive"

    def __init__(self, app: ChatScreen) -> None:
        self.app = app
        self.model_hint = HOW_TO  # said with "I did not understand": how to let a model answer

    async def answer(self, text: str) -> str:
        text = text.strip()
        if not text:
            return "Say something: @agent text, #team text, or /help."
        commands = self.app.commands
        try:
            if text.startswith("/"):
                if text in ("/help", "/?"):
                    self.app.show_help()
                    return self._help()
                # typed by the human: the human runs it, through the chat; this executive only routes it
                return await commands.run_line(self.app, text[1:], "chat") or "done"
            target, _, body = text.partition(" ")
            if target.startswith(("@", "#")) or target == "all":
                if not body.strip():
                    return f"What should I tell {target}? Write: {target} your message"
                return await commands.run(self.app, "send", [target, body.strip()], "chat") or "done"
            exec_agent = self.app.supervisor.exec_relay.agent
            if exec_agent is not None:  # the org's exec is a real agent program: it answers (see exec_agent.py)
                said = await commands.run(self.app, "send", [f"@{exec_agent}", text], "chat") or "done"
                return f"to {exec_agent}, the exec ({said}); its replies show here"
        except ConsoleError as error:
            return str(error)
        return "I did not understand that. " + self._help() + " " + self.model_hint

    def _help(self) -> str:
        return HELP.format(commands=", ".join(f"/{command.name}" for command in self.app.commands))


def for_builtin(text: str) -> bool:
    """The chat lines the built-in executive answers even with a model: they never need one."""
    text = text.strip()
    return text.startswith(("/", "@", "#")) or text.split(" ", 1)[0] == "all"


class _Lines:
    """An exchange, as the chat shows it: the model's text streams in; the console's notes are lines between."""

    def __init__(self, chat: ChatPanel, speaker: str, redact: Callable[[str], str]) -> None:
        self.chat = chat
        self.speaker = speaker
        self.redact = redact  # the model may echo a secret (its key, a token read off a screen): never shown
        self.text: list[str] = []
        self.open = True  # the exchange goes on (a call finished after Escape is said, with no reply to follow)

    def reply(self, piece: str) -> None:
        self.text.append(piece)
        self.chat.stream(self.redact("".join(self.text)))

    def note(self, text: str) -> None:
        if not self.open:
            self.chat.add_line("console", self.redact(text))
            return
        self.chat.end_reply()
        self.chat.add_line("console", self.redact(text))
        self.text = []
        self.chat.begin_reply(self.speaker)


class ModelChat:
    """The model executive in the chat: one reply at a time, in a worker that Escape cancels."""

    def __init__(self, app: App, chat: ChatPanel, model: ModelExecutive | None, said: str | None) -> None:
        self.app = app
        self.chat = chat
        self.model = model
        self.said = said  # what the chat says of the model when the console starts, if anything
        self.worker: Worker[None] | None = None

    @classmethod
    def start(cls, app: App, supervisor: Supervisor, chat: ChatPanel, builtin: BuiltinExecutive) -> ModelChat:
        """The model executive the settings ask for, or None and why (a wrong setting is said, not raised)."""
        try:
            found = resolve(supervisor.spec, os.environ)
        except SettingsError as error:
            builtin.model_hint = f"The model executive is off: {error}"
            return cls(app, chat, None, builtin.model_hint)
        if isinstance(found, Disabled):
            builtin.model_hint = found.why
            return cls(app, chat, None, None if found.why == HOW_TO else found.why)
        if found.key:
            supervisor.redactor.add_literals([found.key])  # an echo of the key is masked wherever it is shown
        model = ModelExecutive(supervisor, provider_for(found.settings, found.key), found.settings)
        said = f"Plain English goes to {found.settings.describe()}; Esc stops a reply."
        return cls(app, chat, model, said)

    def takes(self, text: str) -> bool:
        if self.model is None or for_builtin(text):
            return False
        return self.model.supervisor.exec_relay.agent is None  # an exec agent in the spec answers instead

    @property
    def busy(self) -> bool:
        return self.worker is not None and self.worker.is_running

    def ask(self, text: str) -> None:
        if self.busy:
            self.chat.add_line("console", "the executive is still answering: wait, or press Esc to stop it")
            return
        self.worker = self.app.run_worker(self._converse(text), group="model-executive", exit_on_error=False)

    def stop(self) -> bool:
        """Escape: stop the reply streaming in (its request is cancelled); whether there was one."""
        if not self.busy or self.worker is None:
            return False
        self.worker.cancel()
        return True

    async def close(self) -> None:
        if self.model is not None:
            await self.model.provider.close()

    async def _converse(self, text: str) -> None:
        assert self.model is not None
        chat, name = self.chat, self.model.name
        chat.begin_reply(name)
        lines = _Lines(chat, name, self.model.supervisor.redactor.text)
        try:
            await self.model.converse(text, lines)
        except asyncio.CancelledError:
            chat.end_reply(" [stopped]")
            chat.add_line("console", "stopped (Esc): the model's reply was cancelled")
            raise
        except ConsoleError as error:
            chat.end_reply()
            chat.add_line("console", f"{error}. The built-in executive still answers @agent, #team and /commands.")
        except Exception as error:  # a fault of the console's own: kept in a log, said in one line
            log = crash.write_log(self.model.supervisor.org.name, error)
            chat.end_reply()
            chat.add_line("console", f"the executive failed: {crash.summary(error)} (traceback in {log})")
        else:
            chat.end_reply()
        finally:
            lines.open = False
