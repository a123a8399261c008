"""Secrets never stored or shown: generated fake credentials through the redaction pass and through every
path an agent has into the console (status, ask, message, hook payload, a prompt on its screen)."""

from __future__ import annotations

import json
import re
import warnings
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.errors import NonInteractiveExampleWarning

from agent_console.agents.events import ApprovalRequested, MessageSent, StatusReported
from agent_console.agents.redaction import Redactor, marker
from agent_console.runtime.demo import demo_org
from agent_console.widgets import ApprovalQueue, HealthTable

from ..conftest import wait_for, when
from ..test_app import SIZE, _utc_and_private_dirs, chat, chat_text, demo_entries, make_console  # noqa: F401
from ..test_serve import Served, _state
from .secret_corpus import SECRETS, WRAPPED, any_secret

WORDS = st.lists(st.sampled_from(["deploy", "the", "key", "is", "run", "with", "export", "then", ":", "(", ")"]))
ORDINARY = [
    "ls -la",
    "git commit -m 'fix auth: login flow'",
    "compass=north monkey=1 PATH=/usr/bin",
    "psql -c 'DROP INDEX idx_orders'",
    "curl https://example.com/api/v1/items?page=2",
    "make migrate && pytest -k token_budget",
    "sk-learn is a typo for scikit-learn",
    "Bearer of bad news",
]


@settings(max_examples=300, deadline=None)
@given(any_secret(), WORDS, WORDS)
def test_every_generated_secret_is_replaced_by_its_marker(found: tuple[str, str, str], before, after) -> None:
    kind, text, secret = found
    redacted = Redactor().text(" ".join([*before, text, *after]))
    assert secret not in redacted
    assert marker(kind) in redacted


@pytest.mark.parametrize("text", ORDINARY)
def test_ordinary_commands_are_left_alone(text: str) -> None:
    assert Redactor().text(text) == text


def test_an_event_keeps_its_identifiers_and_loses_its_secrets() -> None:
    key = "AKIA" + "ABCDEFGHIJKLMNOP"
    asked = ApprovalRequested(id="a1", text=f"use {key}?", command=f"aws --key {key} s3 ls")
    redacted = Redactor().event(asked)
    assert redacted.id == "a1"
    assert redacted.text == "use [redacted:aws-key]?" and key not in (redacted.command or "")
    unchanged = StatusReported(state="working", task="build the api")
    assert Redactor().event(unchanged) is unchanged


def test_the_orgs_own_patterns_and_the_consoles_tokens_are_redacted() -> None:
    redactor = Redactor(patterns=[r"ACME-[0-9]{6}"], literals=["t0ken-of-the-human-0123456789"])
    said = redactor.text("ticket ACME-123456 and t0ken-of-the-human-0123456789")
    assert said == "ticket [redacted:org-pattern] and [redacted:console-token]"
    message = MessageSent(id="m1", to="@bob", text="ACME-654321")
    assert redactor.event(message).text == "[redacted:org-pattern]"


def corpus() -> list[tuple[str, str, str]]:
    """One freshly generated secret of every format: (kind, text holding it, the secret). A degenerate draw (a
    key of zeros) is drawn again: it would be found in any journal's hashes, not only where it leaked."""

    def distinct(draw, secret_of) -> tuple:
        for _ in range(200):
            found = draw()
            if len(set(secret_of(found))) >= 8:
                return found
        raise AssertionError("no distinctive example drawn")

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NonInteractiveExampleWarning)
        plain = [
            (kind, secret, secret) for kind, strategy in SECRETS.items() for secret in [distinct(strategy.example, str)]
        ]
        wrapped = [(kind, *distinct(strategy.example, lambda pair: pair[1])) for kind, strategy in WRAPPED.items()]
    return plain + wrapped


