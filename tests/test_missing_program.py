"""Which program an agent's command would start, and whether it is there: checked before it is started."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent_console.runtime.deployment import missing_program
from agent_console.terminal.base import Launch


@pytest.fixture
def bin_dir(tmp_path: Path) -> Path:
    """A PATH folder holding one program, `tool`."""
    folder = tmp_path / "bin"
    folder.mkdir()
    tool = folder / "tool"
    tool.write_text("#!/bin/sh\n", encoding="utf-8")
    tool.chmod(0o755)
    return folder


@pytest.mark.parametrize(
    ("command", "missing"),
    [
        ("tool --flag", None),
        ("nosuchprogram --flag", "nosuchprogram"),
        ("FOO=1 BAR=2 tool", None),
        ("FOO=1 nosuchprogram", "nosuchprogram"),
        ("exec nosuchprogram", "nosuchprogram"),
        ("cd sub && tool", None),  # a shell builtin first: not a program to look for
        (None, None),  # the user's shell
        ("'unterminated", None),  # not a plain call: the shell will say what it thinks
    ],
)
def test_the_first_program_of_a_command_is_looked_up_on_the_agents_path(
    bin_dir: Path, command: str | None, missing: str | None
) -> None:
    assert missing_program(Launch(command=command, env={"PATH": str(bin_dir)})) == missing


def test_a_program_named_by_path_is_looked_up_from_the_agents_folder(bin_dir: Path) -> None:
    assert missing_program(Launch(command="./bin/tool", cwd=str(bin_dir.parent), env={"PATH": ""})) is None
    assert missing_program(Launch(command="./bin/nothing", cwd=str(bin_dir.parent))) == "./bin/nothing"


def test_without_a_path_of_its_own_the_agent_gets_the_consoles(bin_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(bin_dir))
    assert missing_program(Launch(command="tool")) is None
    assert missing_program(Launch(command="claude")) == "claude"
