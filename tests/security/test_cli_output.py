"""Every command's output shows agent text as text: `approvals`, `ls`, `replay`, `explain`, `detect`."""

from __future__ import annotations

import io
import json
import unicodedata
from dataclasses import dataclass

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agent_console.agents.kinds import known_kinds
from agent_console.cli import entry as cli
from agent_console.cli import human as human_cli

from .hostile import hostile_events, private_state, write_journal
from .test_console import CORPUS, agent_text

RAW = {"Cc", "Cf", "Cs", "Zl", "Zp"}
CHOICE = "\N{HEAVY RIGHT-POINTING ANGLE QUOTATION MARK ORNAMENT}"


def raw(output: str) -> list[str]:
    return [char for char in output if unicodedata.category(char) in RAW and char != "\n"]


class FakeClient:
    """The control API as a console serving a hostile agent would answer."""

    def __init__(self, texts: list[str]) -> None:
        self.texts = texts

    async def call(self, method: str, path: str, body: object = None, wait: float | None = None) -> dict:
        if path == "/v1/approvals":
            return {
                "approvals": [
                    {"id": f"a{n}", "agent": text[:20], "requested": 1.0, "text": text, "command": text or None}
                    for n, text in enumerate(self.texts)
                ]
            }
        return {"agent": "mallory", "screen": {"request": self.texts}, "report": {"task": self.texts[0]}}


@dataclass
class FakePane:
    """An agent pane as `ls` lists it, its options written by whoever could reach the tmux server."""

    text: str

    def __getattr__(self, name: str) -> object:
        return {"pid": 42, "alive": True}.get(name, self.text)

    def as_json(self) -> dict:
        return {"name": self.text, "command": self.text}


class FakeBackend:
    def __init__(self, *args: object) -> None: ...

    async def attach(self) -> None: ...

    async def close(self) -> None: ...


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    status = cli.main(list(argv))
    out, err = capsys.readouterr()
    assert status in (0, 1), (status, out, err)
    return out + err


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
@given(texts=st.lists(agent_text, min_size=1, max_size=6))
def test_approvals_explain_and_ls_print_agent_text_as_text(
    texts: list[str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(human_cli, "human_client", lambda org: FakeClient(texts))
    monkeypatch.setattr(cli, "TmuxBackend", FakeBackend)

    async def agents(backend: object, org: str | None = None) -> list[FakePane]:
        return [FakePane(text) for text in texts]

    monkeypatch.setattr(cli, "list_agents", agents)
    for argv in (
        ("approvals", "--org", "o"),
        ("approvals", "--json", "--org", "o"),
        ("explain", "mallory", "--org", "o"),
        ("ls",),
        ("ls", "--json"),
    ):
        output = run_cli(capsys, *argv)
        assert raw(output) == [], argv
        if "--json" in argv:
            json.loads(output)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
@given(screen=agent_text, kind=st.sampled_from(known_kinds()))
def test_detect_prints_a_hostile_screen_as_text(
    screen: str, kind: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    prompt = f"Do you want to proceed?\n{screen}\n{CHOICE} 1. Yes\n  2. No\n"  # a prompt around the hostile text
    monkeypatch.setattr("sys.stdin", io.StringIO(prompt))
    output = run_cli(capsys, "detect", "--kind", kind, "-")
    assert raw(output) == []
    json.loads(output)


def test_the_backspace_spoof_lists_the_real_command(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(human_cli, "human_client", lambda org: FakeClient(["rm -rf ~" + "\b" * 8 + "ls -la"]))
    assert "rm -rf ~⌫⌫⌫⌫⌫⌫⌫⌫ls -la" in run_cli(capsys, "approvals", "--org", "o")


def test_replay_of_a_hostile_journal_prints_it_as_text(capsys: pytest.CaptureFixture[str]) -> None:
    with private_state() as root:
        journal = root / "journal.jsonl"
        write_journal(journal, hostile_events(CORPUS))
        output = run_cli(capsys, "replay", str(journal))
    assert raw(output) == []
    state = json.loads(output)
    assert "[/x]" in json.dumps(state, ensure_ascii=False)
