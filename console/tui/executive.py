"""The built-in executive: answers the chat without a model.

`@agent text` messages one agent, `#team text` a team, `/command args` runs a console command from the
one registry; anything else goes to the org's exec agent when its spec has one (`role = "exec"`), or gets a
helpful answer.
"""

from __future__ import annotations

from typing import Protocol

from agent_console.agents.errors import ConsoleError
from agent_console.runtime.supervisor import Supervisor
from agent_console.tui.commands import CommandScreen, ConsoleCommands


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
        return "I did not understand that. " + self._help()

    def _help(self) -> str:
        return HELP.format(commands=", ".join(f"/{command.name}" for command in self.app.commands))
