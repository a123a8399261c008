"""An asyncio client of tmux control mode (`tmux -C`) over pipes: commands, replies and notifications.

One connection per server. Replies are correlated in FIFO order, counting only `%begin … flags=1` blocks
(hooks produce flags=0 blocks). Notifications are pushed to subscribers; nothing here polls.
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import os
import re
import shutil
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from .base import BackendError, BackendGone

_LINE_LIMIT = 64 * 1024 * 1024  # %output lines of a busy pane can be long; tmux never splits a line


class TmuxCommandError(BackendError):
    """tmux answered a command with %error."""

    def __init__(self, command: str, message: str) -> None:
        super().__init__(f"tmux refused {command.split(' ', 1)[0]!r}: {message}")
        self.command = command
        self.tmux_message = message


@dataclass(frozen=True, slots=True)
class Notification:
    """One `%name args…` line outside a reply block; `%output` data is already octal-decoded."""

    name: str
    args: tuple[str, ...]
    data: bytes = b""
    received: float = 0.0


def decode_output(escaped: bytes) -> bytes:
    """Undo tmux's escaping of %output data: `\\ooo` octal for bytes below 0x20 and the backslash."""
    if b"\\" not in escaped:
        return escaped
    # tmux writes no escape but \ooo, which Python's own unescaping (in C) reads alike. Python's other escapes
    # (\n, \\, a short octal) shorten the data by less than 3 bytes a backslash, all but \xhh: data tmux would
    # not have written takes the regex, so the result is the same byte for byte.
    decoded = _escape_decode(escaped)[0]
    if len(decoded) == len(escaped) - 3 * escaped.count(b"\\") and b"\\x" not in escaped:
        return decoded
    return _OCTAL.sub(_octal_byte, escaped)


_OCTAL = re.compile(rb"\\([0-7]{3})")
_escape_decode = codecs.escape_decode  # undocumented, in CPython since 2.x


def _octal_byte(match: re.Match[bytes]) -> bytes:
    return bytes((int(match.group(1), 8) & 0xFF,))


def quote(value: str) -> str:
    """Quote one argument for tmux's command parser: single quotes, nothing inside is interpreted."""
    if "\n" in value or "\r" in value:
        raise ValueError("tmux command arguments cannot contain line breaks")
    return "'" + value.replace("'", "'\\''") + "'"


def escape_format(value: str) -> str:
    """Make text safe where tmux expands formats (`-c`, titles): a literal '#' is written '##'."""
    return value.replace("#", "##")


def tmux_base_command(socket_name: str | None, config_file: str | None = None) -> list[str]:
    executable = shutil.which("tmux")
    if executable is None:
        raise BackendError("tmux is not installed (install it with your package manager, e.g. apt-get install tmux)")
    command = [executable]
    inside = os.environ.get("TMUX", "").split(",")[0]
    if socket_name:
        command += ["-L", socket_name]
    elif inside:
        # Inside tmux the usual server is the one we are in; TMUX itself is dropped from the client's
        # environment (tmux refuses to attach from inside a session), so name its socket instead.
        command += ["-S", inside]
    if config_file:
        command += ["-f", config_file]
    return command


def server_directories() -> list[Path]:
    """Where this user's tmux servers keep their sockets: `$TMUX_TMPDIR` (or /tmp) `/tmux-<uid>` — the folder of
    every `-L` socket (tmux's `expand_paths`/`make_label`) — and the folder of the server `$TMUX` names, when a
    `-S` socket lives elsewhere. Whoever can reach one of them can type into every pane of that server."""
    label = f"tmux-{os.getuid()}"
    found = [Path(os.environ.get("TMUX_TMPDIR") or "/tmp") / label]
    if Path("/tmp") / label not in found:  # a server started without TMUX_TMPDIR (the user's own) lives here
        found.append(Path("/tmp") / label)
    inside = os.environ.get("TMUX", "").split(",")[0]
    if inside and Path(inside).parent not in found:
        found.append(Path(inside).parent)
    return found


