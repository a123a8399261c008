"""A session: a real process in a real pty, its output read by asyncio into a `pyte` screen."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import signal
import socket
import struct
import subprocess
import termios
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import pyte

from .osc import CurrentDirectory, Osc1337, OscScanner
from .screen import TerminalScreen

_READ_SIZE = 65536


class SessionEvents(Protocol):
    """What a session tells the app about."""

    def session_output(self, session: PtySession) -> None: ...

    def session_sequence(self, session: PtySession, sequence: Osc1337) -> None: ...

    def session_exited(self, session: PtySession) -> None: ...

    def session_pid_known(self, session: PtySession) -> None: ...


@dataclass(frozen=True)
class LaunchSpec:
    """What to run in a session, resolved from its profile."""

    argv: list[str]
    cwd: str
    env: Mapping[str, str] = field(default_factory=dict)


def _take_controlling_terminal() -> None:
    # Runs in the child after setsid(): make the pty (its stdin) the controlling terminal.
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


def _set_window_size(fd: int, columns: int, rows: int) -> None:
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))


def session_members(session_leader: int) -> list[int]:
    """Every live process in the Unix session a child started (its shell's jobs included)."""
    members = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="utf-8", errors="replace") as stat:
                fields = stat.read().rpartition(")")[2].split()
        except OSError:
            continue
        if len(fields) > 3 and fields[0] != "Z" and int(fields[3]) == session_leader:
            members.append(int(entry))
    return members


def _proc_text(pid: int | None, name: str) -> str | None:
    if pid is None:
        return None
    try:
        with open(f"/proc/{pid}/{name}", "rb") as file:
            return file.read().decode("utf-8", "replace")
    except OSError:
        return None


