"""The exit status of each kind of error, for every command of the CLI (one table, one place)."""

from __future__ import annotations

from agent_console.agents.errors import Conflict, ConsoleError, Forbidden, InvalidInput, NotFound, Unavailable

EXIT_FAILED = 1
EXIT_USAGE = 2  # what was asked is wrong: the command line, a spec, a kind file
EXIT_FORBIDDEN = 4  # not allowed: the same status from every command (the org's verbs, the agents', the human's)

EXIT_STATUS: dict[type[ConsoleError], int] = {
    InvalidInput: EXIT_USAGE,
    NotFound: EXIT_FAILED,
    Forbidden: EXIT_FORBIDDEN,
    Conflict: EXIT_FAILED,
    Unavailable: EXIT_FAILED,
}


def exit_status(error: ConsoleError) -> int:
    return EXIT_STATUS.get(error.kind, EXIT_FAILED)


# The org's commands (`agent-console spawn …`) tell every kind apart: scripts branch on them.
COMMAND_EXIT_STATUS: dict[type[ConsoleError], int] = {
    InvalidInput: EXIT_USAGE,
    NotFound: 3,
    Forbidden: EXIT_FORBIDDEN,
    Conflict: 5,
    Unavailable: 6,
}
COMMAND_EXITS_HELP = (
    "exit status: 0 done, 2 invalid arguments, 3 not found, 4 not allowed, 5 conflict, 6 console unavailable"
)


def command_exit_status(error: ConsoleError) -> int:
    return COMMAND_EXIT_STATUS.get(error.kind, EXIT_FAILED)
