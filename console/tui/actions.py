"""What the console can do, as commands in the one registry (keys, palette, `:` line, chat `/`)."""

from __future__ import annotations

import argparse
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

from pydantic import ValidationError

from agent_console.agents.display import control_characters
from agent_console.agents.errors import first_problem
from agent_console.agents.events import HUMAN, BarrierCreated, MessageSent
from agent_console.agents.model import Agent, AgentKind, Org, Team
from agent_console.runtime.deployment import agent_launch, missing_program
from agent_console.tui.commands import Command, CommandError, CommandRegistry

if TYPE_CHECKING:
    from agent_console.tui.app import ConsoleApp


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # argparse would exit the whole console
        raise CommandError(f"{self.prog}: {message} (usage: {self.format_usage().strip().removeprefix('usage: ')})")


def _parser(name: str) -> _Parser:
    return _Parser(prog=name, add_help=False)


async def approve(app: ConsoleApp, args: list[str]) -> str | None:
    return await app.decide_selected(True)


async def deny(app: ConsoleApp, args: list[str]) -> str | None:
    return await app.decide_selected(False)


async def approve_always(app: ConsoleApp, args: list[str]) -> str | None:
    return await app.approve_always_selected()


async def approve_identical(app: ConsoleApp, args: list[str]) -> str | None:
    return await app.approve_identical()


async def details(app: ConsoleApp, args: list[str]) -> str | None:
    app.show_details()
    return None


async def show_help(app: ConsoleApp, args: list[str]) -> str | None:
    app.show_help()
    return None


async def toggle_theme(app: ConsoleApp, args: list[str]) -> str | None:
    return app.toggle_theme()


async def next_view(app: ConsoleApp, args: list[str]) -> str | None:
    app.next_view()
    return None


async def command_line(app: ConsoleApp, args: list[str]) -> str | None:
    app.open_command_line()
    return None


async def status(app: ConsoleApp, args: list[str]) -> str | None:
    state = app.supervisor.state
    counts: dict[str, int] = {}
    for view in state.agents.values():
        counts[view.state.value] = counts.get(view.state.value, 0) + 1
    figures = ", ".join(f"{count} {name}" for name, count in sorted(counts.items())) or "no agents"
    return f"{len(state.agents)} agents: {figures}; {len(state.approvals)} pending approval(s)"


async def spawn(app: ConsoleApp, args: list[str]) -> str | None:
    parser = _parser("spawn")
    parser.add_argument("name")
    parser.add_argument("--team", required=True)
    parser.add_argument("--kind", default="shell", choices=[kind.value for kind in AgentKind])
    parser.add_argument("--command")
    options = parser.parse_args(args)
    org = app.supervisor.org
    try:
        agent = Agent(name=options.name, team=options.team, kind=options.kind, command=options.command)
        new = org.model_validate({**org.model_dump(), "agents": (*org.agents, agent)})
    except ValueError as error:
        raise CommandError(f"spawn: {_first_line(error)}") from None
    _check_program("spawn", new, agent)
    await app.supervisor.reconfigure(new)
    return f"spawned {options.name} ({options.kind}) in team {options.team}"


async def team(app: ConsoleApp, args: list[str]) -> str | None:
    parser = _parser("team")
    parser.add_argument("action", choices=["new"])
    parser.add_argument("name")
    parser.add_argument("--parent")
    options = parser.parse_args(args)
    org = app.supervisor.org
    try:
        new_team = Team(name=options.name, parent=options.parent)
        new = org.model_validate({**org.model_dump(), "teams": (*org.teams, new_team)})
    except ValueError as error:
        raise CommandError(f"team: {_first_line(error)}") from None
    await app.supervisor.reconfigure(new)
    return f"team {options.name} created" + (f" under {options.parent}" if options.parent else "")


async def kill(app: ConsoleApp, args: list[str]) -> str | None:
    name = _one_agent(app, "kill", args)
    org = app.supervisor.org
    new = org.model_validate({**org.model_dump(), "agents": tuple(a for a in org.agents if a.name != name)})
    await app.supervisor.reconfigure(new)
    return f"killed {name} and closed its pane"


