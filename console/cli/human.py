"""The human side of the command line: `serve`, `approvals`, `approve`, `deny`, `audit verify`, `replay`."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path

from agent_console.agents.display import terminal_json, visible
from agent_console.agents.errors import ConsoleError, NotFound
from agent_console.agents.events import OrgLoaded
from agent_console.agents.journal import (
    Journal,
    JournalError,
    Record,
    anchor_path_for,
    describe_anchor,
    load_or_create_key,
    read_anchor,
    read_records,
    verify,
)
from agent_console.agents.replay import Moment, parse_moment
from agent_console.agents.spec import load_spec
from agent_console.agents.state import OrgState
from agent_console.cli.exits import exit_status
from agent_console.runtime import paths
from agent_console.runtime.client import ControlClient, agent_environment
from agent_console.terminal.tmux import TmuxBackend


class HumanCommandError(NotFound):
    """A human-side command could not be done; the message says why."""


def add_parsers(commands: argparse._SubParsersAction, socket_help: str, size_help: str) -> None:
    serve = commands.add_parser(
        "serve",
        help="run an org's supervisor: up, then watch the panes, journal events and serve the control API",
        description="Bring the org up (as `up` does), launch each agent with AGENT_CONSOLE_AGENT, "
        "AGENT_CONSOLE_TOKEN and AGENT_CONSOLE_SOCKET, watch the panes, keep the journal and serve the control "
        "API until Ctrl-C (or SIGTERM). The agents keep running after it stops; serving again re-adopts them.",
    )
    serve.add_argument("spec", metavar="ORG.toml")
    serve.add_argument("--socket-name", "-L", metavar="NAME", help=socket_help)
    serve.add_argument("--session", metavar="NAME", help="tmux session name (default: the org's name)")
    serve.add_argument("--journal", metavar="PATH", type=Path, help="journal file (default: in the state directory)")
    serve.add_argument("--size", metavar="COLSxROWS", help=size_help)

    approvals = commands.add_parser("approvals", help="list pending approval requests")
    approvals.set_defaults(func=run)
    approvals.add_argument("--json", action="store_true")
    approvals.add_argument("--org", metavar="NAME")
    for verb in ("approve", "deny"):
        decide = commands.add_parser(verb, help=f"{verb} a pending request (its ID from `approvals`)")
        decide.set_defaults(func=run)
        decide.add_argument("id")
        decide.add_argument("--reason", help="said back to the agent")
        decide.add_argument("--org", metavar="NAME")
        if verb == "approve":
            decide.add_argument(
                "--always",
                action="store_true",
                help="answer an agent program's own prompt with its 'yes, and don't ask again' option",
            )

    audit = commands.add_parser("audit", help="check a journal for tampering")
    audit.set_defaults(func=run)
    audit.add_argument("action", choices=["verify"])
    audit.add_argument("path", nargs="?", type=Path, help="journal file (default: the only org's)")
    audit.add_argument("--org", metavar="NAME")
    audit.add_argument(
        "--anchor",
        nargs="?",
        const=True,
        metavar="ANCHOR",
        type=Path,
        help="also check that the journal still reaches its signed anchor (default: the one the console keeps "
        "beside the key; give a copy kept elsewhere to rule out an anchor rolled back with the journal)",
    )

    replay = commands.add_parser(
        "replay",
        help="print the state a journal folds to, at its end or at a moment; --ui steps through it in the console",
        description="Verify a journal (every record's signature and the chain) and fold it as the live console "
        "does. --at prints the org as it was then; --ui opens a read-only console on it with a timeline.",
    )
    replay.set_defaults(func=run)
    replay.add_argument("path", type=Path)
    replay.add_argument("--org", metavar="NAME", help="whose key verifies it (default: the org the journal names)")
    replay.add_argument(
        "--at",
        metavar="TIME",
        help="the state then: #SEQ (up to that record), HH:MM[:SS] today, or an ISO-8601 time (up to the first "
        "record after it); only the records up to then are read and verified",
    )
    replay.add_argument("--ui", action="store_true", help="open the console read-only on the journal, with a timeline")


def pick_org(name: str | None) -> str:
    """The org to talk to: the one named, else the only one whose console is serving."""
    if name:
        return name
    running = sorted(paths.running_sockets())
    if not running:
        raise HumanCommandError("no org is being served (start one with `agent-console serve ORG.toml`)")
    if len(running) > 1:
        raise HumanCommandError(f"several orgs are served ({', '.join(running)}): name one with --org")
    return running[0]


def console_client(org: str | None) -> ControlClient:
    """Who runs this is who asks: in an agent's pane the agent, with its own token (never the human's, even where
    the human's could be read); elsewhere the human, of the org named (or the only one served)."""
    if os.environ.get("AGENT_CONSOLE_TOKEN") and os.environ.get("AGENT_CONSOLE_SOCKET"):
        _, token, socket = agent_environment()
        assert socket is not None
        return ControlClient(socket, token)
    return human_client(pick_org(org))


