"""The code passes the project's ruff and mypy configurations (pyproject.toml)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from .typecheck import run_mypy

ROOT = Path(__file__).resolve().parent.parent


def test_ruff_finds_nothing() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--output-format", "concise", str(ROOT)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_finds_nothing() -> None:
    result = run_mypy()
    assert result.returncode == 0, result.stdout + result.stderr