class PtySession:
    """One pane's process, pty and screen. `events` hears about output, OSC 1337 sequences and exit."""

    def __init__(
        self,
        session_id: str,
        termid: str,
        launch: LaunchSpec,
        columns: int,
        rows: int,
        profile: dict[str, Any],
        events: SessionEvents,
        pid_delay: float = 0.0,
    ) -> None:
        self.session_id = session_id
        self.termid = termid
        self.launch = launch
        self.profile = profile
        self.profile_writes: list[tuple[str, Any]] = []
        self.user_vars: dict[str, Any] = {}
        self.explicit_name: str | None = None
        self.reported_path: str | None = None
        self.input_log = bytearray()
        self.last_output = 0.0
        self.exit_status: int | None = None
        self.should_restart = False
        self.known_pid: int | None = None  # the `pid` variable: learned late, never cleared
        self._pid_delay = pid_delay
        self._events = events
        self.screen = TerminalScreen(columns, rows, self._write_raw)
        self._stream = pyte.ByteStream(self.screen)
        self._scanner = OscScanner()
        self._proc: subprocess.Popen[bytes] | None = None
        self._master: int | None = None
        self._pidfd: int | None = None
        self._tty = ""
        self._pending_write = bytearray()
        self._generation = 0
        self._closing = False
        self._exit_poll: asyncio.TimerHandle | None = None

    # --- lifecycle --------------------------------------------------------------------------------------

    @property
    def alive(self) -> bool:
        return self._proc is not None and self.exit_status is None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def start(self) -> None:
        """Spawn the launch command in a fresh pty as the session leader with the pty as its terminal."""
        loop = asyncio.get_running_loop()
        self.exit_status = None
        master, slave = os.openpty()
        _set_window_size(master, self.screen.columns, self.screen.lines)
        self._tty = os.ttyname(slave)
        env = {**os.environ, **self.launch.env}
        try:
            self._proc = subprocess.Popen(
                self.launch.argv,
                stdin=slave,
                stdout=slave,
                stderr=slave,
                cwd=self.launch.cwd,
                env=env,
                start_new_session=True,
                preexec_fn=_take_controlling_terminal,
            )
        except OSError as error:
            os.close(slave)
            os.close(master)
            # iTerm2 shows why the command could not start, then the session ends.
            self._consume(f"{self.launch.argv[0]}: {error.strerror}\r\n".encode())
            self._proc = None
            self.exit_status = 127
            generation = self._generation
            loop.call_soon(self._report_exit, generation)
            return
        os.close(slave)
        # iTerm2 sets `pid` when its job poller first sees the process, not when the session starts
        # (PTYSession.m, `setCurrentForegroundJobProcessInfo:`, which also leaves it be once exited).
        loop.call_later(self._pid_delay, self._learn_pid, self._generation)
        os.set_blocking(master, False)
        self._master = master
        loop.add_reader(master, self._on_readable)
        try:
            self._pidfd = os.pidfd_open(self._proc.pid)
        except (AttributeError, OSError):
            self._pidfd = None
            self._poll_exit()
        else:
            loop.add_reader(self._pidfd, self._on_process_exit, self._generation)

    def _learn_pid(self, generation: int) -> None:
        if generation == self._generation and self.alive and not self._closing:
            self.known_pid = self.pid
            self._events.session_pid_known(self)

    def _poll_exit(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._exit_poll = asyncio.get_running_loop().call_later(0.05, self._poll_exit)
        else:
            self._on_process_exit(self._generation)

    def _on_process_exit(self, generation: int) -> None:
        if self._pidfd is not None:
            asyncio.get_running_loop().remove_reader(self._pidfd)
            os.close(self._pidfd)
            self._pidfd = None
        if self._proc is not None:
            self.exit_status = self._proc.wait()
        self._drain()
        self._report_exit(generation)

    def _report_exit(self, generation: int) -> None:
        if generation == self._generation and not self._closing:
            self._events.session_exited(self)

    def close(self) -> None:
        """Hang up, as closing the pane does: SIGHUP now, SIGKILL for whatever is left shortly after."""
        if self._closing:
            return
        self._closing = True
        self._close_pty()
        self._signal_members(signal.SIGHUP)
        if self.alive:
            asyncio.get_running_loop().call_later(0.5, self._signal_members, signal.SIGKILL)

    async def terminate(self, timeout: float = 3.0) -> None:
        """SIGKILL every process of the session and reap the child (bounded)."""
        self._closing = True
        self._close_pty()
        await self._kill_and_reap(timeout)

    def kill(self) -> None:
        """SIGKILL the session's processes; their end is reported as any exit is."""
        self._signal_members(signal.SIGKILL)

    def relaunch(self) -> None:
        """Start the same command again in this session (its program has ended), keeping its screen."""
        self._generation += 1
        self._signal_members(signal.SIGKILL)  # what the program left behind
        if self._pidfd is not None:
            asyncio.get_running_loop().remove_reader(self._pidfd)
            os.close(self._pidfd)
            self._pidfd = None
        if self._exit_poll is not None:
            self._exit_poll.cancel()
        self._close_pty()
        self._scanner = OscScanner()
        self.start()

    async def _kill_and_reap(self, timeout: float) -> None:
        self._signal_members(signal.SIGKILL)
        deadline = time.monotonic() + timeout
        while self._proc is not None and time.monotonic() < deadline:
            # Signals land asynchronously: wait until the child is reaped and its jobs are gone too.
            if self._proc.poll() is not None and not session_members(self._proc.pid):
                break
            await asyncio.sleep(0.01)
            self._signal_members(signal.SIGKILL)
        if self._proc is not None and self.exit_status is None:
            self.exit_status = self._proc.poll()
        if self._pidfd is not None:
            asyncio.get_running_loop().remove_reader(self._pidfd)
            os.close(self._pidfd)
            self._pidfd = None
        if self._exit_poll is not None:
            self._exit_poll.cancel()

    def _signal_members(self, sig: signal.Signals) -> None:
        if self._proc is None:
            return
        targets = set(session_members(self._proc.pid))
        if self._proc.poll() is None:
            targets.add(self._proc.pid)
        for pid in targets:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, sig)

    def send_signal(self, sig: signal.Signals) -> None:
        """Signal the session's own child (as `kill` would)."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.send_signal(sig)

    def _close_pty(self) -> None:
        if self._master is not None:
            loop = asyncio.get_running_loop()
            loop.remove_reader(self._master)
            loop.remove_writer(self._master)
            os.close(self._master)
            self._master = None
        self._pending_write.clear()

    # --- output -----------------------------------------------------------------------------------------

    def _on_readable(self) -> None:
        assert self._master is not None
        try:
            data = os.read(self._master, _READ_SIZE)
        except BlockingIOError:
            return
        except OSError:
            data = b""  # EIO: no process holds the pty any more
        if data:
            self._consume(data)
        else:
            asyncio.get_running_loop().remove_reader(self._master)

    def _drain(self) -> None:
        """Read what the process wrote before it exited, so its last screen is complete."""
        while self._master is not None:
            try:
                data = os.read(self._master, _READ_SIZE)
            except OSError:
                return
            if not data:
                return
            self._consume(data)

    def _consume(self, data: bytes) -> None:
        self._stream.feed(data)
        self.last_output = time.monotonic()
        for sequence in self._scanner.feed(data):
            if isinstance(sequence, CurrentDirectory):
                self.reported_path = sequence.path
            self._events.session_sequence(self, sequence)
        self._events.session_output(self)

    def inject(self, data: bytes) -> None:
        """Put bytes on the screen as if the program had printed them."""
        self._consume(data)

    # --- input ------------------------------------------------------------------------------------------

    def send_input(self, data: bytes) -> bool:
        """Type into the pty (keyboard or API). False if nobody is there to read it."""
        if self._master is None or self._closing:
            return False
        self.input_log += data
        self._write_raw(data)
        return True

    def _write_raw(self, data: bytes) -> None:
        if self._master is None:
            return
        self._pending_write += data
        self._flush()

    def _flush(self) -> None:
        if self._master is None:
            return
        loop = asyncio.get_running_loop()
        while self._pending_write:
            try:
                written = os.write(self._master, self._pending_write)
            except BlockingIOError:
                loop.add_writer(self._master, self._flush)
                return
            except OSError:
                self._pending_write.clear()
                break
            del self._pending_write[:written]
        loop.remove_writer(self._master)

    @property
    def writing(self) -> bool:
        return bool(self._pending_write)

    # --- size and identity ------------------------------------------------------------------------------

    @property
    def columns(self) -> int:
        return self.screen.columns

    @property
    def rows(self) -> int:
        return self.screen.lines

    def resize(self, columns: int, rows: int) -> None:
        if (columns, rows) == (self.columns, self.rows):
            return
        self.screen.resize(lines=rows, columns=columns)
        if self._master is not None:
            # The kernel sends SIGWINCH to the foreground job.
            _set_window_size(self._master, columns, rows)

    @property
    def name(self) -> str:
        return self.explicit_name or self.screen.title or str(self.profile.get("Name", "Default"))

    def foreground_pid(self) -> int | None:
        if not self.alive:
            return None
        if self._master is not None:
            with contextlib.suppress(OSError):
                return os.tcgetpgrp(self._master)
        return self.pid

    def builtin_variables(self) -> dict[str, Any]:
        """The session variables iTerm2 computes itself."""
        job = self.foreground_pid()
        job_name = (_proc_text(job, "comm") or "").strip()
        command_line = (_proc_text(job, "cmdline") or "").rstrip("\0").replace("\0", " ")
        path = self.reported_path
        if path is None and job is not None:
            with contextlib.suppress(OSError):
                path = os.readlink(f"/proc/{job}/cwd")
        return {
            "id": self.session_id,
            "termid": self.termid,
            "name": self.name,
            "autoName": self.name,
            "presentationName": self.name,
            "profileName": self.profile.get("Name", "Default"),
            "jobName": job_name,
            "jobPid": job,
            "pid": self.known_pid,
            "commandLine": command_line,
            "tty": self._tty,
            "path": path or self.launch.cwd,
            "columns": self.columns,
            "rows": self.rows,
            "hostname": socket.gethostname(),
            "username": os.environ.get("USER", ""),
        }

    def variables(self) -> dict[str, Any]:
        """Built-ins and `user.*` variables, by their full names."""
        values = self.builtin_variables()
        values.update({f"user.{name}": value for name, value in self.user_vars.items()})
        return values
