"""What the console keeps of an error nobody expected: the traceback in a log file under the org's state
directory, and one paragraph for the human that says where it is."""

from __future__ import annotations

import time
import traceback
from pathlib import Path

from agent_console.runtime import paths


def write_log(org: str, error: BaseException) -> Path:
    """Write `error`'s traceback to a new file in the org's state directory; its path."""
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    path = paths.state_dir(org) / f"crash-{stamp}-{time.time_ns() % 1_000_000:06d}.log"
    path.write_text("".join(traceback.format_exception(error)), encoding="utf-8")
    return path


def summary(error: BaseException) -> str:
    """The error in one line: its type and the first line of its message."""
    message = next((line.strip() for line in str(error).splitlines() if line.strip()), "")
    return f"{type(error).__name__}: {message}" if message else type(error).__name__


def crash_message(error: BaseException, log: Path) -> str:
    """One paragraph for the terminal when the console stops on an error it did not expect."""
    return (
        f"agent-console stopped on an unexpected error ({summary(error)}). This is a bug in agent-console, "
        "not something you did. The agents keep running in their panes: start agent-console again to take "
        f"them back. The full traceback is in {log} (please attach it when you report the bug)."
    )
