"""The domain's errors: one base, and the few kinds of failure a front door must tell apart.

Each front door maps the kind, never the class: the CLI to an exit status, the control API to an HTTP status
(in `console/cli` and `console/runtime/server.py` only). The message always says what was wrong and where.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from pydantic import ValidationError


class ConsoleError(Exception):
    """Something the user or an agent can act on; its message says what, and where."""

    @property
    def kind(self) -> type[ConsoleError]:
        """The kind a front door maps: the first of `KINDS` this error is (ConsoleError itself when none)."""
        return next((kind for kind in KINDS if isinstance(self, kind)), ConsoleError)


class InvalidInput(ConsoleError):
    """A request, spec, argument or report that is malformed or breaks a rule."""


class NotFound(ConsoleError):
    """It names an agent, team, approval, org or file that is not there."""


class Forbidden(ConsoleError):
    """The actor may not do this."""


class Conflict(ConsoleError):
    """It cannot be done in the state things are in (already decided, already running…)."""


class Unavailable(ConsoleError):
    """Something it needs is down or unreachable: the terminal, the journal, the console."""


KINDS: tuple[type[ConsoleError], ...] = (InvalidInput, NotFound, Forbidden, Conflict, Unavailable)


# --- pydantic's validation errors, in the console's words ---------------------------------------------------


@dataclass(frozen=True, slots=True)
class Problem:
    """The first problem of a validation error: its key path, what is wrong, and how many problems follow."""

    location: tuple[str | int, ...]
    type: str  # pydantic's error type: `missing`, `extra_forbidden`, …
    message: str
    more: int

    @property
    def where(self) -> str:
        return ".".join(str(part) for part in self.location)


def first_problem(error: ValidationError) -> Problem:
    problems = error.errors(include_url=False, include_input=False)
    first = problems[0]
    message = first["msg"].removeprefix("Value error, ")  # a validator's ValueError: its own words
    return Problem(tuple(first["loc"]), first["type"], message, len(problems) - 1)


def describe_validation(
    error: ValidationError, nowhere: str = "", words: Mapping[str, str] | None = None, limit: int | None = None
) -> str:
    """One line for a validation error: `where: what (and N more)`.

    `nowhere` names the place when the problem is at the top level (else just `what`); `words` rewords
    pydantic's message by error type (`{"extra_forbidden": "unknown field"}`); `limit` cuts `where: what`.
    """
    problem = first_problem(error)
    message = (words or {}).get(problem.type, problem.message)
    where = problem.where or nowhere
    text = f"{where}: {message}" if where else message
    if limit is not None and len(text) > limit:
        text = text[: limit - 1] + "…"
    return text + (f" (and {problem.more} more)" if problem.more else "")
