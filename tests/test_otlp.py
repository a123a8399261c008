"""The OTLP export's start: nothing without an endpoint, one clear notice when the extra is missing."""

from __future__ import annotations

import pytest

from agent_console.agents.model import Observability, Org
from agent_console.runtime import otlp


def test_without_an_endpoint_nothing_starts() -> None:
    listeners: list = []
    notices: list[str] = []
    assert otlp.start(lambda: Org(name="plain"), listeners, notices) is None
    assert listeners == [] and notices == []


def test_an_endpoint_without_the_extra_is_said_once_and_the_console_goes_on(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(otlp, "available", lambda: False)
    org = Org(name="watched", observability=Observability(otlp_endpoint="http://127.0.0.1:4318"))
    listeners: list = []
    notices: list[str] = []
    assert otlp.start(lambda: org, listeners, notices) is None
    assert listeners == []
    assert notices == [otlp.MISSING] and "pip install 'agent-console[otel]'" in notices[0] and "\n" not in notices[0]


def test_journal_ids_become_opentelemetry_ids() -> None:
    assert otlp._id("0123456789abcdef", 64) == 0x0123456789ABCDEF
    assert otlp._id("f" * 32, 128) == int("f" * 32, 16)
    assert 0 < otlp._id("not hex", 64) < 1 << 64  # a test's hand-made id: hashed, never zero
    assert otlp._id("0" * 16, 64) != 0
