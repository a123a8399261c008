"""`agent-console detect` on every screen captured from the real programs (tests/fixtures/screens/<kind>/)."""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from agent_console.agents.kinds import detect, load_kind

SCREENS = Path(__file__).parent / "fixtures" / "screens"


def fixtures() -> list[tuple[str, str, dict]]:
    found = []
    for folder in sorted(path for path in SCREENS.iterdir() if path.is_dir()):
        expected = tomllib.loads((folder / "expected.toml").read_text(encoding="utf-8"))
        screens = {path.stem for path in folder.glob("*.txt")}
        assert screens == set(expected), f"{folder.name}: screens and expected.toml name different fixtures"
        found += [(folder.name, name, expected[name]) for name in sorted(expected)]
    return found


CASES = fixtures()


@pytest.mark.parametrize(("kind", "name", "expected"), CASES, ids=[f"{kind}/{name}" for kind, name, _ in CASES])
def test_each_captured_screen_reads_as_expected(kind: str, name: str, expected: dict) -> None:
    reading = detect(load_kind(kind), (SCREENS / kind / f"{name}.txt").read_text(encoding="utf-8"))
    assert reading.state.value == expected["state"]
    if "rule" in expected:
        assert reading.rule == expected["rule"]
    if "request" in expected:
        assert reading.request is not None and expected["request"] in reading.request
    if "command" in expected:
        assert reading.command == expected["command"]
    if "options" in expected:
        assert [option.key for option in reading.options] == expected["options"]


def test_every_program_kind_has_captured_screens_of_each_state() -> None:
    states = {}
    for kind, _, expected in CASES:
        states.setdefault(kind, set()).add(expected["state"])
    for kind in ("claude", "codex", "aider", "gemini"):
        assert {"idle", "working", "waiting", "error"} <= states.get(kind, set()), kind


def test_the_detect_command_prints_the_reading_as_json() -> None:
    kind, name, _ = next(case for case in CASES if case[2]["state"] == "waiting")
    screen = SCREENS / kind / f"{name}.txt"
    result = subprocess.run(
        [sys.executable, "-m", "agent_console", "detect", "--kind", kind, str(screen)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    printed = json.loads(result.stdout)
    assert printed["state"] == "waiting" and printed["rule"] and printed["confidence"] > 0.5
    assert printed == detect(load_kind(kind), screen.read_text(encoding="utf-8")).to_json()
    stdin = subprocess.run(
        [sys.executable, "-m", "agent_console", "detect", "--kind", kind, "-"],
        input=screen.read_text(encoding="utf-8"),
        capture_output=True,
        text=True,
        check=False,
    )
    assert json.loads(stdin.stdout) == printed


def test_the_detect_command_names_a_wrong_kind_or_file() -> None:
    def run(*args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "agent_console", "detect", *args]
        return subprocess.run(command, capture_output=True, text=True, check=False)

    unknown = run("--kind", "cursor", "-")
    assert unknown.returncode == 1 and "unknown agent kind 'cursor'" in unknown.stderr
    missing = run("--kind", "claude", "/no/such/screen.txt")
    assert missing.returncode == 1 and "cannot read /no/such/screen.txt" in missing.stderr
    assert "Traceback" not in unknown.stderr + missing.stderr
