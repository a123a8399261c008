"""The exit status of each kind of error, for every command of the CLI (one table, one place)."""

from __future__ import annotations

from agent_console.agents.errors import Conflict, ConsoleError, Forbidden, InvalidInput, NotFound, Unavailable

EXIT_FAILED = 1
EXIT_USAGE = 2  # what was asked is wrong: the command line, a spec, a kind file

EXIT_STATUS: dict[type[ConsoleError], int] = {
    InvalidInput: EXIT_USAGE,
    NotFound: EXIT_FAILED,
    Forbidden: EXIT_FAILED,
    Conflict: EXIT_FAILED,
    Unavailable: EXIT_FAILED,
}


def exit_status(error: ConsoleError) -> int:
    return EXIT_STATUS.get(error.kind, EXIT_FAILED)