def human_client(org: str) -> ControlClient:
    try:
        token = paths.human_token(org)
    except paths.StateError as error:
        raise HumanCommandError(str(error)) from None
    return ControlClient(paths.socket_path(org), token)


async def run(args: argparse.Namespace) -> int:
    try:
        if args.command == "approvals":
            return await _approvals(args)
        if args.command in ("approve", "deny"):
            return await _decide(args)
        if args.command == "audit":
            return _audit(args)
        if args.command == "replay":
            return await _replay(args)
    except ConsoleError as error:
        print(f"agent-console: error: {visible(str(error), multiline=True)}", file=sys.stderr)
        return exit_status(error)
    raise AssertionError(args.command)


async def _approvals(args: argparse.Namespace) -> int:
    pending = (await console_client(args.org).call("GET", "/v1/approvals"))["approvals"]
    if args.json:
        print(terminal_json(pending, indent=2))
        return 0
    if not pending:
        print("no pending approvals", file=sys.stderr)
        return 0
    now = time.time()
    for item in pending:
        age = f"{now - item['requested']:.0f}s" if item.get("requested") else "-"
        # the whole request, every character visible: what is approved is what is read
        what = visible(item.get("command") or item.get("text", ""))
        print(f"{visible(item['id'])}  {visible(item['agent']):<16} {age:>6}  {what}")
    return 0


async def _decide(args: argparse.Namespace) -> int:
    """`approve ID` / `deny ID`: the console's approve, approve-always and deny commands, run as the human (in an
    agent's pane, as that agent: refused)."""
    from agent_console.cli import commands as commands_cli  # it builds on this module's client

    always = getattr(args, "always", False)
    name = "approve-always" if always else args.command
    body = {"id": args.id} | ({"reason": args.reason} if args.reason else {})
    return await commands_cli.call(args.org, name, body)


def _journal_path(path: Path | None, org: str | None) -> tuple[Path, str]:
    if path is not None:
        # A journal kept elsewhere (`serve --journal`) names its org in its records; its key stays in the
        # org's state directory.
        return path, org or _org_named_in(path) or path.parent.name
    name = org or pick_org(None)
    return paths.state_dir(name) / "journal.jsonl", name


def _org_named_in(journal: Path) -> str | None:
    """The org a journal's first `org.load` record names (unchecked: it only says where to look for the key)."""
    try:
        for record in read_records(journal):
            if isinstance(record.event, OrgLoaded):
                return record.event.name
    except (JournalError, OSError):
        return None
    return None


def _key_for(journal: Path, org: str) -> bytes:
    return load_or_create_key(_key_path(journal, org))


def _key_path(journal: Path, org: str) -> Path:
    key_path = journal.parent / "journal.key"
    if not key_path.exists():
        key_path = paths.state_dir(org, create=False) / "journal.key"
    if not key_path.exists():
        raise HumanCommandError(
            f"no journal key next to {journal} nor in org {org!r}'s state directory ({key_path.parent}): "
            "name the org with --org"
        )
    return key_path


