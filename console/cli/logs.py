"""`agent-console logs`: an org's log stream (the console's logs, its journal, its agents' reports), readably."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

from agent_console.agents.display import terminal_json
from agent_console.agents.errors import NotFound
from agent_console.agents.spec import load_spec
from agent_console.runtime import logs, paths

FOLLOW_SECONDS = 0.25  # the follower's sleep between two reads of the file (no inotify in the standard library)


class NoLogs(NotFound):
    """The org has no log stream (yet): which org, and where it was looked for."""


def add_parsers(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "logs",
        help="print an org's log stream: the console's logs, every journal record and the agents' reports",
        description="Print the org's structured log (JSON lines in its state directory), oldest first, one line "
        "each: time, level, logger, journal seq, agent, message, trace. --follow keeps printing what comes.",
    )
    parser.set_defaults(func=run)
    parser.add_argument("org", metavar="ORG", nargs="?", help="the org's name or spec (default: the one served)")
    parser.add_argument("--follow", "-f", action="store_true", help="keep printing new lines until Ctrl-C")
    parser.add_argument("--agent", metavar="A", help="only lines about this agent")
    parser.add_argument("--trace", metavar="T", help="only lines of this trace (the chain of one request)")
    parser.add_argument("--level", metavar="L", default="debug", choices=logs.LEVELS, help="at least this level")
    parser.add_argument("--json", action="store_true", help="print the lines as JSON, one a line")


def org_name(text: str | None) -> str:
    if text is None:
        from agent_console.cli.human import pick_org  # the served org, as the other human commands find it

        return pick_org(None)
    if text.endswith(".toml") or os.sep in text:
        return load_spec(text).name
    return text


async def run(args: argparse.Namespace) -> int:
    org = org_name(args.org)
    folder = paths.state_dir(org, create=False)
    level = logs.level_number(args.level)
    if not args.follow and not logs.log_files(folder):
        raise NoLogs(f"org {org!r} has no log in {folder} (it is written while the org is served)")
    current = folder / logs.LOG_FILE
    files = logs.log_files(folder)
    printed = 0
    for line in logs.read_lines([path for path in files if path != current] if args.follow else files):
        printed += _print(line, args, level, sys.stdout)
    if args.follow:  # the current file from its start, then what comes: no line falls between the two
        # On a thread, so that Ctrl-C (which cancels this task) is heard at once and stops it.
        done = threading.Event()
        try:
            await asyncio.to_thread(follow, current, lambda line: _print(line, args, level, sys.stdout), done.is_set)
        finally:
            done.set()
    elif not printed:
        print("no lines match", file=sys.stderr)
    return 0


def _emit_lines(text: str, emit: Callable[[dict[str, Any]], object]) -> str:
    """Emit the complete lines of `text`; the rest (a line still being written), to read on with."""
    *complete, rest = text.split("\n")
    for each in complete:
        line = logs.parse_line(each)
        if line is not None:
            emit(line)
    return rest


def _print(line: dict[str, Any], args: argparse.Namespace, level: int, out: TextIO) -> int:
    if not logs.matches(line, args.agent, args.trace, level):
        return 0
    out.write((terminal_json(line) if args.json else logs.readable(line)) + "\n")
    out.flush()
    return 1


def follow(path: Path, emit: Callable[[dict[str, Any]], object], stop: Callable[[], bool] = lambda: False) -> None:
    """Emit every line of `path` from its start, then what is appended, across rotations (the file renamed and
    a new one begun: the old one is read to its end, then the new one from its start), until `stop()`."""
    handle: TextIO | None = None
    identity: tuple[int, int] | None = None
    pending = ""
    try:
        while not stop():
            if handle is None:
                try:
                    handle = path.open(encoding="utf-8", errors="replace")
                except FileNotFoundError:
                    time.sleep(FOLLOW_SECONDS)
                    continue
                info = os.fstat(handle.fileno())
                identity, pending = (info.st_dev, info.st_ino), ""
            chunk = handle.read()
            if chunk:
                pending = _emit_lines(pending + chunk, emit)
                continue
            try:
                now = os.stat(path)
                rotated = (now.st_dev, now.st_ino) != identity
            except FileNotFoundError:
                rotated = True
            if rotated:  # the old file to its end (written to just before it was renamed), then the new one
                _emit_lines(pending + handle.read(), emit)
                handle.close()
                handle = None
                continue
            time.sleep(FOLLOW_SECONDS)
    finally:
        if handle is not None:
            handle.close()