async def save(app: ConsoleApp, args: list[str]) -> str | None:
    if len(args) > 1:
        raise CommandError("save: give one path at most (save [PATH])")
    supervisor = app.supervisor
    path = Path(args[0] if args else supervisor.spec or f"{supervisor.org.name}.toml").expanduser()
    try:
        written = supervisor.save(path)
    except OSError as error:
        raise CommandError(f"save: cannot write {path}: {error.strerror or error}") from None
    return f"saved the org to {path}: {written}; start it again with: agent-console {path}"


async def adopt(app: ConsoleApp, args: list[str]) -> str | None:
    if len(args) != 1:
        raise CommandError("adopt: name an agent, or all (adopt NAME|all)")
    try:
        adopted = await app.supervisor.adopt(None if args == ["all"] else [args[0].removeprefix("@")])
    except KeyError:
        running = ", ".join(await app.supervisor.orphans()) or "none"
        raise CommandError(f"adopt: no pane outside the org runs an agent {args[0]!r} (running: {running})") from None
    if not adopted:
        return "adopt: every pane of the org runs one of its agents: nothing to adopt"
    kept = "its program kept running" if len(adopted) == 1 else "their programs kept running"
    return f"adopted {', '.join(adopted)}: back in the org ({kept})"


async def restart(app: ConsoleApp, args: list[str]) -> str | None:
    name = _one_agent(app, "restart", args)
    _check_program("restart", app.supervisor.org, app.supervisor.org.agent(name))
    await app.supervisor.restart_agent(name)
    return f"restarted {name}"


async def barrier(app: ConsoleApp, args: list[str]) -> str | None:
    parser = _parser("barrier")
    parser.add_argument("name")
    parser.add_argument("--count", type=int)
    parser.add_argument("--members", help="comma-separated agent names")
    parser.add_argument("--timeout", type=float)
    options = parser.parse_args(args)
    members = tuple(name.strip() for name in options.members.split(",")) if options.members else None
    if options.count is None and members is None:
        raise CommandError("barrier: give --count N or --members a,b,c")
    try:
        created = BarrierCreated(name=options.name, count=options.count, members=members, timeout=options.timeout)
    except ValueError as error:
        raise CommandError(f"barrier: {_first_line(error)}") from None
    app.supervisor.submit(HUMAN, created)
    size = f"{options.count} agents" if options.count else ", ".join(members or ())
    return f"barrier {options.name} waits for {size}; agents join with: agent-console barrier wait {options.name}"


async def trace(app: ConsoleApp, args: list[str]) -> str | None:
    if not args or args == ["all"]:
        app.filter_trace(None)
        return "trace: every agent"
    name = _one_agent(app, "trace", args)
    app.filter_trace(name)
    return f"trace: what concerns {name}"


async def jump(app: ConsoleApp, args: list[str]) -> str | None:
    name = _one_agent(app, "jump", args)
    await app.jump_to(name)
    return None


def send_message(app: ConsoleApp, to: str, text: str) -> str:
    """A message from the human to `@agent`, `#team` or `all`, through the agents' outboxes. It is pasted into
    the agents' panes as text, so control characters (Ctrl-C, Ctrl-U, Ctrl-D, escapes…) are refused."""
    controls = control_characters(text)
    if controls:
        raise CommandError(
            f"not sent to {to}: the message holds control characters ({' '.join(controls)}); "
            "a message is pasted as text and cannot press keys: write it without them"
        )
    try:
        message = MessageSent(id=uuid.uuid4().hex, to=to, text=text)
    except ValueError as error:
        raise CommandError(f"cannot send to {to}: {_first_line(error)}") from None
    app.supervisor.submit(HUMAN, message)
    pending = app.supervisor.state.messages.get(message.id)
    recipients = sorted(pending.pending) if pending else []
    status = [app.supervisor.typist.why_waiting(agent) or "typing it in now" for agent in recipients]
    if len(recipients) > 1:
        status = [f"{agent}: {why}" for agent, why in zip(recipients, status, strict=True)]
    return f"queued for {to}" + (f" — {'; '.join(status)}" if status else "")


