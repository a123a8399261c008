"""What the console's commands need of the org they run on: a narrow interface, so that the command registry and
the org's commands depend on it rather than on the `Supervisor` (which builds them, and would make a cycle).

The supervisor satisfies it structurally; `tests/typecheck.py` proves so where it is passed.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Protocol

from agent_console.agents.events import Event
from agent_console.agents.journal import Record
from agent_console.agents.model import Agent, Org
from agent_console.agents.redaction import Redactor
from agent_console.agents.state import OrgState, PendingApproval
from agent_console.agents.tracing import Cause, Causes
from agent_console.runtime.debug_pane import DebugPane
from agent_console.runtime.delivery import OutboxTypist
from agent_console.runtime.deployment import UpReport
from agent_console.runtime.recovery import Recovery


class CommandHost(Protocol):
    """What the command registry and the org's commands read, journal and change."""

    @property
    def org(self) -> Org: ...

    @property
    def spec(self) -> str | None: ...

    @property
    def state(self) -> OrgState: ...

    @property
    def paused(self) -> str | None: ...

    @property
    def redactor(self) -> Redactor: ...

    @property
    def typist(self) -> OutboxTypist: ...

    @property
    def recovery(self) -> Recovery: ...

    @property
    def debug_pane(self) -> DebugPane: ...

    @property
    def causes(self) -> Causes: ...

    def traced(self, trace: str, parent: str | None = None) -> AbstractContextManager[None]: ...

    def current_trace(self) -> Cause | None: ...

    def human_at(self) -> set[str]: ...

    def submit(
        self, actor: str, event: Event, trace: str | None = None, *, parent: str | None = None, span: str | None = None
    ) -> Record: ...

    async def reconfigure(self, org: Org, actor: str = ...) -> UpReport: ...

    def save(self, path: Path, actor: str = ...) -> str: ...

    async def orphans(self) -> dict[str, Agent]: ...

    async def adopt(self, names: list[str] | None, actor: str = ...) -> list[str]: ...

    async def restart_agent(self, name: str) -> str | None: ...

    async def save_arrangement(self, name: str) -> str: ...

    async def restore_arrangement(self, name: str) -> list[str]: ...

    async def arrangement_names(self) -> list[str]: ...

    def request_operation(
        self,
        text: str,
        command: str,
        operation: Callable[[], str] | Callable[[], Awaitable[str]],
        request_id: str | None = None,
    ) -> str: ...

    @property
    def outcomes(self) -> dict[str, str]: ...

    async def decide(
        self, request_id: str, approved: bool, reason: str | None, always: bool = False
    ) -> PendingApproval: ...