def test_no_secret_reaches_the_journal_or_any_output(served: Served, tmp_path: Path) -> None:
    secrets = corpus()
    texts = [text for _, text, _ in secrets]
    batches = [" | ".join(texts[start : start + 3]) for start in range(0, len(texts), 3)]  # a task holds 500
    ann, bob = tmp_path / "ann.sh", tmp_path / "bob.sh"
    lines = []
    for index, batch in enumerate(batches):
        (tmp_path / f"batch{index}.txt").write_text(batch)
        lines.append(f'agent-console emit status working --task "$(cat {tmp_path}/batch{index}.txt)"')
    (tmp_path / "message.txt").write_text("\n".join(texts))
    lines.append(f'agent-console send @bob "$(cat {tmp_path}/message.txt)"')
    ann.write_text("\n".join([*lines, f"touch {tmp_path}/ann.done", ""]))
    hooks = []
    for index, batch in enumerate(batches):
        payload = {"hook_event_name": "PreToolUse", "tool_name": "Bash", "tool_input": {"command": batch}}
        (tmp_path / f"hook{index}.json").write_text(json.dumps(payload))
        hooks.append(f"agent-console hook claude < {tmp_path}/hook{index}.json")
    bob.write_text("\n".join([*hooks, f"touch {tmp_path}/bob.done", ""]))
    # ann reports and messages bob, bob's program hook reports; then ann asks, bob's hook and cat's screen too
    served.type_in("ann", f"bash {ann}")
    served.type_in("bob", f"bash {bob}")
    for agent in ("ann", "bob"):
        wait_for(lambda agent=agent: (tmp_path / f"{agent}.done").exists(), 60, what=f"{agent}'s commands to run")

    def said(index: int) -> str:
        return f'"$(cat {tmp_path}/secret{index}.txt)"'

    for index, text in enumerate(texts[:2]):
        (tmp_path / f"secret{index}.txt").write_text(text)
    served.type_in("ann", f"agent-console ask {said(0)} --command {said(1)} --timeout 120 &")
    permission = tmp_path / "permission.json"
    permission.write_text(
        json.dumps(
            {
                "hook_event_name": "PermissionRequest",
                "tool_name": "Bash",
                "tool_input": {"command": " ".join(text for _, text, _ in secrets[2:6])},
            }
        )
    )
    # the program then shows its question, as Claude Code does after the hook (a bare prompt would close it)
    served.type_in("bob", f"agent-console hook claude < {permission}; read -p 'run it? [y/n] ' answer")
    # short enough for one line of the pane: a secret the terminal wraps is cut in two on screen
    prompt = " ".join(text for kind, text, _ in secrets if kind in ("aws-key", "url-password"))
    (tmp_path / "prompt.txt").write_text(f"push with {prompt} [y/n]? ")
    served.type_in("cat", f'read -p "$(cat {tmp_path / "prompt.txt"})" answer')

    approvals = wait_for(
        lambda: when(json.loads(served.cli("approvals", "--json").stdout), lambda found: len(found) >= 3),
        60,
        what="the ask, the hook's permission request and the screen's prompt in the queue",
    )
    assert {approval["agent"] for approval in approvals} == {"ann", "bob", "cat"}
    wait_for(lambda: _state(served)["agents"]["bob"]["outbox"] == 1, what="ann's message to bob")

    outputs = {
        "approvals": served.cli("approvals").stdout,
        "approvals --json": served.cli("approvals", "--json").stdout,
        "ls --json": served.cli("ls", "--json", "--socket-name", served.socket).stdout,
        "explain cat": served.cli("explain", "cat").stdout,
        "replay": served.cli("replay", str(served.root / "state" / "agent-console" / "crew" / "journal.jsonl")).stdout,
    }
    journal = (served.root / "state" / "agent-console" / "crew" / "journal.jsonl").read_text()
    assert "[redacted:" in journal
    for kind, _, secret in secrets:
        for piece in _pieces(secret):
            assert piece not in journal, f"a {kind} reached the journal"
            for name, output in outputs.items():
                assert piece not in output, f"a {kind} reached the output of {name}"
    assert "[redacted:" in outputs["approvals"]


def _pieces(secret: str) -> list[str]:
    """The secret, and each of its lines long enough to be recognisable (a key block is shown line by line)."""
    return [line for line in re.split(r"\s+", secret) if len(line) >= 8] or [secret]


async def test_no_secret_reaches_the_consoles_screen(make_console, tmp_path: Path) -> None:  # noqa: F811
    """Through the console: an agent's report and request, and the human's own chat line."""
    org = demo_org()
    console = make_console(org, demo_entries(org))
    found = corpus()
    texts = [text.replace("\n", " ") for _, text, _ in found]
    async with console.run_test(size=SIZE) as pilot:
        console.supervisor.submit("api", StatusReported(state="working", task=" ".join(texts[:3])))
        console.supervisor.submit(
            "db", ApprovalRequested(id="s1", text=" ".join(texts[3:8]), command=" ".join(texts[8:]))
        )
        await chat(pilot, "@api the keys are " + " ".join(texts[:6]))
        console.refresh_views()
        await pilot.pause()
        shown = " ".join(
            [
                chat_text(console),
                json.dumps(console.supervisor.state.to_json()),
                console.export_screenshot(),
                *(
                    str(cell)
                    for row in console.query_one(HealthTable).rows
                    for cell in console.query_one(HealthTable).get_row(row)
                ),
                *(
                    str(cell)
                    for row in console.query_one(ApprovalQueue).rows
                    for cell in console.query_one(ApprovalQueue).get_row(row)
                ),
            ]
        )
        assert "[redacted:" in chat_text(console)
    for kind, _, secret in found:
        for piece in _pieces(secret):
            assert piece not in shown, f"a {kind} reached the console's screen"
