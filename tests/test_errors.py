"""Every domain error is a ConsoleError of one kind; the CLI's exit status follows the kind; validation errors
read the same wherever they are shown."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, ConfigDict, ValidationError

from agent_console.agents.errors import (
    Conflict,
    ConsoleError,
    Forbidden,
    InvalidInput,
    NotFound,
    Unavailable,
    describe_validation,
    first_problem,
)
from agent_console.agents.journal import JournalError, JournalUnavailable
from agent_console.agents.kinds import KindError
from agent_console.agents.kinds.hooks import HookError
from agent_console.agents.model import OrgError
from agent_console.agents.protocol import ProtocolError
from agent_console.agents.spec import SpecError
from agent_console.cli.entry import UsageError
from agent_console.cli.exits import EXIT_FAILED, EXIT_USAGE, exit_status
from agent_console.cli.human import HumanCommandError
from agent_console.runtime.client import ControlRefused, ControlUnreachable
from agent_console.runtime.paths import StateError
from agent_console.runtime.server import status_of
from agent_console.terminal.base import BackendError, BackendGone
from agent_console.terminal.tmux_control import TmuxCommandError


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        (SpecError("org.toml", "agent[0].team", "no such team"), InvalidInput),
        (UsageError("--size 1x1: too small"), InvalidInput),
        (KindError("unknown agent kind 'x'"), InvalidInput),
        (HookError("not JSON"), InvalidInput),
        (OrgError(("agent", 0, "team"), "no such team"), InvalidInput),
        (ProtocolError("unknown event type"), InvalidInput),
        (HumanCommandError("no journal at /x"), NotFound),
        (StateError("/x does not exist"), Unavailable),
        (JournalError("cannot write to the journal"), Unavailable),
        (JournalUnavailable("disk full"), Unavailable),
        (ControlUnreachable("no console"), Unavailable),
        (BackendError("tmux said no"), Unavailable),
        (BackendGone("tmux went away"), Unavailable),
        (TmuxCommandError("kill-pane", "can't find pane"), Unavailable),
        (ControlRefused(422, "body: unknown field"), InvalidInput),
        (ControlRefused(403, "only the human token may do this"), Forbidden),
        (ControlRefused(404, "no approval a1"), NotFound),
        (ControlRefused(409, "already decided"), Conflict),
        (ControlRefused(500, "internal error"), ConsoleError),
    ],
)
def test_each_domain_error_has_its_kind(error: ConsoleError, kind: type[ConsoleError]) -> None:
    assert isinstance(error, ConsoleError)
    assert error.kind is kind


def test_the_api_answers_a_full_journal_with_507_and_other_unavailability_with_503() -> None:
    assert status_of(JournalUnavailable("disk full")) == 507
    assert status_of(JournalError("cannot write to the journal")) == 503


def test_errors_that_were_value_errors_still_are() -> None:
    assert issubclass(HookError, ValueError)
    assert issubclass(OrgError, ValueError)
    assert issubclass(ProtocolError, ValueError)


def test_the_exit_status_follows_the_kind() -> None:
    assert exit_status(SpecError("org.toml", "", "not TOML")) == EXIT_USAGE
    assert exit_status(ControlRefused(400, "bad")) == EXIT_USAGE
    assert exit_status(BackendGone("gone")) == EXIT_FAILED
    assert exit_status(HumanCommandError("no org")) == EXIT_FAILED
    assert exit_status(ControlRefused(500, "internal error")) == EXIT_FAILED


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    size: int


def _error(data: object) -> ValidationError:
    with pytest.raises(ValidationError) as caught:
        _Strict.model_validate(data)
    return caught.value


def test_a_validation_error_reads_where_what_and_how_many_more() -> None:
    error = _error({"size": "big", "colour": 1})
    assert describe_validation(error) == "name: Field required (and 2 more)"
    problem = first_problem(error)
    assert (problem.where, problem.type, problem.more) == ("name", "missing", 2)


def test_a_validation_error_is_reworded_named_at_the_top_and_cut() -> None:
    assert describe_validation(_error({"name": "a", "size": 1, "x": 1}), words={"extra_forbidden": "unknown"}) == (
        "x: unknown"
    )
    assert describe_validation(_error([]), nowhere="body").startswith("body: ")
    long = describe_validation(_error({"name": "a", "size": "x" * 500}), limit=40)
    assert len(long) == 40 and long.endswith("…")
