"""Sockets you can trust: another user who squats the runtime directory or plants a control socket gets nothing.

Without `XDG_RUNTIME_DIR` the control sockets live in `/tmp/agent-console-<uid>`, a name anyone can create first.
Each attack below is made for real (as root, with a directory or socket chowned to `nobody`): the console must
refuse to start there, and a client must refuse to send its bearer token to a socket that is not its user's.
The fallback's parent is a private sticky folder standing in for /tmp, so that no test touches the real one.
"""

from __future__ import annotations

import asyncio
import os
import socket
import stat
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent_console.runtime import paths
from agent_console.runtime.client import ControlClient
from agent_console.runtime.paths import UnsafeRuntimeDir

NOBODY = 65534
pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root: files must be given to another user (chown)")
SPEC = '[org]\nname = "squat"\n\n[[team]]\nname = "t"\n\n[[agent]]\nname = "a"\nteam = "t"\ncommand = "sleep 600"\n'


@pytest.fixture
def tmp_root(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A stand-in for /tmp (mode 1777), with no XDG_RUNTIME_DIR: sockets fall back to `<it>/agent-console-<uid>`."""
    root = Path(tempfile.mkdtemp(prefix="acsq", dir="/tmp"))
    root.chmod(0o1777)
    monkeypatch.setattr(paths, "FALLBACK_PARENT", root)
    monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)
    yield root
    subprocess.run(["rm", "-rf", str(root)], check=False)


def fallback(root: Path) -> Path:
    return root / f"agent-console-{os.getuid()}"


def serve(root: Path, tmp_path: Path, tmux_socket: str) -> subprocess.CompletedProcess[str]:
    """`agent-console serve` as a user runs it, with the fallback moved under `root`."""
    spec = tmp_path / "squat.toml"
    spec.write_text(SPEC)
    program = (
        "import sys\nfrom pathlib import Path\nfrom agent_console.runtime import paths\n"
        f"paths.FALLBACK_PARENT = Path({str(root)!r})\n"
        "from agent_console.cli.entry import main\n"
        f"sys.exit(main(['serve', {str(spec)!r}, '-L', {tmux_socket!r}]))\n"
    )
    env = {name: value for name, value in os.environ.items() if name not in ("TMUX", "TMUX_PANE", "XDG_RUNTIME_DIR")}
    env["XDG_STATE_HOME"] = str(tmp_path / "state")
    return subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, env=env, timeout=60, check=False
    )


def test_the_fallback_directory_is_created_private(tmp_root: Path) -> None:
    made = paths.socket_dir()
    info = made.lstat()
    assert made == fallback(tmp_root)
    assert stat.S_ISDIR(info.st_mode) and stat.S_IMODE(info.st_mode) == 0o700 and info.st_uid == os.getuid()
    assert paths.socket_dir() == made  # and it is accepted the next time


@pytest.mark.parametrize(
    ("squat", "said"),
    [
        ("owned by nobody", "belongs to nobody (uid 65534), not to you"),
        ("mode 0777", "is open to others (mode drwxrwxrwx"),
        ("symlink", "is a symlink (to "),
    ],
)
def test_a_squatted_fallback_directory_is_refused_at_start(
    tmp_root: Path, tmp_path: Path, tmux_socket: str, squat: str, said: str
) -> None:
    target = fallback(tmp_root)
    if squat == "symlink":
        elsewhere = tmp_root / "attacker"
        elsewhere.mkdir(mode=0o700)
        os.chown(elsewhere, NOBODY, NOBODY)
        target.symlink_to(elsewhere)
        watched = elsewhere
    else:
        target.mkdir()
        if squat == "owned by nobody":
            target.chmod(0o700)
            os.chown(target, NOBODY, NOBODY)
        else:
            target.chmod(0o777)
        watched = target

    done = serve(tmp_root, tmp_path, tmux_socket)

    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    assert f"the runtime directory {target} {said}" in done.stderr
    assert "XDG_RUNTIME_DIR" in done.stderr and f"rm -r {target}" in done.stderr
    assert list(watched.iterdir()) == []  # no socket, no token: nothing was written where the attacker reads


def test_the_xdg_runtime_directory_gets_the_same_check(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    runtime = tmp_path / "run"
    (runtime / "agent-console").mkdir(parents=True)
    os.chown(runtime / "agent-console", NOBODY, NOBODY)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(runtime))
    with pytest.raises(UnsafeRuntimeDir, match="belongs to nobody"):
        paths.socket_path("crew")
    os.chown(runtime / "agent-console", os.getuid(), os.getgid())
    (runtime / "agent-console").chmod(0o700)
    assert paths.socket_path("crew") == runtime / "agent-console" / "crew.sock"


class Listener:
    """A unix socket server that records every byte it receives and answers like a console that approves."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.received = b""
        self.server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.server.bind(str(path))
        self.server.listen()
        self.server.settimeout(0.2)
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while not self.stopping.is_set():
            try:
                connection, _ = self.server.accept()
            except TimeoutError:
                continue
            with connection:
                connection.settimeout(1.0)
                try:
                    self.received += connection.recv(65536)
                    connection.sendall(b'HTTP/1.1 200 OK\r\nContent-Length: 17\r\n\r\n{"approved":true}')
                except OSError:
                    pass

    def close(self) -> None:
        self.stopping.set()
        self.thread.join()
        self.server.close()


@pytest.fixture
def planted(tmp_root: Path) -> Iterator[Listener]:
    listener = Listener(paths.socket_dir() / "crew.sock")
    yield listener
    listener.close()


def test_a_client_sends_no_token_to_a_socket_another_user_owns(planted: Listener) -> None:
    os.chown(planted.path, NOBODY, NOBODY)
    client = ControlClient(planted.path, "SECRET-TOKEN-0123456789")

    refusal = r"belongs to nobody \(uid 65534\), not to you \(root, uid 0\): .* no token is sent"
    with pytest.raises(UnsafeRuntimeDir, match=refusal):
        asyncio.run(client.call("GET", "/v1/state"))

    assert planted.received == b""  # not even a connection's first byte: the token never left
    assert paths.running_sockets() == {}  # not listed as a console,
    assert planted.path.exists()  # and not removed either: it is not ours to delete


def test_a_client_sends_no_token_to_a_socket_in_a_folder_others_can_change(planted: Listener) -> None:
    planted.path.parent.chmod(0o733)
    client = ControlClient(planted.path, "SECRET-TOKEN-0123456789")
    with pytest.raises(UnsafeRuntimeDir, match="someone else could swap the socket"):
        asyncio.run(client.call("GET", "/v1/state"))
    assert planted.received == b""


def test_a_server_running_as_another_user_is_refused_after_connecting(
    planted: Listener, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The file checks can be raced (a socket swapped after them): the peer's credentials, read from the
    connection before any byte is sent, cannot. Here the file looks ours, the process behind it is not."""
    real_getuid = os.getuid
    checked: list[str] = []
    monkeypatch.setattr(paths, "check_socket", lambda path: checked.append(str(path)))
    monkeypatch.setattr("agent_console.runtime.client.check_socket", lambda path: checked.append(str(path)))
    monkeypatch.setattr(os, "getuid", lambda: real_getuid() + 1000)  # the client's user is someone else
    client = ControlClient(planted.path, "SECRET-TOKEN-0123456789")
    with pytest.raises(UnsafeRuntimeDir, match=r"runs as uid 0, not as you \(uid 1000\)"):
        asyncio.run(client.call("GET", "/v1/state"))
    assert checked and planted.received == b""


def test_the_legitimate_socket_still_gets_the_request(planted: Listener) -> None:
    client = ControlClient(planted.path, "SECRET-TOKEN-0123456789")
    assert asyncio.run(client.call("GET", "/v1/state")) == {"approved": True}
    assert b"Bearer SECRET-TOKEN-0123456789" in planted.received
    assert paths.running_sockets() == {"crew": planted.path}


def test_running_sockets_leaves_a_dead_socket_of_another_user_alone(tmp_root: Path) -> None:
    folder = paths.socket_dir()
    for name, owner in (("mine", os.getuid()), ("theirs", NOBODY)):
        dead = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        dead.bind(str(folder / f"{name}.sock"))
        dead.close()  # bound, never listening: what a killed console leaves
        os.chown(folder / f"{name}.sock", owner, owner)
    assert paths.running_sockets() == {}
    assert not (folder / "mine.sock").exists()  # ours and stale: cleaned up
    assert (folder / "theirs.sock").exists()
