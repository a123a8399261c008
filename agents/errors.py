"""The domain's errors: one base, and the few kinds of failure a front door must tell apart.

Each front door maps the kind, never the class: the CLI to an exit status, the control API to an HTTP status
(in `console/cli` and `console/runtime/server.py` only). The message always says what was wrong and where.
"""

from __future__ import annotations


class ConsoleError(Exception):
    """Something the user or an agent can act on; its message says what, and where."""


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
