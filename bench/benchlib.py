"""Helpers the benchmarks share (they are scripts: run from the repository root, this folder is on the path)."""

from __future__ import annotations

import math
import os
import shutil
from pathlib import Path


def percentile(sorted_values: list[float], p: float) -> float:
    """Nearest-rank percentile of an already sorted list (nan when empty)."""
    if not sorted_values:
        return math.nan
    rank = max(1, math.ceil(p / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


def proc_cpu(pid: int | None) -> float | None:
    """User + system CPU seconds of a process, from /proc/<pid>/stat (None when unreadable)."""
    if pid is None:
        return None
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def tmux_executable() -> str:
    executable = shutil.which("tmux")
    if executable is None:
        raise SystemExit("tmux is not installed (apt-get install tmux)")
    return executable


ISOLATED_ENVIRONMENT = ("HOME", "XDG_RUNTIME_DIR", "XDG_STATE_HOME")


def saved_environment() -> dict[str, str | None]:
    """The variables a bench points at its own temporary directories, as they were before."""
    return {name: os.environ.get(name) for name in ISOLATED_ENVIRONMENT}


def restore_environment(saved: dict[str, str | None]) -> None:
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
