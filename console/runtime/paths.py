"""Where an org's files live: its state directory (journal, keys, tokens) and its control socket."""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import secrets
import socket
import stat
from pathlib import Path

from agent_console.agents.errors import Unavailable
from agent_console.agents.protocol import new_token


class StateError(Unavailable):
    """A state file is missing, unreadable or too open; the message says which and what to do."""


def state_root(create: bool = False, default: bool = False) -> Path:
    """`$XDG_STATE_HOME/agent-console` (default, or with `default`: `~/.local/state/agent-console`): every
    org's state, hidden from agents."""
    base = None if default else os.environ.get("XDG_STATE_HOME")
    path = Path(base or Path.home() / ".local" / "state") / "agent-console"
    if create:
        path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path


def state_dir(org: str, create: bool = True) -> Path:
    """`$XDG_STATE_HOME/agent-console/<org>` (default `~/.local/state/agent-console/<org>`), made 0700."""
    path = state_root() / org
    if create:
        path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path


def public_dir(org: str) -> Path:
    """What an org's agents may read of its state (the hook settings their programs load): the one folder of
    the state directory they see, read-only."""
    path = state_dir(org) / "public"
    path.mkdir(exist_ok=True, mode=0o700)
    return path


FALLBACK_PARENT = Path("/tmp")
"""Where the runtime directory goes without `XDG_RUNTIME_DIR` (a module constant so that tests can move it)."""


class UnsafeRuntimeDir(StateError):
    """The directory of control sockets is not private to this user: someone else could plant or read sockets."""


def socket_dir() -> Path:
    """`$XDG_RUNTIME_DIR/agent-console`, else `/tmp/agent-console-<uid>`, made 0700 and checked to be ours alone.

    Another user who creates the fallback first (anyone may write to /tmp) would receive every bearer token sent
    to a socket in it, and could answer requests as the console: such a directory is refused, never used."""
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    path = Path(runtime) / "agent-console" if runtime else FALLBACK_PARENT / f"agent-console-{os.getuid()}"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.mkdir(mode=0o700)
    except FileExistsError:
        pass
    except OSError as error:
        raise StateError(f"cannot create the runtime directory {path}: {error.strerror or error}") from None
    check_private_dir(path, runtime is None)
    return path


def check_private_dir(path: Path, fallback: bool = False) -> None:
    """Refuse `path` unless it is a real directory (not a symlink), owned by this user, closed to others."""
    try:
        info = os.lstat(path)
    except OSError as error:
        raise StateError(f"cannot read the runtime directory {path}: {error.strerror or error}") from None
    uid = os.getuid()
    fix = f"remove it (`rm -r {path}`, as its owner or root)" + (
        " or set XDG_RUNTIME_DIR to a directory of your own" if fallback else ""
    )
    if stat.S_ISLNK(info.st_mode):
        target = os.readlink(path)
        raise UnsafeRuntimeDir(f"the runtime directory {path} is a symlink (to {target}), not a directory: {fix}")
    if not stat.S_ISDIR(info.st_mode):
        raise UnsafeRuntimeDir(f"the runtime directory {path} is not a directory: {fix}")
    if info.st_uid != uid:
        raise UnsafeRuntimeDir(
            f"the runtime directory {path} belongs to {_user(info.st_uid)}, not to {_you()}: "
            f"whoever made it could read your tokens; {fix}"
        )
    if info.st_mode & 0o077:
        raise UnsafeRuntimeDir(
            f"the runtime directory {path} is open to others (mode {stat.filemode(info.st_mode)}, not drwx------): "
            f"someone may have placed sockets in it; {fix}"
        )