class TmuxControlClient:
    """A `tmux -C` connection: `command()` sends one command and returns its reply lines."""

    def __init__(self, socket_name: str | None = None, config_file: str | None = None) -> None:
        self.socket_name = socket_name
        self.config_file = config_file
        self._process: asyncio.subprocess.Process | None = None
        self._reader: asyncio.Task[None] | None = None
        self._pending: deque[asyncio.Future[tuple[bool, list[str]]]] = deque()  # (ok, lines)
        self._subscribers: list[Callable[[Notification], None]] = []
        self._ready: asyncio.Future[str] | None = None
        self._write_lock = asyncio.Lock()
        self.session: str | None = None
        self.exit_reason: str | None = None
        self._closing = False
        self._live = False

    @property
    def where(self) -> str:
        return f"tmux server {self.socket_name!r}" if self.socket_name else "the default tmux server"

    @property
    def gone_reason(self) -> str:
        """Why the connection ended, for the user (also in the moment between tmux's %exit and the end)."""
        return self.exit_reason or f"{self.where} went away (the server was killed, or the session closed)"

    @property
    def connected(self) -> bool:
        return self._live and self._process is not None and self._process.returncode is None

    async def connect(self, args: Sequence[str], timeout: float = 10.0) -> None:
        """Start `tmux -C <args>` (e.g. `attach -t S`, `new-session -A -s S`) and wait until attached.

        Calling it again after the server went away reconnects.
        """
        if self.connected:
            return
        await self._reset()
        env = {key: value for key, value in os.environ.items() if key not in ("TMUX", "TMUX_PANE")}
        command = [*tmux_base_command(self.socket_name, self.config_file), "-C", *args]
        self._process = await asyncio.create_subprocess_exec(
            *command,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=env,
            limit=_LINE_LIMIT,
        )
        loop = asyncio.get_running_loop()
        self._ready = loop.create_future()
        self.exit_reason = None
        self._closing = False
        self._live = True
        self._reader = asyncio.create_task(self._read_loop(self._process), name="tmux-control-reader")
        try:
            self.session = await asyncio.wait_for(asyncio.shield(self._ready), timeout)
        except TimeoutError:
            await self.close()
            raise BackendError(f"{self.where} did not answer within {timeout:.0f} s") from None

    async def close(self) -> None:
        process = self._process
        self._closing = True
        if process is not None and process.returncode is None:
            assert process.stdin is not None  # started with stdin=PIPE
            with contextlib.suppress(Exception):
                process.stdin.close()  # tmux detaches this client when its input ends
            try:
                await asyncio.wait_for(process.wait(), 2.0)
            except TimeoutError:
                process.kill()
                await process.wait()
        if self._reader is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        self._fail_pending(BackendGone(f"connection to {self.where} closed"))

    async def _reset(self) -> None:
        if self._process is not None:
            await self.close()
        self._process = None
        self._reader = None

    def subscribe(self, callback: Callable[[Notification], None]) -> Callable[[], None]:
        """Call `callback` for every notification (in the reader task). Returns an unsubscribe function."""
        self._subscribers.append(callback)
        return lambda: self._subscribers.remove(callback) if callback in self._subscribers else None

    async def command(self, command: str) -> list[str]:
        """Run one tmux command; its output lines, or `TmuxCommandError` with tmux's message."""
        if not self.connected:
            raise BackendGone(self.gone_reason if self._process is not None else f"not connected to {self.where}")
        if "\n" in command:
            raise ValueError("one command per call: it may not contain a line break")
        future: asyncio.Future[tuple[bool, list[str]]] = asyncio.get_running_loop().create_future()
        async with self._write_lock:
            # FIFO correlation: register and write under one lock so the order matches tmux's.
            self._pending.append(future)
            assert self._process is not None and self._process.stdin is not None
            try:
                self._process.stdin.write(command.encode() + b"\n")
                await self._process.stdin.drain()
            except (ConnectionError, BrokenPipeError):
                if future in self._pending:
                    self._pending.remove(future)
                raise BackendGone(f"{self.where} went away") from None
        ok, lines = await future
        if not ok:
            raise TmuxCommandError(command, " ".join(lines).strip() or "unknown error")
        return lines

    async def commands(self, commands: Sequence[str]) -> list[list[str]]:
        """Send several commands back to back (one round trip of latency) and collect every reply."""
        return list(await asyncio.gather(*(self.command(command) for command in commands)))

    async def _read_loop(self, process: asyncio.subprocess.Process) -> None:
        assert process.stdout is not None
        stdout = process.stdout
        block: list[str] | None = None
        block_key: bytes | None = None
        block_is_reply = False
        preamble: list[str] = []
        try:
            while True:
                raw = await stdout.readline()
                if not raw:
                    break
                line = raw.rstrip(b"\n")
                if block is not None:
                    ended = line.startswith(b"%end ") or line.startswith(b"%error ")
                    if ended and line.split(b" ", 1)[1] == block_key:
                        ok = line.startswith(b"%end ")
                        if block_is_reply and self._pending:
                            waiter = self._pending.popleft()  # the reply pairs with it even if its caller gave up
                            if not waiter.done():
                                waiter.set_result((ok, block))
                        elif not ok and self._ready is not None and not self._ready.done():
                            # The attach command itself failed (no session, no server).
                            self.exit_reason = " ".join(block).strip()
                        block = None
                        continue
                    block.append(line.decode("utf-8", "replace"))
                    continue
                if line.startswith(b"%begin "):
                    block = []
                    block_key = line.split(b" ", 1)[1]
                    block_is_reply = block_key.rsplit(b" ", 1)[-1] == b"1"
                    continue
                if not line.startswith(b"%"):
                    # Before attaching, tmux may explain a failure in plain lines; later, hooks print here.
                    if self._ready is not None and not self._ready.done() and len(preamble) < 20:
                        preamble.append(line.decode("utf-8", "replace"))
                    continue
                self._dispatch(line)
        except (asyncio.LimitOverrunError, ValueError) as error:
            self.exit_reason = f"unreadable control-mode output ({error})"
        finally:
            await self._finish(process, preamble)

    def _dispatch(self, line: bytes) -> None:
        now = time.monotonic()
        if line.startswith(b"%output "):
            _, pane, data = [*line.split(b" ", 2), b""][:3]
            notification = Notification("output", (pane.decode(),), decode_output(data), now)
        elif line.startswith(b"%extended-output "):
            head, _, data = line.partition(b" : ")
            parts = head.split(b" ")
            notification = Notification("output", (parts[1].decode(),), decode_output(data), now)
        else:
            text = line[1:].decode("utf-8", "replace")
            name, _, rest = text.partition(" ")
            args = tuple(rest.split(" ")) if rest else ()
            notification = Notification(name, args, b"", now)
            if name == "session-changed" and self._ready is not None and not self._ready.done():
                self._ready.set_result(args[1] if len(args) > 1 else "")
            if name == "exit":
                # The connection is ending; _finish tells subscribers once, with the reason.
                self.exit_reason = self.exit_reason or rest or None
                self._live = False
                return
        for callback in list(self._subscribers):
            callback(notification)

    async def _finish(self, process: asyncio.subprocess.Process, preamble: list[str]) -> None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(process.wait(), 2.0)
        stderr = b""
        if process.stderr is not None:
            with contextlib.suppress(Exception):
                stderr = await asyncio.wait_for(process.stderr.read(), 1.0)
        said = " ".join([*preamble, stderr.decode("utf-8", "replace")]).strip()
        reason = self.exit_reason or said
        if self._closing:
            reason = f"connection to {self.where} closed"
        elif not reason or reason.startswith("server exited"):
            reason = f"{self.where} went away (the server was killed, or the session closed)"
        elif reason == "no sessions" or reason.startswith("no server running") or "error connecting to" in reason:
            reason = f"no tmux server is running on {self._socket_label()} (nothing is up there)"
        self.exit_reason = reason
        self._live = False
        error = BackendGone(reason)
        if self._ready is not None and not self._ready.done():
            # Never attached: connect() raises this; subscribers never saw a connection, so nothing is lost.
            self._ready.set_exception(error)
            self._ready.exception()
            self._fail_pending(error)
            return
        self._fail_pending(error)
        gone = Notification("exit", (reason,), b"", time.monotonic())
        for callback in list(self._subscribers):
            callback(gone)

    def _socket_label(self) -> str:
        return f"socket {self.socket_name!r}" if self.socket_name else "the default socket"

    def _fail_pending(self, error: Exception) -> None:
        while self._pending:
            future = self._pending.popleft()
            if not future.done():
                future.set_exception(error)
