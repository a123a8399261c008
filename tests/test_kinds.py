"""Agent kinds as data: every bundled definition loads, and a wrong one is named precisely."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent_console.agents.events import AgentState
from agent_console.agents.kinds import KindError, detect, known_kinds, load_kind, load_kind_file, normalized
from agent_console.agents.model import AgentKind


def test_every_agent_kind_has_a_definition_that_loads() -> None:
    assert set(known_kinds()) == {kind.value for kind in AgentKind}
    for kind in known_kinds():
        definition = load_kind(kind)
        assert definition.kind == kind
        if kind != "shell":
            assert definition.program and definition.keys.approve and definition.keys.deny, kind
            assert any(rule.state is AgentState.WAITING for rule in definition.rules), kind


def test_an_unknown_kind_lists_the_known_ones() -> None:
    with pytest.raises(KindError, match=r"unknown agent kind 'cursor': known kinds are aider, claude"):
        load_kind("cursor")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('kind = "x"\n[[rule]]\nname = "a"\nstate = "idle"\nmatch = "("\n', r"rule\.0\.match: .*not a valid regular"),
        ('kind = "x"\n[[rule]]\nname = "a"\nstate = "sleepy"\nmatch = "z"\n', r"rule\.0\.state: "),
        ('kind = "x"\n[[rule]]\nname = "a"\nstate = "idle"\nmatch = "z"\nregion = "top"\n', "needs `lines`"),
        ('kind = "x"\n[[rule]]\nname = "a"\nstate = "idle"\nmatch = "z"\nrequest = "z"\n', r"\(\?P<request>"),
        (
            'kind = "x"\n[[rule]]\nname = "a"\nstate="idle"\nmatch="z"\n[[rule]]\nname="a"\nstate="idle"\nmatch="y"\n',
            "a repeated",
        ),
        ('kind = "y"\n', "kind = 'y' but the file is named 'x'"),
        ('kind = "x"\ncolour = 1\n', r"colour: Extra inputs"),
        ("kind = ", "not valid TOML"),
    ],
)
def test_a_wrong_definition_names_the_file_and_the_field(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "x.toml"
    path.write_text(text)
    with pytest.raises(KindError, match=message) as raised:
        load_kind_file(path)
    assert str(raised.value).startswith(f"{path}: ")


def test_rules_are_tried_by_priority_and_regions_limit_where_they_look(tmp_path: Path) -> None:
    path = tmp_path / "x.toml"
    path.write_text(
        """
kind = "x"
[screen]
volatile = ['\\d+s']
[[rule]]
name = "busy"
state = "working"
priority = 50
region = "bottom"
lines = 2
match = 'esc to interrupt'
[[rule]]
name = "asks"
state = "waiting"
priority = 90
region = "bottom"
lines = 5
match = 'Proceed\\?'
request = '(?s)│ (?P<request>.+?) │\\n.*Proceed'
options = '^\\s*(?P<key>\\d)\\. (?P<label>.+)$'
[[rule]]
name = "prompt"
state = "idle"
match = '^> '
"""
    )
    kind = load_kind_file(path)
    asking = "> \n│ rm -rf build │\nProceed?\n 1. Yes\n 2. No\n\n\n"
    found = detect(kind, asking)
    assert (found.state, found.rule, found.request) == (AgentState.WAITING, "asks", "rm -rf build")
    assert [(option.key, option.label) for option in found.options] == [("1", "Yes"), ("2", "No")]
    # the prompt glyph shows while it works: the higher-priority rule wins
    assert detect(kind, "> \nthinking (3s · esc to interrupt)\n").rule == "busy"
    # the busy footer far above the bottom is an old line, not the current state
    assert detect(kind, "> old\n(esc to interrupt)\na\nb\nc\n").rule == "prompt"
    assert detect(kind, "nothing here\n").state is AgentState.UNKNOWN
    assert normalized(kind, "working 3s\n\n") == normalized(kind, "working 14s")
