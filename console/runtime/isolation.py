"""The boundary an agent runs in: what it cannot see of the human's authority.

Agents run as the human's user, so without a boundary an agent can read the human's token, every agent's
token and the journal's key (the state directory), type into any pane through the tmux server's socket
(the console's own pane too: an approval), and read other panes' tokens in `/proc/<pid>/environ`. On Linux
every agent's command is wrapped in bubblewrap, which hides those and keeps the rest: the project, the home,
the network, the agent's own control socket and token. Elsewhere (macOS) there is no boundary yet, and the
console says so (`Boundary.exposure`), never silently.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import os
import shlex
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from agent_console.agents.errors import Unavailable
from agent_console.agents.model import Isolation
from agent_console.runtime import paths
from agent_console.terminal.base import Launch
from agent_console.terminal.tmux_control import server_directories

EXPOSED = "agents can act as you"  # how every warning about a missing boundary begins
INSTALL_BWRAP = "install bubblewrap: apt-get install bubblewrap (dnf/pacman: bubblewrap)"
PROBE_SECONDS = 10.0
# The user's shell, as tmux starts it in a pane given no command (tmux sets SHELL to its default-shell).
LOGIN_SHELL = 'exec "${SHELL:-/bin/sh}" -l'


class IsolationError(Unavailable):
    """The org requires a boundary (`isolation = "bwrap"`) that cannot be made here; says why and what to do."""


@dataclasses.dataclass(frozen=True)
class Boundary:
    """How agents are launched: inside bubblewrap (`bwrap` is its path), or as the human (`exposure` says why)."""

    bwrap: str | None
    exposure: str | None = None  # `agents can act as you: <why> — <how to fix>`, when there is no boundary

    def wrap(self, launch: Launch, keep: Sequence[Path] = ()) -> Launch:
        """`launch` run inside the boundary; `keep` are folders under a hidden one the agent still reads
        (read-only: the hook settings its program loads)."""
        if self.bwrap is None:
            return launch
        inner = launch.command or LOGIN_SHELL
        argv = [self.bwrap, *sandbox_arguments(keep), "--", "/bin/sh", "-c", inner]
        return dataclasses.replace(launch, command=shlex.join(argv))


def sandbox_arguments(keep: Sequence[Path] = ()) -> list[str]:
    """bubblewrap's arguments, each for a reason:

    - `--dev-bind / /`: the agent keeps the whole filesystem as it is (project, home, tools, this console's
      interpreter for its hooks), writable where the human's is; `dev-` so that device files still open.
    - `--dev /dev`: but a /dev of its own: its pane's terminal (as /dev/console and /dev/tty, and its open
      descriptors), ptys of its own, and none of the other panes' /dev/pts/N (reading one would take the
      keys a human types there, writing one would forge what that pane shows).
    - `--tmpfs` over each hidden folder: an empty folder in its place (writes vanish with it), 0700 as the
      folders it hides are (tmux refuses a socket folder others could enter).
    - `--ro-bind` of what it keeps under those, read-only: nothing it writes there reaches another agent.
    - `--unshare-pid --proc /proc`: a PID namespace of its own; /proc lists only its own processes, so no
      other process's environment (tokens), memory or signals are in reach.
    - `--die-with-parent`: the pane's process is bubblewrap; when tmux ends it, everything inside ends.
    - `--unsetenv TMUX --unsetenv TMUX_PANE`: nothing names the terminal server (its folder is hidden anyway).
    Not `--new-session`: the agent's program needs its pane as its controlling terminal (job control, prompts);
    the keys it could push there (TIOCSTI) reach only its own pane. Not `--unshare-net`: agents keep the network.
    """
    arguments = ["--dev-bind", "/", "/", "--dev", "/dev"]
    for folder in hidden_paths():
        arguments += ["--perms", "0700", "--tmpfs", str(folder)]
    for socket in hidden_sockets():
        arguments += ["--ro-bind", "/dev/null", str(socket)]
    for folder in keep:
        arguments += ["--ro-bind", str(folder), str(folder)]
    arguments += ["--unshare-pid", "--proc", "/proc", "--die-with-parent", "--unsetenv", "TMUX"]
    arguments += ["--unsetenv", "TMUX_PANE"]
    return arguments


def hidden_paths() -> list[Path]:
    """Folders an agent must not see: every org's state (human and agent tokens, journals and their keys),
    under this console's state root and the default one, and every tmux server's socket folder of this user
    (not only this org's: any server's socket types into its panes). Only folders that exist can be covered,
    so the state root and tmux's socket folders are made here (0700, as tmux makes its own): a server started
    after the agent cannot put its socket where the agent sees it."""
    found = [paths.state_root(create=True), paths.state_root(default=True)]
    for folder in server_directories():
        with contextlib.suppress(OSError):  # a parent that is not there or not ours: nothing to cover
            folder.mkdir(mode=0o700, exist_ok=True)
        found.append(folder)
    unique: list[Path] = []
    for folder in found:
        if folder.is_dir() and folder not in unique:
            unique.append(folder)
    return unique


def hidden_sockets() -> list[Path]:
    """Sockets through which a program would run a command outside the boundary, as the human: the user's
    systemd manager (`systemd-run --user`) and session bus (which can ask it too). Covered by /dev/null."""
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if not runtime:
        return []
    candidates = [Path(runtime) / "bus", Path(runtime) / "systemd" / "private"]
    return [path for path in candidates if path.exists() and not path.is_dir()]


def boundary(setting: Isolation | str) -> Boundary:
    """The boundary an org's agents get: bubblewrap when asked for or when `auto` finds it working; none when
    the org says so or nothing works here (with the warning to show). Raises `IsolationError` when the org
    requires bubblewrap and it cannot be had."""
    setting = Isolation(setting)
    if setting is Isolation.NONE:
        return Boundary(None, f'{EXPOSED}: the org sets isolation = "none" — remove it to run agents in a boundary')
    why, fix = _unavailable()
    if why is None:
        return Boundary(shutil.which("bwrap"))
    if setting is Isolation.BWRAP:
        raise IsolationError(
            f'the org requires isolation = "bwrap", but {why} — {fix}; '
            'or set isolation = "auto" to start without a boundary (with a warning)'
        )
    return Boundary(None, f"{EXPOSED}: {why} — {fix}")


def _unavailable() -> tuple[str | None, str]:
    """Why no boundary can be made here (None when bubblewrap works), and how to fix it."""
    if sys.platform == "darwin":
        return "there is no agent boundary on macOS yet", "run only agents you trust, or run the console on Linux"
    if not sys.platform.startswith("linux"):
        return f"there is no agent boundary on {sys.platform}", "run the console on Linux with bubblewrap"
    program = shutil.which("bwrap")
    if program is None:
        return "bubblewrap (bwrap) is not installed", INSTALL_BWRAP
    failure = probe(program)
    if failure is not None:
        return (
            f"bubblewrap cannot make a sandbox here ({failure})",
            "allow unprivileged user namespaces (sysctl kernel.unprivileged_userns_clone=1; on Ubuntu, "
            "kernel.apparmor_restrict_unprivileged_userns=0) or make bwrap setuid",
        )
    return None, ""


@functools.cache
def probe(program: str) -> str | None:
    """Whether bubblewrap works here, tried once per process: None if it does, else what it said."""
    command = [program, "--dev-bind", "/", "/", "--dev", "/dev", "--unshare-pid", "--proc", "/proc", "true"]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=PROBE_SECONDS, check=False)
    except (OSError, subprocess.TimeoutExpired) as error:
        return str(error)
    if done.returncode != 0:
        lines = (done.stderr or "").strip().splitlines()
        return lines[-1] if lines else f"exit status {done.returncode}"
    return None
