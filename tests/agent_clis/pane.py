"""A real agent program in a pane of a private tmux server, read with the rules of its kind, and the processes
it leaves behind ended when the test is over."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import time
from pathlib import Path

from agent_console.agents.kinds import Detection, KindDefinition, detect


class AgentPane:
    """One program in a pane of a private tmux server, read with the rules of its kind."""

    def __init__(self, socket: str, kind: KindDefinition) -> None:
        self.socket = socket
        self.kind = kind
        self.pid = 0
        self.home = ""
        self.trace: list[tuple[float, str, str | None]] = []  # (seconds, state, rule) at each change
        self._started = time.monotonic()

    def tmux(self, *args: str) -> str:
        env = {"PATH": os.environ["PATH"], "LANG": "C.UTF-8", "HOME": os.environ["HOME"]}
        result = subprocess.run(
            ["tmux", "-L", self.socket, *args], capture_output=True, text=True, env=env, check=False
        )
        return result.stdout

    def start(self, argv: list[str], env: dict[str, str], cwd: Path, size: tuple[int, int] = (100, 30)) -> None:
        options = [item for key, value in env.items() for item in ("-e", f"{key}={value}")]
        width, height = size
        self.tmux(
            "-f", "/dev/null", "new-session", "-d", "-x", str(width), "-y", str(height), "-c", str(cwd), *options, *argv
        )
        self.pid = int(self.tmux("display-message", "-p", "#{pane_pid}").strip())
        self.home = env["HOME"]
        self._started = time.monotonic()

    def screen(self) -> str:
        return self.tmux("capture-pane", "-p")

    def read(self) -> tuple[Detection, str]:
        screen = self.screen()
        reading = detect(self.kind, screen)
        if not self.trace or self.trace[-1][1:] != (reading.state.value, reading.rule):
            self.trace.append((round(time.monotonic() - self._started, 2), reading.state.value, reading.rule))
        return reading, screen

    def press(self, *keys: str) -> None:
        for key in keys:
            self.tmux("send-keys", key)

    async def answer(self, reading: Detection, action: str, tries: int = 3) -> None:
        """Answer the prompt `reading` saw as a person does: press its keys, and press them again while the same
        prompt is still on screen 5 s later (a key pressed the moment a dialog draws can be lost)."""
        for _ in range(tries):
            self.press(*self.kind.keys_for(reading.rule, action))
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline:
                await asyncio.sleep(0.1)
                now, _ = self.read()
                if (now.state, now.rule, now.request) != (reading.state, reading.rule, reading.request):
                    return

    async def submit(self, text: str) -> None:
        self.tmux("send-keys", "-l", text)
        await asyncio.sleep(0.3)  # a paste followed at once by Enter can land as a newline in the draft
        self.press("Enter")

    async def until(self, state: str, rule: str | None = None, timeout: float = 20.0) -> tuple[Detection, str]:
        deadline = time.monotonic() + timeout
        while True:
            reading, screen = self.read()
            if reading.state.value == state and (rule is None or reading.rule == rule):
                return reading, screen
            if time.monotonic() > deadline:
                raise AssertionError(f"no {state}/{rule} in {timeout} s; trace {self.trace}; screen:\n{screen}")
            await asyncio.sleep(0.05)

    def stop(self) -> list[int]:
        """Kill the server, then whatever the program left running in its session (returned)."""
        self.tmux("kill-server")
        return _end_processes(self.pid, self.home) if self.pid else []


async def wait_until(condition, what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


def _processes(sid: int, home: str) -> list[int]:
    """The processes of the pane's session, and any that left it (a daemon) but still carry its HOME."""
    found = []
    marker = f"HOME={home}".encode() + b"\0"
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            session = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[3])  # field 6: session id
            environ = (entry / "environ").read_bytes() if session != sid else b""
        except (OSError, ValueError, IndexError):
            continue
        if session == sid or marker in environ:
            found.append(int(entry.name))
    return found


def _end_processes(sid: int, home: str) -> list[int]:
    """Give the program 10 s to exit after the hangup, then kill what is left; returns those killed."""
    deadline = time.monotonic() + 10
    while _processes(sid, home) and time.monotonic() < deadline:
        time.sleep(0.1)
    left = _processes(sid, home)
    for pid in left:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    return left
