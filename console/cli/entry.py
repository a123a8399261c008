"""The `agent-console` command line."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import re
import shutil
import sys
from collections.abc import Sequence

from agent_console import __version__
from agent_console.agents.display import terminal_json, visible
from agent_console.agents.errors import ConsoleError, InvalidInput
from agent_console.agents.spec import load_spec
from agent_console.cli import agent as agent_cli
from agent_console.cli import commands as commands_cli
from agent_console.cli import human as human_cli
from agent_console.cli import kind as kind_cli
from agent_console.cli import logs as logs_cli
from agent_console.cli.exits import exit_status
from agent_console.runtime import isolation, paths, worktrees
from agent_console.runtime.client import ControlClient, ControlRefused, ControlUnreachable
from agent_console.runtime.deployment import UpReport, bring_down, bring_up, list_agents, running_orgs
from agent_console.runtime.logs import LEVELS, StructuredLog
from agent_console.runtime.paths import StateError, UnsafeRuntimeDir
from agent_console.runtime.resume import journaled_resumer
from agent_console.terminal.base import BackendError, BackendGone
from agent_console.terminal.tmux import TmuxBackend

DEFAULT_SIZE = (200, 50)
SIZE_HELP = "window size when the session is created (default: this terminal's size, else 200x50)"
EXIT_USAGE = 2


class UsageError(InvalidInput):
    """A mistake in how the command was called; shown as one line, exit code 2."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="agent-console",
        description="Mission control for teams of AI coding agents: an org spec becomes tmux panes laid out "
        "as the org chart, one agent per pane. `agent-console [ORG.toml] [--demo]` starts the console.",
        epilog="Run 'agent-console COMMAND --help' for a command's options. Org spec format: see README.md.",
    )
    parser.add_argument("--version", action="version", version=f"agent-console {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    socket_help = "tmux server socket name (tmux -L): keeps the org on its own server; default: your usual server"

    console = commands.add_parser(
        "console",
        help="the console (the default: `agent-console [ORG.toml] [--demo]`)",
        description="Start the console. Inside tmux, this pane becomes the executive pane and the org is laid "
        "out in this window; outside tmux, a tmux session is started with the console in it, and attached. "
        "Alt+e (a tmux key the console installs) brings the focus back to the console from any agent's pane.",
    )
    console.add_argument("spec", metavar="ORG.toml", nargs="?", help="the org to run (none: an empty org)")
    console.add_argument("--demo", action="store_true", help="run the bundled demo org (6 demo agents, 3 teams)")
    console.add_argument(
        "--backend",
        choices=["auto", "tmux", "iterm2"],
        default="auto",
        help="terminal backend (auto: iTerm2 in an iTerm2 session whose Python API answers, else tmux)",
    )
    console.add_argument("--socket-name", "-L", metavar="NAME", help=socket_help)
    _log_level(console)

    up = commands.add_parser(
        "up",
        help="start an org: create (or re-adopt) its tmux session and one pane per agent",
        description="Create or re-adopt the org's tmux session and start each agent's command in its own pane, "
        "laid out as the org chart. Running it again starts only what is missing (and restarts agents whose "
        "program exited); it never duplicates a pane.",
    )
    up.add_argument("spec", metavar="ORG.toml", help="the org spec")
    up.add_argument("--socket-name", "-L", metavar="NAME", help=socket_help)
    up.add_argument("--session", metavar="NAME", help="tmux session name (default: the org's name)")
    up.add_argument("--size", metavar="COLSxROWS", help=SIZE_HELP)
    up.add_argument(
        "--remove-orphans",
        action="store_true",
        help="close panes of agents that are no longer in the spec (default: list them and leave them running)",
    )
    _log_level(up)

    up.set_defaults(func=_up)

    ls = commands.add_parser("ls", help="list running agents", description="List the agents running on a tmux server.")
    ls.set_defaults(func=_ls)
    ls.add_argument("--json", action="store_true", help="print a JSON array instead of a table")
    ls.add_argument("--socket-name", "-L", metavar="NAME", help=socket_help)
    ls.add_argument("--org", metavar="NAME", help="only this org's agents")

    down = commands.add_parser(
        "down",
        help="stop an org: close its panes",
        description="Close every pane of an org, its executive pane included. Without a spec or --org, the one "
        "org running on the server.",
    )
    down.add_argument("spec", metavar="ORG.toml", nargs="?", help="the org spec (names the org)")
    down.add_argument("--socket-name", "-L", metavar="NAME", help=socket_help)
    down.add_argument("--org", metavar="NAME", help="the org to stop (instead of a spec)")
    down.set_defaults(func=_down)

    human_cli.add_parsers(commands, socket_help, SIZE_HELP)
    commands.choices["serve"].set_defaults(func=_serve)
    _log_level(commands.choices["serve"])
    logs_cli.add_parsers(commands)
    agent_cli.add_parsers(commands)
    kind_cli.add_parsers(commands)
    commands_cli.add_parsers(commands)
    return parser


def _log_level(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--log-level",
        choices=LEVELS,
        default="info",
        help="the least level of the console's own log lines kept in the org's log (`agent-console logs`)",
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    words = list(sys.argv[1:] if argv is None else argv)
    if not words or (words[0] not in _subcommands(parser) and words[0] not in ("-h", "--help", "--version")):
        words = ["console", *words]  # `agent-console [ORG.toml] [--demo]` starts the console
    args = parser.parse_args(words)
    if args.command == "console":
        return _console(args, words[1:])
    try:
        return asyncio.run(args.func(args))
    except ConsoleError as error:
        _error(str(error))
        return exit_status(error)
    except KeyboardInterrupt:
        _error("interrupted")
        return 130


def _subcommands(parser: argparse.ArgumentParser) -> set[str]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return set(action.choices)
    return set()


def _console(args: argparse.Namespace, argv: list[str]) -> int:
    from agent_console.cli import start  # Textual loads only for the console itself

    try:
        return start.run(args, argv, _parse_size(None))
    except ConsoleError as error:
        _error(str(error))
        return exit_status(error)


def _error(message: str) -> None:
    print(f"agent-console: error: {visible(message, multiline=True)}", file=sys.stderr)


def _progress(message: str) -> None:
    print(f"  {message}", file=sys.stderr, flush=True)


def _parse_size(text: str | None) -> tuple[int, int]:
    if text is None:
        if sys.stdout.isatty():
            size = shutil.get_terminal_size(DEFAULT_SIZE)
            return size.columns, size.lines
        return DEFAULT_SIZE
    match = re.fullmatch(r"(\d+)x(\d+)", text.strip())
    if not match or int(match.group(1)) < 20 or int(match.group(2)) < 10:
        raise UsageError(f"--size {text!r}: write it as COLSxROWS, at least 20x10 (e.g. 200x50)")
    return int(match.group(1)), int(match.group(2))


def _attach_hint(socket_name: str | None, session: str) -> str:
    socket = f" -L {socket_name}" if socket_name else ""
    return f"tmux{socket} attach -t {session}"


async def _up(args: argparse.Namespace) -> int:
    org = load_spec(args.spec)
    size = _parse_size(args.size)
    exposure = isolation.boundary(org.isolation).exposure  # raises when a required boundary cannot be had
    if exposure:
        print(f"warning: {exposure}", file=sys.stderr, flush=True)
    backend = TmuxBackend(args.socket_name, args.session or org.name)
    # Agents get their tokens as `serve` would give them, so a later `serve` (or console) hears them.
    tokens = paths.agent_tokens(org.name, [agent.name for agent in org.agents])
    resume = journaled_resumer(org.name)  # agents the org's journal has seen run resume their conversations
    log = StructuredLog(paths.state_dir(org.name), args.log_level)
    log.install()
    try:
        try:
            report = await bring_up(
                org,
                backend,
                size,
                remove_orphans=args.remove_orphans,
                progress=_progress,
                extra_env=lambda agent: paths.control_env(org.name, tokens[agent.name]),
                resumer=resume,
            )
        except BackendGone as error:
            raise BackendGone(f"while bringing up org {org.name!r}: {error}") from None
        except BackendError:
            if not backend.client.connected or not await backend.alive():
                # The server died mid-command: say that, not the refusal it gave on its way out.
                raise BackendGone(f"while bringing up org {org.name!r}: {backend.client.gone_reason}") from None
            raise
        logging.getLogger(__name__).info(
            "up %s: started %s, restarted %s, removed %s",
            org.name,
            ", ".join(report.started) or "none",
            ", ".join(report.restarted) or "none",
            ", ".join(report.removed) or "none",
        )
    finally:
        await backend.close()
        log.close()
    _print_up(org.name, report, args.socket_name, len(org.agents))
    return 0


def _print_up(org: str, report: UpReport, socket_name: str | None, count: int) -> None:
    where = f"session {report.session!r}" + (f" on tmux socket {socket_name!r}" if socket_name else "")
    if not report.changed:
        print(f"org {org!r} is up to date in {where}: {count} agent(s) running, nothing to do")
    else:
        parts = [
            f"{len(items)} {label}"
            for items, label in (
                (report.started, "started"),
                (report.restarted, "restarted"),
                (report.moved, "moved"),
                (report.buried, "buried"),
                (report.unburied, "unburied"),
                (report.removed, "removed"),
            )
            if items
        ]
        summary = ", ".join(parts) or "layout updated"
        windows = f"{report.windows} window{'s' if report.windows != 1 else ''}"
        print(f"org {org!r} is up in {where}: {count} agent(s), {summary}; {windows}")
    for agent, how in report.resumed.items():
        print(f"note: {agent} resumes {how}")
    for agent, program in report.missing.items():
        print(f"note: {agent}'s program {program!r} is not found (not on its PATH): its pane shows the shell's error")
    if report.orphans:
        names = ", ".join(report.orphans)
        print(f"note: not in the spec but still running: {names} (up --remove-orphans closes them)")
    for window, strangers in report.not_laid_out.items():
        print(
            f"note: window {window} was not re-laid out: it also holds {', '.join(strangers)}, "
            "which the plan does not place"
        )
    if os.environ.get("TMUX") and not socket_name:
        print(f"switch to it with: tmux switch-client -t {report.session}")
    else:
        print(f"attach with: {_attach_hint(socket_name, report.session)}")


async def _serve(args: argparse.Namespace) -> int:
    return await human_cli.serve(args, _parse_size(args.size), _progress)


async def _live_states(orgs: set[str]) -> dict[tuple[str, str], dict]:
    """(org, agent) → state, task, last event time, from the consoles serving those orgs (if any)."""
    found: dict[tuple[str, str], dict] = {}
    for org in orgs:
        try:
            client = ControlClient(paths.socket_path(org), paths.human_token(org))
            state = await client.call("GET", "/v1/state", wait=5)
        except UnsafeRuntimeDir:
            raise  # not a console that is down: one that must not be trusted, and the user must hear it
        except (ControlUnreachable, ControlRefused, StateError):
            continue
        for name, view in state.get("agents", {}).items():
            found[(org, name)] = view
    return found


async def _served_tmux_socket(org: str) -> str | None:
    """The tmux socket name (-L) a served org runs on, as its console says; None for the default server."""
    try:
        client = ControlClient(paths.socket_path(org), paths.human_token(org))
        state = await client.call("GET", "/v1/state", wait=5)
    except (ControlUnreachable, ControlRefused, StateError):
        return None
    return (state.get("tmux") or {}).get("socket_name")


async def _ls(args: argparse.Namespace) -> int:
    socket_name = args.socket_name
    if socket_name is None and args.org and args.org in paths.running_sockets():
        socket_name = await _served_tmux_socket(args.org)
    backend = TmuxBackend(socket_name)
    try:
        try:
            await backend.attach()
        except BackendGone as error:
            if args.json:
                print("[]")
            print(f"no agents: {error}", file=sys.stderr)
            return 0
        agents = await list_agents(backend, args.org)
    finally:
        await backend.close()
    live = await _live_states({agent.org for agent in agents})
    if args.json:
        rows = []
        for agent in agents:
            row = agent.as_json()
            view = live.get((agent.org, agent.name), {})
            row.update(state=view.get("state"), task=view.get("task"), last_event=view.get("last_event"))
            rows.append(row)
        print(terminal_json(rows, indent=2))
        return 0
    if not agents:
        print("no agents" + (f" of org {args.org!r}" if args.org else "") + " are running", file=sys.stderr)
        return 0
    several = len({agent.org for agent in agents}) > 1
    header = (["ORG"] if several else []) + ["NAME", "TEAM", "KIND", "PANE", "PID", "ALIVE", "COMMAND"]
    table = [
        [
            visible(cell)
            for cell in ([agent.org] if several else [])
            + [
                agent.name,
                agent.team,
                agent.kind,
                agent.pane,
                str(agent.pid or "-"),
                ("yes" if agent.alive else "no") + (", buried" if agent.buried else ""),
                agent.command,
            ]
        ]
        for agent in agents
    ]
    widths = [max(len(line[i]) for line in [header, *table]) for i in range(len(header) - 1)]
    for line in [header, *table]:
        print("  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=False)) + "  " + line[-1])
    return 0


async def _down(args: argparse.Namespace) -> int:
    org_name = args.org
    if args.spec:
        if org_name:
            raise UsageError("give either ORG.toml or --org, not both")
        org_name = load_spec(args.spec).name
    backend = TmuxBackend(args.socket_name)
    try:
        try:
            await backend.attach()
        except BackendGone as error:
            print(f"nothing to stop: {error}", file=sys.stderr)
            return 0
        orgs = await running_orgs(backend)
        if org_name is None:
            if not orgs:
                print("nothing to stop: no org is running on this server", file=sys.stderr)
                return 0
            if len(orgs) > 1:
                raise UsageError(f"several orgs are running ({', '.join(sorted(orgs))}): name one with --org or a spec")
            org_name = next(iter(orgs))
        if org_name not in orgs:
            print(f"nothing to stop: org {org_name!r} is not running on this server", file=sys.stderr)
            return 0
        if backend.session != orgs[org_name]:
            await backend.close()
            backend = TmuxBackend(args.socket_name, orgs[org_name])
            await backend.attach()
        closed = await bring_down(backend, org_name)
    finally:
        await backend.close()
    print(f"org {org_name!r} is down: closed {len(closed)} agent pane(s) and its executive pane")
    kept = worktrees.registered(org_name)
    if kept:  # never deleted unasked: say where the work is
        where = ", ".join(f"{name} in {tree.path}" for name, tree in sorted(kept.items()))
        print(f"kept {len(kept)} worktree(s) (/merge or /discard them): {where}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
