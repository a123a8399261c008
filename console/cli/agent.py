"""The agent side of the command line: `emit`, `send`, `ask`, `barrier`, `vote`, `lock`, `heartbeat`.

They run inside an agent's pane, whose environment names the agent, its token and the control socket.
What needs no answer falls back to the escape sequence on the pane's own terminal when the socket cannot
be reached, so it also works from a remote host inside an ssh session in the pane.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import uuid

from agent_console.agents.errors import Forbidden, InvalidInput
from agent_console.agents.events import Heartbeat, LogRecorded, MessageSent, StatusReported, VoteCast
from agent_console.agents.tracing import parse_traceparent
from agent_console.cli.exits import EXIT_FORBIDDEN, EXIT_USAGE
from agent_console.runtime.agent_api import ask_and_wait, tell, wire
from agent_console.runtime.client import ControlClient, ControlRefused, ControlUnreachable, agent_environment

EXIT_DENIED = 1
EXIT_TIMED_OUT = 2
EXIT_NO_CONSOLE = 3


def add_parsers(commands: argparse._SubParsersAction) -> None:
    emit = commands.add_parser("emit", help="(in an agent's pane) report status, a heartbeat or a log line")
    kinds = emit.add_subparsers(dest="what", metavar="WHAT", required=True)
    status = kinds.add_parser("status", help="report the agent's state")
    status.add_argument("state", choices=["idle", "thinking", "working", "waiting", "error", "recovering"])
    status.add_argument("--task", help="what the agent is doing, in a few words")
    status.add_argument("--progress", metavar="DONE/TOTAL", help="e.g. 3/5")
    kinds.add_parser("heartbeat", help="say the agent is alive (renews its locks' leases)")
    log = kinds.add_parser("log", help="a line for the org's log (`agent-console logs`); an exec's are its replies")
    log.add_argument("text", nargs="+", help="what to log (up to 4000 characters)")
    log.add_argument("--level", choices=["debug", "info", "warning", "error"], default="info")

    commands.add_parser("heartbeat", help="(in an agent's pane) same as `emit heartbeat`")

    send = commands.add_parser(
        "send",
        help="(in an agent's pane) message an agent, a team or everyone",
        description="Send a message. With --wait, wait for a reply to it (exit 2 if none comes in time).",
    )
    send.add_argument("to", metavar="@agent|#team|all")
    send.add_argument("text", nargs="+")
    send.add_argument("--reply-to", metavar="ID", help="the id of the message this answers")
    send.add_argument("--wait", type=float, metavar="S", help="wait up to S seconds for a reply, and print it")

    inbox = commands.add_parser(
        "inbox",
        help="(in an agent's pane) print the messages waiting for this agent",
        description="Print pending messages, one JSON object a line (id, from, to, text, reply_to). They stay "
        "pending until acknowledged: --ack acknowledges what was printed.",
    )
    inbox.add_argument("--wait", type=float, default=0, metavar="S", help="wait up to S seconds for one")
    inbox.add_argument("--ack", action="store_true", help="acknowledge the printed messages")

    ask = commands.add_parser(
        "ask",
        help="(in an agent's pane) ask the human; exit 0 approved, 1 denied, 2 timed out",
        description="Ask the human for approval and wait. Exit status: 0 approved, 1 denied, 2 timed out, "
        "3 no console reachable, 4 not allowed.",
    )
    ask.add_argument("text", nargs="+")
    ask.add_argument("--command", dest="exact_command", help="the exact command the approval is for, shown as is")
    ask.add_argument("--timeout", type=float, metavar="S", help="give up after S seconds (exit 2)")

    barrier = commands.add_parser(
        "barrier",
        help="(in an agent's pane) wait until others arrive too; (the human) create one",
        description="`barrier wait NAME` (in an agent's pane) waits until the others arrive. `barrier create NAME` "
        "(the human, from any terminal) sets one up in the served org before anyone arrives.",
    )
    barrier.add_argument("action", choices=["wait", "create"])
    barrier.add_argument("name")
    barrier.add_argument("--count", type=int, help="how many agents the barrier waits for")
    barrier.add_argument("--members", help="comma-separated agent names the barrier waits for")
    barrier.add_argument("--timeout", type=float, metavar="S", help="open anyway after S seconds (exit 2)")
    barrier.add_argument("--org", metavar="NAME", help="with create: the org (default: the only one served)")

    vote = commands.add_parser("vote", help="(in an agent's pane) cast a vote on an open vote")
    vote.add_argument("name")
    vote.add_argument("choice", choices=["yes", "no"])

    lock = commands.add_parser("lock", help="(in an agent's pane) take or give back a named lock")
    lock.add_argument("action", choices=["acquire", "release"])
    lock.add_argument("name")
    lock.add_argument("--lease", type=float, default=60.0, metavar="S", help="lease, renewed by heartbeats")
    lock.add_argument("--timeout", type=float, metavar="S", help="give up waiting after S seconds (exit 2)")
    lock.add_argument("--token", type=int, help="with release: the fencing token acquire printed")
    for parser in (emit, *kinds.choices.values(), commands.choices["heartbeat"], send, inbox, ask, barrier, vote, lock):
        parser.add_argument(
            "--trace-parent",
            metavar="TRACEPARENT",
            default=argparse.SUPPRESS,
            help="W3C trace parent (00-<trace>-<span>-01) the records join (default: $TRACEPARENT)",
        )
        parser.set_defaults(func=run)


async def run(args: argparse.Namespace) -> int:
    if args.command == "barrier" and args.action == "create":
        from agent_console.cli import commands  # the human's side: the console's barrier command

        members = [name.strip() for name in args.members.split(",")] if args.members else None
        given = {"name": args.name, "count": args.count, "members": members, "timeout": args.timeout}
        return await commands.call(args.org, "barrier", {key: value for key, value in given.items() if value})
    try:
        agent, token, socket = agent_environment()
    except ControlUnreachable as error:
        print(f"agent-console: error: {error}", file=sys.stderr)
        return EXIT_NO_CONSOLE
    parent = getattr(args, "trace_parent", None) or os.environ.get("TRACEPARENT") or None
    if parent is not None:
        try:
            parse_traceparent(parent)
        except InvalidInput as error:
            print(f"agent-console: error: {error}", file=sys.stderr)
            return EXIT_USAGE
    client = ControlClient(socket, token, parent) if socket else None
    try:
        return await _dispatch(args, agent, token, client)
    except ControlRefused as error:
        print(f"agent-console: error: the console refused: {error.message}", file=sys.stderr)
        return EXIT_FORBIDDEN if error.kind is Forbidden else 1
    except ControlUnreachable as error:
        print(f"agent-console: error: {error}", file=sys.stderr)
        return EXIT_NO_CONSOLE


async def _dispatch(args: argparse.Namespace, agent: str, token: str, client: ControlClient | None) -> int:
    command = args.command
    if command == "emit" and args.what == "status":
        return await tell(client, token, StatusReported(state=args.state, task=args.task, progress=args.progress))
    if command == "emit" and args.what == "log":
        return await tell(client, token, LogRecorded(level=args.level, text=" ".join(args.text)[:4000]))
    if command in ("emit", "heartbeat"):
        return await tell(client, token, Heartbeat())
    if command == "send":
        message = MessageSent(id=uuid.uuid4().hex, to=args.to, text=" ".join(args.text), reply_to=args.reply_to)
        if args.wait is None:
            return await tell(client, token, message)
        if client is None:
            raise ControlUnreachable("AGENT_CONSOLE_SOCKET is not set: waiting for a reply needs the console")
        await client.call("POST", "/v1/events", wire(message))
        return await _await_reply(client, message.id, args.wait)
    if command == "vote":
        if client is not None:
            try:
                await client.call("POST", f"/v1/votes/{args.name}/cast", {"choice": args.choice})
                return 0
            except ControlUnreachable:
                pass
        return await tell(None, token, VoteCast(name=args.name, choice=args.choice))
    if client is None:
        raise ControlUnreachable("AGENT_CONSOLE_SOCKET is not set: this request needs the console's answer")
    if command == "inbox":
        found = await client.call("GET", f"/v1/messages?wait={args.wait:g}", wait=args.wait)
        for message in found["messages"]:
            print(json.dumps(message, sort_keys=True))
            if args.ack:
                await client.call("POST", f"/v1/messages/{message['id']}/ack")
        return 0
    if command == "ask":
        answer = await ask_and_wait(client, " ".join(args.text), args.exact_command, args.timeout)
        if answer.get("timed_out"):
            print(f"no answer within {args.timeout:g} s", file=sys.stderr)
            return EXIT_TIMED_OUT
        print(
            "approved" if answer["approved"] else "denied" + (f": {answer['reason']}" if answer.get("reason") else "")
        )
        return 0 if answer["approved"] else EXIT_DENIED
    if command == "barrier":
        members = [name.strip() for name in args.members.split(",")] if args.members else None
        body = {"count": args.count, "members": members, "timeout": args.timeout}
        release = await client.call("POST", f"/v1/barriers/{args.name}/wait", body)
        if release.get("timed_out"):
            missing = ", ".join(release.get("missing", [])) or "nobody"
            print(f"barrier {args.name!r} timed out; missing: {missing}", file=sys.stderr)
            return EXIT_TIMED_OUT
        print(f"barrier {args.name!r} released: {', '.join(release['arrived'])}")
        return 0
    if command == "lock" and args.action == "acquire":
        body = {"lease": args.lease, "timeout": args.timeout}
        grant = await client.call("POST", f"/v1/locks/{args.name}/acquire", body, wait=args.timeout)
        if grant.get("timed_out"):
            print(f"lock {args.name!r} still held by another agent after {args.timeout:g} s", file=sys.stderr)
            return EXIT_TIMED_OUT
        print(grant["token"])
        return 0
    if command == "lock":
        await client.call("POST", f"/v1/locks/{args.name}/release", {"token": args.token})
        return 0
    raise AssertionError(f"unhandled command {command}")


async def _await_reply(client: ControlClient, message_id: str, wait: float) -> int:
    """Wait for a message answering `message_id`; print and acknowledge it. Other messages stay pending."""
    deadline = time.monotonic() + wait
    query = "wait=0"
    while True:
        found = await client.call("GET", f"/v1/messages?{query}", wait=max(0.0, deadline - time.monotonic()))
        for message in found["messages"]:
            if message.get("reply_to") == message_id:
                print(message["text"])
                await client.call("POST", f"/v1/messages/{message['id']}/ack")
                return 0
        left = deadline - time.monotonic()
        if left <= 0:
            break
        query = f"wait={left:.3f}&new=1"  # sleep until another message arrives
    print(f"no reply within {wait:g} s", file=sys.stderr)
    return EXIT_TIMED_OUT
