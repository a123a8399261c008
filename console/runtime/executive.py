"""The built-in executive: answers the chat without a model.

`@agent text` messages one agent, `#team text` a team, `/command args` runs a console command from the
one registry; anything else gets a helpful answer.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from agent_console.tui.actions import send_message
from agent_console.tui.commands import CommandError

if TYPE_CHECKING:
    from agent_console.tui.app import ConsoleApp

HELP = (
    "I understand: @agent text (message one agent), #team text (message a team), all text (everyone), "
    "and /commands: {commands}. /help lists the keys too."
)


class BuiltinExecutive:
    name = "executive"

    def __init__(self, app: ConsoleApp) -> None:
        self.app = app

    async def answer(self, text: str) -> str:
        text = text.strip()
        if not text:
            return "Say something: @agent text, #team text, or /help."
        try:
            if text.startswith("/"):
                if text in ("/help", "/?"):
                    self.app.show_help()
                    return self._help()
                return await self.app.commands.run_line(self.app, text[1:]) or "done"
            target, _, body = text.partition(" ")
            if target.startswith(("@", "#")) or target == "all":
                if not body.strip():
                    return f"What should I tell {target}? Write: {target} your message"
                if target.startswith("@") and target[1:] not in self.app.supervisor.state.agents:
                    known = ", ".join(sorted(self.app.supervisor.state.agents)) or "none yet"
                    return f"There is no agent {target[1:]!r} (agents: {known})."
                if target.startswith("#") and target[1:] not in self.app.supervisor.state.teams:
                    known = ", ".join(sorted(self.app.supervisor.state.teams)) or "none yet"
                    return f"There is no team {target[1:]!r} (teams: {known})."
                return send_message(self.app, target, body.strip())
        except CommandError as error:
            return str(error)
        return "I did not understand that. " + self._help()

    def _help(self) -> str:
        return HELP.format(commands=", ".join(f"/{command.name}" for command in self.app.commands))