def _audit(args: argparse.Namespace) -> int:
    path, org = _journal_path(args.path, args.org)
    if not path.exists():
        raise HumanCommandError(f"no journal at {path}")
    key_path = _key_path(path, org)
    key = load_or_create_key(key_path)
    if args.anchor is None:
        result = verify(path, key)
        if result.ok:
            print(
                f"{path}: ok, {result.count} records, chain and signatures intact; the tail is not checked "
                "(records removed from the end leave a valid chain): add --anchor to check it"
            )
            return 0
        print(f"{path}: TAMPERED: {result.problem}", file=sys.stderr)
        return 1
    anchor_path = anchor_path_for(path, key_path) if args.anchor is True else args.anchor
    try:
        anchor = read_anchor(anchor_path, key)
    except JournalError as error:
        print(f"{path}: NOT VERIFIED: {error}", file=sys.stderr)
        return 1
    result = verify(path, key, anchor)
    if not result.ok:
        print(f"{path}: TAMPERED: {result.problem}", file=sys.stderr)
        return 1
    after = result.count - anchor.seq
    beyond = f"; {after} record(s) after it, written since it was taken" if after else ""
    print(
        f"{path}: ok, {result.count} records, chain and signatures intact, and it reaches its anchor "
        f"{anchor_path}: {describe_anchor(anchor)}{beyond}"
    )
    return 0


def verified_journal(path: Path | None, org: str | None, until: Moment | None = None) -> tuple[Path, list[Record]]:
    """The records of a journal, each one's signature and place in the chain checked: nothing unverified is
    shown. A journal that does not verify is refused, saying where it breaks. With `until`, only the records up
    to that moment are read (the state then depends on nothing after it)."""
    path, org = _journal_path(path, org)
    if not path.exists():
        raise HumanCommandError(f"no journal at {path}")
    key = _key_for(path, org)
    records: list[Record] = []
    try:
        for record in Journal.read(path, key):
            if until is not None and not until.includes(record):
                break
            records.append(record)
    except JournalError as error:
        raise HumanCommandError(f"{error}: it does not verify; run `agent-console audit verify {path}`") from None
    return path, records


async def _replay(args: argparse.Namespace) -> int:
    moment = parse_moment(args.at) if args.at else None
    if args.ui:
        from agent_console.tui.replay import run_replay  # Textual loads only for the console itself

        path, records = verified_journal(args.path, args.org)
        return await run_replay(path, records, moment)
    path, records = verified_journal(args.path, args.org, until=moment)
    if moment is not None and moment.seq is not None and (not records or records[-1].seq < moment.seq):
        raise HumanCommandError(f"--at {moment.text}: {path} ends at record #{records[-1].seq if records else 0}")
    if moment is not None and not records:
        print(f"note: {path} has no record at or before {moment.text}: the org is empty then", file=sys.stderr)
    print(terminal_json(OrgState.replay(records).to_json(), indent=2, sort_keys=True))
    return 0


async def serve(args: argparse.Namespace, size: tuple[int, int], progress: Callable[[str], None]) -> int:
    from agent_console.runtime.supervisor import Supervisor  # the heavy part, only for `serve`

    org = load_spec(args.spec)
    backend = TmuxBackend(args.socket_name, args.session or org.name)
    supervisor = Supervisor(
        org, backend, size, journal_path=args.journal, progress=progress, spec=Path(args.spec), log_level=args.log_level
    )
    if supervisor.boundary.exposure:
        print(f"warning: {supervisor.boundary.exposure}", file=sys.stderr, flush=True)
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        report = await supervisor.start()
        for notice in supervisor.notices:
            progress(notice)
        print(
            f"serving org {org.name!r}: {len(org.agents)} agent(s) ({len(report.started)} started), "
            f"control socket {supervisor.socket_path}, journal {supervisor.journal_path}; Ctrl-C stops",
            flush=True,
        )
        stopped = asyncio.create_task(supervisor.stopped.wait())
        asked = asyncio.create_task(stop.wait())
        await asyncio.wait({stopped, asked}, return_when=asyncio.FIRST_COMPLETED)
        for task in (stopped, asked):
            task.cancel()
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)
        await supervisor.stop()
        await backend.close()
    if supervisor.failure is not None:
        print(f"agent-console: error: stopped serving org {org.name!r}: {supervisor.failure}", file=sys.stderr)
        return 1
    print(f"stopped serving org {org.name!r}; its agents keep running (`agent-console down` stops them)")
    return 0
