"""The org's commands on the command line: one verb per command of the registry (`agent-console spawn w1 --team t`),
its options built from the command's arguments, run by the org's console (`POST /v1/commands/NAME`) as the human,
or, in an agent's pane, as that agent (its token: the permission matrix says what it may run)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from agent_console.agents.display import visible
from agent_console.agents.errors import Unavailable
from agent_console.cli import human as human_cli
from agent_console.cli.exits import COMMAND_EXIT_STATUS, COMMAND_EXITS_HELP, command_exit_status
from agent_console.runtime import paths
from agent_console.runtime.client import ControlRefused, ControlUnreachable
from agent_console.runtime.commands import Command, add_arguments, arguments_from, path_fields
from agent_console.runtime.org_commands import org_commands
from agent_console.runtime.server import VIA_HEADER

# Verbs that already mean something else here: the agents' `send` and `barrier wait`, and the human's
# `approve ID`/`deny ID` (kept as they were; they run the same commands: see `human.py`).
TAKEN = frozenset({"send", "barrier", "approve", "deny"})
DEST = "arg_"  # the arguments' own names (e.g. --command) must not clash with the parser's


def add_parsers(commands: argparse._SubParsersAction) -> None:
    for command in org_commands():
        if command.name in TAKEN:
            continue
        parser = commands.add_parser(
            command.name,
            help=f"{command.description} (in the served org)",
            description=f"{command.description[:1].upper()}{command.description[1:]}: run by the console serving "
            "the org, as the human (in an agent's pane: as that agent, within its role). The same command as in the "
            "console (`:` line, chat /, palette).",
            epilog=COMMAND_EXITS_HELP,
        )
        add_arguments(parser, command.args, DEST)
        parser.add_argument("--org", metavar="NAME", help="the org (default: the only one served)")
        parser.set_defaults(func=run, org_command=command)


async def run(args: argparse.Namespace) -> int:
    command: Command = args.org_command
    data = arguments_from(args, command.args, DEST)
    for name in path_fields(command.args):
        if name in data:
            data[name] = str(Path(data[name]).expanduser().absolute())  # the console runs elsewhere
    return await call(args.org, command.name, data)


async def call(org: str | None, name: str, data: dict) -> int:
    """Run command `name` in the served org; print its result, or what was wrong (exit status by its kind)."""
    try:
        client = human_cli.console_client(org)
        answer = await client.call("POST", f"/v1/commands/{name}", data, headers={VIA_HEADER: "cli"})
    except ControlRefused as error:
        _error(error.message)
        return command_exit_status(error)
    except (ControlUnreachable, human_cli.HumanCommandError, paths.StateError) as error:
        _error(str(error))
        return COMMAND_EXIT_STATUS[Unavailable]
    print(visible(answer.get("result") or "done", multiline=True))
    return 0


def _error(message: str) -> None:
    print(f"agent-console: error: {visible(message, multiline=True)}", file=sys.stderr)
