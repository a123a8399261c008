"""Reading agents: `detect` (a captured screen), `explain` (a live agent), `hook` (an agent program's hook)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from agent_console.agents.display import terminal_json, visible
from agent_console.agents.kinds import KindError, detect, known_kinds, load_kind
from agent_console.cli import hook as hook_cli
from agent_console.cli import human as human_cli
from agent_console.runtime.client import ControlRefused, ControlUnreachable


def add_parsers(commands: argparse._SubParsersAction) -> None:
    kinds = ", ".join(known_kinds())
    detect_parser = commands.add_parser(
        "detect",
        help="print the state a captured screen shows, as JSON",
        description="Read a screen (as `tmux capture-pane -p` prints it) with the rules of an agent kind and print "
        "what they say: state, confidence, the rule that fired, and for a prompt the request and its options.",
    )
    detect_parser.add_argument("--kind", required=True, metavar="KIND", help=f"the agent kind ({kinds})")
    detect_parser.add_argument("file", nargs="?", default="-", metavar="FILE|-", help="the screen (default: stdin)")

    explain = commands.add_parser(
        "explain",
        help="why a live agent is in its state: its screen's reading, its hook, its own reports",
        description="Ask the console serving the org to read AGENT's screen now, and print the reading with what "
        "the agent's hooks and its own reports said, as JSON.",
    )
    explain.add_argument("agent", metavar="AGENT")
    explain.add_argument("--org", metavar="NAME", help="the org (default: the only one served)")

    hook = commands.add_parser(
        "hook",
        help="report an agent program's hook to the console (wired by the console at launch)",
        description="Claude Code runs `agent-console hook claude` with the hook's JSON on stdin; Codex runs "
        "`agent-console hook codex JSON` as its notify program. The report goes to the console serving the "
        "agent's org. It never fails the agent: problems are one line on stderr, and the exit code is 0.",
    )
    hook.add_argument("program", choices=["claude", "codex"])
    hook.add_argument("payload", nargs="?", help="the hook's JSON (codex passes it as an argument)")
    for parser in (detect_parser, explain, hook):
        parser.set_defaults(func=run)


async def run(args: argparse.Namespace) -> int:
    if args.command == "detect":
        return _detect(args)
    if args.command == "explain":
        return await _explain(args)
    return await hook_cli.report(args.program, args.payload)


def _detect(args: argparse.Namespace) -> int:
    try:
        kind = load_kind(args.kind)
    except KindError as error:
        return _fail(str(error))
    try:
        screen = sys.stdin.read() if args.file == "-" else Path(args.file).read_text(encoding="utf-8", errors="replace")
    except OSError as error:
        return _fail(f"cannot read {args.file}: {error.strerror or error}")
    print(terminal_json(detect(kind, screen).to_json()))
    return 0


async def _explain(args: argparse.Namespace) -> int:
    try:
        client = human_cli.human_client(human_cli.pick_org(args.org))
        reading = await client.call("GET", f"/v1/agents/{args.agent}/explain", wait=10)
    except human_cli.HumanCommandError as error:
        return _fail(str(error))
    except (ControlUnreachable, ControlRefused) as error:
        return _fail(getattr(error, "message", None) or str(error))
    print(terminal_json(reading, indent=2))
    return 0


def _fail(message: str) -> int:
    print(f"agent-console: {visible(message, multiline=True)}", file=sys.stderr)
    return 1