async def outbox(app: ConsoleApp, args: list[str]) -> str | None:
    state = app.supervisor.state
    agents = [_one_agent(app, "outbox", args)] if args else [agent for agent in state.agents if agent in state.outboxes]
    lines = [line for agent in agents for line in app.supervisor.typist.describe_outbox(agent)]
    if not lines:
        return f"nothing waits for {agents[0]}" if args else "no message waits"
    return "\n".join(lines)


def _check_program(command: str, org: Org, agent: Agent) -> None:
    """Refuse to start a program that is not there: say which, rather than leave a dead pane."""
    program = missing_program(agent_launch(org, agent))
    if program is not None:
        other = ", or give another with --command" if command == "spawn" else ""
        raise CommandError(
            f"{command}: program {program!r} not found (not on PATH): install it{other}; {agent.name} was not started"
        )


def _one_agent(app: ConsoleApp, command: str, args: list[str]) -> str:
    if len(args) != 1:
        raise CommandError(f"{command}: name one agent ({command} NAME)")
    name = args[0].removeprefix("@")
    if name not in {agent.name for agent in app.supervisor.org.agents}:
        raise CommandError(f"{command}: no agent {name!r}")
    return name


def _first_line(error: Exception) -> str:
    """What is wrong, in one line: a validation error's first problem, with where it is."""
    if isinstance(error, ValidationError):
        problem = first_problem(error)
        return f"{problem.where}: {problem.message}" if problem.where else problem.message
    lines = [line for line in str(error).splitlines() if line.strip()]
    return lines[0].strip() if lines else str(error)


def console_commands() -> CommandRegistry:
    registry = CommandRegistry()
    for command in (
        Command("approve", "approve the selected request", approve, key="y", key_label="approve"),
        Command("deny", "deny the selected request", deny, key="n", key_label="deny"),
        Command(
            "approve-identical",
            "approve every pending request identical to the selected one",
            approve_identical,
            key="A",
            key_label="approve all like it",
        ),
        Command(
            "approve-always",
            "answer a program's prompt: yes, and don't ask again",
            approve_always,
        ),
        Command("details", "show the selected request in full", details, key="d", key_label="details"),
        Command("help", "list every key binding and command", show_help, key="question_mark", key_label="help"),
        Command("theme", "switch between the dark and the light theme", toggle_theme, key="t", key_label="theme"),
        Command("view", "show the next view: health, org, chat, trace", next_view, key="v", key_label="view"),
        Command("command", "open the : command line", command_line, key="colon", key_label="command"),
        Command("status", "agents by state and pending approvals", status),
        Command("spawn", "start a new agent", spawn, usage="spawn NAME --team T [--kind K] [--command C]"),
        Command("team", "create a team", team, usage="team new NAME [--parent P]"),
        Command("kill", "stop an agent and close its pane", kill, usage="kill NAME"),
        Command("restart", "restart an agent's program in its pane", restart, usage="restart NAME"),
        Command("save", "write the org as it is now as a spec (ORG.toml)", save, usage="save [PATH]"),
        Command("adopt", "take running panes of agents outside the org back into it", adopt, usage="adopt NAME|all"),
        Command(
            "barrier",
            "set up a barrier for agents to wait at",
            barrier,
            usage="barrier NAME --count N | --members a,b [--timeout S]",
        ),
        Command("jump", "focus an agent's pane", jump, usage="jump NAME"),
        Command("outbox", "messages waiting for agents, and why they wait", outbox, usage="outbox [NAME]"),
        Command("trace", "show the trace of one agent, or of all", trace, usage="trace [NAME|all]"),
    ):
        registry.register(command)
    return registry