def check_socket(path: Path) -> None:
    """Refuse a control socket that another user owns or could have swapped: it would receive the bearer token."""
    try:
        info = os.lstat(path)
        folder = os.lstat(path.parent)
    except FileNotFoundError:
        return  # nothing to trust yet: connecting fails and says so
    except OSError as error:
        raise StateError(f"cannot read the control socket {path}: {error.strerror or error}") from None
    uid = os.getuid()
    if not stat.S_ISSOCK(info.st_mode):
        raise UnsafeRuntimeDir(f"{path} is not a socket (mode {stat.filemode(info.st_mode)}): no token is sent to it")
    if info.st_uid != uid:
        raise UnsafeRuntimeDir(
            f"the control socket {path} belongs to {_user(info.st_uid)}, not to {_you()}: "
            "it is not your console, and no token is sent to it"
        )
    if folder.st_uid != uid or folder.st_mode & 0o022 or stat.S_ISLNK(folder.st_mode):
        raise UnsafeRuntimeDir(
            f"the folder of the control socket {path} belongs to {_user(folder.st_uid)} "
            f"(mode {stat.filemode(folder.st_mode)}): someone else could swap the socket, so no token is sent to it"
        )


def _you() -> str:
    uid = os.getuid()
    try:
        return f"you ({pwd.getpwuid(uid).pw_name}, uid {uid})"
    except KeyError:
        return f"you (uid {uid})"


def _user(uid: int) -> str:
    try:
        return f"{pwd.getpwuid(uid).pw_name} (uid {uid})"
    except KeyError:
        return f"uid {uid}"


def socket_path(org: str) -> Path:
    return socket_dir() / f"{org}.sock"


def running_sockets() -> dict[str, Path]:
    """Org name → control socket, for every console of ours that is listening. A socket file of ours nothing
    listens on (left by a console that was killed) is removed; one that is not ours is neither used nor touched."""
    found = {}
    uid = os.getuid()
    for path in sorted(socket_dir().glob("*.sock")):
        try:
            info = os.lstat(path)
        except OSError:
            continue
        if not stat.S_ISSOCK(info.st_mode) or info.st_uid != uid:
            continue
        if _listening(path):
            found[path.stem] = path
    return found


def _listening(path: Path) -> bool:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        probe.settimeout(1.0)
        try:
            probe.connect(str(path))
        except (ConnectionRefusedError, FileNotFoundError):
            with contextlib.suppress(OSError):
                path.unlink()
            return False
        except OSError:
            return True  # busy or slow, but someone is there
    return True


def control_env(org: str, token: str) -> dict[str, str]:
    """What an agent needs in its environment to reach the org's console: its token and the socket."""
    return {"AGENT_CONSOLE_TOKEN": token, "AGENT_CONSOLE_SOCKET": str(socket_path(org))}


def write_private(path: Path, text: str) -> None:
    """Write a file only its owner can read (0600), atomically."""
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.replace(temporary, path)


def write_text_atomically(path: Path, text: str) -> None:
    """Replace `path` with `text` in one step: a reader sees the old file or the new one, never half of it."""
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}")
    temporary.write_text(text, encoding="utf-8")
    try:
        os.replace(temporary, path)
    except OSError:
        temporary.unlink(missing_ok=True)
        raise


def read_private(path: Path) -> str:
    """Read a secret file, refusing one that others can read."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise StateError(f"{path} does not exist") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise StateError(f"{path} is readable by others (mode {stat.filemode(mode)}): run `chmod 600 {path}`")
    return path.read_text(encoding="utf-8")


def human_token(org: str, create: bool = False) -> str:
    """The human's bearer token for the org's control API."""
    path = state_dir(org, create=create) / "human.token"
    if not path.exists():
        if not create:
            raise StateError(f"no human token for org {org!r} ({path}): is `agent-console serve` running for it?")
        write_private(path, new_token())
    return read_private(path).strip()


def agent_tokens(org: str, agents: list[str]) -> dict[str, str]:
    """Each agent's token, kept across restarts so that running agents keep theirs; new agents get one."""
    path = state_dir(org) / "tokens.json"
    tokens: dict[str, str] = {}
    if path.exists():
        try:
            tokens = json.loads(read_private(path))
        except json.JSONDecodeError as error:
            raise StateError(f"{path} is not valid JSON ({error}); delete it to issue new tokens") from None
    missing = [agent for agent in agents if agent not in tokens]
    if missing or not path.exists():
        tokens.update({agent: new_token() for agent in missing})
        write_private(path, json.dumps(tokens, indent=2, sort_keys=True))
    return tokens
