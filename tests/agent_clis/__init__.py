"""The real agent programs for tests, installed on first use from their registries into `.agent-clis/`.

Claude Code, Codex and Gemini CLI come from npm, aider from PyPI (into a venv of its own: it pins many packages).
A registry that cannot be reached makes the tests that need that program skip, saying why.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(os.environ.get("AGENT_CONSOLE_TEST_CLIS", Path(__file__).resolve().parents[2] / ".agent-clis"))
NPM_PACKAGES = {"claude": "@anthropic-ai/claude-code", "codex": "@openai/codex", "gemini": "@google/gemini-cli"}
INSTALL_TIMEOUT = 600


def cli_path(kind: str) -> Path:
    """The real program for `kind` ('claude', 'codex', 'gemini' or 'aider'), installing it if needed; skips the test
    with the installer's own words when it cannot be installed here."""
    ROOT.mkdir(parents=True, exist_ok=True)
    with open(ROOT / ".lock", "w") as lock:  # pytest-xdist workers or two sessions: one installer at a time
        fcntl.flock(lock, fcntl.LOCK_EX)
        if kind in NPM_PACKAGES:
            return _npm(kind)
        if kind == "aider":
            return _aider()
    raise ValueError(f"no installer for {kind!r}")


def _npm(kind: str) -> Path:
    program = ROOT / "npm" / "node_modules" / ".bin" / kind
    if program.exists():
        return program
    npm = shutil.which("npm")
    if npm is None:
        pytest.skip(f"{kind}: npm is not installed, so {NPM_PACKAGES[kind]} cannot be installed")
    _run(kind, [npm, "install", "--no-audit", "--no-fund", "--prefix", str(ROOT / "npm"), *NPM_PACKAGES.values()])
    if not program.exists():
        pytest.skip(f"{kind}: npm installed {NPM_PACKAGES[kind]} but {program} is missing")
    return program


def _aider() -> Path:
    venv = ROOT / "aider"
    program = venv / "bin" / "aider"
    if program.exists():
        return program
    _run("aider", [sys.executable, "-m", "venv", str(venv)])
    _run("aider", [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "aider-chat"])
    return program


def _run(kind: str, command: list[str]) -> None:
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=INSTALL_TIMEOUT, check=False)
    except subprocess.TimeoutExpired:
        pytest.skip(f"{kind}: installing took over {INSTALL_TIMEOUT} s ({' '.join(command[:3])} …)")
    if result.returncode != 0:
        last = (result.stderr or result.stdout).strip().splitlines()[-3:]
        pytest.skip(f"{kind}: could not install it (registry unreachable?): {' / '.join(last)}")
