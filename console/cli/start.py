"""Starting the console: inside tmux, this pane becomes the executive pane and the org is laid out in this
window; outside tmux, a tmux session is started with the console in its first pane, and attached. On the
iTerm2 backend, this iTerm2 session becomes the executive pane (outside iTerm2, a new iTerm2 window runs
the console)."""

from __future__ import annotations

import argparse
import asyncio
import os
import shlex
import shutil
import sys
from pathlib import Path

from agent_console.agents.journal import JournalError
from agent_console.agents.model import Org
from agent_console.agents.spec import SpecError, load_spec
from agent_console.runtime import crash, paths
from agent_console.runtime.demo import demo_org, fresh_or_resumed
from agent_console.runtime.isolation import IsolationError, boundary
from agent_console.runtime.paths import StateError
from agent_console.runtime.supervisor import Supervisor
from agent_console.terminal.base import BackendError, Launch
from agent_console.terminal.select import choose_backend, console_loop
from agent_console.terminal.tmux import TmuxBackend
from agent_console.tui.app import ConsoleApp

JUMP_BACK_KEY = "M-e"  # alt+e, from any pane: back to the executive pane
EMPTY_ORG = "console"


def load_org(args: argparse.Namespace) -> Org:
    if args.demo and args.spec:
        raise SystemExit("agent-console: error: give an org spec or --demo, not both")
    if args.demo:
        return demo_org()
    if args.spec:
        return load_spec(args.spec)
    return Org(name=EMPTY_ORG)


def _spec_path(args: argparse.Namespace) -> Path | None:
    return Path(args.spec) if args.spec else None


def run(args: argparse.Namespace, argv: list[str], size: tuple[int, int]) -> int:
    """Run the console; its exit status (1 when it stopped on an error it did not expect)."""
    org = load_org(args)
    paths.socket_dir()  # a runtime directory that is not ours is refused here, before any terminal is touched
    try:
        return _run(org, args, argv, size)
    except (SpecError, BackendError, StateError, JournalError, IsolationError):
        raise  # a user's mistake, a terminal that said no, a state file to fix: one line, from the command line
    except Exception as error:
        print(crash.crash_message(error, crash.write_log(org.name, error)), file=sys.stderr)
        return 1


def _run(org: Org, args: argparse.Namespace, argv: list[str], size: tuple[int, int]) -> int:
    choice = choose_backend(getattr(args, "backend", "auto"), os.environ)
    print(f"agent-console: {choice.message}", file=sys.stderr, flush=True)
    exposure = boundary(org.isolation).exposure  # raises when the org requires a boundary not to be had
    if exposure:
        print(f"agent-console: warning: {exposure}", file=sys.stderr, flush=True)
    if choice.name == "iterm2":
        return _run_iterm2(org, _spec_path(args), argv, size, getattr(args, "log_level", "info"))
    pane = os.environ.get("TMUX_PANE")
    if not os.environ.get("TMUX") or not pane:
        return _start_tmux(org, args, argv, size)
    said = fresh_or_resumed(args.socket_name) if args.demo else None
    backend = TmuxBackend(args.socket_name)
    log_level = getattr(args, "log_level", "info")
    supervisor = Supervisor(org, backend, size, exec_pane=pane, spec=_spec_path(args), log_level=log_level)
    if said:
        supervisor.notices.append(said)
    return run_app(ConsoleApp(supervisor, jump_back_key=JUMP_BACK_KEY))


def run_app(app: ConsoleApp, loop: asyncio.AbstractEventLoop | None = None) -> int:
    """Run the console app until it ends; an unexpected error is told in one paragraph, with its log's path."""
    app.run(loop=loop)
    if app.crash_error is not None and app.crash_log is not None:
        print(crash.crash_message(app.crash_error, app.crash_log), file=sys.stderr)
    return app.return_code or 0


def _start_tmux(org: Org, args: argparse.Namespace, argv: list[str], size: tuple[int, int]) -> int:
    """Outside tmux: a session for the org with this same command in its first pane, then attach to it."""
    tmux = shutil.which("tmux")
    if tmux is None:
        raise BackendError("tmux is not installed (install it with your package manager, e.g. apt-get install tmux)")
    command = shlex.join([sys.executable, "-m", "agent_console.cli", *argv])
    socket = ["-L", args.socket_name] if args.socket_name else []
    width, height = size
    session = ["new-session", "-A", "-s", org.name, "-x", str(width), "-y", str(height), command]
    # The console's pane stays when the console ends, so that what it said on its way out (and its exit
    # status) can be read there. (With -A and the session already there, this holds the pane attached to,
    # one of the org's, which are held anyway.)
    os.execvp(tmux, [tmux, *socket, *session, ";", "set-option", "-p", "remain-on-exit", "on"])


def _run_iterm2(org: Org, spec: Path | None, argv: list[str], size: tuple[int, int], log_level: str) -> int:
    """Inside iTerm2, this session is the executive pane; outside, a new iTerm2 window runs the console."""
    from agent_console.terminal.iterm2 import ITerm2Backend, session_id_from_environment

    pane = session_id_from_environment(os.environ.get("ITERM_SESSION_ID"))
    loop = console_loop()  # where the probe's connection lives: iTerm2 admits one per cookie
    if pane is None:
        return loop.run_until_complete(_open_iterm2_window(org, argv, size))
    supervisor = Supervisor(org, ITerm2Backend(), size, exec_pane=pane, spec=spec, log_level=log_level)
    return run_app(ConsoleApp(supervisor, jump_back_key=JUMP_BACK_KEY), loop=loop)


async def _open_iterm2_window(org: Org, argv: list[str], size: tuple[int, int]) -> int:
    from agent_console.terminal.iterm2 import ITerm2Backend

    backend = ITerm2Backend(org.name)
    command = shlex.join([sys.executable, "-m", "agent_console.cli", *argv])
    try:
        await backend.attach_or_create(size, "exec", Launch(command=command, cwd=os.getcwd()))
        if not backend.created_session:
            print(f"org {org.name!r} already has an iTerm2 window: bringing it to the front", file=sys.stderr)
        await backend.select_window()
    finally:
        await backend.close()
    return 0
