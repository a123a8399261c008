"""Promotion, demotion and arrangements attempted by every role, for real, against a served org (the supervisor on
the in-memory terminal, its real control server): an agent cannot raise itself or others, nor move the human's
windows (whatever name it gives, a path included); the exec, the human and the executive can give roles, and the
new role's rights apply at once. The org is tests/security/test_roles.py's."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent_console.agents import roles
from agent_console.agents.errors import Forbidden
from agent_console.agents.events import EXECUTIVE, HUMAN
from agent_console.agents.model import Role
from agent_console.runtime.supervisor import Supervisor

from .test_roles import DENIED, OK, actor, attempt, denials, org, snapshot

__all__ = ["org"]  # the fixture, shared

CASES = [
    ("w1", "promote w1", DENIED),  # raising itself
    ("w1", "promote w2", DENIED),
    ("w1", "demote lead", DENIED),
    ("lead", "promote w1", DENIED),  # a coordinator raises nobody to its rank
    ("lead", "demote lead", DENIED),
    ("dl", "demote lead", DENIED),
    ("boss", "promote boss", DENIED),  # acting on an agent of its own rank
    ("boss", "promote w1", OK),
    ("boss", "demote dl", OK),
    (HUMAN, "promote w3", OK),
    (EXECUTIVE, "demote lead", OK),
    *[(who, "arrangement save ../../escape", DENIED) for who in ("boss", "lead", "w1")],
    *[(who, "arrangement load mine", DENIED) for who in ("boss", "lead", "w1")],
    *[(who, "arrangement list", DENIED) for who in ("boss", "lead", "w1")],
    (HUMAN, "arrangement save mine", OK),
    (EXECUTIVE, "arrangement list", OK),
]


@pytest.mark.parametrize(("who", "line", "expected"), CASES, ids=[f"{c[0]}:{c[1]}" for c in CASES])
async def test_each_role_promotes_demotes_and_arranges_as_its_row_says(
    org: Supervisor, tmp_path: Path, who: str, line: str, expected: str
) -> None:
    supervisor = org
    before, journaled = snapshot(supervisor), len(denials(supervisor))
    if expected == DENIED:
        with pytest.raises(Forbidden) as refused:
            await supervisor.commands.run_line(supervisor, line, actor(who))
        assert str(refused.value).startswith(roles.describe(supervisor.org, actor(who).principal) + " may ")
        assert snapshot(supervisor) == before, f"{who} changed the org with `{line}`"
        assert not list(tmp_path.rglob("*escape*")) and supervisor.backend.arrangements == {}  # type: ignore[attr-defined]
        assert len(denials(supervisor)) == journaled + 1
        return
    assert await supervisor.commands.run_line(supervisor, line, actor(who))
    assert denials(supervisor)[journaled:] == []


async def test_a_worker_cannot_promote_itself_through_the_api_and_a_promotion_gives_its_rights_at_once(
    org: Supervisor,
) -> None:
    supervisor = org
    before = snapshot(supervisor)
    status, said = await attempt(supervisor, "w1", "POST", "/v1/commands/promote", {"name": "w1"})
    assert status == 403 and "worker w1 may not run promote" in said
    assert snapshot(supervisor) == before and supervisor.org.agent("w1").role is Role.WORKER
    status, said = await attempt(supervisor, "w1", "POST", "/v1/commands/restart", {"name": "w2"})
    assert status == 403 and "worker w1 may not run restart" in said

    status, said = await attempt(supervisor, "boss", "POST", "/v1/commands/promote", {"name": "w1"})
    assert status == 200 and "lead (its coordinator until now) is a worker again" in str(said)
    assert supervisor.org.agent("w1").role is Role.COORDINATOR and supervisor.org.agent("lead").role is Role.WORKER
    status, said = await attempt(supervisor, "w1", "POST", "/v1/commands/restart", {"name": "w2"})
    assert status == 200 and "restarted w2" in str(said)
    status, said = await attempt(supervisor, "lead", "POST", "/v1/commands/restart", {"name": "w2"})
    assert status == 403 and "worker lead may not run restart" in said
