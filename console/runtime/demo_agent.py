"""A demo agent: a small program that acts out a working day in its pane, reporting to the console.

Run by `agent-console --demo` as `python -m agent_console.runtime.demo_agent ROLE`. It says what it does in its
own pane and reports through the real protocol (the control API, or the escape sequence without it):
status changes, approval requests it waits on, failures and recoveries, idle spells.
"""

from __future__ import annotations

import asyncio
import random
import sys
import uuid
from collections.abc import Iterator

from agent_console.agents.events import MessageSent, StatusReported
from agent_console.runtime.agent_api import ask_and_wait, tell
from agent_console.runtime.client import ControlClient, ControlUnreachable, agent_environment

# Each role's day: (action, *arguments). Actions: work TASK STEPS, ask TEXT COMMAND, fail TEXT,
# think TASK, idle SECONDS, send TO TEXT.
DAYS: dict[str, list[tuple]] = {
    "planner": [
        ("think", "reading the backlog"),
        ("work", "planning the sprint", 3),
        ("send", "#product", "release notes once the orders API lands"),  # a coordinator messages its team
        ("idle", 8),
    ],
    "writer": [
        ("idle", 6),
        ("work", "release notes for 1.4", 2),
        ("think", "wording the changelog"),
        ("idle", 10),
    ],
    "api": [
        ("work", "implementing POST /orders", 4),
        ("ask", "Run the database migrations?", "make migrate"),
        ("work", "wiring the orders endpoint", 2),
        ("idle", 5),
    ],
    "db": [
        ("work", "tuning slow queries", 3),
        ("ask", "Drop the unused index?", "psql -c 'DROP INDEX idx_orders_legacy'"),
        ("idle", 7),
    ],
    "tester": [
        ("work", "running the test suite", 3),
        ("fail", "3 tests failed in test_orders.py"),
        ("work", "fixing the failing tests", 2),
        ("idle", 6),
    ],
    "ci": [
        ("work", "building the release image", 4),
        ("ask", "Push the image to the registry?", "docker push registry.local/shop:1.4"),
        ("idle", 9),
    ],
}
STEP = 1.5  # seconds a unit of work takes: fast enough to watch, slow enough to read


def say(text: str) -> None:
    print(f"\x1b[2m[demo]\x1b[0m {text}", flush=True)


class DemoAgent:
    def __init__(self, role: str, pace: float = STEP) -> None:
        self.role = role
        self.pace = pace
        self.random = random.Random(role)
        agent, self.token, socket = agent_environment()
        self.name = agent or role
        self.client = ControlClient(socket, self.token) if socket else None

    async def status(self, state: str, task: str | None = None, progress: str | None = None) -> None:
        await tell(
            self.client,
            self.token,
            StatusReported(state=state, task=f"demo: {task}" if task else None, progress=progress),
        )

    async def pause(self, units: float = 1.0) -> None:
        await asyncio.sleep(self.pace * units * self.random.uniform(0.7, 1.3))

    async def act(self, step: tuple) -> None:
        action, *rest = step
        if action == "work":
            task, steps = rest
            for done in range(1, steps + 1):
                say(f"{task} ({done}/{steps})")
                await self.status("working", task, f"{done}/{steps}")
                await self.pause()
        elif action == "think":
            say(f"thinking: {rest[0]}")
            await self.status("thinking", rest[0])
            await self.pause(2)
        elif action == "idle":
            say("idle")
            await self.status("idle")
            await self.read_messages()
            await self.pause(rest[0] / 2)
        elif action == "send":
            to, text = rest
            say(f"to {to}: {text}")
            await tell(self.client, self.token, MessageSent(id=uuid.uuid4().hex, to=to, text=text))
        elif action == "fail":
            say(f"\x1b[31merror: {rest[0]}\x1b[0m")
            await self.status("error", rest[0])
            await self.pause(3)
            say("recovering")
            await self.status("recovering", "retrying after the failure")
            await self.pause(2)
        elif action == "ask":
            text, command = rest
            say(f"asking the human: {text}  $ {command}")
            await self.status("waiting", text)
            if self.client is None:
                say("no console socket: going ahead without an answer")
                return
            answer = await ask_and_wait(self.client, f"[demo] {text}", command, None)
            approved = answer.get("approved", False)
            say(f"{'approved' if approved else 'denied'}: {command}")
            if approved:
                await self.status("working", f"running {command}")
                await self.pause(2)

    async def read_messages(self) -> None:
        if self.client is None:
            return
        for message in (await self.client.call("GET", "/v1/messages"))["messages"]:
            say(f"message from {message['from']}: {message['text']}")
            await self.client.call("POST", f"/v1/messages/{message['id']}/ack")

    def days(self) -> Iterator[tuple]:
        while True:
            yield from DAYS[self.role]

    async def run(self) -> None:
        say(f"demo agent '{self.name}' ({self.role}): acting out a working day, reporting to the console")
        for step in self.days():
            await self.act(step)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1 or args[0] not in DAYS:
        print(f"usage: python -m agent_console.runtime.demo_agent ROLE   (ROLE: {', '.join(DAYS)})", file=sys.stderr)
        return 2
    try:
        asyncio.run(DemoAgent(args[0]).run())
    except ControlUnreachable as error:
        print(f"demo agent: {error}", file=sys.stderr)
        return 3
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
